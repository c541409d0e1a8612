//! Files and secrets: modes that keep other users out, no following of planted links, and
//! refusal of a state DB others can write.
use crate::common::*;
use std::os::unix::fs::{symlink, PermissionsExt};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn state_db_and_log_are_created_private() {
    let out = Test::new().event("m-1", 1).run();
    out.status(0);
    assert_eq!(mode(&out.dir.join("var/zenticket.db")), 0o600);
    assert_eq!(mode(&out.dir.join("var/zenticket.db.lock")), 0o600);
    assert_eq!(
        mode(&out.dir.join("log/zenticket.log")) & 0o037,
        0,
        "log at most 0640"
    );
}

#[test]
fn a_state_db_others_can_write_is_refused() {
    let t = Test::new();
    t.clone().event("w-1", 1).run().status(0);
    let db = t.path().join("var/zenticket.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = t.again().event("w-2", 1).run();
    out.status(1).stdout("").stderr("zenticket-hook: evid w-2: state DB {dir}/var/zenticket.db: group or others can write it (mode 666); run `chmod 600 {dir}/var/zenticket.db`\n");
    assert_eq!(out.calls().len(), 1, "no script ran for the refused call");
}

#[test]
fn a_symlink_planted_at_the_state_db_is_not_followed() {
    let t = Test::new();
    std::fs::create_dir_all(t.path().join("var")).unwrap();
    let target = t.path().join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    symlink(&target, t.path().join("var/zenticket.db")).unwrap();
    let out = t.clone().event("l-1", 1).run();
    out.status(1).stdout("").stderr("zenticket-hook: evid l-1: state DB {dir}/var/zenticket.db: is a symbolic link; refusing to follow it (remove it, or set [GENERAL] statedb to a real path)\n");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
}

#[test]
fn a_state_db_in_a_folder_everyone_can_write_is_refused() {
    let t = Test::new();
    let shared = t.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let conf = LAB_CONFIG.replace(
        "statedb: {dir}/var/zenticket.db",
        "statedb: {dir}/shared/zenticket.db",
    );
    let out = t.clone().config(&conf).event("s-1", 1).run();
    out.status(1).stdout("").stderr("zenticket-hook: evid s-1: state DB {dir}/shared/zenticket.db: its folder {dir}/shared is writable by everyone; put the state DB in a folder of the zenoss user (e.g. $ZENHOME/var)\n");
    assert!(!shared.join("zenticket.db").exists());
}

#[test]
fn a_symlink_planted_at_the_log_is_not_followed() {
    let t = Test::new();
    std::fs::create_dir_all(t.path().join("log")).unwrap();
    let target = t.path().join("victim.log");
    std::fs::write(&target, "precious\n").unwrap();
    symlink(&target, t.path().join("log/zenticket.log")).unwrap();
    let out = t.clone().event("ll-1", 1).run();
    // The event is still handled; the log line goes to stderr with the reason.
    out.status(0)
        .decision("ticket")
        .stderr_has("cannot write log");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
}

/// Runs as root, else skipped (failing under CI, where the suite runs as root).
fn as_root(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(!ci, "not root under CI: {what} is not checked");
    eprintln!("SKIPPED: not root: {what} is not checked");
    false
}

const ZENOSS_UID: u32 = 65534;

fn give_to_zenoss(dir: &std::path::Path) {
    let ok = std::process::Command::new("chown")
        .args(["-R", &format!("{ZENOSS_UID}:{ZENOSS_UID}")])
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown");
}

fn owner(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).unwrap().uid()
}

#[test]
fn files_a_root_shell_creates_belong_to_the_folders_owner_and_hooks_still_run() {
    if !as_root("files created by root") {
        return;
    }
    let t = Test::new();
    give_to_zenoss(t.path());
    // An administrator's sweep from `serviced service attach` (root), before any hook.
    t.again().args(["sweep"]).run().status(0);
    let made: Vec<String> = [
        "var",
        "var/zenticket.db",
        "var/zenticket.db.lock",
        "var/zenticket.db.sweep",
        "log",
        "log/zenticket.log",
    ]
    .iter()
    .filter(|f| owner(&t.path().join(f)) != ZENOSS_UID)
    .map(|f| f.to_string())
    .collect();
    assert_eq!(made, Vec::<String>::new(), "not the folder owner's");
    for f in ["var/zenticket.db-wal", "var/zenticket.db-shm"] {
        let p = t.path().join(f);
        if p.exists() {
            assert_eq!(owner(&p), ZENOSS_UID, "{f}");
        }
    }
    // zenactiond's hook, as the zenoss user.
    use std::os::unix::process::CommandExt;
    let out = t
        .clone()
        .event("root-1", 1)
        .prepare()
        .uid(ZENOSS_UID)
        .gid(ZENOSS_UID)
        .output()
        .unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (Some(0), String::new())
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ticket 1001 for evid root-1"));
}

#[test]
fn check_config_names_a_state_file_the_hooks_user_cannot_open() {
    if !as_root("a state file made by root") {
        return;
    }
    let t = Test::new();
    t.clone().event("lock-1", 1).run().status(0);
    give_to_zenoss(t.path());
    let lock = t.path().join("var/zenticket.db.lock");
    std::os::unix::fs::chown(&lock, Some(0), Some(0)).unwrap();
    let out = t.again().args(["check-config"]).run();
    out.status(2).stderr(&format!(
        "zenticket-hook: state DB {{dir}}/var/zenticket.db: {{dir}}/var/zenticket.db.lock is \
         owned by uid 0 (mode 600), not by uid {ZENOSS_UID} who owns its folder (the user hooks \
         run as): they cannot open it; `chown {ZENOSS_UID}:{ZENOSS_UID} \
         {{dir}}/var/zenticket.db.lock` (it was made by a command run as another user)\n"
    ));
}
