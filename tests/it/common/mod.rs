//! One builder for every integration test: config text, event, script behaviour and (later)
//! Zenoss replies go in; the real binary runs as a process; decision, argv, log and calls
//! come out to be asserted.

pub mod http;
pub mod mariadb;
pub mod psa;
pub mod servicenow;
pub mod webhook;
pub mod zenoss;

use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

pub const BIN: &str = env!("CARGO_BIN_EXE_zenticket-hook");

/// The recording ticket script, in Perl as users write them. It records its argv (NUL
/// terminated, byte for byte) and ZENTICKET_* environment into calls/, and answers as
/// TICKET_MODE says: `counter` (default: a new number per call, under a lock), `fail`,
/// `text`, `zero`, `nothing`, `number-then-exit-3`, `hang`, `number-then-hang`,
/// `fail-first-N` (fails N times, then counts). TICKET_SLEEP sleeps after recording.
pub const RECORDER: &str = r#"#!/usr/bin/perl
use strict; use warnings; use Fcntl qw(:flock);
my $dir = $ENV{TEST_DIR} or die "no TEST_DIR";
mkdir "$dir/calls";
my $mode = $ENV{TICKET_MODE} || 'counter';
open(my $lock, '+>>', "$dir/counter") or die; flock($lock, LOCK_EX); seek($lock, 0, 0);
my $n = <$lock>; $n = 0 unless defined $n && $n =~ /^\d+$/; $n++;
truncate($lock, 0); print $lock "$n\n";
close $lock;
open(my $f, '>', "$dir/calls/$n.argv") or die; binmode $f;
print $f map { "$_\0" } @ARGV; close $f;
open(my $e, '>', "$dir/calls/$n.env") or die;
print $e join("\n", map { $ENV{$_} // '' } qw(ZENTICKET_EVID ZENTICKET_COUNT ZENTICKET_IDEMPOTENCY_KEY PATH)), "\n"; close $e;
print STDERR "recorder: mode $mode\n";
# The ticket system has the request now; then it may be slow to answer.
select(undef, undef, undef, $ENV{TICKET_SLEEP}) if $ENV{TICKET_SLEEP};
my $ticket = 1000 + $n;
if ($mode =~ /^fail-first-(\d+)$/) { $mode = $n <= $1 ? 'fail' : 'counter' }
if ($mode eq 'counter') { print "$ticket\n"; exit 0 }
if ($mode eq 'fail') { print STDERR "ticket system says no\n"; exit 1 }
if ($mode eq 'text') { print "Ticket created!\n"; exit 0 }
if ($mode eq 'zero') { print "0\n"; exit 0 }
if ($mode eq 'nothing') { exit 0 }
if ($mode eq 'number-then-exit-3') { print "$ticket\n"; exit 3 }
if ($mode eq 'hang') { sleep 30; exit 0 }
if ($mode eq 'number-then-hang') { $| = 1; print "$ticket\n"; sleep 30; exit 0 }
die "unknown TICKET_MODE $mode";
"#;

pub const LAB_CONFIG: &str = "[GENERAL]
ticketscript: {script}
cycletime: 30
statedb: {dir}/var/zenticket.db
logfile: {dir}/log/zenticket.log
collector: collector.example.com
scripttimeout: 5

[LAB]
id:nnl-00000
queue:Front Line
group1:None
group2:/Network
group3:/Security
group4:/Server
group5:/Up-Down
";

#[derive(Clone)]
pub struct Test {
    pub dir: Arc<tempfile::TempDir>,
    config: String,
    script: Option<(String, String)>,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    clear_env: bool,
    stdin: Option<Vec<u8>>,
    /// The test's server and database when its state DB is on MariaDB (`on_mariadb`).
    pub mariadb: Option<(mariadb::Server, String)>,
}

pub struct Output {
    pub dir: PathBuf,
    pub test: Test,
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: Arc::new(tempfile::tempdir().expect("tempdir")),
            config: LAB_CONFIG.to_string(),
            script: Some(("create_ticket.pl".into(), RECORDER.into())),
            args: Vec::new(),
            env: Vec::new(),
            clear_env: false,
            stdin: None,
            mariadb: None,
        }
    }

    /// The state DB on a database of its own on the MariaDB server (call after `config`):
    /// None, with a SKIPPED line, where no server runs (never under CI).
    pub fn on_mariadb(mut self) -> Option<Test> {
        if !mariadb::available("the state DB on MariaDB") {
            return None;
        }
        let db = mariadb::Server::shared().database();
        let password = self.path().join("etc/statedb.password");
        std::fs::create_dir_all(self.path().join("etc")).expect("mkdir etc");
        write_atomic(&password, &format!("{}\n", mariadb::PASSWORD), 0o600);
        self.mariadb = Some((mariadb::Server::shared(), db));
        Some(self)
    }

    /// The state DB on `db` of `server`, as another host of one site sees it.
    pub fn on_database(mut self, server: &mariadb::Server, db: &str) -> Test {
        let password = self.path().join("etc/statedb.password");
        std::fs::create_dir_all(self.path().join("etc")).expect("mkdir etc");
        write_atomic(&password, &format!("{}\n", mariadb::PASSWORD), 0o600);
        self.mariadb = Some((server.clone(), db.to_string()));
        self
    }

    /// Runs SQL on the test's state DB, whichever backend holds it (to age rows, as if
    /// time had passed).
    pub fn sql(&self, stmt: &str) {
        match &self.mariadb {
            Some((server, db)) => {
                server.root(Some(db), stmt).expect("sql");
            }
            None => sql(self.path(), stmt),
        }
    }

    /// A one-value query on the test's state DB.
    pub fn query(&self, stmt: &str) -> String {
        match &self.mariadb {
            Some((server, db)) => server.root(Some(db), stmt).expect("sql").trim().to_string(),
            None => {
                let conn = rusqlite::Connection::open(self.path().join("var/zenticket.db"))
                    .expect("state DB");
                conn.query_row(stmt, [], |r| {
                    Ok(match r.get_ref(0)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Real(f) => f.to_string(),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .expect("query")
            }
        }
    }

    /// Config text; `{dir}` and `{script}` are replaced.
    pub fn config(mut self, text: &str) -> Test {
        self.config = text.to_string();
        self
    }

    /// Adds a [ZENOSS] section pointing at the test server (call after `config`).
    pub fn zenoss(mut self, z: &zenoss::Zenoss) -> Test {
        self.config.push('\n');
        self.config.push_str(&z.section());
        self
    }

    /// The ticket script: file name and body (with `{dir}` replaced).
    pub fn script(mut self, name: &str, body: &str) -> Test {
        self.script = Some((name.into(), body.into()));
        self
    }

    pub fn no_script(mut self) -> Test {
        self.script = None;
        self
    }

    /// Recorder behaviour (see RECORDER).
    pub fn mode(self, mode: &str) -> Test {
        self.env("TICKET_MODE", mode)
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Test {
        self.env.push((k.into(), v.as_ref().to_owned()));
        self
    }

    /// Run with an empty environment, as Zenoss 4.2 runs a notification with recipients.
    pub fn empty_env(mut self) -> Test {
        self.clear_env = true;
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// A production, New, Error event for a /Network device: the ticket case.
    pub fn event(self, evid: &str, count: i64) -> Test {
        self.args([
            "--evid",
            evid,
            "--count",
            &count.to_string(),
            "--event-state",
            "0",
            "--severity",
            "4",
            "--prod-state",
            "1000",
            "--device",
            "router1",
            "--ip-address",
            "10.0.0.1",
            "--component",
            "Gi0/1",
            "--summary",
            "Interface Gi0/1 down",
            "--message",
            "ifOperStatus=2",
            "--event-class",
            "/Net/Link",
            "--device-class",
            "/Network/Router",
            "--device-groups",
            "|/Network",
            "--device-priority",
            "3",
            "--first-time",
            "2009/11/18 16:45:33.000",
            "--last-time",
            "2009/11/18 16:47:10.000",
        ])
    }

    /// A routable New, Error, production event of count 1 whose other fields come from
    /// `json` through `--event-json -` (how values too long for one argument arrive).
    pub fn json_event(self, evid: &str, json: &str) -> Test {
        self.args([
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
            "--device-groups",
            "|/Network",
            "--event-json",
            "-",
        ])
        .stdin(json.as_bytes())
    }

    /// A bare call as the ZenPack's notification makes it: evid, count and eventState
    /// only (the text is fetched from Zenoss when `[ZENOSS]` is set).
    pub fn bare(self, evid: &str, count: i64, state: i64) -> Test {
        self.args([
            "--evid",
            evid,
            "--count",
            &count.to_string(),
            "--event-state",
            &state.to_string(),
        ])
    }

    /// Appends a section (a ticket system's, say) to the config.
    pub fn section(mut self, text: &str) -> Test {
        self.config.push('\n');
        self.config.push_str(text);
        self
    }

    /// Adds `line` (a `key: value`) to [GENERAL], whatever the config.
    pub fn general(mut self, line: &str) -> Test {
        self.config = self
            .config
            .replacen("[GENERAL]\n", &format!("[GENERAL]\n{line}\n"), 1);
        self
    }

    pub fn stdin(mut self, data: &[u8]) -> Test {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("etc/zenticket.conf")
    }

    /// Writes the files (idempotent) and returns the command, for tests that start it
    /// themselves (concurrency).
    pub fn prepare(&self) -> Command {
        let dir = self.path();
        std::fs::create_dir_all(dir.join("etc")).expect("mkdir etc");
        let script_path = match &self.script {
            Some((name, body)) => {
                let p = dir.join(name);
                write_atomic(
                    &p,
                    &body.replace("{dir}", &dir.display().to_string()),
                    0o755,
                );
                p
            }
            None => dir.join("no-such-script"),
        };
        let mut conf = self.config.clone();
        if let Some((server, db)) = &self.mariadb {
            // The lab's SQLite line becomes the test's database (whatever `config` set).
            let line = "statedb: {dir}/var/zenticket.db\n";
            assert!(conf.contains(line), "a config with the lab's statedb line");
            conf = conf.replace(
                line,
                &format!(
                    "statedb: mysql://{}@127.0.0.1:{}/{db}\nstatedbpasswordfile: {{dir}}/etc/statedb.password\n",
                    mariadb::USER,
                    server.port,
                ),
            );
        }
        let conf = conf
            .replace("{dir}", &dir.display().to_string())
            .replace("{script}", &script_path.display().to_string());
        write_atomic(&self.config_path(), &conf, 0o644);
        let mut cmd = Command::new(BIN);
        if self.clear_env {
            cmd.env_clear();
        } else {
            cmd.env_remove("ZENHOME").env_remove("ZENTICKET_CONF");
        }
        cmd.env("TEST_DIR", dir);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let has_config = self.args.iter().any(|a| a == "--config");
        if !has_config {
            cmd.arg("--config").arg(self.config_path());
        }
        cmd.args(&self.args);
        cmd
    }

    /// A second call in the same folder, config and state DB, with new arguments.
    pub fn again(&self) -> Test {
        let mut t = self.clone();
        t.args.clear();
        t.stdin = None;
        t
    }

    pub fn run(self) -> Output {
        let mut cmd = self.prepare();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn hook");
        if let Some(data) = &self.stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(data).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait hook");
        Output {
            dir: self.path().to_path_buf(),
            test: self,
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Output {
    pub fn status(&self, code: i32) -> &Output {
        assert_eq!(
            self.status,
            code,
            "exit status\nstdout: {}\nstderr: {}\nlog: {}",
            self.stdout,
            self.stderr,
            self.log()
        );
        self
    }

    /// stdout is exactly `want`, `{dir}` standing for the test's folder.
    pub fn stdout(&self, want: &str) -> &Output {
        let want = want.replace("{dir}", &self.dir.display().to_string());
        assert_eq!(self.stdout, want, "stdout\nstderr: {}", self.stderr);
        self
    }

    /// stderr is exactly `want`, `{dir}` standing for the test's folder.
    pub fn stderr(&self, want: &str) -> &Output {
        let want = want.replace("{dir}", &self.dir.display().to_string());
        assert_eq!(self.stderr, want, "stderr\nstdout: {}", self.stdout);
        self
    }

    /// The log's lines without their timestamps, after checking each has the daemon's
    /// `%Y-%m-%d %H:%M:%S LEVEL zen.zenticket: ` form.
    pub fn log_lines(&self) -> Vec<String> {
        let re = regex::Regex::new(
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) zen\.zenticket: ",
        )
        .expect("regex");
        self.log()
            .lines()
            .map(|l| {
                assert!(re.is_match(l), "not the daemon's log format: {l:?}");
                l[20..].to_string()
            })
            .collect()
    }

    /// The log is exactly these lines (timestamps left out), `{dir}` standing for the
    /// test's folder.
    pub fn logged(&self, want: &[&str]) -> &Output {
        let dir = self.dir.display().to_string();
        let want: Vec<String> = want.iter().map(|l| l.replace("{dir}", &dir)).collect();
        assert_eq!(self.log_lines(), want, "log\nstdout: {}", self.stdout);
        self
    }

    pub fn stdout_has(&self, text: &str) -> &Output {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn stderr_has(&self, text: &str) -> &Output {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    pub fn stdout_lacks(&self, text: &str) -> &Output {
        assert!(
            !self.stdout.contains(text),
            "stdout has {text:?}:\n{}",
            self.stdout
        );
        self
    }

    pub fn stderr_lacks(&self, text: &str) -> &Output {
        assert!(
            !self.stderr.contains(text),
            "stderr has {text:?}:\n{}",
            self.stderr
        );
        self
    }

    pub fn log_has(&self, text: &str) -> &Output {
        assert!(
            self.log().contains(text),
            "log lacks {text:?}:\n{}",
            self.log()
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr)
        })
    }

    pub fn decision(&self, want: &str) -> &Output {
        let line = self.stdout.lines().next().unwrap_or("");
        let got = if line.starts_with('{') {
            self.json()["decision"].as_str().unwrap_or("").to_string()
        } else {
            line.split(' ').next().unwrap_or("").to_string()
        };
        assert_eq!(
            got, want,
            "decision\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/zenticket.log")).unwrap_or_default()
    }

    /// The argv of every script call, in call order.
    pub fn calls(&self) -> Vec<Vec<Vec<u8>>> {
        calls(&self.dir)
    }

    /// ZENTICKET_EVID, _COUNT, _IDEMPOTENCY_KEY and PATH of every script call.
    pub fn call_envs(&self) -> Vec<Vec<String>> {
        call_envs(&self.dir)
    }

    /// Another call in the same folder (same config and state DB).
    pub fn again(&self) -> Test {
        self.test.again()
    }

    pub fn state(&self) -> Value {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(self.test.config_path())
            .args(["--json", "state"])
            .output()
            .expect("state");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "state --json: {e}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// Writes by rename, and only when the text changed: hooks started a moment earlier may
/// be reading the file right now.
fn write_atomic(path: &Path, text: &str, mode: u32) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).expect("write");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).expect("chmod");
    std::fs::rename(&tmp, path).expect("rename");
}

pub fn calls(dir: &Path) -> Vec<Vec<Vec<u8>>> {
    let mut files = numbered(dir, "argv");
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| {
            let data = std::fs::read(p).expect("read argv");
            let mut args: Vec<Vec<u8>> = data.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
            args.pop();
            args
        })
        .collect()
}

pub fn call_envs(dir: &Path) -> Vec<Vec<String>> {
    let mut files = numbered(dir, "env");
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| {
            std::fs::read_to_string(p)
                .expect("read env")
                .lines()
                .map(String::from)
                .collect()
        })
        .collect()
}

fn numbered(dir: &Path, ext: &str) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir.join("calls")) else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let p = e.ok()?.path();
        (p.extension()? == ext).then_some(())?;
        let n = p.file_stem()?.to_str()?.parse().ok()?;
        Some((n, p))
    })
    .collect()
}

/// The value after `flag` in one script call's argv.
pub fn arg_after(call: &[Vec<u8>], flag: &str) -> Vec<u8> {
    let at = call
        .iter()
        .position(|a| a == flag.as_bytes())
        .unwrap_or_else(|| panic!("no {flag} in {:?}", text(call)));
    call[at + 1].clone()
}

/// argv as text, for readable asserts.
pub fn text(args: &[Vec<u8>]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

pub fn os(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

/// The idempotency key of (evid, count) in `t`'s installation as a ticket system sees it
/// (SPEC section 8): `zt-` and the FNV-1a hash of the installation's id (from its state
/// DB), NUL, evid, NUL and count, then the count and the evid, with every character
/// outside `A-Za-z0-9._-` made `_`, cut to 100 characters.
pub fn key_of(t: &Test, evid: &str, count: i64) -> String {
    let id = t.query("SELECT value FROM meta WHERE `key` = 'installation'");
    assert_eq!(id.len(), 16, "8 random bytes in hex: {id}");
    let mut h: u64 = 0xcbf29ce484222325;
    let bytes = id.bytes().chain([0]).chain(evid.bytes());
    for b in bytes.chain([0]).chain(count.to_string().bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("zt-{h:016x}-{count}-{evid}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
}

/// `sweep --json` in the test's folder, which must exit 0: its summary.
pub fn sweep(t: &Test) -> Value {
    let s = t.again().args(["--json", "sweep"]).run();
    s.status(0);
    s.json()
}

/// Runs SQL on a test's state DB (to age rows, as if time had passed).
pub fn sql(dir: &Path, stmt: &str) {
    let conn = rusqlite::Connection::open(dir.join("var/zenticket.db")).expect("open state DB");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy");
    conn.execute_batch(stmt).expect("sql");
}

/// Python 2.7, the daemon's own interpreter: `$PYTHON2`, else
/// `~/.pyenv/versions/2.7.18/bin/python2.7`, else `python2.7` on PATH. Where it is absent
/// a test that needs it is skipped, saying `what` was not checked, except under CI
/// (`CI` set), where the test fails: a comparison that silently did not run proves nothing.
pub fn python2(what: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("PYTHON2") {
        candidates.push(p.into());
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".pyenv/versions/2.7.18/bin/python2.7"));
    }
    candidates.push("python2.7".into());
    let found = candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import ConfigParser"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(
            !ci,
            "Python 2.7 not found under CI (set PYTHON2): {what} cannot be checked"
        );
        eprintln!("SKIPPED: Python 2.7 not found (set PYTHON2): {what} not checked");
    }
    found
}
