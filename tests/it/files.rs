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
