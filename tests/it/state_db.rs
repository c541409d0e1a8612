//! The state DB on an administrator's bad day: a full disk after the script made a ticket,
//! a DB from a newer version, a DB deleted under a running site, a dry run on a fresh
//! install. A ticket the script made is never lost from every record nor made twice.
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tmpfs over a test's folder, so that a script can fill the disk the state DB is
/// on. Needs root (mount); where mounting is not allowed the test is skipped, saying so,
/// except under CI, where it fails.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mkdir");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0750"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return cannot("mount a tmpfs (not root?)", "the full-disk case");
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

/// A mount a test needs cannot be made: skipped, saying so, except under CI, where it fails.
fn cannot<T>(what: &str, unchecked: &str) -> Option<T> {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(!ci, "cannot {what} under CI: {unchecked} is not checked");
    eprintln!("SKIPPED: cannot {what}: {unchecked} is not checked");
    None
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Prints a new ticket number per call (57, 58, ...), and fills the disk first when
/// `fill-now` exists: the ticket system has made the ticket, then the state DB's disk is
/// full.
const FILLS_THE_DISK: &str = "#!/bin/sh
echo \"$ZENTICKET_IDEMPOTENCY_KEY\" >> {dir}/made.txt
if [ -e {dir}/fill-now ]; then dd if=/dev/zero of={dir}/var/fill bs=4096 2>/dev/null; fi
echo $((56 + $(wc -l < {dir}/made.txt)))
";

#[test]
fn a_ticket_made_when_the_disk_is_full_is_journaled_and_recorded_later() {
    let t = Test::new().script("create_ticket.sh", FILLS_THE_DISK);
    let Some(_fs) = Tmpfs::mount(&t.path().join("var"), "1m") else {
        return;
    };
    t.clone().event("full-0", 1).run().status(0);
    std::fs::write(t.path().join("fill-now"), "").unwrap();
    let out = t.again().event("full-1", 1).run();
    let key = std::fs::read_to_string(out.dir.join("made.txt")).unwrap();
    let key = key.lines().nth(1).unwrap().to_string();
    let made = format!(
        "ticket 58 was made for evid full-1 count 1 (idempotency key {key}) but could not be \
         recorded: the disk holding {{dir}}/var is full: free some space (database or disk is \
         full); kept in {{dir}}/var/zenticket.db.journal for the next run that can write"
    );
    out.status(1).stdout("").stderr(&format!(
        "zenticket-hook: evid full-1: state DB {{dir}}/var/zenticket.db: {made}\n"
    ));
    let dir = out.dir.display().to_string();
    let line = format!("ERROR zen.zenticket: {}", made.replace("{dir}", &dir));
    assert!(out.log_lines().contains(&line), "{:?}", out.log_lines());
    // Space again, and the hook's claim long stale: sweep records the journaled ticket
    // instead of making a second one.
    std::fs::remove_file(out.dir.join("fill-now")).unwrap();
    std::fs::remove_file(out.dir.join("var/fill")).unwrap();
    sql(
        &out.dir,
        "UPDATE pending SET claimed_at = claimed_at - 100000, next_try = 0",
    );
    t.again().args(["sweep"]).run().status(0);
    let state = out.state();
    let row = state
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["evid"] == "full-1")
        .unwrap();
    assert_eq!(row["tickets"], serde_json::json!([58]));
    let made = std::fs::read_to_string(out.dir.join("made.txt")).unwrap();
    assert_eq!(made.lines().count(), 2, "no second ticket: {made}");
}

#[test]
fn a_state_db_from_a_newer_version_is_refused_before_the_script_runs() {
    let t = Test::new();
    t.clone().event("new-0", 1).run().status(0);
    sql(t.path(), "PRAGMA user_version = 99");
    let out = t.again().event("new-1", 1).run();
    out.status(1).stdout("").stderr(
        "zenticket-hook: evid new-1: state DB {dir}/var/zenticket.db: was written by a newer \
         zenticket-hook (schema 99, this one knows 9); upgrade zenticket-hook, or move the DB away\n",
    );
    assert_eq!(out.calls().len(), 1, "no script ran for the refused call");
}

#[test]
fn a_deleted_state_db_is_recreated_loudly_and_its_orphan_wal_kept() {
    let t = Test::new();
    t.clone().event("del-0", 1).run().status(0);
    let var = t.path().join("var");
    // Deleted with its WAL still there (a hand `rm zenticket.db`).
    std::fs::write(var.join("zenticket.db-wal"), b"frames").unwrap();
    std::fs::remove_file(var.join("zenticket.db")).unwrap();
    let out = t.again().event("del-1", 1).run();
    let kept: Vec<String> = std::fs::read_dir(&var)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("zenticket.db-wal.orphan-"))
        .collect();
    assert_eq!(kept.len(), 1, "the orphan WAL is kept aside");
    assert_eq!(std::fs::read(var.join(&kept[0])).unwrap(), b"frames");
    let msg = format!(
        "state DB {{dir}}/var/zenticket.db is missing and is created empty, but earlier runs \
         used it (its lock file or WAL is there): the counts and tickets recorded before are \
         gone, so open events may be ticketed again (with the same ZENTICKET_IDEMPOTENCY_KEY as \
         before); its orphan WAL is kept as {{dir}}/var/{} (SQLite would have discarded it)",
        kept[0]
    );
    out.status(0)
        .stdout("ticket 1002 for evid del-1 (customer nnl-00000, queue Front Line); acknowledge pending\n")
        .stderr(&format!("zenticket-hook: {msg}\n"));
    assert_eq!(
        out.log_lines()[2],
        format!(
            "ERROR zen.zenticket: {}",
            msg.replace("{dir}", &out.dir.display().to_string())
        )
    );
}

#[test]
fn a_dry_run_creates_and_writes_nothing() {
    let t = Test::new();
    let out = t.clone().event("dry-0", 1).args(["--dry-run"]).run();
    out.status(0).stdout(
        "ticket due for evid dry-0 (customer nnl-00000, queue Front Line); would acknowledge \
         [dry run: nothing changed]\n",
    );
    assert!(
        !t.path().join("var").exists(),
        "no var/, no DB, no lock file"
    );
    assert!(!t.path().join("log").exists(), "no log");
    let sweep = t.again().args(["--dry-run", "sweep"]).run();
    sweep.status(0);
    assert!(!t.path().join("var").exists());
    // With a DB, a dry run reads it and leaves it as it was.
    t.again().event("dry-0", 1).run().status(0);
    let db = std::fs::read(t.path().join("var/zenticket.db")).unwrap();
    let again = t.again().event("dry-0", 2).args(["--dry-run"]).run();
    again.status(0).stdout(
        "ticket due for evid dry-0 (customer nnl-00000, queue Front Line); would acknowledge \
         [dry run: nothing changed]\n",
    );
    let repeat = t.again().event("dry-0", 1).args(["--dry-run"]).run();
    repeat.status(0).stdout(
        "unchanged for evid dry-0: count 1 is not above the 1 already seen [dry run: nothing changed]\n",
    );
    assert_eq!(
        std::fs::read(t.path().join("var/zenticket.db")).unwrap(),
        db
    );
}

#[test]
fn a_read_only_mount_is_named_as_such() {
    let t = Test::new();
    let Some(_fs) = Tmpfs::mount(&t.path().join("var"), "1m") else {
        return;
    };
    t.clone().event("ro-0", 1).run().status(0);
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(t.path().join("var"))
        .status()
        .expect("mount");
    assert!(remount.success());
    let out = t.again().event("ro-1", 1).run();
    out.status(1).stdout("").stderr(
        "zenticket-hook: evid ro-1: state DB {dir}/var/zenticket.db: cannot create or open its \
         lock file {dir}/var/zenticket.db.lock: the file system is mounted read-only; put the \
         state DB on a writable one ([GENERAL] statedb) (Read-only file system (os error 30))\n",
    );
    assert_eq!(out.calls().len(), 1, "no script ran");
    // `state` only reads: it works on the read-only mount.
    let state = t.again().args(["state"]).run();
    state.status(0).stderr("");
    assert!(
        state.stdout.starts_with(
            "ro-0 count 1 state New tickets [1001] customer nnl-00000 queue Front Line updated "
        ),
        "{}",
        state.stdout
    );
}

#[test]
fn a_log_file_planted_as_a_link_is_refused_in_words() {
    let t = Test::new();
    std::fs::create_dir_all(t.path().join("log")).unwrap();
    std::os::unix::fs::symlink("/dev/null", t.path().join("log/zenticket.log")).unwrap();
    let out = t.event("link-1", 1).run();
    out.status(0);
    let first = out.stderr.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!(
            "zenticket-hook: cannot write log {}/log/zenticket.log: it is a symbolic link; \
             refusing to follow it (Too many levels of symbolic links (os error 40)); the line was: \
             {}",
            out.dir.display(),
            first.split("; the line was: ").nth(1).unwrap_or("")
        )
    );
}

/// The case: the script made the ticket of a New event, the state DB would not
/// take it, and the journal kept it. The run that records it must also owe the
/// acknowledgement, which sweep then sends (it was never sent before this fix).
#[test]
fn a_ticket_recorded_from_the_journal_is_still_acknowledged() {
    use crate::common::zenoss::{Version, ZEvent, Zenoss};
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("jack-0")).add(ZEvent::new("jack-1"));
    let t = Test::new()
        .config(&LAB_CONFIG.replace("[LAB]", "reconcile: off\n[LAB]"))
        .zenoss(&z)
        .script("create_ticket.sh", FILLS_THE_DISK);
    let Some(_fs) = Tmpfs::mount(&t.path().join("var"), "1m") else {
        return;
    };
    t.clone().event("jack-0", 1).run().status(0);
    std::fs::write(t.path().join("fill-now"), "").unwrap();
    t.again().event("jack-1", 1).run().status(1);
    assert_eq!(z.event("jack-1").unwrap().state, 0, "not acknowledged yet");
    std::fs::remove_file(t.path().join("fill-now")).unwrap();
    std::fs::remove_file(t.path().join("var/fill")).unwrap();
    let sweep = t.again().args(["sweep"]).run();
    sweep.status(0).log_has(
        "WARNING zen.zenticket: evid jack-1: ticket 58 for count 1 recorded from the journal \
         (an earlier run made it but could not write the state DB); its acknowledgement is owed",
    );
    assert_eq!(z.event("jack-1").unwrap().state, 1, "acknowledged by sweep");
    let row = sweep.state();
    let row = row
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["evid"] == "jack-1")
        .unwrap()
        .clone();
    assert_eq!(row["tickets"], serde_json::json!([58]));
    assert_eq!(
        row["pending"],
        serde_json::json!([]),
        "the stale ticket claim is gone too"
    );
    let made = std::fs::read_to_string(t.path().join("made.txt")).unwrap();
    assert_eq!(made.lines().count(), 2, "no second ticket: {made}");
}

/// Lines a crash tore or a disk damaged are logged whole and kept aside, and an entry
/// after a run of NUL bytes is recorded, not overwritten by the next entry.
#[test]
fn journal_lines_that_cannot_be_recorded_are_kept_and_entries_past_a_gap_recorded() {
    let t = Test::new();
    t.clone().event("jb-0", 1).run().status(0);
    let journal = t.path().join("var/zenticket.db.journal");
    let mut data = b"T\te1\t2\t47\n".to_vec();
    data.extend_from_slice(b"T\te2\t1\t48\t6e6e6c\t4651\n");
    data.extend_from_slice(&[0u8; 100]);
    // An entry as an older version wrote it (no acknowledgement flag), past the gap.
    data.extend_from_slice(b"T\tjb-9\t1\t4711\t6e6e6c2d3030303030\t46726f6e74204c696e65\tkey\n");
    data.resize(64 * 1024, 0);
    std::fs::write(&journal, &data).unwrap();
    let out = t.again().event("jb-9", 1).run();
    out.status(0).decision("unchanged").log_has(&format!(
        "ERROR zen.zenticket: journal {dir}/var/zenticket.db.journal: a line that is not a \
         whole ticket entry, kept in {dir}/var/zenticket.db.journal.bad: \"T\\te1\\t2\\t47\"",
        dir = out.dir.display()
    ));
    out.log_has(
        "WARNING zen.zenticket: evid jb-9: ticket 4711 for count 1 recorded from the journal",
    );
    let bad = std::fs::read(t.path().join("var/zenticket.db.journal.bad")).unwrap();
    assert_eq!(bad, b"T\te1\t2\t47\nT\te2\t1\t48\t6e6e6c\t4651\n");
    assert_eq!(
        out.calls().len(),
        1,
        "jb-9's count 1 was ticketed by the journal's entry, not again"
    );
    let after = std::fs::read(&journal).unwrap();
    assert!(
        after.iter().all(|&b| b == 0),
        "the journal is emptied once kept"
    );
}

/// A state DB written by the previous version (schema 3: integer ticket numbers, a clear
/// owed keyed by its ticket number) keeps every number, and its owed clear.
#[test]
fn a_schema_3_db_keeps_its_numbers_and_its_owed_clear() {
    let conf = LAB_CONFIG.replace("cycletime: 30\n", "cycletime: 30\nclearscript: {script}\n");
    let t = Test::new().config(&conf);
    std::fs::create_dir_all(t.path().join("var")).unwrap();
    let conn = rusqlite::Connection::open(t.path().join("var/zenticket.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE events(evid TEXT PRIMARY KEY, count INTEGER NOT NULL, event_state INTEGER,
            customer BLOB, queue BLOB, last_time REAL, cleared INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL, updated REAL NOT NULL, missing_since REAL) WITHOUT ROWID;
        CREATE TABLE pending(evid TEXT NOT NULL, what TEXT NOT NULL, count INTEGER NOT NULL,
            event BLOB, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_try REAL NOT NULL,
            claimed_by TEXT, claimed_at REAL, created REAL NOT NULL, given_up REAL,
            given_up_reason TEXT, PRIMARY KEY(evid, what, count)) WITHOUT ROWID;
        CREATE INDEX pending_next_try ON pending(next_try);
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID;
        CREATE TABLE tickets(evid TEXT NOT NULL, count INTEGER NOT NULL, ticket INTEGER NOT NULL,
            customer BLOB, queue BLOB, created REAL NOT NULL,
            PRIMARY KEY(evid, count, ticket)) WITHOUT ROWID;
        INSERT INTO events VALUES('old-1', 3, 4, x'6e6e6c', x'71', NULL, 1, 1, 1, NULL);
        INSERT INTO tickets VALUES('old-1', 1, 9000000000000000001, x'6e6e6c', x'71', 1);
        INSERT INTO tickets VALUES('old-1', 3, 4711, x'6e6e6c', x'71', 2);
        INSERT INTO pending(evid, what, count, next_try, created) VALUES('old-1', 'clear', 4711, 9e9, 1);
        PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);
    let state = t.clone().args(["state", "--json"]).run();
    state.status(0).stderr("");
    assert!(
        state
            .stdout
            .contains("\"tickets\":[9000000000000000001,4711]"),
        "{}",
        state.stdout
    );
    // `state` only reads; the first run that writes migrates, keeping every number and
    // keying the owed clear by its ticket's count.
    t.clone().event("new-1", 1).run().status(0);
    let state = t.clone().args(["state", "--json", "--evid", "old-1"]).run();
    let v: serde_json::Value = serde_json::from_str(&state.stdout).unwrap();
    assert_eq!(v[0]["tickets"].to_string(), "[9000000000000000001,4711]");
    assert_eq!(v[0]["pending"][0]["what"], "clear");
    assert_eq!(v[0]["pending"][0]["count"], 3);
}

/// A FUSE mount (bindfs over a folder of the test) where the state DB would go. Needs
/// root, /dev/fuse and bindfs (`.ci/run` installs it); skipped where any is missing,
/// saying so, except under CI, where it fails.
struct Fuse(PathBuf);

impl Fuse {
    fn mount(src: &Path, at: &Path) -> Option<Fuse> {
        std::fs::create_dir_all(src).expect("mkdir");
        std::fs::create_dir_all(at).expect("mkdir");
        let ok = Command::new("bindfs")
            .arg(src)
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return cannot(
                "mount bindfs (not root, no /dev/fuse or no bindfs)",
                "the network filesystem case",
            );
        }
        Some(Fuse(at.to_path_buf()))
    }
}

impl Drop for Fuse {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_state_db_on_a_network_filesystem_is_refused_by_every_mode_that_writes() {
    let t = Test::new();
    let Some(_fs) = Fuse::mount(&t.path().join("src"), &t.path().join("var")) else {
        return;
    };
    let why = "state DB {dir}/var/zenticket.db: its folder {dir}/var is on a network or \
        userspace filesystem, FUSE (fuse from {dir}/src mounted at {dir}/var): SQLite's locks \
        and WAL do not hold there, and two hosts could each make the same ticket; put the \
        state DB on a local disk of the host that runs every zenticket-hook (statedb in \
        [GENERAL]); on Control Center run zenactiond and the zenticket service on the master, \
        whose volumes are local folders";
    let out = t.clone().event("nfs-1", 1).run();
    out.status(1)
        .stdout("")
        .stderr(&format!("zenticket-hook: evid nfs-1: {why}\n"));
    assert!(out.calls().is_empty(), "no script ran");
    t.again()
        .args(["sweep"])
        .run()
        .status(1)
        .stderr(&format!("zenticket-hook: sweep: {why}\n"));
    let check = t.again().args(["check-config"]).run();
    check.status(2).stderr(&format!("zenticket-hook: {why}\n"));
    assert!(check.stdout.starts_with(
        "config {dir}/etc/zenticket.conf: OK\n"
            .replace("{dir}", &check.dir.display().to_string())
            .as_str()
    ));
    assert_eq!(
        std::fs::read_dir(t.path().join("src")).unwrap().count(),
        0,
        "nothing written there"
    );
}
