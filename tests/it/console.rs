//! The console read by `sweep`, when Zenoss's answers do not add up: events closing between
//! pages, totalCount short or missing, an empty page, repeated rows, a row without an evid,
//! writes during a slow read, a Zenoss whose every query fails, stale stored lastTimes and
//! an autoclosed event reopened. None of them prunes an open event, closes a recent one,
//! or makes a duplicate or missed ticket.
use crate::common::zenoss::{Fault, Misbehave, Version, ZEvent, Zenoss};
use crate::common::*;
use std::time::Duration;

const OPEN: usize = 2_500;

fn evid(i: usize) -> String {
    format!("0242ac11-0008-8a4b-11ee-{i:012}")
}

/// 2,500 open events in Zenoss, each recorded in the state DB at count 1 with a ticket,
/// rows long since written (as a busy site's are).
fn busy_site(version: Version) -> (Zenoss, Test) {
    let z = Zenoss::start(version);
    for i in 0..OPEN {
        z.add(ZEvent::new(&evid(i)));
    }
    let t = Test::new().general("retrydelay: 0").zenoss(&z);
    // The hook makes the schema; the rows are written as a day of hooks would have.
    t.clone().event(&evid(0), 1).run().status(0);
    sql(
        t.path(),
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
             INSERT INTO events(evid, count, event_state, customer, queue, last_time, created, updated)
               SELECT printf('0242ac11-0008-8a4b-11ee-%012d', i), 1, 1, CAST('nnl-00000' AS BLOB), CAST('Front Line' AS BLOB),
                      1700000600, strftime('%s', 'now') - 1000, strftime('%s', 'now') - 1000 FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
             INSERT INTO tickets(evid, count, ticket, customer, queue, created)
               SELECT printf('0242ac11-0008-8a4b-11ee-%012d', i), 1, 9000 + i, CAST('nnl-00000' AS BLOB), CAST('Front Line' AS BLOB),
                      strftime('%s', 'now') - 1000 FROM n;
             UPDATE events SET updated = strftime('%s', 'now') - 1000;
             DELETE FROM pending;",
            last = OPEN - 1
        ),
    );
    (z, t)
}

fn rows(t: &Test) -> i64 {
    let conn = rusqlite::Connection::open(t.path().join("var/zenticket.db")).unwrap();
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

fn sweep_json(t: &Test) -> serde_json::Value {
    let s = t.again().args(["--json", "sweep"]).run();
    s.status(0);
    s.json()
}

/// Two sweeps with the first one's misses aged past the half cycle: what a well-behaved
/// console would need to prune.
fn two_sweeps(t: &Test) -> (serde_json::Value, serde_json::Value) {
    let first = sweep_json(t);
    sql(
        t.path(),
        "UPDATE events SET missing_since = missing_since - 3600",
    );
    (first, sweep_json(t))
}

#[test]
fn a_console_that_changes_or_misbehaves_prunes_nothing() {
    for (m, why) in [
        (
            Misbehave::TotalShort(2000),
            "1000 distinct evids read, but totalCount is 500",
        ),
        (
            Misbehave::EmptySecondPage,
            "the page at 1000 came back empty, short of totalCount 2500",
        ),
        (
            Misbehave::RepeatRows(300),
            "300 row(s) repeated across pages",
        ),
        (Misbehave::NoTotalCount, "Zenoss's reply has no totalCount"),
        (
            Misbehave::RowWithoutEvid,
            "1 row(s) without an evid; 2499 distinct evids read, but totalCount is 2500",
        ),
    ] {
        let (z, t) = busy_site(Version::V6);
        z.misbehave(Some(m.clone()));
        let (first, second) = two_sweeps(&t);
        assert_eq!(
            first["console"],
            format!("console read incomplete ({why}): nothing pruned"),
            "{m:?}"
        );
        assert_eq!(
            (&first["pruned"], &second["pruned"]),
            (&0.into(), &0.into()),
            "{m:?}"
        );
        assert_eq!(rows(&t), OPEN as i64, "{m:?}: every open event's row kept");
    }
}

#[test]
fn events_closing_between_pages_are_not_forgotten_nor_ticketed_twice() {
    let (z, t) = busy_site(Version::V42);
    z.misbehave(Some(Misbehave::CloseAfterFirstPage(300)));
    let first = sweep_json(&t);
    z.misbehave(None);
    sql(
        t.path(),
        "UPDATE events SET missing_since = missing_since - 3600",
    );
    let second = sweep_json(&t);
    assert_eq!(
        first["console"],
        "console read incomplete (totalCount changed during the read (from 2500 to 2200)): nothing pruned"
    );
    // The console is calm again; the 300 closed events are gone from it, the rest open.
    assert_eq!(
        second["console"],
        "console read complete (2200 open events)"
    );
    assert_eq!(
        rows(&t),
        OPEN as i64,
        "nothing pruned yet: one complete read missed them"
    );
    // An open event beyond the shift, repeated at the same count: the same ticket, not two.
    let shifted = evid(1500);
    let again = t.again().event(&shifted, 1).run();
    again.status(0).decision("unchanged");
    // The same event at a higher count, already acknowledged: a real increase, ticketed.
    let up = t
        .again()
        .event(&shifted, 2)
        .args(["--event-state", "1"])
        .run();
    up.status(0).decision("ticket");
    let state = t
        .again()
        .args(["--json", "state", "--evid", &shifted])
        .run()
        .json();
    assert_eq!(state[0]["tickets"], serde_json::json!([10500, 1001 + 1]));
}

#[test]
fn the_closed_events_rows_go_after_two_complete_reads() {
    let (z, t) = busy_site(Version::V6);
    for i in 0..300 {
        let mut e = z.event(&evid(i)).unwrap();
        e.state = 3;
        z.add(e);
    }
    let (first, second) = two_sweeps(&t);
    assert_eq!(first["console"], "console read complete (2200 open events)");
    assert_eq!(first["pruned"], 0, "one complete read is not enough");
    assert_eq!(second["pruned"], 300);
    assert_eq!(rows(&t), 2200);
    // The ticket record stays: one of them reopened at the same count is not a new ticket.
    let mut back = z.event(&evid(7)).unwrap();
    back.state = 0;
    z.add(back);
    t.again()
        .event(&evid(7), 1)
        .run()
        .status(0)
        .decision("unchanged");
    t.again()
        .event(&evid(7), 2)
        .run()
        .status(0)
        .decision("ticket");
}

#[test]
fn rows_written_while_a_slow_sweep_reads_are_not_pruned() {
    let (z, t) = busy_site(Version::V6);
    // The first page takes a second and a half to come; meanwhile a hook records an event
    // that Zenoss's answer cannot contain.
    z.fail_next(&[Fault::Hang(Duration::from_millis(1500))]);
    let slow = std::thread::spawn({
        let t = t.clone();
        move || t.again().args(["--json", "sweep"]).run()
    });
    std::thread::sleep(Duration::from_millis(300));
    t.again().event("late-1", 1).run().status(0);
    let s = slow.join().unwrap();
    s.status(0);
    sql(
        t.path(),
        "UPDATE events SET missing_since = missing_since - 3600",
    );
    sweep_json(&t);
    let state = t
        .again()
        .args(["--json", "state", "--evid", "late-1"])
        .run()
        .json();
    assert_eq!(
        state[0]["evid"], "late-1",
        "kept: written after the read began"
    );
}

#[test]
fn autoclear_goes_by_zenoss_lasttime_and_not_without_a_read() {
    let z = Zenoss::start(Version::V6);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut recent = ZEvent::new("recent-1");
    recent.last_time = now - 60.0;
    let mut stale = ZEvent::new("stale-1");
    stale.last_time = now - 7200.0;
    z.add(recent).add(stale);
    let hooks = Test::new().zenoss(&z);
    for e in ["recent-1", "stale-1"] {
        hooks.clone().event(e, 1).run().status(0);
    }
    let t = hooks.again().general("autocleartime: 3600");
    // The stored lastTime of both is old (the hook saw an old occurrence); Zenoss knows
    // better for recent-1.
    sql(
        t.path(),
        &format!("UPDATE events SET last_time = {}", now - 7200.0),
    );
    // Every query fails: nothing is autoclosed from stored rows.
    z.fail_next(&[Fault::Html500]);
    let s = sweep_json(&t);
    assert_eq!(s["autocleared"], 0);
    assert_eq!(
        s["console"],
        "open events not read (Zenoss answered HTTP 500: Zope Site Error): no autoclear, nothing pruned"
    );
    assert_eq!(z.event("stale-1").unwrap().state, 1);
    // Read again: only the event whose lastTime in Zenoss is old is closed.
    let s = sweep_json(&t);
    assert_eq!(s["autocleared"], 1);
    assert_eq!(z.event("stale-1").unwrap().state, 3);
    assert_eq!(
        z.event("recent-1").unwrap().state,
        1,
        "acknowledged, not closed"
    );
}
