//! Reconcile: sweep reads the whole open console and handles what no hook did, as the
//! daemon's polling did: occurrences whose notification never ran, noise outside the
//! trigger, a site with no notification at all (poll-only, API key); adoption of a busy
//! console on the first run; and one ticket when a hook and a sweep race.
use crate::common::zenoss::{Version, ZEvent, Zenoss};
use crate::common::*;
use std::process::Stdio;

fn sweep(t: &Test, args: &[&str]) -> serde_json::Value {
    let s = t.again().args(["--json", "sweep"]).args(args).run();
    s.status(0);
    s.json()
}

/// A site where hooks have run before (the state DB is not empty: no adoption).
fn running_site(z: &Zenoss) -> Test {
    z.add(ZEvent::new("seen-0"));
    let t = Test::new().general("retrydelay: 0").zenoss(z);
    t.clone()
        .bare("seen-0", 1, 0)
        .run()
        .status(0)
        .decision("ticket");
    t
}

#[test]
fn occurrences_no_hook_saw_get_the_tickets_and_acknowledgements_the_hook_would_give() {
    let z = Zenoss::start(Version::V6);
    let t = running_site(&z);
    // zenactiond is down: two events appear and one rises, and no hook runs.
    z.add(ZEvent::new("missed-1"));
    let mut e = ZEvent::new("missed-2");
    e.count = 4;
    z.add(e);
    let s = sweep(&t, &[]);
    assert_eq!(s["reconciled"], 2, "{s}");
    let calls = calls(t.path());
    assert_eq!(calls.len(), 3, "one ticket each");
    // The same argv the hook builds from the same event (fetched: here, read in the console).
    let by_hook = Test::new()
        .zenoss(&z)
        .bare("missed-1", 1, 0)
        .args(["--dry-run", "--json"])
        .run();
    let argv: Vec<String> = by_hook.json()["argv"].as_array().unwrap()[1..]
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        text(&calls[1]),
        argv,
        "the hook's argv, from the console's row"
    );
    assert_eq!(arg_after(&calls[2], "-count"), b"4");
    for e in ["missed-1", "missed-2"] {
        assert_eq!(z.event(e).unwrap().state, 1, "{e} acknowledged");
    }
    // Nothing more on the next run.
    assert_eq!(sweep(&t, &[])["reconciled"], 0);
}

#[test]
fn a_count_that_rose_twice_between_sweeps_makes_one_ticket_at_the_higher_count() {
    let z = Zenoss::start(Version::V42);
    let t = running_site(&z);
    let mut e = z.event("seen-0").unwrap();
    e.count = 3;
    e.state = 0;
    z.add(e);
    sweep(&t, &[]);
    let calls = calls(t.path());
    assert_eq!(calls.len(), 2);
    assert_eq!(arg_after(&calls[1], "-count"), b"3");
}

#[test]
fn noise_outside_the_trigger_is_moved_to_history_unless_kept() {
    let z = Zenoss::start(Version::V6);
    let t = running_site(&z);
    let mut test_device = ZEvent::new("noise-1");
    test_device.prod_state = Some(400);
    let mut kept = ZEvent::new("kept-1");
    kept.prod_state = Some(400);
    kept.event_class = "/Status/Ping".into();
    let mut info = ZEvent::new("info-1");
    info.severity = 2;
    z.add(test_device).add(kept).add(info);
    let s = sweep(&t, &[]);
    assert_eq!(z.event("noise-1").unwrap().state, 3, "moved to history");
    assert_eq!(z.event("info-1").unwrap().state, 3, "moved to history");
    assert_eq!(
        z.event("kept-1").unwrap().state,
        0,
        "kept by keepeventclass"
    );
    assert_eq!(calls(t.path()).len(), 1, "no ticket for noise");
    assert_eq!(
        s["notes"][0],
        "reconciled 3 event(s) no hook handled: 2 filtered-closed, 1 filtered-kept"
    );
}

#[test]
fn the_first_reconcile_of_an_empty_state_db_adopts_the_console() {
    let z = Zenoss::start(Version::V6);
    for i in 0..5 {
        z.add(ZEvent::new(&format!("old-{i}")));
    }
    let t = Test::new().zenoss(&z);
    let s = sweep(&t, &[]);
    assert_eq!(s["adopted"], 5, "{s}");
    assert!(calls(t.path()).is_empty(), "no ticket");
    assert!(
        z.methods().iter().all(|m| m == "query"),
        "nothing closed or acknowledged"
    );
    let state = t.again().args(["--json", "state"]).run().json();
    assert_eq!(state.as_array().unwrap().len(), 5, "counts recorded");
    // From now on a new event is handled.
    z.add(ZEvent::new("new-1"));
    sweep(&t, &[]);
    assert_eq!(calls(t.path()).len(), 1);
    // --no-adopt, on another empty DB, acts on everything open, as the daemon did at start.
    let fresh = Test::new().zenoss(&z);
    let s = sweep(&fresh, &["--no-adopt"]);
    assert_eq!(
        (&s["adopted"], &s["reconciled"]),
        (&0.into(), &6.into()),
        "{s}"
    );
}

#[test]
fn a_hook_and_a_sweep_racing_on_one_occurrence_make_one_ticket() {
    let z = Zenoss::start(Version::V6);
    let t = running_site(&z).env("TICKET_SLEEP", "0.5");
    z.add(ZEvent::new("race-1"));
    let mut hook = t.again().bare("race-1", 1, 0).prepare();
    let mut sweeper = t.again().args(["sweep"]).prepare();
    let a = hook.stdout(Stdio::piped()).spawn().unwrap();
    let b = sweeper.stdout(Stdio::piped()).spawn().unwrap();
    assert!(a.wait_with_output().unwrap().status.success());
    assert!(b.wait_with_output().unwrap().status.success());
    let made = call_envs(t.path())
        .iter()
        .filter(|env| env[0] == "race-1")
        .count();
    assert_eq!(made, 1, "exactly one ticket for the occurrence");
}

#[test]
fn reconcile_off_leaves_the_console_to_the_hooks() {
    let z = Zenoss::start(Version::V6);
    let t = running_site(&z).general("reconcile: off");
    z.add(ZEvent::new("missed-1"));
    let mut noise = ZEvent::new("noise-1");
    noise.prod_state = Some(400);
    z.add(noise);
    let s = sweep(&t, &[]);
    assert_eq!(s["reconciled"], 0);
    assert_eq!(calls(t.path()).len(), 1);
    assert_eq!(z.event("noise-1").unwrap().state, 0);
}

#[test]
fn poll_only_with_an_api_key_behaves_as_the_daemon_did() {
    // Zenoss Cloud: no notification, no pack; cron's sweep alone, with an API key.
    let z = Zenoss::start(Version::V6);
    z.use_apikey("cloud-KEY");
    let t = Test::new().general("retrydelay: 0").zenoss(&z);
    z.add(ZEvent::new("cloud-0"));
    sweep(&t, &["--no-adopt"]);
    z.add(ZEvent::new("cloud-1"));
    let mut rising = z.event("cloud-0").unwrap();
    rising.count = 2;
    z.add(rising);
    sweep(&t, &[]);
    let counts: Vec<(String, Vec<u8>)> = calls(t.path())
        .iter()
        .enumerate()
        .map(|(i, c)| (call_envs(t.path())[i][0].clone(), arg_after(c, "-count")))
        .collect();
    assert_eq!(
        counts,
        [
            ("cloud-0".to_string(), b"1".to_vec()),
            ("cloud-0".to_string(), b"2".to_vec()),
            ("cloud-1".to_string(), b"1".to_vec()),
        ]
    );
    assert!(z
        .calls()
        .iter()
        .all(|c| c.header("z-api-key") == Some("cloud-KEY")));
}

#[test]
fn the_console_query_asks_only_for_names_a_zenoss_row_carries() {
    for version in [Version::V42, Version::V6] {
        let z = Zenoss::start(version);
        let t = running_site(&z);
        sweep(&t, &[]);
        let names = crate::common::zenoss::row(&ZEvent::new("x"), version);
        let names = names.as_object().unwrap();
        let query = z.calls().into_iter().find(|c| c.method == "query").unwrap();
        let unknown: Vec<&str> = query.data["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .filter(|k| !names.contains_key(*k))
            .collect();
        assert_eq!(unknown, Vec::<&str>::new(), "{version:?}");
    }
}
