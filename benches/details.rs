//! Zenoss calls per new event, and the hook's time, for the ways the ticket reaches
//! Zenoss: the note alone (what a Zenoss without `updateDetails` gets, and what every
//! Zenoss got before the details), the details alone (the default, `ticketnote: off`),
//! and both (`ticketnote: on`); against the Zenoss test server on 127.0.0.1 answering
//! every call 20 ms late (a Zope across a WAN or under load), so each request shows.
//!
//!     cargo bench --bench details          # EVENTS=40 by default
//!
//! Figures are ratios against the note alone, measured in the same run.

mod common;

#[allow(dead_code)]
#[path = "../tests/it/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/it/common/zenoss.rs"]
mod zenoss;

use std::time::{Duration, Instant};

struct Run {
    calls_per_event: f64,
    median: Duration,
    methods: Vec<String>,
}

fn run(name: &str, events: usize, setup: impl Fn(&zenoss::Zenoss) -> String) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let script = common::trivial_script(d);
    let z = zenoss::Zenoss::start(zenoss::Version::V6);
    let zenoss_section = setup(&z);
    let conf = d.join("zenticket.conf");
    std::fs::write(
        &conf,
        format!(
            "[GENERAL]\nticketscript: {}\nstatedb: {}/zenticket.db\nlogfile: {}/zenticket.log\n\
             collector: bench.example.com\n\n[LAB]\nid: nnl-00000\nqueue: Front Line\n\
             group1: /Network\n\n{zenoss_section}",
            script.display(),
            d.display(),
            d.display()
        ),
    )
    .expect("config");
    // One event first: a Zenoss without updateDetails is asked once, then never again.
    z.add(zenoss::ZEvent::new("warm-up"));
    let ok = common::new_event(&conf, "warm-up").output().expect("hook");
    assert!(ok.status.success(), "{name}: {ok:?}");
    let before = z.methods().len();
    z.latency(Duration::from_millis(20));
    let mut times = Vec::new();
    for i in 0..events {
        let evid = format!("0242ac11-0008-8a4b-11ee-{i:012}");
        z.add(zenoss::ZEvent::new(&evid));
        let started = Instant::now();
        let out = common::new_event(&conf, &evid).output().expect("hook");
        times.push(started.elapsed());
        assert!(out.status.success(), "{name}: {out:?}");
    }
    times.sort();
    let methods: Vec<String> = z.methods()[before..].to_vec();
    Run {
        calls_per_event: methods.len() as f64 / events as f64,
        median: times[times.len() / 2],
        methods,
    }
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let note_only = run("the note alone", events, |z| {
        z.without_update_details();
        z.section()
    });
    let details = run("the details alone", events, |z| z.section());
    let both = run("details and note", events, |z| {
        format!("{}ticketnote: on\n", z.section())
    });
    println!("zenticket-hook details bench: {events} new events each, Zenoss answering 20 ms late, 2-core machine");
    for (name, r) in [
        (
            "the note alone (before; a Zenoss without updateDetails)",
            &note_only,
        ),
        ("the details alone (ticketnote: off, the default)", &details),
        ("details and note (ticketnote: on)", &both),
    ] {
        let mut kinds: Vec<&str> = r.methods.iter().map(String::as_str).collect();
        kinds.sort();
        kinds.dedup();
        println!(
            "  {name:<58} {:.2} Zenoss calls per new event ({})  median {:>6.1} ms  {:.2}x the note alone",
            r.calls_per_event,
            kinds.join(", "),
            r.median.as_secs_f64() * 1000.0,
            r.median.as_secs_f64() / note_only.median.as_secs_f64()
        );
    }
    assert!(details.calls_per_event <= note_only.calls_per_event);
    assert!(both.calls_per_event <= note_only.calls_per_event + 1.0);
}
