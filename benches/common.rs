//! What the benches share: the hook called for a new event, as a notification with text
//! calls it (New, Error, a production device of /Network: the ticket case).

use std::path::Path;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_zenticket-hook");

/// `zenticket-hook --config CONF --evid EVID ...` for a new, routable event of count 1.
pub fn new_event(conf: &Path, evid: &str) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(conf).args([
        "--evid",
        evid,
        "--count",
        "1",
        "--event-state",
        "0",
        "--severity",
        "4",
        "--prod-state",
        "1000",
        "--device",
        "router1",
        "--device-groups",
        "|/Network",
        "--summary",
        "Interface down",
        "--message",
        "ifOperStatus=2",
    ]);
    c
}

/// `dir/ticket.sh`, the trivial ticket script (prints 42), executable; its path.
#[allow(dead_code)]
pub fn trivial_script(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("ticket.sh");
    std::fs::write(&script, "#!/bin/sh\necho 42\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    script
}

/// A database of its own on the MariaDB server that `.ci/run` starts (root over the unix
/// socket makes it and the `zenticket` user): the config lines that put a state DB there,
/// or None (with a line saying so) where no server answers.
#[allow(dead_code)]
pub fn mariadb_statedb(dir: &Path, name: &str) -> Option<String> {
    let password = "zt-Bench-pw-3";
    let db = format!("zt_bench_{name}_{}", std::process::id());
    let made = Command::new("mysql")
        .args(["-uroot", "-e"])
        .arg(format!(
            "CREATE USER IF NOT EXISTS 'zenticket'@'localhost'; \
             ALTER USER 'zenticket'@'localhost' IDENTIFIED BY '{password}'; \
             GRANT ALL ON `zt\\_%`.* TO 'zenticket'@'localhost'; \
             DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db};"
        ))
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        println!("  MariaDB: no server answers here (bash .ci/run starts one): skipped");
        return None;
    }
    let file = dir.join(format!("{name}.password"));
    std::fs::write(&file, format!("{password}\n")).expect("password file");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    Some(format!(
        "statedb: mysql://zenticket@127.0.0.1:3306/{db}\nstatedbpasswordfile: {}\n",
        file.display()
    ))
}

/// The `mysql` CLI upserting one row into `db` as the `zenticket` user over TCP: the
/// least a per-event state write on MariaDB costs from a new process.
#[allow(dead_code)]
pub fn mysql_upsert(statedb_lines: &str, key: &str, value: usize) -> Command {
    let db = statedb_lines
        .split('/')
        .nth(3)
        .and_then(|s| s.lines().next())
        .expect("database");
    let mut c = Command::new("mysql");
    c.env("MYSQL_PWD", "zt-Bench-pw-3")
        .args(["-uzenticket", "-h127.0.0.1", "-P3306", db, "-e"])
        .arg(format!(
            "CREATE TABLE IF NOT EXISTS floor(k VARCHAR(64) PRIMARY KEY, v BIGINT) ENGINE=InnoDB; \
             INSERT INTO floor(k, v) VALUES ('{key}', {value}) \
             ON DUPLICATE KEY UPDATE v = GREATEST(v, VALUES(v));"
        ));
    c
}
