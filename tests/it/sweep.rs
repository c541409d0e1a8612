//! `sweep` against the real binary and the Zenoss test server: retries until done, once;
//! Zenoss down for a while; autoclear by paged query; pruning; one sweep at a time.
use crate::common::zenoss::{Fault, Version, ZEvent, Zenoss};
use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

/// Retries come at once (retrydelay 0) so a test need not wait for backoff.
fn sweeping() -> Test {
    Test::new().general("retrydelay: 0")
}

fn sweep(t: &Test) -> Output {
    t.again().args(["--json", "sweep"]).run()
}

#[test]
fn a_script_failing_twice_then_succeeding_makes_one_ticket_with_one_key() {
    let t = sweeping().mode("fail-first-2");
    let out = t.clone().event("retry-1", 1).run();
    out.status(1).decision("ticket-failed");
    let s1 = sweep(&t);
    s1.status(0);
    assert_eq!(
        (s1.json()["retried"].as_u64(), s1.json()["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let s2 = sweep(&t);
    assert_eq!(s2.json()["succeeded"], 1, "{}", s2.stdout);
    let s3 = sweep(&t);
    assert_eq!(s3.json()["retried"], 0, "nothing left: {}", s3.stdout);
    let envs = out.call_envs();
    assert_eq!(envs.len(), 3);
    assert!(
        envs.iter().all(|e| e[2] == envs[0][2]),
        "one idempotency key: {envs:?}"
    );
    let calls = out.calls();
    assert_eq!(calls[0], calls[2], "the retry has the hook's exact argv");
    let state = out.state();
    assert_eq!(state[0]["tickets"], serde_json::json!([1003]));
    assert_eq!(state[0]["pending"][0]["what"], "acknowledge");
    out.log_has("ticket 1003 for evid retry-1 (customer nnl-00000, queue Front Line) on attempt 3");
}

#[test]
fn after_retries_it_gives_up_with_one_error_line() {
    let t = sweeping().general("retries: 2").mode("fail");
    t.clone().event("giveup-1", 1).run().status(1);
    let s = sweep(&t);
    assert_eq!(s.json()["given_up"], 1, "{}", s.stdout);
    let log = s.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("giving up")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0]
        .contains("ERROR zen.zenticket: evid giveup-1: giving up on ticket after 2 attempt(s)"));
    assert!(
        lines[0].contains("ticket system says no"),
        "names the last error: {}",
        lines[0]
    );
    assert!(s.state()[0]["pending"].as_array().unwrap().is_empty());
}

#[test]
fn zenoss_down_for_a_while_then_the_acknowledgement_is_delivered_once() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("down-1"));
    z.fail_next(&[Fault::Status503, Fault::Status503]);
    let t = sweeping().zenoss(&z);
    let out = t.clone().event("down-1", 1).run();
    out.status(1).stdout(
        "ticket 1001 for evid down-1 (customer nnl-00000, queue Front Line); acknowledge pending\n",
    );
    // The hook left its note owed (Zenoss had just failed it); the first sweep's
    // acknowledgement is refused again, its note goes through; the second delivers.
    let s1 = sweep(&t);
    assert_eq!(
        (
            s1.json()["failed"].as_u64(),
            s1.json()["succeeded"].as_u64()
        ),
        (Some(1), Some(1)),
        "{}",
        s1.stdout
    );
    let s2 = sweep(&t);
    assert_eq!(s2.json()["succeeded"], 1, "{}", s2.stdout);
    assert_eq!(z.event("down-1").unwrap().state, 1);
    assert_eq!(
        z.event("down-1").unwrap().details["zenticket.ticket"],
        "1001",
        "the ticket's details, set by sweep after Zenoss was down"
    );
    assert_eq!(
        z.methods().iter().filter(|m| *m == "updateDetails").count(),
        1,
        "once"
    );
    let acks: Vec<_> = z
        .calls()
        .into_iter()
        .filter(|c| c.method == "acknowledge")
        .collect();
    assert_eq!(acks.len(), 3, "two refused, one delivered");
    assert!(acks.iter().all(|c| c.evids() == ["down-1"]));
    assert_eq!(out.calls().len(), 1, "the ticket was made once");
    assert_eq!(z.danger(), 0);
}

#[test]
fn a_pending_ticket_recorded_while_zenoss_was_down_is_fetched_then_made() {
    let z = Zenoss::start(Version::V42);
    z.add(ZEvent::new("late-1"));
    z.fail_next(&[Fault::Drop]);
    let t = sweeping().zenoss(&z);
    let out = t
        .clone()
        .bare("late-1", 1, 0)
        .args(["--severity", "4"])
        .run();
    out.status(1).stderr(&format!(
        "zenticket-hook: evid late-1: cannot fetch the event: cannot connect to Zenoss: \
         {}/zport/dmd/evconsole_router: Network Error: Unexpected EOF; recorded for \
         `zenticket-hook sweep`\n",
        z.url
    ));
    let s = sweep(&t);
    s.status(0);
    assert_eq!(
        s.json()["succeeded"],
        3,
        "ticket, acknowledge, the ticket's note: {}",
        s.stdout
    );
    let argv = text(&out.calls()[0]);
    assert_eq!(argv[3], "router1");
    assert_eq!(z.event("late-1").unwrap().state, 1);
}

#[test]
fn events_closed_in_zenoss_are_pruned_and_tickets_kept_for_audit() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("gone-1")).add(ZEvent::new("open-1"));
    let t = sweeping().zenoss(&z);
    t.clone().event("gone-1", 1).run().status(0);
    t.again().event("open-1", 1).run().status(0);
    let mut gone = z.event("gone-1").unwrap();
    gone.state = 3;
    z.add(gone);
    // A row is pruned once two complete reads, half a cycle apart, missed its event.
    let first = sweep(&t);
    assert_eq!(first.json()["pruned"], 0, "{}", first.stdout);
    sql(
        t.path(),
        "UPDATE events SET missing_since = missing_since - 3600",
    );
    let s = sweep(&t);
    assert_eq!(s.json()["pruned"], 1, "{}", s.stdout);
    let state = s.state();
    let evids: Vec<&str> = state
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["evid"].as_str().unwrap())
        .collect();
    assert_eq!(evids, ["open-1"]);
    let q: Vec<_> = z
        .calls()
        .into_iter()
        .filter(|c| c.method == "query")
        .collect();
    assert_eq!(
        q[0].data["params"]["eventState"],
        serde_json::json!([0, 1, 2])
    );
    // The pruned event's ticket stays as the audit record.
    let conn = rusqlite::Connection::open(t.path().join("var/zenticket.db")).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM tickets WHERE evid = 'gone-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn autoclear_pages_through_open_events_and_closes_old_ones_in_batches() {
    let z = Zenoss::start(Version::V6);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for i in 0..1200 {
        let mut e = ZEvent::new(&format!("ev-{i:05}"));
        e.last_time = if i % 2 == 0 { now - 7200.0 } else { now - 60.0 };
        z.add(e);
    }
    let t = sweeping().general("autocleartime: 3600").zenoss(&z);
    let s = sweep(&t);
    s.status(0);
    assert_eq!(s.json()["autocleared"], 600, "{}", s.stdout);
    let calls = z.calls();
    let queries: Vec<_> = calls.iter().filter(|c| c.method == "query").collect();
    assert_eq!(queries.len(), 2, "two pages of at most 1000");
    assert_eq!(
        (
            queries[0].data["start"].as_u64(),
            queries[1].data["start"].as_u64()
        ),
        (Some(0), Some(1000))
    );
    assert!(queries
        .iter()
        .all(|q| q.data["limit"].as_u64().unwrap() <= 1000));
    let closes: Vec<_> = calls.iter().filter(|c| c.method == "close").collect();
    assert!(closes
        .iter()
        .all(|c| !c.evids().is_empty() && c.evids().len() <= 500));
    assert_eq!(closes.iter().map(|c| c.evids().len()).sum::<usize>(), 600);
    assert_eq!(z.event("ev-00000").unwrap().state, 3);
    assert_eq!(z.event("ev-00001").unwrap().state, 0);
    assert_eq!(z.danger(), 0);
}

#[test]
fn a_second_sweep_exits_at_once() {
    let t = sweeping();
    t.clone().event("lock-1", 1).run().status(0);
    sweep(&t).status(0);
    let lock =
        std::fs::File::open(t.path().join("var/zenticket.db.sweep")).expect("sweep lock file");
    // SAFETY: flock on a file we opened.
    assert_eq!(
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let started = std::time::Instant::now();
    let s = t.again().args(["sweep"]).run();
    s.status(0)
        .stdout("sweep: another sweep is running; nothing done\n")
        .stderr("");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn dry_run_sweep_changes_nothing() {
    let t = sweeping().mode("fail-first-1");
    t.clone().event("dry-s", 1).run().status(1);
    let s = t.again().args(["--dry-run", "--json", "sweep"]).run();
    s.status(0);
    assert_eq!(s.json()["retried"], 1);
    assert_eq!(s.json()["dry_run"], true);
    assert_eq!(s.calls().len(), 1, "no script ran");
    assert_eq!(s.state()[0]["pending"][0]["attempts"], 1);
}

#[test]
fn a_claim_of_a_killed_hook_is_taken_over_only_when_stale_with_the_same_key() {
    let t = sweeping().env("TICKET_SLEEP", "30");
    let mut child = t
        .clone()
        .event("killed-1", 1)
        .prepare()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the script has been called, then kill the hook as zenactiond would.
    for _ in 0..100 {
        if !calls(t.path()).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let fresh = t
        .clone()
        .env("TICKET_SLEEP", "0")
        .again()
        .args(["--json", "sweep"])
        .run();
    assert_eq!(
        fresh.json()["retried"],
        0,
        "a live-looking claim is left alone: {}",
        fresh.stdout
    );
    sql(
        t.path(),
        "UPDATE pending SET claimed_at = claimed_at - 3600, next_try = next_try - 3600",
    );
    let mut t2 = t.again();
    t2 = t2.env("TICKET_SLEEP", "0");
    let s = t2.args(["--json", "sweep"]).run();
    assert_eq!(s.json()["succeeded"], 1, "{}", s.stdout);
    let envs = s.call_envs();
    assert_eq!(envs.len(), 2);
    assert_eq!(
        envs[0][2], envs[1][2],
        "the retry carries the killed attempt's idempotency key"
    );
    assert_eq!(s.state()[0]["tickets"].as_array().unwrap().len(), 1);
}

#[test]
fn a_hook_racing_a_sweep_retry_for_the_same_evid_makes_no_second_ticket() {
    let t = sweeping().mode("fail-first-1").env("TICKET_SLEEP", "1");
    t.clone().event("race-1", 1).run().status(1);
    let sweeper = t
        .again()
        .args(["sweep"])
        .prepare()
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The same occurrence again while the sweep's retry runs: unchanged.
    let same = t.again().event("race-1", 1).run();
    same.status(0).decision("unchanged");
    sweeper.wait_with_output().unwrap();
    let per_count: Vec<String> = calls(t.path())
        .iter()
        .map(|a| {
            String::from_utf8_lossy(&a[a.iter().position(|x| x == b"-count").unwrap() + 1])
                .into_owned()
        })
        .collect();
    assert_eq!(
        per_count,
        ["1", "1"],
        "the failed attempt and the sweep's retry, nothing more"
    );
    let state = same.state();
    assert_eq!(state[0]["tickets"].as_array().unwrap().len(), 1);
}
