//! Autotask's limit of three requests at once, under a storm: N new events (EVENTS=300)
//! from 32 hooks at once against the Autotask test server (each create taking SLOW_MS=50),
//! with `maxconcurrent: 3` (the default) and with the cap off, in the same run. Reports the
//! peak of requests in flight the server saw, how many hooks deferred, and the time until
//! every event has its ticket (hooks, then sweeps draining), as a ratio.
//!
//!     cargo bench --bench cap

mod common;

#[allow(dead_code)]
#[path = "../tests/it/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/it/common/psa.rs"]
mod psa;
#[allow(dead_code)]
#[path = "../tests/it/common/zenoss.rs"]
mod zenoss;

use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Outcome {
    peak: usize,
    deferred: usize,
    hooks: Duration,
    total: Duration,
    sweeps: usize,
}

fn storm(events: usize, concurrency: usize, slow: Duration, cap: u32) -> Outcome {
    let p = psa::Psa::start(psa::Kind::Autotask);
    p.slow(slow);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let conf = d.join("zenticket.conf");
    std::fs::write(
        &conf,
        format!(
            "[GENERAL]\nticketsystem: autotask\nretrydelay: 0\nstatedb: {d}/zenticket.db\nlogfile: {d}/zenticket.log\ncollector: bench.example.com\n\n[LAB]\nid: nnl-00000\nqueue: Front Line\ngroup1: /Network\nbody: {{\"companyID\": 1, \"queueID\": 2}}\n\n{}maxconcurrent: {cap}\n",
            p.section(),
            d = d.display()
        ),
    )
    .expect("config");
    let started = Instant::now();
    let queue: Arc<Mutex<VecDeque<usize>>> = Arc::new(Mutex::new((0..events).collect()));
    let deferred = Arc::new(Mutex::new(0usize));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (queue, deferred, conf) = (queue.clone(), deferred.clone(), conf.clone());
            std::thread::spawn(move || loop {
                let Some(i) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                let out = common::new_event(&conf, &format!("cap-{i}"))
                    .stderr(Stdio::null())
                    .output()
                    .expect("hook");
                if String::from_utf8_lossy(&out.stdout).starts_with("ticket-deferred") {
                    *deferred.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let hooks = started.elapsed();
    let mut sweeps = 0;
    while p.recs().len() < events && sweeps < 50 {
        Command::new(common::BIN)
            .arg("--config")
            .arg(&conf)
            .arg("sweep")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("sweep");
        sweeps += 1;
    }
    let total = started.elapsed();
    assert_eq!(p.recs().len(), events, "every event has its ticket");
    let deferred = *deferred.lock().unwrap();
    Outcome {
        peak: p.peak(),
        deferred,
        hooks,
        total,
        sweeps,
    }
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let events = env("EVENTS", 300);
    let slow = Duration::from_millis(env("SLOW_MS", 50) as u64);
    let capped = storm(events, 32, slow, 3);
    let free = storm(events, 32, slow, 0);
    println!(
        "Autotask storm: {events} new events, 32 hooks at once, each create {} ms at the server",
        slow.as_millis()
    );
    for (name, o) in [("maxconcurrent 3", &capped), ("no cap", &free)] {
        println!(
            "  {name:<16} peak in flight {:>2}; {:>3} hooks deferred; hooks done in {:>6.2} s; every ticket made in {:>6.2} s ({} sweep(s))",
            o.peak,
            o.deferred,
            o.hooks.as_secs_f64(),
            o.total.as_secs_f64(),
            o.sweeps
        );
    }
    println!(
        "  time to every ticket, capped / uncapped: {:.2}x (the floor: {events} x {} ms / 3 = {:.2} s)",
        capped.total.as_secs_f64() / free.total.as_secs_f64(),
        slow.as_millis(),
        events as f64 * slow.as_secs_f64() / 3.0
    );
    assert!(capped.peak <= 3, "the cap held");
}
