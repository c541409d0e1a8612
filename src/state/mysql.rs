//! The shared backend: one MariaDB/MySQL database for hooks and sweeps on several hosts
//! (Control Center delegates, several zenactiond instances), where SQLite's WAL cannot
//! reach. Writes are InnoDB transactions at SERIALIZABLE (row locks and unique keys, as
//! SQLite's one writer gives, without serializing every hook), retried when the server
//! rolls one back for a deadlock; what lived in lock files beside a SQLite DB (the sweep's
//! turn, the `maxconcurrent` slots) are named locks (`GET_LOCK`), which the server releases
//! when a killed process's connection drops.

use super::sql::{positional, DbError, Dialect, Result as DbResult, Row, Sql, Value};
use super::{Backend, Result, StateError};
use mysql::prelude::Queryable;
use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Schema migrations, in order: (the version a step brings the DB to, its statements).
/// The first creates schema 9 whole (the SQLite DB's nine steps, in this dialect); a
/// later one changes both backends and adds its step here. Every statement may run again
/// (MySQL's DDL commits at once: a step cut short is run again whole).
const MIGRATIONS: &[(i64, &[&str])] = &[(
    9,
    &[
        "CREATE TABLE IF NOT EXISTS events(
            evid VARCHAR(128) NOT NULL,
            count BIGINT NOT NULL,
            event_state BIGINT,
            customer LONGBLOB,
            queue LONGBLOB,
            last_time DOUBLE,
            cleared TINYINT NOT NULL DEFAULT 0,
            created DOUBLE NOT NULL,
            updated DOUBLE NOT NULL,
            missing_since DOUBLE,
            PRIMARY KEY(evid)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        // 128 + 600 characters of utf8mb4 keep the key within InnoDB's 3072 bytes.
        "CREATE TABLE IF NOT EXISTS tickets(
            evid VARCHAR(128) NOT NULL,
            count BIGINT NOT NULL,
            ticket VARCHAR(600) NOT NULL,
            customer LONGBLOB,
            queue LONGBLOB,
            created DOUBLE NOT NULL,
            `system` VARCHAR(64),
            ref VARCHAR(255),
            closed_at DOUBLE,
            twin TINYINT NOT NULL DEFAULT 0,
            check_twins_until DOUBLE,
            PRIMARY KEY(evid, count, ticket),
            KEY tickets_twin_checks(check_twins_until)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        "CREATE TABLE IF NOT EXISTS pending(
            evid VARCHAR(128) NOT NULL,
            what VARCHAR(16) NOT NULL,
            count BIGINT NOT NULL,
            event LONGBLOB,
            attempts BIGINT NOT NULL DEFAULT 0,
            last_error TEXT,
            next_try DOUBLE NOT NULL,
            claimed_by VARCHAR(255),
            claimed_at DOUBLE,
            created DOUBLE NOT NULL,
            given_up DOUBLE,
            given_up_reason TEXT,
            sent_at DOUBLE,
            tried_at DOUBLE,
            asked_until DOUBLE,
            legacy_key TINYINT NOT NULL DEFAULT 0,
            PRIMARY KEY(evid, what, count),
            KEY pending_next_try(next_try)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        "CREATE TABLE IF NOT EXISTS meta(
            `key` VARCHAR(64) NOT NULL,
            value TEXT NOT NULL,
            at DOUBLE NOT NULL,
            PRIMARY KEY(`key`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        "INSERT IGNORE INTO meta(`key`, value, at)
            VALUES ('installation', LEFT(SHA2(CONCAT(UUID(), RAND()), 256), 16), UNIX_TIMESTAMP())",
    ],
)];

/// Where the shared DB is, from `statedb: mysql://USER@HOST:PORT/DATABASE` and the
/// password file. The password is never shown: not by `Debug`, not in the URL.
#[derive(Clone, PartialEq)]
pub struct Target {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub password: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Target({})", self.url())
    }
}

impl Target {
    /// Reads `mysql://USER@HOST[:PORT]/DATABASE` (also `mariadb://`). Err: what is wrong.
    pub fn parse(url: &str, password: String) -> std::result::Result<Target, String> {
        let rest = url
            .trim()
            .split_once("://")
            .map(|(_, r)| r)
            .ok_or("is not a mysql:// URL")?;
        let (auth, rest) = rest
            .split_once('@')
            .ok_or("names no user: write mysql://USER@HOST:PORT/DATABASE")?;
        if auth.contains(':') {
            return Err(
                "holds a password: keep it in statedbpasswordfile, never in the URL \
                        (the URL is shown in logs and `status`)"
                    .into(),
            );
        }
        let (hostport, database) = rest
            .split_once('/')
            .ok_or("names no database: write mysql://USER@HOST:PORT/DATABASE")?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("has a port that is not a number: {p:?}"))?,
            ),
            None => (hostport, 3306),
        };
        let plain = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        };
        if !plain(auth) {
            return Err(format!("has a user name MySQL would not take: {auth:?}"));
        }
        if host.is_empty() {
            return Err("names no host".into());
        }
        if !plain(database) || database.contains('.') {
            return Err(format!(
                "has a database name that is not letters, digits, _ and -: {database:?}"
            ));
        }
        Ok(Target {
            user: auth.to_string(),
            host: host.to_string(),
            port,
            database: database.to_string(),
            password,
        })
    }

    /// The URL as shown: never with the password.
    pub fn url(&self) -> String {
        format!(
            "mysql://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }

    fn opts(&self) -> mysql::Opts {
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some(self.host.clone()))
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .db_name(Some(self.database.clone()))
            // The same server over TCP wherever it runs: no hunt for a local socket.
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(5)))
            .read_timeout(Some(Duration::from_secs(60)))
            .write_timeout(Some(Duration::from_secs(60)))
            .init(vec![
                // Reads inside a write lock what they read: a count read and raised, the
                // breaker's failures read and counted, are never lost to another host.
                "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                // One round trip for the rest (every hook pays for each). An id too long
                // for its column is an error, never a value cut short.
                "SET SESSION innodb_lock_wait_timeout = 30, \
                 sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
            ])
            .into()
    }

    /// Connects, waiting out a server that is restarting (refused, or going away) for up
    /// to `patience`; a refused login or a missing database fails at once.
    pub fn connect(&self, patience: Duration) -> std::result::Result<mysql::Conn, String> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            match mysql::Conn::new(self.opts()) {
                Ok(c) => return Ok(c),
                Err(e) if fault(&e) == Fault::Lost && started.elapsed() < patience => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(self.words(&e)),
            }
        }
    }

    /// A MySQL error in the administrator's words (never with the password).
    fn words(&self, e: &mysql::Error) -> String {
        let hint = match e {
            mysql::Error::MySqlError(m) => match m.code {
                1045 => format!(
                    "the server refused user {} (its password is the first line of \
                     statedbpasswordfile; the user must be allowed from this host)",
                    self.user
                ),
                1044 | 1049 => format!(
                    "database {} does not exist or {} may not use it: create it and grant \
                     it (README: the state DB on MariaDB)",
                    self.database, self.user
                ),
                1142 | 1227 => format!(
                    "user {} lacks a privilege on {}: GRANT ALL ON {}.* TO it",
                    self.user, self.database, self.database
                ),
                _ => String::new(),
            },
            _ if fault(e) == Fault::Lost => format!(
                "cannot reach the server at {}:{} (not running, restarting, or not \
                 reachable from this host)",
                self.host, self.port
            ),
            _ => String::new(),
        };
        if hint.is_empty() {
            e.to_string()
        } else {
            format!("{hint} ({e})")
        }
    }

    /// A named lock's name for this database (the server's limit is 64 characters).
    fn lock_name(&self, what: &str) -> String {
        let name = format!("zenticket.{}.{what}", self.database);
        if name.len() <= 64 {
            return name;
        }
        let h = self.database.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
        format!("zenticket.{h:016x}.{what}")
    }
}

/// What a failure means for the transaction it struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The server rolled the transaction back (a deadlock, a lock wait too long): run
    /// it again.
    RolledBack,
    /// The connection is gone (the server restarted, the network broke): whatever was
    /// not committed is rolled back; reconnect.
    Lost,
    /// Anything else: the statement is wrong for the data (too long, a constraint).
    Other,
}

fn fault(e: &mysql::Error) -> Fault {
    match e {
        mysql::Error::MySqlError(m) => fault_of_code(m.code),
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => Fault::Lost,
        mysql::Error::DriverError(
            mysql::DriverError::ConnectTimeout
            | mysql::DriverError::CouldNotConnect(_)
            | mysql::DriverError::Timeout,
        ) => Fault::Lost,
        _ => Fault::Other,
    }
}

/// The server's error codes, by what they mean for a transaction.
pub fn fault_of_code(code: u16) -> Fault {
    match code {
        // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_CHECKREAD (MariaDB's snapshot check).
        1213 | 1205 | 1020 => Fault::RolledBack,
        // Server shutdown in progress, connection killed, server gone away, lost during
        // a query, too many connections (a restart's flood).
        1053 | 1927 | 2006 | 2013 | 1040 | 1152 | 1184 => Fault::Lost,
        _ => Fault::Other,
    }
}

/// Whether a write transaction that failed with `f` is run again: after a rollback
/// (up to `MAX_TRIES`), after a lost connection unless the COMMIT itself was under way
/// (it may have landed: running again could apply it twice; the caller's record of a
/// made ticket goes to the journal instead).
pub fn again(f: Fault, tries: u32, committing: bool) -> bool {
    tries < MAX_TRIES
        && match f {
            Fault::RolledBack => true,
            Fault::Lost => !committing,
            Fault::Other => false,
        }
}

const MAX_TRIES: u32 = 20;

/// How long a hook waits for a server that is restarting before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

pub struct Mysql {
    target: Target,
    name: PathBuf,
    conn: Conn,
    sweep_turn: bool,
}

/// A connection as the typed functions run on it (`Sql` takes `&self`).
struct Conn(RefCell<mysql::Conn>);

impl Mysql {
    /// Connects and brings the schema up to date. `local`: this host's prefix (the
    /// journal, allocated when the DB is opened): its folder is made here.
    pub fn open(target: &Target, local: &Path) -> Result<Mysql> {
        if let Some(dir) = local.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                crate::owner::create_dirs(dir, 0o750).map_err(|e| {
                    StateError::new(
                        local,
                        super::io_words(&format!("cannot create folder {}", dir.display()), &e),
                    )
                })?;
            }
        }
        let db = Mysql::connect(target)?;
        db.migrate()?;
        Ok(db)
    }

    /// Connects to read only: None when the database holds no state DB yet.
    pub fn open_read(target: &Target, _local: &Path) -> Result<Option<Mysql>> {
        let db = Mysql::connect(target)?;
        let exists: Option<Row> = (&db.conn as &dyn Sql)
            .one(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ?1 AND table_name = 'zenticket_schema'",
                &[Value::Text(target.database.clone())],
            )
            .map_err(|e| db.err(&e))?;
        if exists.is_none() {
            return Ok(None);
        }
        let version = db.version().map_err(|e| db.err(&e))?;
        super::refuse_newer(&db.name, version)?;
        Ok(Some(db))
    }

    fn connect(target: &Target) -> Result<Mysql> {
        let name = PathBuf::from(target.url());
        let conn = target
            .connect(PATIENCE)
            .map_err(|e| StateError::new(&name, e))?;
        Ok(Mysql {
            target: target.clone(),
            name,
            conn: Conn(RefCell::new(conn)),
            sweep_turn: false,
        })
    }

    fn err(&self, e: &DbError) -> StateError {
        StateError::new(&self.name, self.words(e))
    }

    /// Creates or migrates the schema, one process at a time (a named lock: DDL is not
    /// transactional).
    fn migrate(&self) -> Result<()> {
        let c: &dyn Sql = &self.conn;
        let run = || -> DbResult<()> {
            c.exec(
                "CREATE TABLE IF NOT EXISTS zenticket_schema(version INT NOT NULL) ENGINE=InnoDB",
                &[],
            )?;
            let version = self.version()?;
            super::refuse_newer(&self.name, version).map_err(|e| DbError::Value(e.msg))?;
            for (to, step) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
                for sql in step.iter() {
                    c.exec(sql, &[])?;
                }
                c.exec("DELETE FROM zenticket_schema", &[])?;
                c.exec(
                    "INSERT INTO zenticket_schema(version) VALUES (?1)",
                    &[Value::Int(*to)],
                )?;
            }
            Ok(())
        };
        // The common case costs one read and no lock; a newer schema is refused here too.
        if let Ok(version) = self.version() {
            super::refuse_newer(&self.name, version)?;
            if version == super::SCHEMA {
                return Ok(());
            }
        }
        let lock = self.target.lock_name("migrate");
        let got: Option<i64> = c
            .scalar("SELECT GET_LOCK(?1, 60)", &[Value::Text(lock.clone())])
            .map_err(|e| self.err(&e))?;
        if got != Some(1) {
            return Err(StateError::new(
                &self.name,
                "another process held the schema lock for 60 s (a migration stuck?)",
            ));
        }
        let r = run();
        let _ = c.exec("DO RELEASE_LOCK(?1)", &[Value::Text(lock)]);
        r.map_err(|e| self.err(&e))
    }

    /// Reconnects after the connection was lost; the sweep's turn is taken again.
    fn reconnect(&self) -> DbResult<()> {
        let fresh = self
            .target
            .connect(PATIENCE)
            .map_err(|m| DbError::Mysql(m, Fault::Lost))?;
        *self.conn.0.borrow_mut() = fresh;
        if self.sweep_turn {
            let name = self.target.lock_name("sweep");
            let got: Option<i64> =
                (&self.conn as &dyn Sql).scalar("SELECT GET_LOCK(?1, 0)", &[Value::Text(name)])?;
            if got != Some(1) {
                // Another sweep started while this one was cut off; claims keep the two
                // from doing one piece of work twice.
                log::warn!(
                    "{}: the sweep's turn was lost with the connection and another sweep has it",
                    self.target.url()
                );
            }
        }
        Ok(())
    }
}

fn db_error(e: mysql::Error) -> DbError {
    let f = fault(&e);
    DbError::Mysql(e.to_string(), f)
}

fn fault_of(e: &DbError) -> Fault {
    match e {
        DbError::Mysql(_, f) => *f,
        _ => Fault::Other,
    }
}

impl Backend for Mysql {
    fn read(&self, f: &mut dyn FnMut(&dyn Sql) -> DbResult<()>) -> DbResult<()> {
        match f(&self.conn) {
            Err(e) if fault_of(&e) == Fault::Lost => {
                self.reconnect()?;
                f(&self.conn)
            }
            r => r,
        }
    }

    fn write(
        &mut self,
        _durable: bool,
        f: &mut dyn FnMut(&dyn Sql) -> DbResult<()>,
    ) -> DbResult<()> {
        // InnoDB waits for the disk at every commit (innodb_flush_log_at_trx_commit=1):
        // every write is durable.
        let c: &dyn Sql = &self.conn;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut committing = false;
            let r = (|| {
                c.exec("START TRANSACTION", &[])?;
                f(c)?;
                committing = true;
                c.exec("COMMIT", &[])?;
                Ok(())
            })();
            let Err(e) = r else {
                return Ok(());
            };
            let fault = fault_of(&e);
            if fault != Fault::Lost {
                let _ = c.exec("ROLLBACK", &[]);
            }
            if !again(fault, tries, committing) {
                return Err(e);
            }
            if fault == Fault::Lost {
                self.reconnect()?;
            } else {
                // Two hosts that deadlocked must not meet again at once.
                let jitter = u64::from(std::process::id() % 7) + u64::from(tries) * 3;
                std::thread::sleep(Duration::from_millis(jitter));
            }
        }
    }

    fn version(&self) -> DbResult<i64> {
        let v: Option<i64> = (&self.conn as &dyn Sql)
            .one("SELECT max(version) FROM zenticket_schema", &[])?
            .map(|r| r.get(0))
            .transpose()?
            .flatten();
        Ok(v.unwrap_or(0))
    }

    fn words(&self, e: &DbError) -> String {
        if fault_of(e) == Fault::Lost {
            format!(
                "lost the connection to the server at {}:{} ({e})",
                self.target.host, self.target.port
            )
        } else {
            e.to_string()
        }
    }

    fn sweep_turn(&mut self) -> std::result::Result<bool, String> {
        let name = self.target.lock_name("sweep");
        let got: Option<i64> = (&self.conn as &dyn Sql)
            .scalar("SELECT GET_LOCK(?1, 0)", &[Value::Text(name)])
            .map_err(|e| self.words(&e))?;
        self.sweep_turn = got == Some(1);
        Ok(self.sweep_turn)
    }
}

fn to_mysql(v: Value) -> mysql::Value {
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Int(i) => mysql::Value::Int(i),
        Value::Real(f) => mysql::Value::Double(f),
        Value::Text(s) => mysql::Value::Bytes(s.into_bytes()),
        Value::Blob(b) => mysql::Value::Bytes(b),
    }
}

fn from_mysql(v: mysql::Value) -> Value {
    match v {
        mysql::Value::NULL => Value::Null,
        mysql::Value::Int(i) => Value::Int(i),
        mysql::Value::UInt(u) => i64::try_from(u).map_or(Value::Real(u as f64), Value::Int),
        mysql::Value::Float(f) => Value::Real(f as f64),
        mysql::Value::Double(f) => Value::Real(f),
        mysql::Value::Bytes(b) => Value::Blob(b),
        other => Value::Text(other.as_sql(true)),
    }
}

fn params(params: Vec<Value>) -> mysql::Params {
    if params.is_empty() {
        mysql::Params::Empty
    } else {
        mysql::Params::Positional(params.into_iter().map(to_mysql).collect())
    }
}

impl Sql for Conn {
    fn exec(&self, sql: &str, values: &[Value]) -> DbResult<usize> {
        let (sql, values) = positional(sql, values);
        let mut conn = self.0.borrow_mut();
        if values.is_empty() {
            // Not prepared: START TRANSACTION, DDL and the like.
            conn.query_drop(&sql).map_err(db_error)?;
        } else {
            conn.exec_drop(&sql, params(values)).map_err(db_error)?;
        }
        Ok(conn.affected_rows() as usize)
    }

    fn query(&self, sql: &str, values: &[Value]) -> DbResult<Vec<Row>> {
        let (sql, values) = positional(sql, values);
        let mut conn = self.0.borrow_mut();
        let rows: Vec<mysql::Row> = conn.exec(&sql, params(values)).map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|r| Row(r.unwrap().into_iter().map(from_mysql).collect()))
            .collect())
    }

    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }
}

/// One of `n` slots of `maxconcurrent` requests to `system`, across every host: a named
/// lock held on a connection of its own, released when it is dropped (or the process
/// dies). None when all `n` are held.
pub fn take_slot(
    target: &Target,
    system: &str,
    n: u32,
) -> std::result::Result<Option<mysql::Conn>, String> {
    let mut conn = target.connect(PATIENCE)?;
    for i in 0..n {
        let name = target.lock_name(&format!("{system}.slot{i}"));
        let got: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, 0)", (name,))
            .map_err(|e| target.words(&e))?;
        if got.flatten() == Some(1) {
            return Ok(Some(conn));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = |u: &str| Target::parse(u, "pw".into()).map(|t| t.url());
        assert_eq!(
            ok("mysql://zenticket@127.0.0.1:3306/zenoss_zenticket"),
            Ok("mysql://zenticket@127.0.0.1:3306/zenoss_zenticket".into())
        );
        assert_eq!(
            ok("mariadb://z@db.example/zt"),
            Ok("mysql://z@db.example:3306/zt".into())
        );
        let bad: &[(&str, &str)] = &[
            ("mysql://z:secret@h/db", "holds a password"),
            ("mysql://h:3306/db", "names no user"),
            ("mysql://z@h:3306", "names no database"),
            ("mysql://z@h:33x/db", "port that is not a number"),
            ("mysql://z@:3306/db", "names no host"),
            ("mysql://z@h/d;b", "database name"),
            ("mysql://z z@h/db", "user name"),
        ];
        for (u, why) in bad {
            let e = ok(u).expect_err(u);
            assert!(e.contains(why), "{u}: {e}");
            assert!(!e.contains("secret"), "{u}: {e}");
        }
    }

    #[test]
    fn the_password_is_never_shown() {
        let t = Target::parse("mysql://z@h/db", "hunter2".into()).expect("parse");
        assert!(!format!("{t:?} {}", t.url()).contains("hunter2"));
    }

    #[test]
    fn which_failures_run_a_transaction_again() {
        use Fault::*;
        let table: &[(Fault, u32, bool, bool)] = &[
            (RolledBack, 1, false, true),
            (RolledBack, 1, true, true),
            (RolledBack, MAX_TRIES, false, false),
            (Lost, 1, false, true),
            (Lost, 1, true, false),
            (Lost, MAX_TRIES, false, false),
            (Other, 1, false, false),
            (Other, 1, true, false),
        ];
        for &(f, tries, committing, want) in table {
            assert_eq!(
                again(f, tries, committing),
                want,
                "{f:?} {tries} {committing}"
            );
        }
        let codes: &[(u16, Fault)] = &[
            (1213, RolledBack),
            (1205, RolledBack),
            (2006, Lost),
            (2013, Lost),
            (1053, Lost),
            (1927, Lost),
            (1406, Other),
            (1062, Other),
        ];
        for &(c, want) in codes {
            assert_eq!(fault_of_code(c), want, "{c}");
        }
    }

    #[test]
    fn lock_names_fit_the_servers_limit() {
        let t = Target::parse(&format!("mysql://z@h/{}", "d".repeat(64)), String::new())
            .expect("parse");
        let n = t.lock_name("servicenow.slot9");
        assert!(n.len() <= 64, "{n}");
        let short = Target::parse("mysql://z@h/zt", String::new()).expect("parse");
        assert_eq!(short.lock_name("sweep"), "zenticket.zt.sweep");
    }
}
