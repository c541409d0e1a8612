//! Chaos: a storm of hooks against the real binary where a random tenth are SIGKILLed at
//! random moments (before, during and after the script), the script fails at random and
//! Zenoss answers 503 for a while; then `sweep` runs until nothing is pending. What must
//! hold is checked from the script's own log, the Zenoss test server's record and the
//! state DB. The seed is printed; CHAOS_SEED=N reruns one storm.
use crate::common::zenoss::{Fault, Version, ZEvent, Zenoss};
use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Fails a fifth of the time; otherwise appends (ticket, key, evid, count) to a log under
/// a lock and prints the number; sleeps a little before and after, to widen the windows
/// in which a kill can fall.
const CHAOS_SCRIPT: &str = r#"#!/usr/bin/perl
use strict; use warnings; use Fcntl qw(:flock);
my $dir = '{dir}';
my %a; while (@ARGV) { my $f = shift @ARGV; $f =~ s/^-//; $a{$f} = shift @ARGV; }
select(undef, undef, undef, rand(0.03));
if (rand() < 0.2) { print STDERR "random failure\n"; exit 1; }
open(my $l, '+>>', "$dir/tickets.log") or die "tickets.log: $!";
flock($l, LOCK_EX) or die; seek($l, 0, 0);
my $n = 0; $n++ while <$l>;
my $t = 5001 + $n;
print $l join("\t", $t, $ENV{ZENTICKET_IDEMPOTENCY_KEY}, $ENV{ZENTICKET_EVID}, $a{count}), "\n";
close $l;
select(undef, undef, undef, rand(0.03));
print "$t\n";
"#;

/// A small deterministic generator, so a failing storm can be replayed from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn storm_with_kills_failures_and_zenoss_down_loses_nothing() {
    storm(Test::new());
}

#[test]
fn storm_with_kills_failures_and_zenoss_down_loses_nothing_on_mariadb() {
    if let Some(t) = Test::new().on_mariadb() {
        storm(t);
    }
}

/// The storm, on `t`'s state DB backend.
fn storm(t: Test) {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("chaos seed {seed} (CHAOS_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let z = Zenoss::start(Version::V6);
    let ticket_evids: Vec<String> = (0..40)
        .map(|i| format!("0242ac11-0008-8a4b-11ee-00000000{i:04}"))
        .collect();
    let noise_evids: Vec<String> = (0..15)
        .map(|i| format!("0242ac11-0008-8a4b-11ee-99990000{i:04}"))
        .collect();
    for e in &ticket_evids {
        z.add(ZEvent::new(e));
    }
    for e in &noise_evids {
        let mut ev = ZEvent::new(e);
        ev.severity = 2;
        z.add(ev);
    }
    // Zenoss is down for the first stretch of the storm.
    z.fail_next(&vec![Fault::Status503; 40]);
    let conf = LAB_CONFIG.replace(
        "cycletime: 30\n",
        "cycletime: 30\nretrydelay: 0\nretries: 100\n",
    );
    let base = t.config(&conf).script("chaos.pl", CHAOS_SCRIPT).zenoss(&z);
    base.prepare();

    // Rounds of rising counts; within a round the order is shuffled.
    let mut calls: Vec<(String, i64, u64)> = Vec::new();
    for count in 1..=10 {
        let mut round: Vec<(String, i64, u64)> =
            ticket_evids.iter().map(|e| (e.clone(), count, 4)).collect();
        if count <= 3 {
            round.extend(noise_evids.iter().map(|e| (e.clone(), count, 2)));
        }
        for i in (1..round.len()).rev() {
            round.swap(i, rng.below(i as u64 + 1) as usize);
        }
        calls.extend(round);
    }

    let started = Instant::now();
    let mut kills = 0;
    let mut outputs = Vec::new();
    for chunk in calls.chunks(16) {
        let mut running: Vec<(Child, bool)> = Vec::new();
        for (evid, count, severity) in chunk {
            let mut t = base.again();
            // Half the calls carry the text, half only numbers (the hook then fetches).
            if rng.below(2) == 0 {
                t = t
                    .event(evid, *count)
                    .args(["--severity", &severity.to_string()]);
            } else {
                t = t.args([
                    "--evid",
                    evid,
                    "--count",
                    &count.to_string(),
                    "--event-state",
                    "0",
                    "--severity",
                    &severity.to_string(),
                ]);
            }
            let child = t
                .prepare()
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            running.push((child, rng.below(10) == 0));
        }
        for (child, kill) in running.iter_mut() {
            if *kill {
                std::thread::sleep(Duration::from_millis(rng.below(60)));
                let _ = child.kill();
                kills += 1;
            }
        }
        for (child, _) in running {
            let out = child.wait_with_output().unwrap();
            outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    let storm_took = started.elapsed();

    // Every hook has ended, so every claim left is a dead one: age them as time would.
    let mut sweeps = 0;
    let mut retried = 0;
    loop {
        base.sql("UPDATE pending SET claimed_at = claimed_at - 3600 WHERE claimed_by IS NOT NULL");
        let s = base.again().args(["--json", "sweep"]).run();
        s.status(0);
        sweeps += 1;
        retried += s.json()["retried"].as_u64().unwrap();
        let state = s.state();
        let pending: usize = state
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["pending"].as_array().unwrap().len())
            .sum();
        if pending == 0 {
            break;
        }
        assert!(sweeps < 30, "still {pending} pending after {sweeps} sweeps");
    }

    // The script's own record of the tickets it made.
    let log = std::fs::read_to_string(base.path().join("tickets.log")).unwrap_or_default();
    let mut made: BTreeMap<(String, i64), Vec<(i64, String)>> = BTreeMap::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        made.entry((f[2].to_string(), f[3].parse().unwrap()))
            .or_default()
            .push((f[0].parse().unwrap(), f[1].to_string()));
    }
    let state = base.again().run().state();
    let mut duplicates = 0;
    for ((evid, count), tickets) in &made {
        if tickets.len() > 1 {
            duplicates += tickets.len() - 1;
            let keys: BTreeSet<&String> = tickets.iter().map(|t| &t.1).collect();
            assert_eq!(
                keys.len(),
                1,
                "{evid} count {count}: two tickets with different keys: {tickets:?}"
            );
        }
    }
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates but only {kills} kills"
    );
    let rows: BTreeMap<String, &serde_json::Value> = state
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["evid"].as_str().unwrap().to_string(), r))
        .collect();
    for evid in &ticket_evids {
        let Some(row) = rows.get(evid) else {
            panic!("{evid} was never recorded");
        };
        let count = row["count"].as_i64().unwrap();
        let tickets = row["tickets"].as_array().unwrap();
        // The highest count recorded has its ticket, made by the script.
        let mine = made
            .get(&(evid.clone(), count))
            .unwrap_or_else(|| panic!("{evid}: no ticket for count {count}"));
        assert!(
            tickets
                .iter()
                .any(|t| mine.iter().any(|m| Some(m.0) == t.as_i64())),
            "{evid}: state {tickets:?}, script {mine:?}"
        );
        assert_eq!(
            z.event(evid).unwrap().state,
            1,
            "{evid} acknowledged in Zenoss"
        );
    }
    for evid in &noise_evids {
        assert!(
            !made.keys().any(|(e, _)| e == evid),
            "{evid}: noise got a ticket"
        );
        if rows.contains_key(evid) {
            assert_eq!(z.event(evid).unwrap().state, 3, "{evid} moved to history");
        }
    }
    assert_eq!(z.danger(), 0, "a request without evids");

    if base.mariadb.is_none() {
        assert_eq!(base.query("PRAGMA integrity_check"), "ok");
    }
    let line =
        regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) zen\.zenticket: ")
            .unwrap();
    let hooklog = std::fs::read_to_string(base.path().join("log/zenticket.log")).unwrap();
    for l in hooklog.lines() {
        assert!(line.is_match(l), "torn or foreign log line: {l:?}");
    }
    assert!(!hooklog.contains("database is locked"));
    assert!(outputs.iter().all(|e| !e.contains("database is locked")));

    let tickets: usize = made.values().map(Vec::len).sum();
    println!(
        "chaos ({}): {} calls in {:.1}s, {kills} killed, {tickets} tickets by the script, {duplicates} duplicates (same key), {retried} retried over {sweeps} sweeps, log {} lines",
        if base.mariadb.is_some() { "MariaDB" } else { "SQLite" },
        calls.len(),
        storm_took.as_secs_f64(),
        hooklog.lines().count()
    );
}
