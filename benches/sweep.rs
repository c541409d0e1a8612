//! Times `sweep` over 100,000 state rows (target: under 1 s), against the floor of the
//! same run's `zenticket-hook --version` (process start), in two set-ups:
//! - no [ZENOSS]: half the rows are older than retrywindow and are pruned;
//! - with the Zenoss test server on 127.0.0.1 listing all 100,000 as open (100 pages of
//!   `query`), 1,000 pending acknowledgements delivered in batches of 500.
//!
//!     cargo bench --bench sweep          # ROWS=100000 by default

mod common;

// The test server is shared with the tests; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/it/common/zenoss.rs"]
mod zenoss;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::BIN;

fn fill(db: &Path, rows: usize, now: f64, old_fraction: f64, acks: usize) {
    // Let the hook create the schema, then fill it in one transaction.
    let conn = rusqlite::Connection::open(db).expect("open");
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut ev = tx
            .prepare("INSERT INTO events(evid, count, event_state, customer, queue, last_time, created, updated) VALUES (?1, 3, 1, 'nnl-00000', 'Front Line', ?2, ?2, ?2)")
            .expect("prep");
        let mut tk = tx
            .prepare("INSERT INTO tickets(evid, count, ticket, customer, queue, created) VALUES (?1, 3, ?2, 'nnl-00000', 'Front Line', ?3)")
            .expect("prep");
        let mut pd = tx
            .prepare("INSERT INTO pending(evid, what, count, attempts, next_try, created) VALUES (?1, 'acknowledge', 0, 1, ?2, ?2)")
            .expect("prep");
        let old = (rows as f64 * old_fraction) as usize;
        for i in 0..rows {
            let evid = format!("0242ac11-0008-8a4b-11ee-{i:012}");
            let t = if i < old { now - 200_000.0 } else { now - 60.0 };
            ev.execute(rusqlite::params![evid, t]).expect("event");
            tk.execute(rusqlite::params![evid, 100_000 + i as i64, t])
                .expect("ticket");
            if i >= rows - acks {
                pd.execute(rusqlite::params![evid, now - 120.0])
                    .expect("pending");
            }
        }
    }
    tx.commit().expect("commit");
}

/// Runs the command; returns its wall time, its own CPU time (user + sys) and stdout.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its rusage
fn time(cmd: &mut Command) -> (Duration, Duration, String) {
    use std::io::Read;
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut ru) }, pid);
    let took = start.elapsed();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (
        took,
        tv(ru.ru_utime) + tv(ru.ru_stime),
        out.trim().to_string(),
    )
}

fn setup(dir: &Path, extra: &str) -> std::path::PathBuf {
    let conf = dir.join("zenticket.conf");
    std::fs::write(
        &conf,
        format!(
            "[GENERAL]\nticketscript: /bin/true\nstatedb: {d}/zenticket.db\nlogfile: {d}/zenticket.log\ncollector: bench\nretrywindow: 86400\n\n[LAB]\nid: nnl-00000\nqueue: Front Line\ngroup1: /Network\n{extra}",
            d = dir.display()
        ),
    )
    .expect("config");
    // Creates the schema.
    time(Command::new(BIN).arg("--config").arg(&conf).arg("sweep"));
    conf
}

fn main() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100_000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let floor = (0..20)
        .map(|_| time(Command::new(BIN).arg("--version")).0)
        .min()
        .expect("floor");

    let a = tempfile::tempdir().expect("tempdir");
    let conf_a = setup(a.path(), "");
    fill(&a.path().join("zenticket.db"), rows, now, 0.5, 0);
    let (took_a, cpu_a, line_a) = time(Command::new(BIN).arg("--config").arg(&conf_a).arg("sweep"));

    let z = zenoss::Zenoss::start(zenoss::Version::V6);
    for i in 0..rows {
        let mut e = zenoss::ZEvent::new(&format!("0242ac11-0008-8a4b-11ee-{i:012}"));
        e.state = 1;
        e.last_time = now - 60.0;
        z.add(e);
    }
    let b = tempfile::tempdir().expect("tempdir");
    // The retry/prune/paging figures of the first release: without reconcile (measured on
    // its own below), so that the first sweep adopts nothing and the rows are the bench's.
    let section = z.section().replace("timeout: 2", "timeout: 30");
    let conf_b = setup(b.path(), &format!("{section}\n[GENERAL]\nreconcile: off\n"));
    fill(&b.path().join("zenticket.db"), rows, now, 0.0, 1000);
    let (took_b, cpu_b, line_b) = time(Command::new(BIN).arg("--config").arg(&conf_b).arg("sweep"));
    let queries = z.methods().iter().filter(|m| *m == "query").count();
    let (took_c, cpu_c, _) = time(Command::new(BIN).arg("--config").arg(&conf_b).arg("sweep"));

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("zenticket-hook sweep bench, {rows} state rows (wall time; the sweep's own CPU time)");
    println!(
        "  floor: zenticket-hook --version     {:>8.1} ms",
        ms(floor)
    );
    println!(
        "  sweep, no [ZENOSS] (prunes half)    {:>8.1} ms  cpu {:>7.1} ms  ({:.0}x floor)  {line_a}",
        ms(took_a),
        ms(cpu_a),
        ms(took_a) / ms(floor)
    );
    println!(
        "  sweep, Zenoss test server, 1000 acks {:>7.1} ms  cpu {:>7.1} ms  ({:.0}x floor, {} query pages)  {line_b}",
        ms(took_b),
        ms(cpu_b),
        ms(took_b) / ms(floor),
        queries / 2
    );
    println!(
        "  sweep again, nothing owed           {:>8.1} ms  cpu {:>7.1} ms  (the rest of the wall time is the test server building pages)",
        ms(took_c),
        ms(cpu_c)
    );
    println!("  target: under 1000 ms");
    console_read();
    reconcile(now);
}

/// Reconcile's cost: a sweep over 10,000 (and 20,000) open events with nothing to do, and
/// with 1,000 new occurrences to ticket (ticket + acknowledge each), against the same 1,000
/// tickets made by 1,000 hook calls, as zenactiond would run them one after another.
fn reconcile(now: f64) {
    let run = |open: usize, new: usize| -> (Duration, Duration) {
        let dir = tempfile::tempdir().expect("tempdir");
        let z = zenoss::Zenoss::start(zenoss::Version::V6);
        let script = dir.path().join("t.sh");
        std::fs::write(&script, "#!/bin/sh\necho 42\n").expect("script");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let conf = setup(dir.path(), &z.section());
        let text = std::fs::read_to_string(&conf).expect("config");
        std::fs::write(
            &conf,
            text.replace(
                "ticketscript: /bin/true",
                &format!("ticketscript: {}", script.display()),
            ),
        )
        .expect("config");
        for i in 0..open {
            let mut e = zenoss::ZEvent::new(&format!("0242ac11-0008-8a4b-11ee-{i:012}"));
            e.count = 3;
            z.add(e);
        }
        fill(&dir.path().join("zenticket.db"), open, now, 0.0, 0);
        let (idle, _, _) = time(Command::new(BIN).arg("--config").arg(&conf).arg("sweep"));
        for i in 0..new {
            z.add(zenoss::ZEvent::new(&format!("new-{i:06}")));
        }
        let (busy, _, line) = time(Command::new(BIN).arg("--config").arg(&conf).arg("sweep"));
        if new > 0 {
            assert!(
                line.contains(&format!("reconciled {new} event(s)")),
                "{line}"
            );
        }
        (idle, busy)
    };
    let (idle_10k, busy_10k) = run(10_000, 1_000);
    let (idle_20k, _) = run(20_000, 0);
    // The same 1,000 tickets through 1,000 hook calls (text given, so no fetch).
    let dir = tempfile::tempdir().expect("tempdir");
    let z = zenoss::Zenoss::start(zenoss::Version::V6);
    let conf = setup(dir.path(), &z.section());
    let script = dir.path().join("t.sh");
    std::fs::write(&script, "#!/bin/sh\necho 42\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let text = std::fs::read_to_string(&conf).expect("config");
    std::fs::write(
        &conf,
        text.replace(
            "ticketscript: /bin/true",
            &format!("ticketscript: {}", script.display()),
        ),
    )
    .expect("config");
    let started = Instant::now();
    for i in 0..1_000 {
        let evid = format!("new-{i:06}");
        z.add(zenoss::ZEvent::new(&evid));
        time(&mut common::new_event(&conf, &evid));
    }
    let hooks = started.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("reconcile (Zenoss test server on 127.0.0.1, sh ticket script):");
    println!(
        "  sweep, 10,000 open events, nothing to do     {:>8.1} ms",
        ms(idle_10k)
    );
    println!(
        "  sweep, 20,000 open events, nothing to do     {:>8.1} ms",
        ms(idle_20k)
    );
    println!(
        "  sweep, 10,000 open + 1,000 new to ticket     {:>8.1} ms",
        ms(busy_10k)
    );
    println!(
        "  1,000 hook calls for the same tickets        {:>8.1} ms",
        ms(hooks)
    );
    println!(
        "  reconcile of 1,000 new / 1,000 hook calls: {:.2}x; per ticket {:.2} ms vs {:.2} ms",
        ms(busy_10k) / ms(hooks),
        (ms(busy_10k) - ms(idle_10k)) / 1000.0,
        ms(hooks) / 1000.0
    );
}

/// The read of 20,000 open events as sweep does it (pages, dedupe, the completeness
/// checks) against the plain paged read of the same pages, in this process, against the
/// Zenoss test server on 127.0.0.1. Medians of 9 rounds each, interleaved.
fn console_read() {
    use zenticket_hook::{config::Config, console, zenoss::Client};
    let n = 20_000;
    let z = zenoss::Zenoss::start(zenoss::Version::V6);
    for i in 0..n {
        z.add(zenoss::ZEvent::new(&format!(
            "0242ac11-0008-8a4b-11ee-{i:012}"
        )));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("z.conf");
    std::fs::write(
        &conf,
        format!(
            "[GENERAL]\nstatedb: {}/s.db\n{}",
            dir.path().display(),
            z.section()
        ),
    )
    .expect("config");
    let cfg = Config::load(&conf, None).expect("config");
    let client = Client::new(cfg.zenoss.as_ref().expect("[ZENOSS]")).expect("client");
    let keys = ["evid", "count", "eventState", "lastTime", "eventClass"];
    let plain = || {
        let mut start = 0;
        let mut rows = 0;
        loop {
            let page = client.query_open(start, 1000, &keys).expect("query");
            let got = page.events.len() as u64;
            rows += got;
            start += got;
            if got == 0 || start >= page.total.unwrap_or(0) {
                return rows;
            }
        }
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let t = Instant::now();
        assert_eq!(plain(), n as u64);
        a.push(t.elapsed());
        let t = Instant::now();
        let read = console::read(&client, &keys).expect("read");
        b.push(t.elapsed());
        assert!(read.complete() && read.rows.len() == n);
    }
    a.sort();
    b.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "console read of {n} open events: plain paged read {:.1} ms, checked read {:.1} ms: {:.2}x",
        ms(a[4]),
        ms(b[4]),
        ms(b[4]) / ms(a[4])
    );
}
