//! The zenticket daemon's surface: `sweep --every` (cycles, a config broken mid-run,
//! SIGTERM mid-cycle, SIGHUP), the `daemons/zenticket` sh script under dash and bash with
//! a temporary ZENHOME (start, status, stop, restart, a stale pidfile, genxmlconfigs,
//! genconf), the Control Center service definition, and the pack's notification found by
//! its guid when an administrator already has one called `zenticket`.
use crate::common::zenoss::{Version, ZEvent, Zenoss};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("zenpack/ZenPacks/community/ZenTicket")
}

/// Runs a harness of tests/data under Python 2.7 with the pack's source folder (and any
/// further arguments); None where Python 2.7 is absent (the test is then skipped, saying
/// `what` was not checked, or fails under CI).
fn py2_harness(what: &str, name: &str, args: &[&Path]) -> Option<std::process::Output> {
    let py = python2(what)?;
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let zenpack = pack()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    Some(
        Command::new(py)
            .arg(&harness)
            .arg(zenpack)
            .args(args)
            .output()
            .unwrap(),
    )
}

fn log_lines_with(out_dir: &Path, words: &str) -> usize {
    std::fs::read_to_string(out_dir.join("log/zenticket.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(words))
        .count()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sweep --every SECONDS` in the background, as the daemon runs it.
fn start_loop(t: &Test, every: &str) -> Child {
    let mut cmd = t.again().args(["sweep", "--every", every]).prepare();
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

#[test]
fn the_loop_sweeps_each_cycle_against_zenoss() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("loop-0"));
    let t = Test::new().zenoss(&z);
    t.clone().bare("loop-0", 1, 0).run().status(0);
    let out = t
        .again()
        .args(["sweep", "--every", "0", "--cycles", "3"])
        .run();
    out.status(0);
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    assert!(out
        .stdout
        .lines()
        .all(|l| l.starts_with("sweep: retried 0")));
    let queries = z.methods().iter().filter(|m| *m == "query").count();
    assert_eq!(queries, 3, "one console read per cycle");
}

#[test]
fn a_config_broken_mid_run_keeps_the_last_good_one_and_is_logged_once() {
    let t = Test::new();
    let child = start_loop(&t, "0");
    let dir = t.path().to_path_buf();
    wait_for("a first cycle", || {
        log_lines_with(&dir, "INFO zen.zenticket: sweep: retried") >= 1
    });
    let conf = t.config_path();
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, "[GENERAL\nbroken\n").unwrap();
    let before = log_lines_with(&dir, "sweep: retried");
    wait_for("cycles on the last good config", || {
        log_lines_with(&dir, "sweep: retried") >= before + 5
    });
    std::fs::write(&conf, good).unwrap();
    wait_for("the fixed config", || {
        log_lines_with(&dir, "reads again; using it") == 1
    });
    signal(&child, libc::SIGTERM);
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        log_lines_with(
            &dir,
            "ERROR zen.zenticket: sweep loop: the config does not read"
        ),
        1,
        "logged once, not every cycle"
    );
}

#[test]
fn sigterm_mid_cycle_finishes_the_step_and_exits_0() {
    // A ticket owed, and a ticket system that takes a second: SIGTERM arrives mid-script.
    let t = Test::new()
        .general("retrydelay: 0")
        .mode("fail-first-1")
        .env("TICKET_SLEEP", "1");
    t.clone().event("term-1", 1).run().status(1);
    let child = start_loop(&t, "60");
    let dir = t.path().to_path_buf();
    wait_for("the retry's script to start", || calls(&dir).len() == 2);
    let asked = Instant::now();
    signal(&child, libc::SIGTERM);
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "it did not wait out the cycle"
    );
    // The step finished: the ticket the script made is recorded, nothing half-written.
    let state = t.again().args(["--json", "state"]).run().json();
    assert_eq!(state[0]["tickets"], serde_json::json!([1002]));
    assert_eq!(
        log_lines_with(&dir, "sweep loop stopped after 1 cycle(s)"),
        1
    );
    let conn = rusqlite::Connection::open(dir.join("var/zenticket.db")).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn sighup_sweeps_again_at_once() {
    let t = Test::new();
    let child = start_loop(&t, "3600");
    let dir = t.path().to_path_buf();
    wait_for("a first cycle", || {
        log_lines_with(&dir, "sweep: retried") == 1
    });
    signal(&child, libc::SIGHUP);
    wait_for("a second cycle, long before the hour", || {
        log_lines_with(&dir, "sweep: retried") == 2
    });
    assert_eq!(log_lines_with(&dir, "SIGHUP, re-reading the config now"), 1);
    signal(&child, libc::SIGTERM);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

/// A ZENHOME as the pack lays it out: bin/zenticket-hook and bin/zenticket (links, as the
/// loaders make them), etc/zenticket.conf.
fn zenhome() -> tempfile::TempDir {
    let z = tempfile::tempdir().unwrap();
    for d in ["bin", "etc", "var", "log"] {
        std::fs::create_dir_all(z.path().join(d)).unwrap();
    }
    std::os::unix::fs::symlink(BIN, z.path().join("bin/zenticket-hook")).unwrap();
    std::os::unix::fs::symlink(
        pack().join("daemons/zenticket"),
        z.path().join("bin/zenticket"),
    )
    .unwrap();
    let conf = format!(
        "[GENERAL]\nticketscript: /bin/true\ncycletime: 3600\nlogfile: {0}/log/zenticket.log\n",
        z.path().display()
    );
    std::fs::write(z.path().join("etc/zenticket.conf"), conf).unwrap();
    z
}

fn daemon(sh: &str, zenhome: &Path, cmd: &str) -> (i32, String) {
    let out = Command::new(sh)
        .arg(zenhome.join("bin/zenticket"))
        .arg(cmd)
        .env_clear()
        .env("ZENHOME", zenhome)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_daemon_script_under_dash_and_bash() {
    for sh in ["dash", "bash"] {
        let z = zenhome();
        let zh = z.path();
        assert_eq!(
            daemon(sh, zh, "status"),
            (3, "not running\n".into()),
            "{sh}"
        );
        assert_eq!(daemon(sh, zh, "start"), (0, "starting...\n".into()), "{sh}");
        let pid: i32 = std::fs::read_to_string(zh.join("var/zenticket-localhost.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            daemon(sh, zh, "status"),
            (0, format!("program running; pid={pid}\n")),
            "{sh}"
        );
        wait_for("the loop's first sweep", || {
            log_lines_with(zh, "sweep: retried") == 1
        });
        assert_eq!(
            daemon(sh, zh, "start"),
            (0, format!("zenticket already running; pid={pid}\n")),
            "{sh}"
        );
        let (code, out) = daemon(sh, zh, "restart");
        assert_eq!(
            (code, out.as_str()),
            (0, "stopping...\nstarting...\n"),
            "{sh}"
        );
        let pid2: i32 = std::fs::read_to_string(zh.join("var/zenticket-localhost.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_ne!(pid, pid2, "{sh}: a new loop");
        assert_eq!(daemon(sh, zh, "stop"), (0, "stopping...\n".into()), "{sh}");
        assert!(!zh.join("var/zenticket-localhost.pid").exists());
        wait_for("the loop to log its stop", || {
            log_lines_with(zh, "sweep loop stopped") == 2
        });
        // A pidfile left by a killed loop names a pid that is gone: not running.
        std::fs::write(zh.join("var/zenticket-localhost.pid"), "999999\n").unwrap();
        assert_eq!(
            daemon(sh, zh, "status"),
            (3, "not running\n".into()),
            "{sh}"
        );
        assert_eq!(daemon(sh, zh, "stop"), (0, "not running\n".into()), "{sh}");
        assert_eq!(daemon(sh, zh, "bogus").0, 2, "{sh}");
    }
}

#[test]
fn genxmlconfigs_has_no_option_and_genconf_is_a_config_the_hook_accepts() {
    let z = zenhome();
    let (code, xml) = daemon("dash", z.path(), "genxmlconfigs");
    assert_eq!(code, 0);
    // Parsed as XML (python3's own parser): a <configuration> with no <option>.
    let check = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; r = E.fromstring(sys.stdin.read()); \
             print(r.tag, r.get('id'), len(r.findall('.//option')))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(xml.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        "configuration zenticket 0\n"
    );
    let (code, ini) = daemon("bash", z.path(), "genconf");
    assert_eq!(code, 0);
    assert_eq!(
        ini,
        std::fs::read_to_string(pack().join("etc/zenticket.conf")).unwrap()
    );
    let conf = z.path().join("etc/generated.conf");
    std::fs::write(&conf, ini).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .arg("check-config")
        .env("ZENHOME", z.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// zenactiond's volume as zenoss/zenoss-service defines it
/// (services/Zenoss.core.full/Zenoss/Events/zenactiond/service.json): the hooks run there.
const ZENACTIOND_VOLUME: &str = r#"{"ContainerPath": "/var/zenoss", "Owner": "zenoss:zenoss", "Permission": "0775", "ResourcePath": "var-zenpacks"}"#;

#[test]
fn the_control_center_service_matches_what_the_pack_installs() {
    let text = std::fs::read_to_string(pack().join("service_definition/zenticket.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Beside zenactiond, under Zenoss/Events (tags, as installServiceDefinitions matches).
    assert_eq!(v["servicePath"], "/zenoss-application/zenoss-events");
    let d = &v["serviceDefinition"];
    assert_eq!(d["Name"], "zenticket");
    assert_eq!(d["Tags"], serde_json::json!(["daemon"]));
    assert_eq!(
        (&d["Instances"]["min"], &d["Instances"]["max"]),
        (&1.into(), &1.into())
    );
    let conf = "/var/zenoss/zenticket/zenticket.conf";
    assert_eq!(
        d["Command"],
        format!("su - zenoss -c \"/opt/zenoss/bin/zenticket-hook --config {conf} sweep --every\"")
    );
    assert!(
        d["ConfigFiles"].is_null(),
        "no copy of the config of its own: serviced would write it over the shared one"
    );
    let zenactiond: serde_json::Value = serde_json::from_str(ZENACTIOND_VOLUME).unwrap();
    assert_eq!(
        d["Volumes"],
        serde_json::json!([zenactiond]),
        "the volume zenactiond mounts"
    );
    assert_eq!(
        d["Endpoints"],
        serde_json::json!([{"Name": "zproxy", "Application": "zproxy", "PortNumber": 8080,
            "Protocol": "tcp", "Purpose": "import"},
            // zenoss-service services/Zenoss.core.full/Zenoss/Events/zenactiond/service.json
            {"Name": "mariadb", "Application": "zodb_.*", "Purpose": "import"}]),
        "Zope at localhost:8080, as PythonCollector imports it; MariaDB as zenactiond does"
    );
    assert_eq!(
        d["LogConfigs"][0]["path"],
        "/var/zenoss/zenticket/zenticket.log"
    );
    // The config install() writes keeps the state DB and the log on that volume.
    let volume = d["Volumes"][0]["ContainerPath"].as_str().unwrap();
    let initial = pack().join("etc/zenticket-controlcenter.conf");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&initial)
        .arg("check-config")
        .env("ZENHOME", "/opt/zenoss")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "statedb      {volume}/zenticket/zenticket.db (SQLite: one host)\n"
        )) && stdout.contains(&format!("logfile      {volume}/zenticket/zenticket.log\n")),
        "{stdout}"
    );
    // What install() places: bin/zenticket-hook and etc/zenticket.conf under ZENHOME.
    let init = std::fs::read_to_string(pack().join("__init__.py")).unwrap();
    assert!(
        init.contains("BINARY = 'zenticket-hook'")
            && init.contains("installConfFile('zenticket.conf')")
            && init.contains("CC_HOME = '/var/zenoss/zenticket'")
    );
}

/// Runs the pack's __init__.py under Python 2.7 with stand-ins for Zope (a dmd with the
/// administrator's own `zenticket` notification and the pack's, which the loader named
/// `zenticket_1`), localizes the commands and removes the pack: only the pack's object is
/// touched.
#[test]
fn the_pack_finds_its_notification_by_guid_not_by_name() {
    let Some(out) = py2_harness(
        "the ZenPack's notification handling",
        "zenpack_objects.py",
        &[],
    ) else {
        return;
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "localized: zenticket_1\n\
         admin's command: /usr/local/bin/page-oncall ${evt/evid}\n\
         pack's command: exec /usr/local/zenoss/bin/zenticket-hook\n\
         removed: zenticket_1\n\
         left: zenticket\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `_remove_cron` leaves a crontab it cannot read alone (with a warning), rewrites one
/// only to take the pack 1.0.0 block out, and install()'s fallback cron file carries this
/// host's paths, no placeholder. Needs Python 2.7 (skipped without it, failing under CI).
#[test]
fn the_pack_leaves_an_unreadable_crontab_alone_and_writes_the_cron_file_with_real_paths() {
    let work = tempfile::tempdir().unwrap();
    let Some(out) = py2_harness(
        "the ZenPack's crontab handling",
        "zenpack_cron.py",
        &[work.path()],
    ) else {
        return;
    };
    let w = work.path().display().to_string();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "none: written None; logged []\n\
             denied: written None; logged ['WARNING could not read the crontab (crontab: cannot \
             open /var/spool/cron/crontabs/zenoss: Permission denied)']\n\
             ours: written 'MAILTO=ops\\n0 3 * * * backup\\n'; logged ['INFO removed the sweep of \
             pack 1.0.0 from the crontab (the daemon sweeps)']\n\
             other: written None; logged []\n\
             # Paths of this host (ZENHOME={w}).\n\
             # The fallback sweeper, for a host where the zenticket daemon cannot run (the daemon,\n\
             # daemons/zenticket or the Control Center service, sweeps every cycletime; the pack\n\
             # installs no crontab entry). Copy the line below into the zenoss user's crontab\n\
             # (`crontab -e` as zenoss); for /etc/cron.d, add the user name (zenoss) after the five\n\
             # time fields. zenticket-hook sweep: retries, reconcile, autoclear and pruning, every\n\
             # minute; the binary's own lock makes a second sweep exit at once, so runs never overlap.\n\
             * * * * * {w}/bin/zenticket-hook --config {w}/etc/zenticket.conf sweep >> \
             {w}/log/zenticket-sweep.log 2>&1\n\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Control Center: install() with CONTROLPLANE=1 writes the one config on the var-zenpacks
/// volume and points the notification's commands at it; the 1.2.0 migrate step moves pack
/// 1.1.0's service there (command, volume, zproxy, under Zenoss/Events, its config text
/// carried with the state DB beside it), leaves another `zenticket` alone, and does
/// nothing under --ignore-service-install. Then the config the hooks read and the one the
/// service reads name one state DB, on a volume both services mount. Needs Python 2.7.
#[test]
fn on_control_center_every_process_that_acts_has_one_state_db() {
    let volume = tempfile::tempdir().unwrap();
    let Some(out) = py2_harness(
        "the ZenPack's Control Center install and upgrade",
        "zenpack_cc.py",
        &[volume.path()],
    ) else {
        return;
    };
    let home = volume.path().join("zenticket");
    let h = home.display().to_string();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "install conf: ['zenticket.conf']\n\
             install zenactiond imports: ['zproxy']\n\
             second install keeps the config: True\n\
             notification: {h}/zenticket.conf\n\
             clear: {h}/zenticket.conf\n\
             upgrade carries the customer sections: True\n\
             upgrade config is not the template: True\n\
             path: Zenoss.core/Zenoss/Events/zenticket\n\
             command: su - zenoss -c \"/opt/zenoss/bin/zenticket-hook --config {h}/zenticket.conf sweep --every\"\n\
             running: pgrep -u zenoss -f 'zenticket-hook --config {h}/zenticket.conf sweep --every'\n\
             logs: ['{h}/zenticket.log']\n\
             volumes: [('zenticket', '/opt/zenoss/var/zenticket', '0750'), ('var-zenpacks', '/var/zenoss', '0775')]\n\
             endpoints: [('zproxy', 'zproxy', 8080, 'import'), ('mariadb', 'zodb_.*', 0, 'import')]\n\
             config files: []\n\
             original configs: []\n\
             zenactiond imports: ['zproxy']\n\
             other zenticket: Zenoss.core/Zenoss/Collection/zenticket, someone else's\n\
             carried conf: ['zenticket.conf']\n\
             second migrate changes nothing: True\n\
             ignored: 0 commit(s)\n\
             no service context: skipped\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The config carried from 1.1.0 puts the state DB and the log beside it on the volume.
    let check = Command::new(BIN)
        .arg("--config")
        .arg(home.join("zenticket.conf"))
        .arg("check-config")
        .env("ZENHOME", "/opt/zenoss")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains(&format!(
            "statedb      {h}/zenticket.db (SQLite: one host)\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("logfile      {h}/zenticket.log\n")),
        "{text}"
    );
    assert!(
        text.contains("\nACME                 acme-1           Acme NOC             /Acme\n"),
        "the customer section carried: {text}"
    );
}

/// A ticket script for the Control Center scenes: a number per call, except for evid
/// `cc-owed` while `fail` exists beside it.
const CC_SCRIPT: &str = "#!/bin/sh\n\
    dir=$(dirname \"$0\")\n\
    if [ \"$ZENTICKET_EVID\" = cc-owed ] && [ -e \"$dir/fail\" ]; then echo down >&2; exit 1; fi\n\
    echo \"$ZENTICKET_EVID $ZENTICKET_IDEMPOTENCY_KEY\" >> \"$dir/made\"\n\
    wc -l < \"$dir/made\"\n";

/// Control Center, the state DB moved to MariaDB by an upgrade to 1.4.0: install() makes
/// the database and its user with global.conf's admin, writes the password file (0600) and
/// the config's statedb lines on the volume, carries the SQLite state DB the hooks used
/// (its ticket records, its owed work and its installation id), and the 1.4.0 step gives
/// the zenticket service MariaDB's import. Then no ticket is made twice: the recorded one
/// stays unchanged, the owed one is made with the key it was first tried with. Needs
/// Python 2.7 and the MariaDB server.
#[test]
fn on_control_center_an_upgrade_moves_the_state_db_to_mariadb_and_carries_it() {
    if !crate::common::mariadb::available("the pack's move of the state DB to MariaDB") {
        return;
    }
    // Zenoss's admin logs in over TCP with a password (global.conf): one of the test's own.
    crate::common::mariadb::Server::shared()
        .root(
            None,
            "DROP DATABASE IF EXISTS zenoss_zenticket; \
             CREATE USER IF NOT EXISTS 'zt_admin'@'localhost'; \
             ALTER USER 'zt_admin'@'localhost' IDENTIFIED BY 'zt-Admin-pw-5'; \
             GRANT ALL ON *.* TO 'zt_admin'@'localhost' WITH GRANT OPTION;",
        )
        .expect("admin");
    let volume = tempfile::tempdir().unwrap();
    let home = volume.path().join("zenticket");
    std::fs::create_dir_all(&home).unwrap();
    let h = home.display().to_string();
    let template =
        std::fs::read_to_string(pack().join("etc/zenticket-controlcenter.conf")).unwrap();
    let conf = home.join("zenticket.conf");
    std::fs::write(
        &conf,
        template.replace("/var/zenoss/zenticket/", &format!("{h}/"))
            + "\n[LAB]\nid: nnl-1\nqueue: Q\ngroup1: /Network\n",
    )
    .unwrap();
    let script = home.join("create_ticket.pl");
    std::fs::write(&script, CC_SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hook = |evid: &str| {
        Command::new(BIN)
            .arg("--config")
            .arg(&conf)
            .args([
                "--evid",
                evid,
                "--count",
                "1",
                "--event-state",
                "0",
                "--severity",
                "4",
            ])
            .args([
                "--prod-state",
                "1000",
                "--device",
                "r1",
                "--device-groups",
                "|/Network",
            ])
            .args(["--summary", "down"])
            .output()
            .unwrap()
    };
    // 1.3.0's hooks on SQLite: one ticket made, one owed (its script failed).
    assert!(hook("cc-made").status.success());
    std::fs::write(home.join("fail"), "").unwrap();
    assert_eq!(hook("cc-owed").status.code(), Some(1));
    std::fs::remove_file(home.join("fail")).unwrap();
    let sqlite = rusqlite::Connection::open(home.join("zenticket.db")).unwrap();
    let id: String = sqlite
        .query_row(
            "SELECT value FROM meta WHERE key = 'installation'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(sqlite);
    let global = volume.path().join("global.conf");
    std::fs::write(
        &global,
        "zodb-host 127.0.0.1\nzodb-port 3306\nzodb-admin-user zt_admin\nzodb-admin-password zt-Admin-pw-5\n",
    )
    .unwrap();
    let Some(out) = py2_harness(
        "the ZenPack's move of the state DB to MariaDB",
        "zenpack_cc.py",
        &[volume.path(), &global, Path::new(BIN)],
    ) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "statedb: mysql://zenticket@127.0.0.1:3306/zenoss_zenticket\n\
         password file: 600\n\
         service imports: ['zproxy', 'mariadb']\n\
         zenactiond imports: ['zproxy']\n\
         a second install keeps it: True\n",
        "{stderr}"
    );
    assert!(
        stderr.contains("carried 2 event(s), 1 ticket record(s) and 2 piece(s) of owed work"),
        "{stderr}"
    );
    let password = std::fs::read_to_string(home.join("statedb.password")).unwrap();
    assert!(
        !stderr.contains(password.trim()),
        "the password in the install's log"
    );
    // The hooks and the sweep now read the shared DB, with the installation carried.
    let check = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&check.stdout).contains(
            "statedb      mysql://zenticket@127.0.0.1:3306/zenoss_zenticket (MariaDB/MySQL"
        ),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let carried_id = crate::common::mariadb::Server::shared()
        .root(
            Some("zenoss_zenticket"),
            "SELECT value FROM meta WHERE `key` = 'installation'",
        )
        .unwrap();
    assert_eq!(carried_id.trim(), id);
    let again = hook("cc-made");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "unchanged for evid cc-made: count 1 is not above the 1 already seen\n"
    );
    // Its retry is due (as if a minute had passed).
    crate::common::mariadb::Server::shared()
        .root(Some("zenoss_zenticket"), "UPDATE pending SET next_try = 0")
        .unwrap();
    let swept = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .args(["--json", "sweep"])
        .output()
        .unwrap();
    assert!(
        swept.status.success(),
        "{}",
        String::from_utf8_lossy(&swept.stderr)
    );
    let made = std::fs::read_to_string(home.join("made")).unwrap();
    let lines: Vec<&str> = made.lines().collect();
    assert_eq!(lines.len(), 2, "cc-made once, cc-owed once: {made}");
    assert!(lines[1].starts_with("cc-owed zt-"), "{made}");
}
