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
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(
                !ci,
                "cannot mount a tmpfs under CI: the full-disk case is not checked"
            );
            eprintln!(
                "SKIPPED: cannot mount a tmpfs (not root?): the full-disk case is not checked"
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
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
         zenticket-hook (schema 99, this one knows 3); upgrade zenticket-hook, or move the DB away\n",
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
