//! Many hooks at once, as zenactiond runs them: one ticket per count increase, no count
//! lost, and a slow script holds up nobody else.
use crate::common::*;
use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn spawn(t: &Test) -> Child {
    let mut cmd = t.prepare();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("spawn hook")
}

fn finish(children: Vec<Child>) -> Vec<(i32, String)> {
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        })
        .collect()
}

fn count_arg(argv: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&arg_after(argv, "-count")).into_owned()
}

#[test]
fn sixteen_calls_for_one_new_evid_make_one_ticket() {
    sixteen_calls(Test::new());
}

#[test]
fn sixteen_calls_for_one_new_evid_make_one_ticket_on_mariadb() {
    if let Some(t) = Test::new().on_mariadb() {
        sixteen_calls(t);
    }
}

fn sixteen_calls(t: Test) {
    let base = t.env("TICKET_SLEEP", "0.2");
    let children: Vec<Child> = (0..16)
        .map(|_| spawn(&base.again().event("same-evid", 1)))
        .collect();
    let results = finish(children);
    assert!(results.iter().all(|(code, _)| *code == 0), "{results:?}");
    let tickets = results
        .iter()
        .filter(|(_, o)| o.starts_with("ticket "))
        .count();
    let unchanged = results
        .iter()
        .filter(|(_, o)| o.starts_with("unchanged "))
        .count();
    assert_eq!((tickets, unchanged), (1, 15), "{results:?}");
    assert_eq!(calls(base.path()).len(), 1);
}

#[test]
fn rising_counts_never_make_two_tickets_for_one_count_and_keep_the_highest() {
    rising_counts(Test::new());
}

#[test]
fn rising_counts_never_make_two_tickets_for_one_count_and_keep_the_highest_on_mariadb() {
    if let Some(t) = Test::new().on_mariadb() {
        rising_counts(t);
    }
}

fn rising_counts(base: Test) {
    // Interleave the counts so that higher ones often arrive first.
    let order = [5, 1, 16, 2, 9, 3, 12, 4, 7, 6, 14, 8, 10, 11, 13, 15];
    let children: Vec<Child> = order
        .iter()
        .map(|&n| spawn(&base.again().event("rising", n)))
        .collect();
    let results = finish(children);
    assert!(results.iter().all(|(code, _)| *code == 0), "{results:?}");
    let mut per_count: HashMap<String, usize> = HashMap::new();
    for argv in calls(base.path()) {
        *per_count.entry(count_arg(&argv)).or_default() += 1;
    }
    assert!(per_count.values().all(|&n| n == 1), "{per_count:?}");
    assert!(!per_count.is_empty());
    let tickets = results
        .iter()
        .filter(|(_, o)| o.starts_with("ticket "))
        .count();
    assert_eq!(tickets, per_count.len());
    let out = base.again().args(["--json", "state"]).run();
    assert_eq!(out.json()[0]["count"], 16, "the highest count is kept");
    assert_eq!(out.json()[0]["tickets"].as_array().unwrap().len(), tickets);
}

#[test]
fn a_slow_script_does_not_hold_up_other_events() {
    let base = Test::new().env("TICKET_SLEEP", "2");
    let start = Instant::now();
    let children: Vec<Child> = (0..10)
        .map(|i| spawn(&base.again().event(&format!("slow-{i}"), 1)))
        .collect();
    let results = finish(children);
    let took = start.elapsed();
    assert!(
        results
            .iter()
            .all(|(code, o)| *code == 0 && o.starts_with("ticket ")),
        "{results:?}"
    );
    assert_eq!(calls(base.path()).len(), 10);
    // Serialised behind one lock this is 20 s; in parallel it is one script's 2 s plus
    // start-up on a 2-core machine.
    assert!(
        took < Duration::from_secs(8),
        "10 slow events took {took:?}"
    );
}

#[test]
fn each_tickets_note_is_written_by_its_hook_though_a_later_count_raised_the_row() {
    use crate::common::zenoss::{Version, ZEvent, Zenoss};
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("note-race"));
    let base = Test::new()
        .section(&format!("{}ticketnote: on\n", z.section()))
        .env("TICKET_SLEEP", "1");
    let first = spawn(&base.again().event("note-race", 1));
    std::thread::sleep(Duration::from_millis(300));
    // Count 2 raises the row while count 1's script still runs.
    let second = spawn(&base.again().event("note-race", 2));
    let results = finish(vec![first, second]);
    assert!(results.iter().all(|(code, _)| *code == 0), "{results:?}");
    let state = base.again().args(["state", "--json"]).run().json();
    assert_eq!(state[0]["tickets"].as_array().unwrap().len(), 2, "{state}");
    assert_eq!(
        state[0]["pending"],
        serde_json::json!([]),
        "nothing owed: {state}"
    );
    assert_eq!(z.event("note-race").unwrap().notes.len(), 2);
    // The details hold the newest ticket.
    assert_eq!(
        z.event("note-race").unwrap().details["zenticket.ticket"],
        "1002"
    );
}
