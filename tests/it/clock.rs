//! A clock that steps back: work owed, claims taken and rows written while the wall clock
//! was ahead (NTP then corrects it) must not wait for the clock to catch up, and no age
//! is ever negative.
use crate::common::*;

/// Fails until `up` exists.
const FLAKY: &str = "#!/bin/sh
[ -e {dir}/up ] || { echo 'ticket system down' >&2; exit 1; }
echo 4711
";

fn flaky() -> Test {
    Test::new()
        .script("create_ticket.sh", FLAKY)
        .general("retrydelay: 60")
        .general("retrymaxdelay: 600")
}

#[test]
fn work_owed_while_the_clock_was_an_hour_ahead_is_retried_now() {
    let t = flaky();
    t.clone().event("ahead-1", 1).run().status(1);
    std::fs::write(t.path().join("up"), "").unwrap();
    // As if the hook ran with the clock an hour ahead: its backoff and the time the work
    // was first owed lie an hour in the future now.
    sql(
        t.path(),
        "UPDATE pending SET next_try = next_try + 3600, created = created + 3600, \
         tried_at = tried_at + 3600",
    );
    let status = t.again().args(["status"]).run();
    status.status(0);
    assert!(
        status
            .stdout
            .starts_with("owed: 1 ticket (oldest owed for 0s, since "),
        "{}",
        status.stdout
    );
    let nagios = t.again().args(["status", "--nagios"]).run();
    assert!(nagios.stdout.contains(" oldest=0s;"), "{}", nagios.stdout);
    let s = sweep(&t);
    assert_eq!(s["succeeded"], 1, "retried now, not in an hour: {s}");
    assert_eq!(
        t.again().args(["state", "--json"]).run().json()[0]["tickets"],
        serde_json::json!([4711])
    );
}

#[test]
fn work_owed_a_year_ahead_and_still_failing_is_re_stamped_and_retried_now() {
    let t = flaky();
    t.clone().event("year-1", 1).run().status(1);
    sql(
        t.path(),
        "UPDATE pending SET next_try = next_try + 31536000, created = created + 31536000, \
         tried_at = tried_at + 31536000",
    );
    let s = sweep(&t);
    assert_eq!(s["failed"], 1, "tried now: {s}");
    let state = t.again().args(["state", "--json"]).run().json();
    let p = &state[0]["pending"][0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (owed_since, next) = (
        p["owed_since"].as_f64().unwrap(),
        p["next_try"].as_f64().unwrap(),
    );
    assert!(owed_since <= now + 1.0, "first owed re-stamped to now: {p}");
    assert!(next <= now + 601.0, "next try within retrymaxdelay: {p}");
}

#[test]
fn a_claim_taken_while_the_clock_was_ahead_is_taken_over_after_the_stale_limit() {
    let t = flaky();
    t.clone().event("claim-1", 1).run().status(1);
    std::fs::write(t.path().join("up"), "").unwrap();
    // A hook killed mid-attempt, its claim stamped an hour ahead; the stale limit here is
    // scripttimeout 5 s + 30 s.
    sql(
        t.path(),
        "UPDATE pending SET next_try = 0, claimed_by = 'dead:1', \
         claimed_at = strftime('%s','now') + 3600",
    );
    let s = sweep(&t);
    assert_eq!(
        s["succeeded"], 1,
        "the dead hook's claim is taken over: {s}"
    );
    // One an instant ahead (within the limit) is a live claim: left alone.
    t.clone().event("claim-2", 1).run().status(0);
    t.clone()
        .event("claim-2", 2)
        .args(["--event-state", "1"])
        .run();
    sql(
        t.path(),
        "UPDATE pending SET next_try = 0, claimed_by = 'live:1', \
         claimed_at = strftime('%s','now') + 10 WHERE evid = 'claim-2'",
    );
    let s = sweep(&t);
    assert_eq!(s["retried"], 0, "a live claim is not taken: {s}");
}

#[test]
fn status_nagios_on_a_damaged_state_db_is_one_critical_line() {
    let t = Test::new();
    t.clone().event("dmg-1", 1).run().status(0);
    let out = t.again().args(["status", "--nagios"]).run();
    assert!(
        out.stdout.ends_with(" since_sweep=U;;600;0\n"),
        "no value before the first sweep: {}",
        out.stdout
    );
    std::fs::write(t.path().join("var/zenticket.db"), vec![0x5au8; 8192]).unwrap();
    let _ = std::fs::remove_file(t.path().join("var/zenticket.db-wal"));
    let _ = std::fs::remove_file(t.path().join("var/zenticket.db-shm"));
    let out = t.again().args(["status", "--nagios"]).run();
    out.status(2).stderr("").stdout(
        "CRITICAL - every hook and sweep stops: state DB {dir}/var/zenticket.db: it is damaged \
         or not a state DB: move it away (a new one is created) (file is not a database)\n",
    );
}

#[test]
fn rows_hooks_write_during_the_sweeps_console_read_are_not_pruned() {
    use crate::common::zenoss::{Gate, Version, ZEvent, Zenoss};
    let z = Zenoss::start(Version::V6);
    let evids: Vec<String> = (1..=12).map(|i| format!("reopen-{i:02}")).collect();
    for e in &evids {
        z.add(ZEvent::new(e));
    }
    let t = Test::new().zenoss(&z);
    for e in &evids {
        t.again().event(e, 1).run().status(0).decision("ticket");
    }
    // Closed in Zenoss; their rows aged; one sweep misses them, as if a cycle ago.
    for e in &evids {
        let mut ev = z.event(e).unwrap();
        ev.state = 3;
        z.add(ev);
    }
    sql(t.path(), "UPDATE events SET updated = updated - 3600");
    assert_eq!(sweep(&t)["pruned"], 0);
    sql(
        t.path(),
        "UPDATE events SET missing_since = missing_since - 3600",
    );
    // The next sweep's read is served, then, before it ends, the events reopen at count 2
    // and their hooks write rows and tickets.
    let gate = Gate::new();
    z.hold_next_query(&gate);
    let sweeper = t
        .again()
        .args(["--json", "sweep"])
        .prepare()
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    gate.reached();
    for e in &evids {
        let mut ev = z.event(e).unwrap();
        (ev.state, ev.count) = (0, 2);
        z.add(ev);
        t.again().event(e, 2).run().status(0).decision("ticket");
    }
    gate.open();
    let out = sweeper.wait_with_output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["pruned"], 0, "rows written during the read are kept: {s}");
    let state = t.again().args(["state", "--json"]).run().json();
    let kept: Vec<(&str, i64)> = state
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["evid"].as_str().unwrap(), r["count"].as_i64().unwrap()))
        .collect();
    let want: Vec<(&str, i64)> = evids.iter().map(|e| (e.as_str(), 2)).collect();
    assert_eq!(kept, want);
}

fn rate_limited(after: &'static str, general: &[&str]) -> (crate::common::webhook::Webhook, Test) {
    use crate::common::webhook::{Fault, Webhook};
    let w = Webhook::start();
    w.fail_next(&[Fault::RateLimited(after)]);
    let mut t = Test::new()
        .general("ticketsystem: webhook")
        .section(&w.section());
    for g in general {
        t = t.general(g);
    }
    t.clone().event("wait-1", 1).run();
    (w, t)
}

#[test]
fn a_wait_the_ticket_system_asked_for_beyond_retrymaxdelay_is_honoured() {
    let (w, t) = rate_limited("3", &["retrydelay: 1", "retrymaxdelay: 2"]);
    assert_eq!(sweep(&t)["retried"], 0, "asked to wait 3 s");
    assert_eq!(w.requests().len(), 1);
    let (w, t) = rate_limited("1800", &[]);
    assert_eq!(sweep(&t)["retried"], 0, "asked to wait half an hour");
    assert_eq!(w.requests().len(), 1);
    let p = &t.again().args(["state", "--json"]).run().json()[0]["pending"][0];
    let asked = p["asked_until"].as_f64().unwrap();
    assert_eq!(p["next_try"].as_f64(), Some(asked));
    assert!(asked > now() + 1790.0 && asked <= now() + 1800.0, "{p}");
    t.again()
        .args(["state"])
        .run()
        .stdout_has("next try ")
        .stdout_has(" (a wait the ticket system asked for), last error: ");
    t.again().args(["status"]).run().stdout_has(
        "waiting: 1 as the ticket system asked (Retry-After, X-RateLimit-Reset), until ",
    );
}

#[test]
fn a_wait_longer_than_maxwait_is_cut_to_it_and_a_clock_step_back_ends_any_wait() {
    let (w, t) = rate_limited("99999999999", &["maxwait: 60"]);
    let p = &t.again().args(["state", "--json"]).run().json()[0]["pending"][0];
    let next = p["next_try"].as_f64().unwrap();
    assert!(
        next > now() + 50.0 && next <= now() + 60.0,
        "cut to maxwait: {p}"
    );
    // The wait was set by a clock an hour ahead (stamped later than now): due now.
    sql(
        t.path(),
        "UPDATE pending SET tried_at = tried_at + 3600, next_try = next_try + 3600",
    );
    assert_eq!(sweep(&t)["succeeded"], 1);
    assert_eq!(w.tickets().len(), 1);
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
