//! Outages: a ticket system down for longer than the old give-up point, Zenoss down, the
//! retry window passing, a hanging ticket system (the breaker), and `status --nagios` as
//! Zenoss reads it. Time is scaled down with small retrydelay/retrywindow/scripttimeout.
use crate::common::zenoss::{Fault, Version, ZEvent, Zenoss};
use crate::common::*;
use std::process::{Child, Stdio};

/// A ticket system that can be taken down (`down`: fails) or hung (`hang`), by file.
/// Every attempt is recorded with its idempotency key; every ticket made too.
const SWITCHABLE: &str = "#!/bin/sh
echo \"$ZENTICKET_EVID $ZENTICKET_COUNT $ZENTICKET_IDEMPOTENCY_KEY\" >> {dir}/attempts.txt
if [ -e {dir}/hang ]; then sleep 30; fi
if [ -e {dir}/down ]; then echo 'ticket system down' >&2; exit 1; fi
echo \"$ZENTICKET_EVID $ZENTICKET_COUNT $ZENTICKET_IDEMPOTENCY_KEY\" >> {dir}/made.txt
n=$(wc -l < {dir}/made.txt)
echo $((5000 + n))
";

fn outage() -> Test {
    Test::new()
        .script("create_ticket.sh", SWITCHABLE)
        .general("retrydelay: 0")
        .general("retrymaxdelay: 0")
}

fn lines(t: &Test, file: &str) -> Vec<String> {
    std::fs::read_to_string(t.path().join(file))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_long_script_outage_then_recovery_makes_each_owed_ticket_once() {
    let t = outage().general("breakafter: 0");
    std::fs::write(t.path().join("down"), "").unwrap();
    for e in ["out-1", "out-2", "out-3"] {
        t.clone()
            .event(e, 1)
            .run()
            .status(1)
            .decision("ticket-failed");
    }
    // Far past the old give-up point (5 attempts): nothing is given up inside the window.
    for _ in 0..7 {
        assert_eq!(sweep(&t)["given_up"], 0);
    }
    std::fs::remove_file(t.path().join("down")).unwrap();
    let s = sweep(&t);
    assert_eq!(
        (&s["succeeded"], &s["given_up"]),
        (&3.into(), &0.into()),
        "{s}"
    );
    let made = lines(&t, "made.txt");
    assert_eq!(made.len(), 3, "one ticket per owed count: {made:?}");
    // Each ticket carries the key of its first attempt.
    let attempts = lines(&t, "attempts.txt");
    for m in &made {
        let evid = m.split(' ').next().unwrap();
        let first = attempts
            .iter()
            .find(|a| a.starts_with(&format!("{evid} ")))
            .unwrap();
        assert_eq!(m, first, "the same idempotency key");
    }
    assert_eq!(sweep(&t)["retried"], 0, "nothing left");
}

#[test]
fn zenoss_down_then_up_delivers_every_acknowledgement() {
    let z = Zenoss::start(Version::V6);
    let t = outage().zenoss(&z);
    for e in ["ack-1", "ack-2"] {
        z.add(ZEvent::new(e));
    }
    z.fail_next(&vec![Fault::Status503; 10]);
    for e in ["ack-1", "ack-2"] {
        t.clone().event(e, 1).run().status(1).decision("ticket");
    }
    // Zenoss answers 503 to the hooks and to several sweeps; then it is back.
    for _ in 0..10 {
        sweep(&t);
    }
    for e in ["ack-1", "ack-2"] {
        assert_eq!(z.event(e).unwrap().state, 1, "{e} acknowledged");
    }
    let state = t.again().args(["--json", "state"]).run().json();
    for row in state.as_array().unwrap() {
        assert_eq!(row["pending"], serde_json::json!([]), "{row}");
        assert_eq!(row["given_up"], serde_json::json!([]), "{row}");
    }
}

#[test]
fn work_past_its_window_is_given_up_listed_raised_once_and_requeued() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("win-1"));
    let t = outage().general("retrywindow: 1").zenoss(&z);
    std::fs::write(t.path().join("down"), "").unwrap();
    t.clone()
        .event("win-1", 1)
        .run()
        .status(1)
        .decision("ticket-failed");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(sweep(&t)["given_up"], 1);
    sweep(&t);
    let listed = t
        .again()
        .args(["--json", "state", "--given-up"])
        .run()
        .json();
    let gone = &listed[0]["given_up"][0];
    assert_eq!(
        (&gone["what"], &gone["count"]),
        (&"ticket".into(), &1.into())
    );
    assert!(
        gone["reason"]
            .as_str()
            .unwrap()
            .ends_with("ticket system down"),
        "{gone}"
    );
    let given_up = "zenticket: work given up (see zenticket-hook state --given-up; requeue)";
    assert_eq!(
        z.own_events(),
        [("Error".to_string(), given_up.to_string())]
    );
    // Back up, and put back by hand: the ticket is made with the same key.
    std::fs::remove_file(t.path().join("down")).unwrap();
    t.again()
        .args(["requeue", "--evid", "win-1"])
        .run()
        .status(0)
        .stdout("requeued 1 piece(s) of given-up work of evid win-1\n");
    assert_eq!(
        sweep(&t)["succeeded"],
        3,
        "the ticket, its acknowledgement and its note"
    );
    assert_eq!(lines(&t, "made.txt"), lines(&t, "attempts.txt")[..1]);
    assert_eq!(
        z.own_events(),
        [
            ("Error".to_string(), given_up.to_string()),
            ("Clear".to_string(), given_up.to_string())
        ]
    );
}

#[test]
fn a_hanging_ticket_system_opens_the_breaker_and_the_backlog_drains() {
    let z = Zenoss::start(Version::V42);
    let t = outage()
        .general("scripttimeout: 1")
        .general("breakafter: 2")
        .zenoss(&z);
    std::fs::write(t.path().join("hang"), "").unwrap();
    for e in ["hang-1", "hang-2"] {
        t.clone()
            .event(e, 1)
            .run()
            .status(1)
            .decision("ticket-failed");
    }
    // The breaker is open: hooks no longer hold a slot for the script.
    let started = std::time::Instant::now();
    let out = t.again().event("hang-3", 1).run();
    let took = started.elapsed();
    out.status(0).decision("ticket-deferred");
    assert!(
        took < std::time::Duration::from_secs(1),
        "answered at once: {took:?}"
    );
    assert_eq!(lines(&t, "attempts.txt").len(), 2, "the script did not run");
    let breaker = "zenticket: the ticket script keeps failing; breaker open, tickets deferred";
    sweep(&t); // probes the oldest once: still hanging
    assert_eq!(lines(&t, "attempts.txt").len(), 3);
    assert!(z
        .own_events()
        .contains(&("Error".to_string(), breaker.to_string())));
    let nagios = t.again().args(["status", "--nagios"]).run();
    nagios.status(2);
    assert!(
        nagios.stdout.starts_with("CRITICAL - breaker open for "),
        "{}",
        nagios.stdout
    );
    // The ticket system answers again: one sweep probes, closes the breaker, drains.
    std::fs::remove_file(t.path().join("hang")).unwrap();
    let s = sweep(&t);
    assert_eq!(s["given_up"], 0, "{s}");
    let made: Vec<String> = lines(&t, "made.txt")
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        made,
        ["hang-1", "hang-2", "hang-3"],
        "oldest first, once each"
    );
    assert!(z
        .own_events()
        .contains(&("Clear".to_string(), breaker.to_string())));
    t.again()
        .bare("hang-4", 1, 0)
        .args(["--severity", "4"])
        .run();
    let status = t.again().args(["--json", "status"]).run().json();
    assert_eq!(status["breaker"]["open"], false, "{status}");
}

fn spawn(t: &Test) -> Child {
    let mut cmd = t.prepare();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("spawn hook")
}

#[test]
fn concurrent_hooks_all_see_the_open_breaker() {
    let t = outage().general("breakafter: 1");
    std::fs::write(t.path().join("down"), "").unwrap();
    t.clone()
        .event("brk-0", 1)
        .run()
        .status(1)
        .decision("ticket-failed");
    let children: Vec<Child> = (1..=8)
        .map(|i| spawn(&t.again().event(&format!("brk-{i}"), 1)))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{line}");
        assert!(line.starts_with("ticket-deferred for evid brk-"), "{line}");
    }
    assert_eq!(
        lines(&t, "attempts.txt").len(),
        1,
        "only the first hook ran the script"
    );
    let state = t.again().args(["--json", "state"]).run().json();
    let owed = state
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pending"][0]["what"] == "ticket")
        .count();
    assert_eq!(owed, 9, "every ticket is owed");
}

#[test]
fn status_nagios_reads_as_zenoss_nagios_parser_reads_it() {
    let t = outage().general("breakafter: 0");
    t.clone().event("nag-1", 1).run().status(0);
    // Never swept yet: critical.
    let out = t.again().args(["status", "--nagios"]).run();
    out.status(2);
    sweep(&t);
    let out = t.again().args(["status", "--nagios"]).run();
    out.status(0);
    // Products/ZenRRD/parsers/Nagios.py: text, then '|' and perfdata label=value[UOM];...
    let (text, perf) = out
        .stdout
        .trim_end()
        .split_once('|')
        .expect("a perfdata part");
    assert_eq!(
        text, "OK - 1 owed, breaker closed [SQLite] ",
        "the acknowledgement, with no [ZENOSS]"
    );
    let re = regex::Regex::new(r"(([^ =']+|'([^']+)')=([-0-9.eE]+)\S*)").unwrap();
    let points: Vec<(String, f64)> = re
        .captures_iter(perf)
        .map(|c| (c[2].to_string(), c[4].parse().unwrap()))
        .collect();
    let labels: Vec<&str> = points.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["owed", "oldest", "given_up", "breaker", "since_sweep"]
    );
    assert_eq!(points[0].1, 1.0);
    assert!(points[4].1 >= 0.0 && points[4].1 < 60.0, "{points:?}");
    // Given-up work: WARNING.
    std::fs::write(t.path().join("down"), "").unwrap();
    let t2 = t.clone().general("retrywindow: 0");
    t2.again().event("nag-2", 1).run().status(1);
    sweep(&t2);
    let out = t2.again().args(["status", "--nagios"]).run();
    out.status(1);
    // The ticket, and nag-1's acknowledgement that nothing (no [ZENOSS]) could deliver.
    assert!(
        out.stdout
            .starts_with("WARNING - 2 given up in 24 h [SQLite] | "),
        "{}",
        out.stdout
    );
}

/// The breaker opens, the script recovers, and the next sweep's probe closes it before the
/// alerts are looked at: Zenoss is still told, Error then Clear (tickets were delayed).
#[test]
fn a_breaker_that_opened_and_closed_between_two_sweeps_is_told_to_zenoss() {
    let z = Zenoss::start(Version::V6);
    let t = outage().general("breakafter: 3").zenoss(&z);
    sweep(&t);
    std::fs::write(t.path().join("down"), "").unwrap();
    for e in ["blip-1", "blip-2", "blip-3"] {
        t.clone()
            .event(e, 1)
            .run()
            .status(1)
            .decision("ticket-failed");
    }
    t.clone()
        .event("blip-4", 1)
        .run()
        .status(0)
        .decision("ticket-deferred");
    std::fs::remove_file(t.path().join("down")).unwrap();
    let s = sweep(&t);
    assert_eq!(
        s["succeeded"], 12,
        "four tickets, their acknowledgements and their details: {s}"
    );
    let breaker = "zenticket: the ticket script keeps failing; breaker open, tickets deferred";
    let told: Vec<(String, String)> = z
        .own_events()
        .into_iter()
        .filter(|(_, summary)| summary == breaker)
        .collect();
    assert_eq!(
        told,
        [
            ("Error".to_string(), breaker.to_string()),
            ("Clear".to_string(), breaker.to_string())
        ]
    );
    sweep(&t);
    assert_eq!(
        z.own_events().iter().filter(|(_, s)| s == breaker).count(),
        2,
        "told once"
    );
}
