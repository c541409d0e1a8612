//! Times the hook as Zenoss runs it (one process per event) against floors measured in the
//! same run: `/bin/true` (process start) and one `sqlite3` CLI upsert into a WAL database
//! (the least a per-event state write can cost). Prints medians, ratios and peak RSS.
//!
//!     cargo bench --bench hook            # ROUNDS=300 cargo bench --bench hook
//!
//! Needs the sqlite3 CLI (`apt-get install sqlite3`); without it that floor is skipped.

mod common;

// The test server is shared with the tests; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/it/common/zenoss.rs"]
mod zenoss;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the command once; returns wall time and the child's peak RSS in KiB.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its rusage
fn run_once(cmd: &mut Command) -> (Duration, i64) {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let took = start.elapsed();
    assert_eq!(rc, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed: {status}"
    );
    (took, usage.ru_maxrss)
}

struct Stats {
    median: Duration,
    p90: Duration,
    max_rss_kib: i64,
}

fn measure(rounds: usize, mut make: impl FnMut(usize) -> Command) -> Stats {
    let mut times = Vec::with_capacity(rounds);
    let mut rss = 0;
    for i in 0..rounds {
        let (t, r) = run_once(&mut make(i));
        times.push(t);
        rss = rss.max(r);
    }
    times.sort();
    Stats {
        median: times[rounds / 2],
        p90: times[rounds * 9 / 10],
        max_rss_kib: rss,
    }
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let script = common::trivial_script(d);
    let conf = d.join("zenticket.conf");
    std::fs::write(
        &conf,
        format!(
            "[GENERAL]\nticketscript: {}\nstatedb: {}/zenticket.db\nlogfile: {}/zenticket.log\ncollector: bench.example.com\n\n[LAB]\nid: nnl-00000\nqueue: Front Line\ngroup1: /Network\n",
            script.display(),
            d.display(),
            d.display()
        ),
    )
    .expect("config");
    let hook = |evid: &str, conf: &Path| common::new_event(conf, evid);
    // The unchanged case needs the event stored once.
    run_once(&mut hook("seen-evid", &conf));

    let truth = measure(rounds, |_| Command::new("/bin/true"));
    let sqlite = Command::new("sqlite3").arg("-version").output().ok().map(|_| {
        let db = d.join("floor.db");
        let init = Command::new("sqlite3")
            .arg(&db)
            .arg("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;")
            .output()
            .expect("sqlite3 init");
        assert!(init.status.success());
        measure(rounds, |_| {
            let mut c = Command::new("sqlite3");
            c.arg(&db).arg(
                "INSERT INTO t(k, v) VALUES ('evid', 1) ON CONFLICT(k) DO UPDATE SET v = max(v, excluded.v);",
            );
            c
        })
    });
    let unchanged = measure(rounds, |_| hook("seen-evid", &conf));
    let ticket = measure(rounds, |i| hook(&format!("new-{i}"), &conf));
    // The same path with an acknowledgement to the Zenoss test server on 127.0.0.1.
    let z = zenoss::Zenoss::start(zenoss::Version::V6);
    let conf_z = d.join("zenticket-zenoss.conf");
    let text = std::fs::read_to_string(&conf).expect("config");
    std::fs::write(
        &conf_z,
        format!(
            "{}\n{}",
            text.replace("zenticket.db", "zenticket-z.db"),
            z.section()
        ),
    )
    .expect("config");
    for i in 0..rounds {
        z.add(zenoss::ZEvent::new(&format!("z-{i}")));
    }
    let ticket_ack = measure(rounds, |i| hook(&format!("z-{i}"), &conf_z));
    let acks = z.methods().iter().filter(|m| *m == "acknowledge").count();
    assert_eq!(acks, rounds, "every ticket acknowledged");

    // An MSP's config: 1,000 and 16,000 customer sections, each with its own groups. Each
    // call reads the whole file, so this is the per-event cost of a large config.
    let big = |n: usize| {
        let path = d.join(format!("big-{n}.conf"));
        let mut text = std::fs::read_to_string(&conf).expect("config");
        text = text.replace("zenticket.db", &format!("zenticket-{n}.db"));
        for i in 0..n {
            text.push_str(&format!(
                "\n[CUST{i}]\nid: c-{i}\nqueue: Q{i}\ngroup1: /Cust{i}\ngroup2: /Cust{i}/Network\n"
            ));
        }
        std::fs::write(&path, text).expect("config");
        path
    };
    let (conf_1k, conf_16k) = (big(1_000), big(16_000));
    run_once(&mut hook("seen-evid", &conf_1k));
    run_once(&mut hook("seen-evid", &conf_16k));
    let sections_1k = measure(rounds.min(50), |_| hook("seen-evid", &conf_1k));
    let sections_16k = measure(rounds.min(20), |_| hook("seen-evid", &conf_16k));

    // The same two paths with the state DB on MariaDB, and that backend's floor: one
    // `mysql` CLI upsert (process start, TCP login, one InnoDB commit).
    let maria = common::mariadb_statedb(d, "hook").map(|lines| {
        let conf_m = d.join("zenticket-mariadb.conf");
        let text = std::fs::read_to_string(&conf).expect("config");
        let statedb = format!("statedb: {}/zenticket.db\n", d.display());
        std::fs::write(&conf_m, text.replace(&statedb, &lines)).expect("config");
        run_once(&mut hook("seen-evid", &conf_m));
        let floor = measure(rounds, |i| common::mysql_upsert(&lines, "evid", i));
        let unchanged = measure(rounds, |_| hook("seen-evid", &conf_m));
        let ticket = measure(rounds, |i| hook(&format!("new-{i}"), &conf_m));
        (floor, unchanged, ticket)
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("zenticket-hook bench, {rounds} rounds each (median / p90 wall time, peak RSS)");
    let row = |name: &str, s: &Stats| {
        println!(
            "  {name:<28} {:>7.2} ms {:>7.2} ms {:>7.1} MiB",
            ms(s.median),
            ms(s.p90),
            s.max_rss_kib as f64 / 1024.0
        )
    };
    row("/bin/true", &truth);
    if let Some(s) = &sqlite {
        row("sqlite3 CLI upsert (WAL)", s);
    } else {
        println!("  sqlite3 CLI not found: install it (apt-get install sqlite3) for that floor");
    }
    row("hook: unchanged", &unchanged);
    row("hook: ticket (sh script)", &ticket);
    row("hook: ticket + acknowledge", &ticket_ack);
    row("unchanged, 1,000 sections", &sections_1k);
    row("unchanged, 16,000 sections", &sections_16k);
    let ratio = |a: &Stats, b: &Stats| ms(a.median) / ms(b.median);
    println!("ratios (median):");
    println!(
        "  unchanged / true           {:.2}x",
        ratio(&unchanged, &truth)
    );
    println!(
        "  ticket    / true           {:.2}x",
        ratio(&ticket, &truth)
    );
    println!(
        "  ticket+ack / ticket        {:.2}x  (the acknowledge call's share)",
        ratio(&ticket_ack, &ticket)
    );
    println!(
        "  1,000 sections / 1 section {:.2}x, 16,000 sections / 1 section {:.2}x",
        ratio(&sections_1k, &unchanged),
        ratio(&sections_16k, &unchanged)
    );
    if let Some(s) = &sqlite {
        println!(
            "  unchanged / sqlite3 upsert {:.2}x  (target <= 2x)",
            ratio(&unchanged, s)
        );
        println!("  ticket    / sqlite3 upsert {:.2}x", ratio(&ticket, s));
    }
    if let Some((floor, m_unchanged, m_ticket)) = &maria {
        println!("the state DB on MariaDB (the same run):");
        row("mysql CLI upsert (InnoDB)", floor);
        row("hook: unchanged", m_unchanged);
        row("hook: ticket (sh script)", m_ticket);
        println!(
            "  unchanged on MariaDB / on SQLite {:.2}x  (target <= 1.5x)",
            ratio(m_unchanged, &unchanged)
        );
        println!(
            "  ticket    on MariaDB / on SQLite {:.2}x",
            ratio(m_ticket, &ticket)
        );
        println!(
            "  unchanged on MariaDB / mysql upsert {:.2}x",
            ratio(m_unchanged, floor)
        );
    }
    println!(
        "  hook peak RSS              {:.1} MiB (target < 10 MiB)",
        unchanged
            .max_rss_kib
            .max(ticket.max_rss_kib)
            .max(ticket_ack.max_rss_kib) as f64
            / 1024.0
    );
}
