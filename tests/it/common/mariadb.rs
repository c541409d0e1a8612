//! The MariaDB server `.ci/run` starts (Debian's `mariadb-server`, bound to 127.0.0.1):
//! each test gets a database of its own, reached by the hook as `statedb: mysql://...`
//! with a password file, and by the test as root over the server's unix socket (the
//! `mysql` client), to read and age rows as `sql` does for SQLite.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// The user every test database grants; its password is in each test's password file.
/// Not `zenticket`: the pack's own test gives that user a password of its own.
pub const USER: &str = "zt_test";
pub const PASSWORD: &str = "zt-Test-pw-7";

/// A MariaDB server the tests reach: the shared one `.ci/run` started (port 3306, the
/// default socket), or a private one a test may restart (`Server::private`).
#[derive(Clone, Debug)]
pub struct Server {
    pub port: u16,
    /// The unix socket root reaches it by (None: the client's default).
    pub socket: Option<PathBuf>,
    /// A private server's data folder; the server is stopped when the last clone of it
    /// is dropped.
    data: Option<Arc<Private>>,
}

#[derive(Debug)]
struct Private {
    data: PathBuf,
    socket: PathBuf,
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = Command::new("mysqladmin")
            .args(["-uroot"])
            .arg(format!("--socket={}", self.socket.display()))
            .arg("shutdown")
            .output();
    }
}

impl Server {
    pub fn shared() -> Server {
        Server {
            port: 3306,
            socket: None,
            data: None,
        }
    }

    /// Runs SQL as root (unix socket); its output, tab-separated, without the header.
    pub fn root(&self, db: Option<&str>, stmt: &str) -> Result<String, String> {
        let mut cmd = Command::new("mysql");
        cmd.args(["-uroot", "--batch", "--skip-column-names"]);
        if let Some(s) = &self.socket {
            cmd.arg(format!("--socket={}", s.display()));
        }
        if let Some(db) = db {
            cmd.arg(db);
        }
        let out = cmd
            .args(["-e", stmt])
            .output()
            .map_err(|e| format!("mysql client: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The user, with the tests' password, granted the `zt_` databases.
    fn grant(&self) -> Result<(), String> {
        self.root(
            None,
            &format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'localhost'; \
                 ALTER USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'; \
                 GRANT ALL ON `zt\\_%`.* TO '{USER}'@'localhost';"
            ),
        )
        .map(|_| ())
    }

    /// A new, empty database.
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "zt_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.root(None, &format!("CREATE DATABASE {name}"))
            .expect("create database");
        name
    }

    /// A server of the test's own in `dir` (a fresh data folder, its own port and
    /// socket), so that restarting it disturbs no other test. None where MariaDB is not
    /// installed (never under CI).
    pub fn private(dir: &Path, port: u16) -> Option<Server> {
        if !available("a MariaDB server of the test's own") {
            return None;
        }
        let data = dir.join("mariadb");
        std::fs::create_dir_all(&data).expect("mkdir");
        // mysqld runs as mysql: it must reach its folder.
        let mut p = data.clone();
        loop {
            let _ = Command::new("chown").arg("mysql:mysql").arg(&p).status();
            match p.parent() {
                Some(up) if up != Path::new("/tmp") && up != Path::new("/") => p = up.to_path_buf(),
                _ => break,
            }
        }
        let init = Command::new("mariadb-install-db")
            .args([
                "--user=mysql",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.join("data").display()))
            .output()
            .expect("mariadb-install-db");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let server = Server {
            port,
            socket: Some(data.join("sock")),
            data: Some(Arc::new(Private {
                socket: data.join("sock"),
                data,
            })),
        };
        server.start();
        server.grant().expect("grant");
        Some(server)
    }

    /// Starts a private server detached (the harness must not wait on its streams) and
    /// waits until it answers.
    pub fn start(&self) {
        let data = &self.data.as_ref().expect("a private server").data;
        // `setsid --fork`: setsid's own process ends at once (waited for here), the
        // server lives on in a session of its own.
        let spawned = Command::new("setsid")
            .arg("--fork")
            // Debian puts the server in /usr/sbin, which a user's PATH may lack.
            .arg(if Path::new("/usr/sbin/mariadbd").exists() {
                "/usr/sbin/mariadbd"
            } else {
                "mariadbd"
            })
            .args([
                "--user=mysql",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve=0",
            ])
            .arg(format!("--datadir={}", data.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", data.join("sock").display()))
            .arg(format!("--pid-file={}", data.join("pid").display()))
            .arg(format!("--log-error={}", data.join("err").display()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let started = spawned.and_then(|mut c| c.wait()).expect("start mariadbd");
        assert!(started.success(), "setsid mariadbd");
        for _ in 0..300 {
            if self.root(None, "SELECT 1").is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("MariaDB did not start within 30 s");
    }

    /// Stops a private server as its administrator would (a clean shutdown, which
    /// cuts every connection) and waits until it is gone.
    pub fn stop(&self) {
        let stop = Command::new("mysqladmin")
            .args(["-uroot"])
            .arg(format!(
                "--socket={}",
                self.socket.as_ref().expect("private").display()
            ))
            .arg("shutdown")
            .status()
            .expect("mysqladmin");
        assert!(stop.success(), "mysqladmin shutdown");
    }
}

/// Whether the shared server answers (the user made once). Where it does not, a test on
/// MariaDB is skipped, saying so, except under CI, where it fails.
pub fn available(what: &str) -> bool {
    static UP: OnceLock<Result<(), String>> = OnceLock::new();
    match UP.get_or_init(|| Server::shared().grant()) {
        Ok(()) => true,
        Err(e) => {
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(
                !ci,
                "MariaDB not reachable under CI (.ci/run starts it): {what} cannot be checked: {e}"
            );
            eprintln!(
                "SKIPPED: no MariaDB server here ({}): {what} not checked",
                e.trim()
            );
            false
        }
    }
}
