//! Several hosts, one site: hooks and sweeps of two "hosts" (two configs, two folders,
//! two log files and journals) share one state DB on MariaDB, racing for the same
//! events, while the server is restarted mid-storm. One ticket per (evid, count), none
//! lost, nothing owed at the end.
use crate::common::mariadb::Server;
use crate::common::zenoss::{Version, ZEvent, Zenoss};
use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Appends (ticket, key, evid, count) to the site's one ticket log (both hosts' scripts
/// write it, as both would reach one ticket system), under a lock; prints the number.
const SITE_SCRIPT: &str = r#"#!/usr/bin/perl
use strict; use warnings; use Fcntl qw(:flock);
my %a; while (@ARGV) { my $f = shift @ARGV; $f =~ s/^-//; $a{$f} = shift @ARGV; }
select(undef, undef, undef, rand(0.02));
open(my $l, '+>>', $ENV{SITE_LOG}) or die "site log: $!";
flock($l, LOCK_EX) or die; seek($l, 0, 0);
my $n = 0; $n++ while <$l>;
my $t = 7001 + $n;
print $l join("\t", $t, $ENV{ZENTICKET_IDEMPOTENCY_KEY}, $ENV{ZENTICKET_EVID}, $a{count}), "\n";
close $l;
print "$t\n";
"#;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A MariaDB server of the test's own (its data in the returned folder, dropped after the
/// server) with one database; None where MariaDB is not installed (never under CI).
fn private_site() -> Option<(Server, String, tempfile::TempDir)> {
    let site = tempfile::tempdir().expect("tempdir");
    let server = Server::private(site.path(), free_port())?;
    let db = server.database();
    Some((server, db, site))
}

#[test]
fn two_hosts_share_one_state_db_through_a_server_restart() {
    let Some((server, db, site)) = private_site() else {
        return;
    };
    let log = site.path().join("tickets.log");
    let z = Zenoss::start(Version::V6);
    let evids: Vec<String> = (0..30)
        .map(|i| format!("0242ac11-0008-8a4b-11ee-77770000{i:04}"))
        .collect();
    let top = 6;
    for e in &evids {
        let mut ev = ZEvent::new(e);
        ev.count = top;
        z.add(ev);
    }
    let conf = LAB_CONFIG.replace(
        "cycletime: 30\n",
        "cycletime: 30\nretrydelay: 0\nretries: 100\n",
    );
    let host = || {
        Test::new()
            .config(&conf)
            .script("site.pl", SITE_SCRIPT)
            .zenoss(&z)
            .env("SITE_LOG", &log)
            .on_database(&server, &db)
    };
    let hosts = [host(), host()];
    for h in &hosts {
        h.prepare();
    }

    let mut calls: Vec<(usize, String, i64)> = Vec::new();
    for count in 1..=top {
        for (i, e) in evids.iter().enumerate() {
            // Each count of an evid reaches both hosts at once half the time (two
            // zenactiond instances), else one of them.
            calls.push(((i + count as usize) % 2, e.clone(), count));
            if i % 2 == 0 {
                calls.push((1 - (i + count as usize) % 2, e.clone(), count));
            }
        }
    }
    let restart_at = calls.len() / 3;
    let started = Instant::now();
    let mut failed = 0;
    let mut restarted = None;
    for (n, chunk) in calls.chunks(12).enumerate() {
        let restart = (n * 12 <= restart_at && restart_at < (n + 1) * 12).then(|| {
            let s = server.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let t = Instant::now();
                s.stop();
                s.start();
                t.elapsed()
            })
        });
        let running: Vec<Child> = chunk
            .iter()
            .map(|(h, evid, count)| {
                hosts[*h]
                    .again()
                    .event(evid, *count)
                    .prepare()
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for c in running {
            let out = c.wait_with_output().expect("wait");
            if !out.status.success() {
                failed += 1;
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    !err.contains(PASSWORD_TEXT),
                    "the password in a hook's message: {err}"
                );
            }
        }
        if let Some(r) = restart {
            restarted = Some(r.join().expect("restart"));
        }
    }
    let storm_took = started.elapsed();
    assert!(restarted.is_some(), "the server was restarted mid-storm");

    // Sweeps on both hosts, turn about, until nothing is owed: every claim left was a
    // dead hook's, aged as time would.
    let mut sweeps = 0;
    loop {
        hosts[0]
            .sql("UPDATE pending SET claimed_at = claimed_at - 3600 WHERE claimed_by IS NOT NULL");
        for h in &hosts {
            sweep(h);
            sweeps += 1;
        }
        let owed = hosts[0].query("SELECT count(*) FROM pending");
        if owed == "0" {
            break;
        }
        assert!(sweeps < 40, "still {owed} owed after {sweeps} sweeps");
    }

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut made: BTreeMap<(String, i64), Vec<(i64, String)>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        made.entry((f[2].to_string(), f[3].parse().expect("count")))
            .or_default()
            .push((f[0].parse().expect("ticket"), f[1].to_string()));
    }
    let mut duplicates = 0;
    for ((evid, count), tickets) in &made {
        let keys: BTreeSet<&String> = tickets.iter().map(|t| &t.1).collect();
        assert_eq!(keys.len(), 1, "{evid} count {count}: two keys: {tickets:?}");
        duplicates += tickets.len() - 1;
    }
    assert_eq!(duplicates, 0, "a ticket made twice: {made:?}");
    let state = hosts[1].again().run().state();
    let rows: BTreeMap<String, &serde_json::Value> = state
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["evid"].as_str().expect("evid").to_string(), r))
        .collect();
    for evid in &evids {
        let row = rows
            .get(evid)
            .unwrap_or_else(|| panic!("{evid} never recorded"));
        assert_eq!(row["count"], top, "{evid}");
        let mine = made
            .get(&(evid.clone(), top))
            .unwrap_or_else(|| panic!("{evid}: no ticket for count {top}"));
        let recorded = row["tickets"].as_array().expect("tickets");
        assert!(
            recorded.iter().any(|t| Some(mine[0].0) == t.as_i64()),
            "{evid}: state {recorded:?}, script {mine:?}"
        );
        assert_eq!(
            z.event(evid).expect("event").state,
            1,
            "{evid} acknowledged"
        );
    }
    // Both hosts read one DB: the same status, naming it.
    let status: Vec<serde_json::Value> = hosts
        .iter()
        .map(|h| h.again().args(["--json", "status"]).run().json())
        .collect();
    assert_eq!(status[0]["owed_total"], 0);
    assert_eq!(status[0]["statedb"], status[1]["statedb"]);
    assert_eq!(status[0]["statedb"]["backend"], "MariaDB");
    let line =
        regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) zen\.zenticket: ")
            .expect("regex");
    for h in &hosts {
        let hooklog = std::fs::read_to_string(h.path().join("log/zenticket.log")).expect("log");
        for l in hooklog.lines() {
            assert!(line.is_match(l), "torn or foreign log line: {l:?}");
            assert!(!l.contains(PASSWORD_TEXT), "the password logged: {l}");
        }
    }
    println!(
        "two hosts: {} calls in {:.1}s, {failed} hooks failed while the server restarted \
         (in {:.1}s), {} tickets, 0 duplicates, {sweeps} sweeps",
        calls.len(),
        storm_took.as_secs_f64(),
        restarted.map_or(0.0, |d| d.as_secs_f64()),
        made.len()
    );
}

const PASSWORD_TEXT: &str = crate::common::mariadb::PASSWORD;

#[test]
fn a_server_that_is_down_fails_the_hook_plainly_and_sweep_makes_the_ticket_after() {
    let Some((server, db, _site)) = private_site() else {
        return;
    };
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("down-1"));
    let t = Test::new().zenoss(&z).on_database(&server, &db);
    t.clone().event("down-0", 1).run().status(0);
    server.stop();
    let out = t.again().event("down-1", 1).run();
    out.status(1).stdout("");
    out.stderr_has(&format!(
        "evid down-1: state DB mysql://zt_test@127.0.0.1:{}/{db}: cannot reach the server at 127.0.0.1:{}",
        server.port, server.port
    ))
    .stderr_lacks(crate::common::mariadb::PASSWORD);
    // No ticket it could not record.
    assert_eq!(out.calls().len(), 1, "only down-0's ticket");
    t.again()
        .args(["status", "--nagios"])
        .run()
        .status(2)
        .stdout_has("CRITICAL - every hook and sweep stops: state DB mysql://");
    server.start();
    sweep(&t);
    assert_eq!(
        out.calls().len(),
        2,
        "the sweep's reconcile made down-1's ticket"
    );
    assert_eq!(z.event("down-1").expect("event").state, 1);
}

#[test]
fn check_config_state_and_status_name_the_shared_db_and_never_its_password() {
    let Some(t) = Test::new().on_mariadb() else {
        return;
    };
    let (_, db) = t.mariadb.clone().expect("on MariaDB");
    let url = format!("mysql://zt_test@127.0.0.1:3306/{db}");
    let out = t.again().args(["check-config"]).run();
    out.status(0).stdout_has(&format!(
        "statedb      {url} (MariaDB/MySQL: shared by every host; this host's journal {}/var/zenticket-{db}.journal)\n",
        t.path().display()
    ));
    t.again().event("named-1", 1).run().status(0);
    t.again()
        .args(["status"])
        .run()
        .status(0)
        .stdout_has(&format!("state DB: MariaDB/MySQL {url}"));
    t.again()
        .args(["status", "--nagios"])
        .run()
        .stdout_has("[MariaDB] | ");
    let state = t.again().args(["--json", "state"]).run().json();
    assert_eq!(state[0]["evid"], "named-1");
    // A wrong password: check-config says whom the server refused, and never the text.
    std::fs::write(t.path().join("etc/statedb.password"), "not-it-9\n").expect("write");
    let out = t.again().args(["check-config"]).run();
    out.status(2)
        .stderr_has(&format!(
            "state DB {url}: the server refused user zt_test (its password is the first line of statedbpasswordfile"
        ))
        .stderr_lacks("not-it-9")
        .stdout_lacks("not-it-9");
    let logged = t.again().event("named-2", 1).run();
    logged.status(1);
    for text in [&logged.stderr, &logged.stdout, &logged.log()] {
        assert!(!text.contains("not-it-9") && !text.contains(crate::common::mariadb::PASSWORD));
    }
    // A password file others may read is refused before any connection.
    std::fs::set_permissions(
        t.path().join("etc/statedb.password"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    t.again()
        .args(["check-config"])
        .run()
        .status(2)
        .stderr_has("[GENERAL] statedbpasswordfile: ")
        .stderr_has("can be read or written by group or others (mode 644)");
}

/// Makes its ticket, then stops the site's server (its socket in SITE_SOCKET) before the
/// hook can record it: the ticket exists and the state DB cannot take it.
const STOPPING_SCRIPT: &str = r#"#!/usr/bin/perl
system("mysqladmin", "-uroot", "--socket=$ENV{SITE_SOCKET}", "shutdown") == 0 or die "stop: $?";
print "4711\n";
"#;

#[test]
fn a_ticket_the_server_could_not_take_is_journaled_on_its_host_and_recorded_there() {
    let Some((server, db, _site)) = private_site() else {
        return;
    };
    let socket = server.socket.clone().expect("a private server's socket");
    let t = Test::new()
        .script("create_ticket.pl", STOPPING_SCRIPT)
        .env("SITE_SOCKET", &socket)
        .on_database(&server, &db);
    let out = t.clone().event("jr-1", 1).run();
    out.status(1);
    let journal = t.path().join(format!("var/zenticket-{db}.journal"));
    out.stderr_has(&format!(
        "ticket 4711 was made for evid jr-1 count 1 (idempotency key {}",
        "zt-"
    ))
    .stderr_has(&format!(
        "kept in {} for the next run that can write",
        journal.display()
    ));
    let kept = std::fs::read(&journal).expect("this host's journal");
    assert!(
        kept.windows(9).any(|w| w == b"T\tjr-1\t1\t"),
        "the entry in the journal"
    );
    // The server is back; the next run on this host records the ticket, and jr-1 is
    // not ticketed again.
    server.start();
    let next = t.again().event("jr-1", 1).run();
    next.status(0)
        .stdout("unchanged for evid jr-1: count 1 is not above the 1 already seen\n");
    let state = t.again().args(["--json", "state"]).run().json();
    assert_eq!(state[0]["tickets"], serde_json::json!([4711]));
    assert!(
        std::fs::read(&journal)
            .expect("journal")
            .iter()
            .all(|&b| b == 0),
        "the journal is emptied once recorded"
    );
}

/// `maxconcurrent` across hosts: the slots are named locks in the shared database, so two
/// hosts' hooks together never have more requests in flight than the cap (lock files
/// beside a SQLite DB would give each host a cap of its own).
#[test]
fn maxconcurrent_holds_across_hosts_sharing_one_database() {
    use crate::common::psa::{Kind, Psa};
    let Some(first) = Test::new().on_mariadb() else {
        return;
    };
    let (server, db) = first.mariadb.clone().expect("on MariaDB");
    let p = Psa::start(Kind::Autotask);
    p.slow(Duration::from_millis(150));
    let host = |t: Test| {
        t.config(&format!(
            "{LAB_CONFIG}body: {{\"companyID\": 29683, \"queueID\": 8}}\n"
        ))
        .general("ticketsystem: autotask")
        .general("retrydelay: 0")
        .section(&format!("{}maxconcurrent: 2\n", p.section()))
    };
    let hosts = [host(first), host(Test::new().on_database(&server, &db))];
    let running: Vec<Child> = (0..12)
        .map(|i| {
            hosts[i % 2]
                .again()
                .event(&format!("cap-{i}"), 1)
                .prepare()
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outs: Vec<String> = running
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.wait_with_output().expect("wait").stdout).into_owned())
        .collect();
    assert!(p.peak() <= 2, "{} requests in flight at once", p.peak());
    assert!(
        outs.iter().any(|o| o.starts_with("ticket-deferred")),
        "some hooks found both slots taken: {outs:?}"
    );
    for _ in 0..10 {
        if p.recs().len() == 12 {
            break;
        }
        for h in &hosts {
            sweep(h);
        }
    }
    assert_eq!(p.recs().len(), 12, "every event ticketed once");
    assert!(p.peak() <= 2, "{} requests in flight at once", p.peak());
}

/// One sweep at a time across hosts: the turn is a named lock in the shared database.
#[test]
fn a_second_sweep_on_another_host_skips_while_one_runs() {
    let Some(t) = Test::new().on_mariadb() else {
        return;
    };
    let (server, db) = t.mariadb.clone().expect("on MariaDB");
    t.clone().event("turn-1", 1).run().status(0);
    // Another host's sweep holds the turn (a session of its own holding the named lock).
    let holder = std::process::Command::new("mysql")
        .args(["-uroot", "-e"])
        .arg(format!(
            "SELECT GET_LOCK('zenticket.{db}.sweep', 0), SLEEP(3)"
        ))
        .stdout(Stdio::null())
        .spawn()
        .expect("mysql");
    std::thread::sleep(Duration::from_millis(500));
    let other = Test::new().on_database(&server, &db);
    let s = other.again().args(["--json", "sweep"]).run();
    s.status(0);
    assert_eq!(s.json()["skipped"], true, "{}", s.stdout);
    let _ = holder.wait_with_output();
    let s = other.again().args(["--json", "sweep"]).run();
    assert_eq!(s.json()["skipped"], false, "{}", s.stdout);
}

/// A database written by a newer version is refused before anything runs, as SQLite's is.
#[test]
fn a_shared_db_of_a_newer_schema_is_refused() {
    let Some(t) = Test::new().on_mariadb() else {
        return;
    };
    t.clone().event("new-1", 1).run().status(0);
    t.sql("UPDATE zenticket_schema SET version = 99");
    t.again()
        .event("new-2", 1)
        .run()
        .status(1)
        .stderr_has("was written by a newer zenticket-hook (schema 99, this one knows 9)");
    assert_eq!(t.again().run().calls().len(), 1, "no ticket for new-2");
}
