//! The state DB: what the daemon kept in memory (the count seen per evid), plus what it
//! never had: ticket numbers, and the work still owed (pending) so that `sweep` finishes
//! what a hook could not.
//!
//! Every write is one short transaction taken under an exclusive `flock` on
//! `<statedb>.lock`, then `BEGIN IMMEDIATE`. The flock queues writers in the kernel, which
//! wakes the next one the moment the lock is free, where SQLite's own busy handler would
//! sleep and poll; no lock is ever held while a script runs or Zenoss is called.

pub mod mysql;
pub mod sql;
pub mod sqlite;

use crate::vals;
use sql::{DbError, Dialect, Sql, Value};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

type DbResult<T> = sql::Result<T>;

/// A state DB failure, naming the DB. Built from a `rusqlite::Error` (or any message)
/// with `StateError::at(path)`, so no caller assembles one by hand.
#[derive(Debug)]
pub struct StateError {
    pub path: PathBuf,
    pub msg: String,
}

impl StateError {
    pub fn new(path: &Path, e: impl fmt::Display) -> StateError {
        StateError {
            path: path.to_path_buf(),
            msg: e.to_string(),
        }
    }

    /// Turns any error into one naming `path`: `.map_err(StateError::at(path))`.
    pub fn at<E: fmt::Display>(path: &Path) -> impl Fn(E) -> StateError + '_ {
        move |e| StateError {
            path: path.to_path_buf(),
            msg: e.to_string(),
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state DB {}: {}", self.path.display(), self.msg)
    }
}

impl std::error::Error for StateError {}

pub type Result<T> = std::result::Result<T, StateError>;

/// What one piece of owed work is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Ticket,
    Acknowledge,
    Close,
    Clear,
    /// The ticket's note on its event in Zenoss (`write_log`).
    Note,
    /// The ticket on its event as details (`updateDetails`): the console's Ticket column.
    Detail,
}

impl What {
    pub fn as_str(self) -> &'static str {
        match self {
            What::Ticket => "ticket",
            What::Acknowledge => "acknowledge",
            What::Close => "close",
            What::Clear => "clear",
            What::Note => "note",
            What::Detail => "detail",
        }
    }

    fn parse(s: &str) -> Option<What> {
        [
            What::Ticket,
            What::Acknowledge,
            What::Close,
            What::Clear,
            What::Note,
            What::Detail,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }

    /// Work done by running a script (one at a time), as opposed to a Zenoss call
    /// (batched).
    pub fn runs_script(self) -> bool {
        matches!(self, What::Ticket | What::Clear)
    }
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<What> for Value {
    fn from(w: What) -> Value {
        Value::Text(w.as_str().to_string())
    }
}

impl sql::FromValue for What {
    fn from_value(v: &Value) -> Option<What> {
        What::parse(&String::from_value(v)?)
    }
}

/// One piece of owed work: (evid, what, count) is its key. `count` is the event's count
/// for a ticket, the count its ticket was made for for a clear, and 0 for acknowledge/close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkKey {
    pub evid: String,
    pub what: What,
    pub count: i64,
}

impl WorkKey {
    pub fn new(evid: &str, what: What, count: i64) -> WorkKey {
        WorkKey {
            evid: evid.to_string(),
            what,
            count,
        }
    }
}

/// Owed work to record (`add_pending`).
pub struct NewWork<'a> {
    pub key: WorkKey,
    /// The event as it was, for a script run later (`Event::encode`).
    pub event: Option<&'a [u8]>,
    /// Set when this process is doing the work now.
    pub claimed_by: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// What is stored of an evid (`upsert_event`).
pub struct EventRow<'a> {
    pub evid: &'a str,
    pub count: i64,
    pub event_state: Option<i64>,
    pub last_time: Option<f64>,
    pub customer: Option<&'a [u8]>,
    pub queue: Option<&'a [u8]>,
}

/// The stored row of one evid.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub evid: String,
    pub count: i64,
    pub event_state: Option<i64>,
    pub customer: Option<Vec<u8>>,
    pub queue: Option<Vec<u8>>,
    pub cleared: bool,
    pub updated: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PendingRow {
    pub evid: String,
    pub what: What,
    pub count: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_try: f64,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<f64>,
    pub created: f64,
    /// When and why it was given up; None while it is owed.
    pub given_up: Option<f64>,
    pub given_up_reason: Option<String>,
    /// The next try is a wait the ticket system asked for.
    pub asked_until: Option<f64>,
}

/// Where the state DB is: a SQLite file, or a MariaDB/MySQL database shared by several
/// hosts (with a local prefix for what stays on this host: the journal).
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(PathBuf),
    Mysql {
        target: mysql::Target,
        local: PathBuf,
    },
}

impl Store {
    /// What messages call it: the SQLite file's path, or the URL (never the password).
    pub fn name(&self) -> PathBuf {
        match self {
            Store::Sqlite(p) => p.clone(),
            Store::Mysql { target, .. } => PathBuf::from(target.url()),
        }
    }

    /// The prefix of this host's own files: the journal, and with SQLite its locks.
    pub fn local(&self) -> &Path {
        match self {
            Store::Sqlite(p) | Store::Mysql { local: p, .. } => p,
        }
    }

    /// The backend, as `state`, `status` and `check-config` name it.
    pub fn describe(&self) -> String {
        match self {
            Store::Sqlite(p) => format!("SQLite {}", p.display()),
            Store::Mysql { target, .. } => format!("MariaDB/MySQL {}", target.url()),
        }
    }
}

pub struct State {
    /// What messages call the DB: its path, or its URL without the password.
    pub path: PathBuf,
    /// The prefix of this host's own files (`Store::local`).
    pub local: PathBuf,
    db: Box<dyn Backend>,
}

/// A state DB backend: runs reads and write transactions of the typed functions above
/// (`Sql`), and knows its schema's version.
pub trait Backend {
    fn read(&self, f: &mut dyn FnMut(&dyn Sql) -> DbResult<()>) -> DbResult<()>;
    /// One write transaction. `f` may run more than once: a backend retries a
    /// transaction the server rolled back (a deadlock), so `f` must only write through
    /// the `Sql` it is given.
    fn write(&mut self, durable: bool, f: &mut dyn FnMut(&dyn Sql) -> DbResult<()>)
        -> DbResult<()>;
    fn version(&self) -> DbResult<i64>;
    /// An error in the administrator's words.
    fn words(&self, e: &DbError) -> String;
    /// Takes the one-sweep-at-a-time turn without waiting; false when another holds it.
    /// Held until the backend is dropped.
    fn sweep_turn(&mut self) -> std::result::Result<bool, String>;
}

/// The schema version this binary writes.
pub const SCHEMA: i64 = sqlite::MIGRATIONS.len() as i64;

impl State {
    /// Opens (creating if need be) the SQLite state DB at `path` for reading and writing.
    pub fn open(path: &Path) -> Result<State> {
        State::open_store(&Store::Sqlite(path.to_path_buf()))
    }

    /// Opens (creating and migrating if need be) the state DB for reading and writing,
    /// and records any ticket left in this host's journal by a run that could not write.
    pub fn open_store(store: &Store) -> Result<State> {
        let db: Box<dyn Backend> = match store {
            Store::Sqlite(p) => Box::new(sqlite::Sqlite::open(p)?),
            Store::Mysql { target, local } => Box::new(mysql::Mysql::open(target, local)?),
        };
        let mut state = State {
            path: store.name(),
            local: store.local().to_path_buf(),
            db,
        };
        journal::replay(&mut state)?;
        Ok(state)
    }

    /// Opens an existing state DB only to read it (`state`, `--dry-run`): nothing is
    /// created, migrated or written. None when there is no DB.
    pub fn open_read(path: &Path) -> Result<Option<State>> {
        State::open_read_store(&Store::Sqlite(path.to_path_buf()))
    }

    pub fn open_read_store(store: &Store) -> Result<Option<State>> {
        let db: Box<dyn Backend> = match store {
            Store::Sqlite(p) => match sqlite::Sqlite::open_read(p)? {
                Some(db) => Box::new(db),
                None => return Ok(None),
            },
            Store::Mysql { target, local } => match mysql::Mysql::open_read(target, local)? {
                Some(db) => Box::new(db),
                None => return Ok(None),
            },
        };
        Ok(Some(State {
            path: store.name(),
            local: store.local().to_path_buf(),
            db,
        }))
    }

    /// The state of a dry run: the DB's row of one evid when there is a DB, in a scratch DB
    /// in memory, so that deciding runs the same code and nothing on disk is created or
    /// written.
    pub fn scratch(store: &Store, evid: &str) -> Result<State> {
        let mut st = State {
            path: store.name(),
            local: store.local().to_path_buf(),
            db: Box::new(sqlite::Sqlite::in_memory(&store.name())?),
        };
        if let Some(disk) = State::open_read_store(store)? {
            if let Some(r) = disk.row(evid)? {
                let row = EventRow {
                    evid: &r.evid,
                    count: r.count,
                    event_state: r.event_state,
                    last_time: None,
                    customer: r.customer.as_deref(),
                    queue: r.queue.as_deref(),
                };
                st.write(|tx| upsert_event(tx, &row, r.updated))?;
            }
            if let Some(count) = disk.read(|c| ticketed_count(c, evid))? {
                let made = Made {
                    evid,
                    count,
                    ticket: "0",
                    customer: b"",
                    queue: b"",
                    system: None,
                    reference: None,
                };
                st.write(|tx| ticket_made(tx, &made, 0.0))?;
            }
            // The dry run shows the keys the real run would send.
            let id = disk.read(installation)?;
            st.write(|tx| set_meta(tx, "installation", &id, 0.0))?;
        }
        Ok(st)
    }

    fn err(&self, e: impl fmt::Display) -> StateError {
        StateError::at(&self.path)(e)
    }

    fn db_err(&self, e: DbError) -> StateError {
        self.err(self.db.words(&e))
    }

    /// Runs a read (one of this module's query functions) on the DB, its error naming
    /// the DB: `st.read(|c| state::due(c, now, stale))`.
    pub fn read<T>(&self, f: impl FnOnce(&dyn Sql) -> DbResult<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        let r = self.db.read(&mut |c| {
            if let Some(f) = f.take() {
                out = Some(f(c)?);
            }
            Ok(())
        });
        r.map_err(|e| self.db_err(e))?;
        out.ok_or_else(|| self.err("a read was not run"))
    }

    /// Runs `f` in one write transaction. Safe against any kill of the process; a power
    /// cut may lose it with SQLite (the count, a claim, a retry's bookkeeping: at worst an
    /// attempt is repeated, with the same idempotency key). `f` may run again when the
    /// server rolled the transaction back (MariaDB's deadlock detection).
    pub fn write<T>(&mut self, f: impl FnMut(&dyn Sql) -> DbResult<T>) -> Result<T> {
        self.write_with(false, f)
    }

    /// A write that must survive a power cut too: a ticket the script made (losing it
    /// would make the retry a second ticket), or an event recorded for `sweep` when
    /// nothing else will bring it back.
    pub fn write_durable<T>(&mut self, f: impl FnMut(&dyn Sql) -> DbResult<T>) -> Result<T> {
        self.write_with(true, f)
    }

    fn write_with<T>(
        &mut self,
        durable: bool,
        mut f: impl FnMut(&dyn Sql) -> DbResult<T>,
    ) -> Result<T> {
        let mut out = None;
        let r = self.db.write(durable, &mut |tx| {
            out = Some(f(tx)?);
            Ok(())
        });
        if let Err(e) = r {
            return Err(self.db_err(e));
        }
        out.ok_or_else(|| self.err("a write was not run"))
    }

    /// Takes the one-sweep-at-a-time turn without waiting (false: another sweep has it),
    /// held while this State lives.
    pub fn sweep_turn(&mut self) -> Result<bool> {
        self.db.sweep_turn().map_err(|e| self.err(e))
    }

    pub fn row(&self, evid: &str) -> Result<Option<Row>> {
        self.read(|c| row(c, evid))
    }

    pub fn rows(&self, evid: Option<&str>) -> Result<Vec<Row>> {
        self.read(|c| {
            all(
                c.query(
                    "SELECT evid, count, event_state, customer, queue, cleared, updated FROM events \
                     WHERE ?1 IS NULL OR evid = ?1 ORDER BY updated, evid",
                    vals![evid],
                )?,
                map_row,
            )
        })
    }

    /// The evid's tickets; `version`: the DB's schema (`state` reads a DB it does not
    /// migrate: before schema 5 there is no system).
    fn tickets(&self, version: i64, evid: &str) -> Result<Vec<Recorded>> {
        let sql = if version >= 5 {
            "SELECT ticket, `system`, ref FROM tickets WHERE evid = ?1 ORDER BY count, created"
        } else {
            "SELECT ticket, NULL, NULL FROM tickets WHERE evid = ?1 ORDER BY count, created"
        };
        self.read(|c| all(c.query(sql, vals![evid])?, |r| recorded(r, 0)))
    }

    /// The ids of the evid's twin tickets (none before schema 9).
    fn twin_ids(&self, version: i64, evid: &str) -> Result<Vec<String>> {
        if version < 9 {
            return Ok(Vec::new());
        }
        self.read(|c| {
            all(
                c.query(
                    "SELECT ticket FROM tickets WHERE evid = ?1 AND twin = 1 ORDER BY count, created",
                    vals![evid],
                )?,
                |r| r.get(0),
            )
        })
    }

    /// The schema version of the DB.
    pub fn version(&self) -> Result<i64> {
        self.db.version().map_err(|e| self.db_err(e))
    }

    /// What `status` counts (`since`: the start of the "given up lately" window).
    pub fn health(&self, since: f64) -> Result<Health> {
        let version = self.version()?;
        self.read(|c| health(c, version, since))
    }

    pub fn pending(&self, evid: &str) -> Result<Vec<PendingRow>> {
        self.pending_of(self.version()?, evid)
    }

    /// The evid's owed work in a DB of schema `version` (before 7 no wait was asked for).
    fn pending_of(&self, version: i64, evid: &str) -> Result<Vec<PendingRow>> {
        let sql = if version >= 7 {
            "SELECT evid, what, count, attempts, last_error, next_try, claimed_by, claimed_at, \
             created, given_up, given_up_reason, asked_until \
             FROM pending WHERE evid = ?1 ORDER BY created, what, count"
        } else {
            "SELECT evid, what, count, attempts, last_error, next_try, claimed_by, claimed_at, \
             created, given_up, given_up_reason, NULL \
             FROM pending WHERE evid = ?1 ORDER BY created, what, count"
        };
        self.read(|c| all(c.query(sql, vals![evid])?, map_pending))
    }
}

/// One stored evid with its tickets and owed work, as `state` shows it.
pub struct Listing {
    pub row: Row,
    pub tickets: Vec<Recorded>,
    pub pending: Vec<PendingRow>,
    /// Tickets among `tickets` found carrying the key of another (see `twins`).
    pub twins: Vec<String>,
}

/// What the state DB holds (of one evid, or all), or None when there is no DB yet:
/// `state` must not create one. With `given_up_only`, only the rows that have given-up
/// work.
pub fn list(
    store: &Store,
    evid: Option<&str>,
    given_up_only: bool,
) -> Result<Option<Vec<Listing>>> {
    let Some(st) = State::open_read_store(store)? else {
        return Ok(None);
    };
    // Read once: on a shared DB each read is a round trip.
    let version = st.version()?;
    let mut out = Vec::new();
    for row in st.rows(evid)? {
        let tickets = st.tickets(version, &row.evid)?;
        let pending = st.pending_of(version, &row.evid)?;
        if given_up_only && pending.iter().all(|p| p.given_up.is_none()) {
            continue;
        }
        let twins = st.twin_ids(version, &row.evid)?;
        out.push(Listing {
            row,
            tickets,
            pending,
            twins,
        });
    }
    Ok(Some(out))
}

fn map_row(r: &sql::Row) -> DbResult<Row> {
    Ok(Row {
        evid: r.get(0)?,
        count: r.get(1)?,
        event_state: r.get(2)?,
        customer: r.get(3)?,
        queue: r.get(4)?,
        cleared: r.get(5)?,
        updated: r.get(6)?,
    })
}

fn map_pending(r: &sql::Row) -> DbResult<PendingRow> {
    Ok(PendingRow {
        evid: r.get(0)?,
        what: r.get(1)?,
        count: r.get(2)?,
        attempts: r.get(3)?,
        last_error: r.get(4)?,
        next_try: r.get(5)?,
        claimed_by: r.get(6)?,
        claimed_at: r.get(7)?,
        created: r.get(8)?,
        given_up: r.get(9)?,
        given_up_reason: r.get(10)?,
        asked_until: r.get(11)?,
    })
}

/// Every row of a query, read by `f`.
fn all<T>(rows: Vec<sql::Row>, f: impl Fn(&sql::Row) -> DbResult<T>) -> DbResult<Vec<T>> {
    rows.iter().map(f).collect()
}

pub fn row(c: &dyn Sql, evid: &str) -> DbResult<Option<Row>> {
    c.one(
        "SELECT evid, count, event_state, customer, queue, cleared, updated FROM events WHERE evid = ?1",
        vals![evid],
    )?
    .map(|r| map_row(&r))
    .transpose()
}

/// Stores what is known of an evid; the count only ever rises.
pub fn upsert_event(tx: &dyn Sql, e: &EventRow, now: f64) -> DbResult<()> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO events(evid, count, event_state, customer, queue, last_time, created, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT(evid) DO UPDATE SET
                count = max(count, excluded.count),
                event_state = coalesce(excluded.event_state, event_state),
                customer = coalesce(excluded.customer, customer),
                queue = coalesce(excluded.queue, queue),
                last_time = coalesce(excluded.last_time, last_time),
                updated = excluded.updated"
        }
        // Each assignment reads its own column's old value: none reads one set before it.
        Dialect::Mysql => {
            "INSERT INTO events(evid, count, event_state, customer, queue, last_time, created, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON DUPLICATE KEY UPDATE
                count = GREATEST(count, VALUES(count)),
                event_state = coalesce(VALUES(event_state), event_state),
                customer = coalesce(VALUES(customer), customer),
                queue = coalesce(VALUES(queue), queue),
                last_time = coalesce(VALUES(last_time), last_time),
                updated = VALUES(updated)"
        }
    };
    tx.exec(
        sql,
        vals![
            e.evid,
            e.count,
            e.event_state,
            e.customer,
            e.queue,
            e.last_time,
            now
        ],
    )?;
    Ok(())
}

pub fn mark_cleared(tx: &dyn Sql, evid: &str, state: Option<i64>, now: f64) -> DbResult<()> {
    tx.exec(
        "UPDATE events SET cleared = 1, event_state = coalesce(?2, event_state), updated = ?3 WHERE evid = ?1",
        vals![evid, state, now],
    )?;
    Ok(())
}

/// Records owed work; a second record of the same work keeps the first claim.
pub fn add_pending(tx: &dyn Sql, w: &NewWork, now: f64) -> DbResult<()> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO pending(evid, what, count, event, attempts, last_error, next_try, claimed_by, claimed_at, created)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, CASE WHEN ?7 IS NULL THEN NULL ELSE ?6 END, ?6)
             ON CONFLICT(evid, what, count) DO UPDATE SET
                event = coalesce(excluded.event, event),
                claimed_by = coalesce(claimed_by, excluded.claimed_by),
                claimed_at = coalesce(claimed_at, excluded.claimed_at),
                last_error = coalesce(excluded.last_error, last_error)"
        }
        Dialect::Mysql => {
            "INSERT INTO pending(evid, what, count, event, attempts, last_error, next_try, claimed_by, claimed_at, created)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, CASE WHEN ?7 IS NULL THEN NULL ELSE ?6 END, ?6)
             ON DUPLICATE KEY UPDATE
                event = coalesce(VALUES(event), event),
                claimed_by = coalesce(claimed_by, VALUES(claimed_by)),
                claimed_at = coalesce(claimed_at, VALUES(claimed_at)),
                last_error = coalesce(VALUES(last_error), last_error)"
        }
    };
    tx.exec(
        sql,
        vals![
            w.key.evid.as_str(),
            w.key.what,
            w.key.count,
            w.event,
            w.note,
            now,
            w.claimed_by
        ],
    )?;
    Ok(())
}

/// The owed work is done (or given up): forget it.
pub fn done(tx: &dyn Sql, k: &WorkKey) -> DbResult<()> {
    tx.exec(
        "DELETE FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3",
        vals![&k.evid, k.what, k.count],
    )?;
    Ok(())
}

/// The work is given up: kept, with when and why, for `state`, `status` and `requeue`
/// (and dropped with the audit records after 90 days), never retried on its own.
pub fn give_up(tx: &dyn Sql, k: &WorkKey, reason: &str, now: f64) -> DbResult<()> {
    tx.exec(
        "UPDATE pending SET given_up = ?4, given_up_reason = ?5, claimed_by = NULL, claimed_at = NULL
         WHERE evid = ?1 AND what = ?2 AND count = ?3",
        vals![&k.evid, k.what, k.count, now, reason],
    )?;
    Ok(())
}

/// Puts given-up work (of one evid, or all) back in the queue, as if first owed now: the
/// same (evid, what, count), so the same idempotency key. Returns how many.
pub fn requeue(tx: &dyn Sql, evid: Option<&str>, now: f64) -> DbResult<usize> {
    tx.exec(
        "UPDATE pending SET given_up = NULL, given_up_reason = NULL, attempts = 0,
            next_try = ?2, created = ?2, claimed_by = NULL, claimed_at = NULL
         WHERE given_up IS NOT NULL AND (?1 IS NULL OR evid = ?1)",
        vals![evid, now],
    )
}

/// Releases a claim without counting an attempt: the work was not tried (the breaker is
/// open), and waits for `sweep`.
pub fn defer(tx: &dyn Sql, k: &WorkKey, note: &str) -> DbResult<()> {
    tx.exec(
        "UPDATE pending SET claimed_by = NULL, claimed_at = NULL, last_error = ?4
         WHERE evid = ?1 AND what = ?2 AND count = ?3",
        vals![&k.evid, k.what, k.count, note],
    )?;
    Ok(())
}

/// One `meta` value and when it was set. (`key` is quoted: MySQL reserves the word.)
pub fn meta(c: &dyn Sql, key: &str) -> DbResult<Option<(String, f64)>> {
    c.one("SELECT value, at FROM meta WHERE `key` = ?1", vals![key])?
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .transpose()
}

pub fn set_meta(tx: &dyn Sql, key: &str, value: &str, at: f64) -> DbResult<()> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO meta(`key`, value, at) VALUES (?1, ?2, ?3)
             ON CONFLICT(`key`) DO UPDATE SET value = excluded.value, at = excluded.at"
        }
        Dialect::Mysql => {
            "INSERT INTO meta(`key`, value, at) VALUES (?1, ?2, ?3)
             ON DUPLICATE KEY UPDATE value = VALUES(value), at = VALUES(at)"
        }
    };
    tx.exec(sql, vals![key, value, at])?;
    Ok(())
}

pub fn clear_meta(tx: &dyn Sql, key: &str) -> DbResult<()> {
    tx.exec("DELETE FROM meta WHERE `key` = ?1", vals![key])?;
    Ok(())
}

/// The ticket script's recent record, shared by every process through the DB: how many
/// runs failed in a row, and since when the breaker is open (None: closed).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Breaker {
    pub failures: u32,
    pub open_since: Option<f64>,
}

pub fn breaker(c: &dyn Sql) -> DbResult<Breaker> {
    let failures = meta(c, "script_failures")?
        .and_then(|(v, _)| v.parse().ok())
        .unwrap_or(0);
    let open_since = meta(c, "breaker_open")?.map(|(_, at)| at);
    Ok(Breaker {
        failures,
        open_since,
    })
}

/// An opening of the breaker that Zenoss has not been told of yet.
pub const BREAKER_OPENED: &str = "breaker_opened";

/// The script failed again; with `opens` (the policy's answer for the new count) the
/// breaker opens now if it was closed. Returns the new state.
pub fn script_failed(
    tx: &dyn Sql,
    now: f64,
    opens: impl Fn(u32) -> bool,
) -> DbResult<(Breaker, bool)> {
    let before = breaker(tx)?;
    let failures = before.failures.saturating_add(1);
    set_meta(tx, "script_failures", &failures.to_string(), now)?;
    let opened = before.open_since.is_none() && opens(failures);
    if opened {
        set_meta(tx, "breaker_open", "open", now)?;
        // Kept until a sweep has told Zenoss: the breaker may close again before then.
        set_meta(tx, BREAKER_OPENED, "untold", now)?;
    }
    let open_since = if opened { Some(now) } else { before.open_since };
    Ok((
        Breaker {
            failures,
            open_since,
        },
        opened,
    ))
}

/// The script worked: the breaker closes. Returns whether it was open.
pub fn script_worked(tx: &dyn Sql) -> DbResult<bool> {
    tx.exec(
        "DELETE FROM meta WHERE `key` = 'script_failures' AND value != '0'",
        &[],
    )?;
    Ok(tx.exec("DELETE FROM meta WHERE `key` = 'breaker_open'", &[])? > 0)
}

/// What `status` counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// Owed work by kind.
    pub owed: Vec<(What, i64)>,
    /// When the oldest owed item was first owed.
    pub oldest: Option<f64>,
    /// Owed work waiting as the ticket system asked: how much, and until when at the
    /// latest.
    pub asked: Option<(i64, f64)>,
    /// Second tickets found carrying a recorded ticket's key, recorded in the last 24 h.
    pub twins_since: i64,
    pub given_up_since: i64,
    pub given_up_total: i64,
    pub breaker: Breaker,
    /// When the breaker opened, while Zenoss has not been told (it may be closed again).
    pub breaker_opened: Option<f64>,
    /// The last sweep: when, and its summary line.
    pub last_sweep: Option<(f64, String)>,
    /// The last ticket made: when, number, evid.
    pub last_ticket: Option<(f64, Recorded, String)>,
}

/// The state DB's health; `since`: the start of the "given up lately" window. `version`:
/// the DB's schema (`status` reads a DB it does not migrate).
pub fn health(c: &dyn Sql, version: i64, since: f64) -> DbResult<Health> {
    let owed = all(
        c.query(
            "SELECT what, count(*) FROM pending WHERE given_up IS NULL GROUP BY what ORDER BY what",
            &[],
        )?,
        |r| Ok((r.get::<What>(0)?, r.get::<i64>(1)?)),
    )?;
    let oldest = c.scalar(
        "SELECT min(created) FROM pending WHERE given_up IS NULL",
        &[],
    )?;
    // Before schema 7 no wait was asked for.
    let asked = if version >= 7 {
        let r = c.one(
            "SELECT count(*), max(asked_until) FROM pending
             WHERE given_up IS NULL AND asked_until IS NOT NULL",
            &[],
        )?;
        match r {
            Some(r) => (r.get::<i64>(0)?, r.get::<Option<f64>>(1)?),
            None => (0, None),
        }
    } else {
        (0, None)
    };
    let twins_since = if version >= 9 {
        c.scalar(
            "SELECT count(*) FROM tickets WHERE twin = 1 AND created >= ?1",
            vals![since],
        )?
    } else {
        0
    };
    let asked = match asked {
        (n, Some(until)) if n > 0 => Some((n, until)),
        _ => None,
    };
    let (given_up_since, given_up_total) = match c.one(
        "SELECT count(CASE WHEN given_up >= ?1 THEN 1 END), count(given_up) FROM pending",
        vals![since],
    )? {
        Some(r) => (r.get(0)?, r.get(1)?),
        None => (0, 0),
    };
    let columns = if version >= 5 {
        "`system`, ref"
    } else {
        "NULL, NULL"
    };
    let last_ticket = c
        .one(
            &format!(
                "SELECT created, ticket, {columns}, evid FROM tickets ORDER BY created DESC LIMIT 1"
            ),
            &[],
        )?
        .map(|r| -> DbResult<_> { Ok((r.get(0)?, recorded(&r, 1)?, r.get(4)?)) })
        .transpose()?;
    Ok(Health {
        owed,
        oldest,
        asked,
        twins_since,
        given_up_since,
        given_up_total,
        breaker: breaker(c)?,
        breaker_opened: meta(c, BREAKER_OPENED)?.map(|(_, at)| at),
        last_sweep: meta(c, "last_sweep")?.map(|(v, at)| (at, v)),
        last_ticket,
    })
}

/// An attempt failed: release the claim, count it, and set the next try (the policy,
/// `work::next_try`, is the caller's).
///
/// A `created` in the future (stamped while the clock was ahead) becomes now: the retry
/// window is measured from it, and would otherwise not start until the clock caught up.
pub fn failed(
    tx: &dyn Sql,
    k: &WorkKey,
    error: &str,
    next: &crate::work::NextTry,
    now: f64,
) -> DbResult<()> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "UPDATE pending SET attempts = attempts + 1, last_error = ?4, next_try = ?5,
                claimed_by = NULL, claimed_at = NULL, created = min(created, ?6), tried_at = ?6,
                asked_until = ?7
             WHERE evid = ?1 AND what = ?2 AND count = ?3"
        }
        Dialect::Mysql => {
            "UPDATE pending SET attempts = attempts + 1, last_error = ?4, next_try = ?5,
                claimed_by = NULL, claimed_at = NULL, created = LEAST(created, ?6), tried_at = ?6,
                asked_until = ?7
             WHERE evid = ?1 AND what = ?2 AND count = ?3"
        }
    };
    tx.exec(
        sql,
        vals![
            &k.evid,
            k.what,
            k.count,
            error,
            next.at,
            now,
            next.asked.then_some(next.at)
        ],
    )?;
    Ok(())
}

/// The idempotency key of one piece of work (a ticket, or a clear keyed by its ticket's
/// count): with this installation's id, unless the work was owed before there was one
/// (schema 8), when it keeps the key it was first tried with.
pub fn work_key(c: &dyn Sql, k: &WorkKey) -> DbResult<String> {
    let legacy: bool = match c.one(
        "SELECT legacy_key FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3",
        vals![&k.evid, k.what, k.count],
    )? {
        Some(r) => r.get(0)?,
        None => false,
    };
    let installation = if legacy {
        String::new()
    } else {
        installation(c)?
    };
    Ok(crate::script::idempotency_key(
        &k.evid,
        k.count,
        &installation,
    ))
}

/// This installation's id (schema 8 on; "" before).
pub fn installation(c: &dyn Sql) -> DbResult<String> {
    Ok(meta(c, "installation")?.map(|(v, _)| v).unwrap_or_default())
}

/// Set (meta) once Zenoss answered that it has no `updateDetails` (4.2.0 to 4.2.4): details
/// are not asked for again, and each ticket is noted in the event's log instead.
pub const DETAILS_UNSUPPORTED: &str = "details_unsupported";

/// Drops owed `what` of an evid for counts below `count` (a newer ticket replaces them).
pub fn drop_older(tx: &dyn Sql, evid: &str, what: What, count: i64) -> DbResult<()> {
    tx.exec(
        "DELETE FROM pending WHERE evid = ?1 AND what = ?2 AND count < ?3 AND given_up IS NULL",
        vals![evid, what, count],
    )?;
    Ok(())
}

/// Every detail owed becomes a note of its ticket (Zenoss has no `updateDetails`).
pub fn details_to_notes(tx: &dyn Sql, now: f64) -> DbResult<()> {
    let owed = all(
        tx.query(
            "SELECT evid, count, event FROM pending WHERE what = 'detail' AND given_up IS NULL",
            &[],
        )?,
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<Vec<u8>>(2)?)),
    )?;
    for (evid, count, raw) in owed {
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
        let text = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut note = format!(
            "zenticket: ticket {} ({})",
            text("zenticket.ticket"),
            text("zenticket.system")
        );
        if !text("zenticket.url").is_empty() {
            note = format!("{note} {}", text("zenticket.url"));
        }
        let w = NewWork {
            key: WorkKey::new(&evid, What::Note, count),
            event: Some(note.as_bytes()),
            claimed_by: None,
            note: None,
        };
        add_pending(tx, &w, now)?;
    }
    tx.exec("DELETE FROM pending WHERE what = 'detail'", &[])?;
    Ok(())
}

/// Whether a ticket newer than `count` is recorded for the evid.
pub fn newer_ticket(c: &dyn Sql, evid: &str, count: i64) -> DbResult<bool> {
    c.scalar(
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE evid = ?1 AND count > ?2)",
        vals![evid, count],
    )
}

/// The number of attempts recorded for one piece of work (0 when there is none).
pub fn attempts(c: &dyn Sql, k: &WorkKey) -> DbResult<i64> {
    match c.one(
        "SELECT attempts FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3",
        vals![&k.evid, k.what, k.count],
    )? {
        Some(r) => r.get(0),
        None => Ok(0),
    }
}

/// Owed work, as `sweep` reads it.
#[derive(Debug, Clone)]
pub struct Due {
    pub key: WorkKey,
    pub event: Option<Vec<u8>>,
    pub attempts: i64,
    pub created: f64,
    /// When its last attempt failed (None: never tried, or by an older version).
    pub tried_at: Option<f64>,
}

/// The moment owed work is read at: what is due, and which claims are dead. A next try
/// set at a `tried_at` later than now was set by a clock that has since stepped back (NTP
/// correcting it): it is due now, or the work would wait for as long as the clock was
/// wrong, however long the wait it was given (a ticket system may ask for hours). A claim
/// further ahead than the stale limit is dead for the same reason. `work::horizon` builds
/// it; `work::is_due` and `work::claim_is_stale` are the same rules as pure functions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Horizon {
    /// Work whose `next_try` is at or before this is due (f64::MAX: all owed work) ...
    pub due_before: f64,
    /// ... and so is work whose next try was set (`tried_at`) after this ...
    pub stamped_after: f64,
    /// ... and work of an older DB (no `tried_at`) whose `next_try` lies beyond this ...
    pub unstamped_after: f64,
    /// ... and any whose `next_try` lies beyond this (further than `maxwait`).
    pub due_after: f64,
    /// A claim taken before this is dead ...
    pub stale_before: f64,
    /// ... and so is one taken after this.
    pub stale_after: f64,
    pub now: f64,
}

/// Work whose time has come and that nobody holds (or whose holder died), oldest first.
pub fn due(c: &dyn Sql, h: &Horizon) -> DbResult<Vec<Due>> {
    let rows = c.query(
        "SELECT evid, what, count, event, attempts, created, tried_at FROM pending
         WHERE (next_try <= ?1 OR next_try > ?2 OR tried_at > ?5
                OR (tried_at IS NULL AND next_try > ?6))
           AND (claimed_by IS NULL OR claimed_at < ?3 OR claimed_at > ?4) AND given_up IS NULL
         ORDER BY created, evid, count",
        vals![
            h.due_before,
            h.due_after,
            h.stale_before,
            h.stale_after,
            h.stamped_after,
            h.unstamped_after
        ],
    )?;
    all(rows, |r| {
        Ok(Due {
            key: WorkKey {
                evid: r.get(0)?,
                what: r.get(1)?,
                count: r.get(2)?,
            },
            event: r.get(3)?,
            attempts: r.get(4)?,
            created: r.get(5)?,
            tried_at: r.get(6)?,
        })
    })
}

/// Takes one piece of work for this process, unless someone else holds a live claim.
pub fn claim(tx: &dyn Sql, k: &WorkKey, me: &str, h: &Horizon) -> DbResult<bool> {
    let n = tx.exec(
        "UPDATE pending SET claimed_by = ?4, claimed_at = ?5
         WHERE evid = ?1 AND what = ?2 AND count = ?3
           AND (claimed_by IS NULL OR claimed_at < ?6 OR claimed_at > ?7)",
        vals![
            &k.evid,
            k.what,
            k.count,
            me,
            h.now,
            h.stale_before,
            h.stale_after
        ],
    )?;
    Ok(n == 1)
}

/// Whether a ticket already covers this count of the evid (or a later one).
pub fn ticket_covers(c: &dyn Sql, evid: &str, count: i64) -> DbResult<bool> {
    c.scalar(
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE evid = ?1 AND count >= ?2)",
        vals![evid, count],
    )
}

/// What autoclear and pruning need to know of one stored evid.
pub struct Known {
    pub evid: String,
    pub count: i64,
    pub last_time: Option<f64>,
    pub updated: f64,
    pub has_pending: bool,
    /// When a complete read of the console first missed its event.
    pub missing_since: Option<f64>,
}

/// Every evid the state DB holds.
pub fn known(c: &dyn Sql) -> DbResult<Vec<Known>> {
    let rows = c.query(
        "SELECT e.evid, e.last_time, e.updated, EXISTS(SELECT 1 FROM pending p WHERE p.evid = e.evid),
            e.missing_since, e.count
         FROM events e",
        &[],
    )?;
    all(rows, |r| {
        Ok(Known {
            evid: r.get(0)?,
            last_time: r.get(1)?,
            updated: r.get(2)?,
            has_pending: r.get(3)?,
            missing_since: r.get(4)?,
            count: r.get(5)?,
        })
    })
}

/// Marks evids missed by a complete read of the console (at `at`), or, with None, seen
/// again.
pub fn mark_missing(tx: &dyn Sql, evids: &[String], at: Option<f64>) -> DbResult<()> {
    for e in evids {
        tx.exec(
            "UPDATE events SET missing_since = ?2 WHERE evid = ?1",
            vals![e, at],
        )?;
    }
    Ok(())
}

/// Forgets evids (their events rows; tickets stay as the audit record).
///
/// A row written since `since` (the console read began, or the plan was made) and before
/// now was written by a hook meanwhile: it is kept. The clock is read here, inside the
/// write, so no such row can be stamped later than it.
pub fn prune(tx: &dyn Sql, evids: &[String], since: f64) -> DbResult<usize> {
    let now = crate::time::now();
    let mut n = 0;
    for e in evids {
        n += tx.exec(
            "DELETE FROM events WHERE evid = ?1 AND NOT (updated >= ?2 AND updated <= ?3)
               AND NOT EXISTS (SELECT 1 FROM pending WHERE evid = ?1)",
            vals![e, since, now],
        )?;
    }
    Ok(n)
}

/// Drops audit records older than `before`: tickets of pruned events, and given-up work.
pub fn prune_audit(tx: &dyn Sql, before: f64) -> DbResult<usize> {
    let given_up = tx.exec(
        "DELETE FROM pending WHERE given_up IS NOT NULL AND given_up < ?1",
        vals![before],
    )?;
    Ok(given_up
        + tx.exec(
            "DELETE FROM tickets WHERE created < ?1 AND evid NOT IN (SELECT evid FROM events)",
            vals![before],
        )?)
}

/// A ticket made for (evid, count), with the customer and queue it went to.
pub struct Made<'a> {
    pub evid: &'a str,
    pub count: i64,
    pub ticket: &'a str,
    pub customer: &'a [u8],
    pub queue: &'a [u8],
    /// The system that made it (None: the script) and its internal id there.
    pub system: Option<&'a str>,
    pub reference: Option<&'a str>,
}

/// A recorded ticket: its id, the system that made it (None: the script), and its
/// internal id there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recorded {
    pub id: String,
    pub system: Option<String>,
    pub reference: Option<String>,
}

impl Recorded {
    /// As `--json` gives it: a script's number stays a number, any system's id is text.
    pub fn json(&self) -> serde_json::Value {
        crate::ticket::json(&self.id, self.system.is_none())
    }
}

/// Reads (id, system, ref) from three columns starting at `at`. An id of schema 3 (an
/// integer: `state` reads a DB it may not migrate) is read as text.
fn recorded(r: &sql::Row, at: usize) -> DbResult<Recorded> {
    Ok(Recorded {
        id: r.get(at)?,
        system: r.get(at + 1)?,
        reference: r.get(at + 2)?,
    })
}

/// A ticket exists for (evid, count). Older unclaimed ticket work for the evid is
/// superseded: this ticket covers the event's newer state.
pub fn ticket_made(tx: &dyn Sql, m: &Made, now: f64) -> DbResult<()> {
    insert_ticket(tx, m, now, false)?;
    done(tx, &WorkKey::new(m.evid, What::Ticket, m.count))?;
    tx.exec(
        "DELETE FROM pending WHERE evid = ?1 AND what = 'ticket' AND count < ?2 AND claimed_by IS NULL",
        vals![m.evid, m.count],
    )?;
    Ok(())
}

/// A second ticket found carrying the key of the one recorded for (evid, count): kept
/// beside it as its twin, so the clear and the closed-ticket sync act on both. Whether it
/// was new to the record.
pub fn twin_found(tx: &dyn Sql, m: &Made, now: f64) -> DbResult<bool> {
    Ok(insert_ticket(tx, m, now, true)? == 1)
}

/// One ticket into the record (kept if it is there already); how many rows it added.
fn insert_ticket(tx: &dyn Sql, m: &Made, now: f64, twin: bool) -> DbResult<usize> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "INSERT OR IGNORE INTO tickets(evid, count, ticket, customer, queue, created, `system`, ref, twin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        }
        // Not INSERT IGNORE: that would also turn an id too long for its column into a
        // warning and record it cut short. An unchanged duplicate counts 0 rows.
        Dialect::Mysql => {
            "INSERT INTO tickets(evid, count, ticket, customer, queue, created, `system`, ref, twin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON DUPLICATE KEY UPDATE evid = evid"
        }
    };
    tx.exec(
        sql,
        vals![
            m.evid,
            m.count,
            m.ticket,
            m.customer,
            m.queue,
            now,
            m.system,
            m.reference,
            twin
        ],
    )
}

/// The ticket of (evid, count) was made after a lookup for its key found nothing, in a
/// system whose search lags: it is searched for a twin until `until`.
pub fn check_twins(tx: &dyn Sql, evid: &str, count: i64, ticket: &str, until: f64) -> DbResult<()> {
    tx.exec(
        "UPDATE tickets SET check_twins_until = ?4 WHERE evid = ?1 AND count = ?2 AND ticket = ?3",
        vals![evid, count, ticket, until],
    )?;
    Ok(())
}

/// The tickets still searched for a twin at `now`: (evid, count, ticket); the searches
/// whose time is over are ended first.
pub fn twin_checks(tx: &dyn Sql, now: f64) -> DbResult<Vec<(String, i64, Recorded)>> {
    tx.exec(
        "UPDATE tickets SET check_twins_until = NULL WHERE check_twins_until <= ?1",
        vals![now],
    )?;
    let rows = tx.query(
        "SELECT evid, count, ticket, `system`, ref FROM tickets
         WHERE check_twins_until IS NOT NULL ORDER BY created",
        &[],
    )?;
    all(rows, |r| Ok((r.get(0)?, r.get(1)?, recorded(r, 2)?)))
}

/// Ends the search for twins of (evid, count).
pub fn twins_checked(tx: &dyn Sql, evid: &str, count: i64) -> DbResult<()> {
    tx.exec(
        "UPDATE tickets SET check_twins_until = NULL WHERE evid = ?1 AND count = ?2",
        vals![evid, count],
    )?;
    Ok(())
}

/// The twins recorded beside the ticket of (evid, count).
pub fn twins_of(c: &dyn Sql, evid: &str, count: i64) -> DbResult<Vec<Recorded>> {
    let rows = c.query(
        "SELECT ticket, `system`, ref FROM tickets
         WHERE evid = ?1 AND count = ?2 AND twin = 1 ORDER BY created",
        vals![evid, count],
    )?;
    all(rows, |r| recorded(r, 0))
}

/// The highest count the ticket record holds for an evid: what was ticketed even when
/// the evid's row has been pruned since (an autoclosed event reopened with the same evid).
pub fn ticketed_count(c: &dyn Sql, evid: &str) -> DbResult<Option<i64>> {
    c.scalar(
        "SELECT max(count) FROM tickets WHERE evid = ?1",
        vals![evid],
    )
}

/// The newest ticket of an evid, for the clear: (the count it was made for, the ticket).
pub fn last_ticket(c: &dyn Sql, evid: &str) -> DbResult<Option<(i64, Recorded)>> {
    c.one(
        "SELECT count, ticket, `system`, ref FROM tickets WHERE evid = ?1 ORDER BY count DESC, twin, created DESC LIMIT 1",
        vals![evid],
    )?
    .map(|r| Ok((r.get(0)?, recorded(&r, 1)?)))
    .transpose()
}

/// The ticket made for (evid, count), for a clear owed on it.
pub fn ticket_for(c: &dyn Sql, evid: &str, count: i64) -> DbResult<Option<Recorded>> {
    c.one(
        "SELECT ticket, `system`, ref FROM tickets WHERE evid = ?1 AND count = ?2 ORDER BY twin, created DESC LIMIT 1",
        vals![evid, count],
    )?
    .map(|r| recorded(&r, 0))
    .transpose()
}

/// The stored bytes of one piece of owed work (the event, or a note's text), if owed.
pub fn pending_event(c: &dyn Sql, k: &WorkKey) -> DbResult<Option<Vec<u8>>> {
    match c.one(
        "SELECT event FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3 AND given_up IS NULL",
        vals![&k.evid, k.what, k.count],
    )? {
        Some(r) => r.get(0),
        None => Ok(None),
    }
}

/// Of these evids, the newest ticket of each when `system` made it and no sweep has seen
/// it closed yet.
pub fn open_tickets(
    c: &dyn Sql,
    evids: &[String],
    system: &str,
) -> DbResult<Vec<(String, Recorded)>> {
    // The newest count's ticket, and its twins: a second ticket with one key is synced
    // too. A count whose ticket was seen closed is not looked at again.
    let mut out = Vec::new();
    for evid in evids {
        let rows = c.query(
            "SELECT ticket, `system`, ref FROM tickets t WHERE evid = ?1
               AND count = (SELECT max(count) FROM tickets WHERE evid = ?1)
               AND NOT EXISTS (SELECT 1 FROM tickets c WHERE c.evid = t.evid AND c.count = t.count
                                 AND c.closed_at IS NOT NULL)
             ORDER BY twin, created",
            vals![evid],
        )?;
        for t in all(rows, |r| recorded(r, 0))? {
            if t.system.as_deref() == Some(system) {
                out.push((evid.clone(), t));
            }
        }
    }
    Ok(out)
}

/// A sweep saw this ticket resolved or closed and acted on its event.
pub fn mark_closed(tx: &dyn Sql, evid: &str, ticket: &str, now: f64) -> DbResult<()> {
    tx.exec(
        "UPDATE tickets SET closed_at = ?3 WHERE evid = ?1 AND ticket = ?2",
        vals![evid, ticket, now],
    )?;
    Ok(())
}

/// When a create for this work was sent with no answer read since, if one was.
pub fn sent_at(c: &dyn Sql, k: &WorkKey) -> DbResult<Option<f64>> {
    match c.one(
        "SELECT sent_at FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3",
        vals![&k.evid, k.what, k.count],
    )? {
        Some(r) => r.get(0),
        None => Ok(None),
    }
}

/// Records that a create is about to be sent (Some), or that its answer was read and
/// made nothing (None).
pub fn mark_sent(tx: &dyn Sql, k: &WorkKey, at: Option<f64>) -> DbResult<()> {
    tx.exec(
        "UPDATE pending SET sent_at = ?4 WHERE evid = ?1 AND what = ?2 AND count = ?3",
        vals![&k.evid, k.what, k.count, at],
    )?;
    Ok(())
}

/// Opens (creating, 0600, never through a planted link) the lock file `<statedb><suffix>`.
pub fn lock_file(statedb: &Path, suffix: &str) -> std::io::Result<File> {
    let mut p = statedb.as_os_str().to_owned();
    p.push(suffix);
    let p = PathBuf::from(p);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&p)?;
    crate::owner::adopt_file(&p, &f);
    Ok(f)
}

/// A DB whose schema is newer than this binary knows (after a downgrade) is refused
/// before anything runs: a changed table could make a ticket whose recording fails.
fn refuse_newer(name: &Path, version: i64) -> Result<()> {
    if version > SCHEMA {
        return Err(StateError::new(
            name,
            format!(
                "was written by a newer zenticket-hook (schema {version}, this one knows {SCHEMA}); \
                 upgrade zenticket-hook, or move the DB away"
            ),
        ));
    }
    Ok(())
}

/// A claim name unique to this process run.
pub fn claimant() -> String {
    format!("pid {} at {:.6}", std::process::id(), crate::time::now())
}

pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// An I/O error in the administrator's words: what we tried, and what to do.
pub fn io_words(what: &str, e: &std::io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::EROFS) => "the file system is mounted read-only; put the state DB on a writable one ([GENERAL] statedb)",
        Some(libc::EACCES) | Some(libc::EPERM) => "permission denied: the folder must be writable by the user the hook runs as (zenoss)",
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "the disk is full: free some space",
        Some(libc::ELOOP) => "it is a symbolic link; refusing to follow it",
        Some(libc::ENOTDIR) => "a part of the path is not a folder",
        _ => "",
    };
    if hint.is_empty() {
        format!("{what}: {e}")
    } else {
        format!("{what}: {hint} ({e})")
    }
}

/// The journal: where a ticket the script made goes when the state DB cannot take it
/// (disk full, a lock held too long, a damaged DB), so that it is never lost from every
/// record. It is `<statedb>.journal`, allocated ahead (64 KiB of zeros, made when the DB
/// is opened) so that an entry still fits when the disk has filled up since; entries are
/// lines written into that space and synced; the next open that can write records them in
/// the DB, with the acknowledgement the ticket owed, and zeroes the journal.
///
/// A line that cannot be recorded (torn by a crash, damaged) is never dropped unseen: it is
/// logged whole and kept in `<statedb>.journal.bad` before the journal is reused. Entries
/// are found anywhere in the file, also after a run of NUL bytes a torn write left.
pub mod journal {
    use super::{Made, NewWork, Result, State, StateError, What, WorkKey};
    use fs2::FileExt;
    use std::fs::{File, OpenOptions};
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::unix::fs::{FileExt as _, OpenOptionsExt};
    use std::path::{Path, PathBuf};

    const SIZE: u64 = 64 * 1024;

    /// One journal entry.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Entry {
        pub evid: String,
        pub count: i64,
        pub ticket: String,
        pub customer: Vec<u8>,
        pub queue: Vec<u8>,
        /// Whether the ticket owes an acknowledgement (the event was New); None for a
        /// line written before the journal said so.
        pub ack: Option<bool>,
        /// The ticket system that made it (None: the script) and its internal id there.
        pub system: Option<String>,
        pub reference: Option<String>,
    }

    pub fn path(statedb: &Path) -> PathBuf {
        super::sibling(statedb, ".journal")
    }

    /// Where lines that cannot be recorded are kept.
    pub fn bad_path(statedb: &Path) -> PathBuf {
        super::sibling(statedb, ".journal.bad")
    }

    fn open(statedb: &Path) -> std::io::Result<File> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path(statedb))?;
        crate::owner::adopt_file(&path(statedb), &f);
        if f.metadata()?.len() < SIZE {
            f.allocate(SIZE)?;
        }
        Ok(f)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(s: &str) -> Option<Vec<u8>> {
        if !s.len().is_multiple_of(2) {
            return None;
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect()
    }

    /// The journal line for a made ticket; `ack`: the ticket owes an acknowledgement. A
    /// ticket system's ticket adds the system and its internal id (hex).
    pub fn line(m: &Made, key: &str, ack: bool) -> String {
        let mut l = format!(
            "T\t{}\t{}\t{}\t{}\t{}\t{key}\t{}",
            m.evid,
            m.count,
            m.ticket,
            hex(m.customer),
            hex(m.queue),
            if ack { "A" } else { "-" }
        );
        if let Some(system) = m.system {
            let reference = m.reference.map_or("-".to_string(), |r| hex(r.as_bytes()));
            l.push_str(&format!("\t{system}\t{reference}"));
        }
        l.push('\n');
        l
    }

    /// Reads one line back; None for a line that is not a whole entry.
    pub fn parse(l: &[u8]) -> Option<Entry> {
        let l = std::str::from_utf8(l).ok()?;
        let p: Vec<&str> = l.split('\t').collect();
        let flag = |f: &str| match f {
            "A" => Some(true),
            "-" => Some(false),
            _ => None,
        };
        let (fields, ack, system, reference) = match p.as_slice() {
            [f @ .., _key] if f.len() == 6 => (f, None, None, None),
            [f @ .., _key, a] if f.len() == 6 => (f, Some(flag(a)?), None, None),
            [f @ .., _key, a, sys, r] if f.len() == 6 => {
                let system = (!sys.is_empty() && sys.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .then(|| sys.to_string())?;
                let reference = match *r {
                    "-" => None,
                    hexed => Some(String::from_utf8(unhex(hexed)?).ok()?),
                };
                (f, Some(flag(a)?), Some(system), reference)
            }
            _ => return None,
        };
        let ["T", evid, count, ticket, cust, queue] = fields else {
            return None;
        };
        let count: i64 = count.parse().ok().filter(|c| *c >= 0)?;
        if evid.is_empty() || !crate::ticket::is_plain(ticket) {
            return None;
        }
        Some(Entry {
            evid: evid.to_string(),
            count,
            ticket: ticket.to_string(),
            customer: unhex(cust)?,
            queue: unhex(queue)?,
            ack,
            system,
            reference,
        })
    }

    /// Splits the journal's bytes into its lines: a line ends at a newline or where a run
    /// of NUL bytes (space allocated and not yet written, or a torn write) begins.
    pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
        data.split(|&b| b == b'\n' || b == 0)
            .filter(|l| !l.is_empty())
    }

    /// Appends a made ticket after the last byte written (never over an entry that lies
    /// past a gap); synced before it returns.
    pub fn record(statedb: &Path, m: &Made, key: &str, ack: bool) -> std::io::Result<PathBuf> {
        let f = open(statedb)?;
        f.lock_exclusive()?;
        let mut data = Vec::new();
        (&f).read_to_end(&mut data)?;
        let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let mut text = String::new();
        if end > 0 && data[end - 1] != b'\n' {
            // A torn line before: end it, so this entry stands on a line of its own.
            text.push('\n');
        }
        text.push_str(&line(m, key, ack));
        f.write_all_at(text.as_bytes(), end as u64)?;
        f.sync_data()?;
        let _ = FileExt::unlock(&f);
        Ok(path(statedb))
    }

    /// Keeps lines that cannot be recorded in `.journal.bad`, synced.
    fn keep_bad(statedb: &Path, bad: &[&[u8]]) -> std::io::Result<PathBuf> {
        let p = bad_path(statedb);
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)?;
        crate::owner::adopt_file(&p, &f);
        let mut out = Vec::new();
        for l in bad {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        f.write_all(&out)?;
        f.sync_data()?;
        Ok(p)
    }

    /// Records what the journal holds in the DB, then empties it. A journal that cannot
    /// be opened (a read-only folder) is left for a run that can.
    pub fn replay(st: &mut State) -> Result<()> {
        let Ok(mut f) = open(&st.local) else {
            return Ok(());
        };
        let db = st.local.clone();
        let err = StateError::at(&db);
        // Most opens find it empty: look before taking the lock every hook would queue on.
        let mut data = Vec::new();
        (&f).read_to_end(&mut data).map_err(&err)?;
        if data.iter().all(|&b| b == 0) {
            return Ok(());
        }
        f.lock_exclusive().map_err(&err)?;
        data.clear();
        f.seek(SeekFrom::Start(0)).map_err(&err)?;
        f.read_to_end(&mut data).map_err(&err)?;
        let Some(last) = data.iter().rposition(|&b| b != 0) else {
            let _ = FileExt::unlock(&f);
            return Ok(());
        };
        let end = last + 1;
        let (mut entries, mut bad) = (Vec::new(), Vec::new());
        for l in lines(&data[..end]) {
            match parse(l) {
                Some(e) => entries.push(e),
                None => bad.push(l),
            }
        }
        let bad_kept = bad.is_empty()
            || match keep_bad(&db, &bad) {
                Ok(p) => {
                    for l in &bad {
                        log::error!(
                            "journal {}: a line that is not a whole ticket entry, kept in {}: {:?}",
                            path(&db).display(),
                            p.display(),
                            String::from_utf8_lossy(l)
                        );
                    }
                    true
                }
                Err(e) => {
                    // Zeroing now would lose them: the journal stays as it is (its good
                    // entries are recorded again next time, which is harmless).
                    log::error!(
                        "journal {}: {} line(s) that are not whole ticket entries cannot be kept \
                         in {} ({e}): the journal is left as it is",
                        path(&db).display(),
                        bad.len(),
                        bad_path(&db).display()
                    );
                    false
                }
            };
        let now = crate::time::now();
        st.write_durable(|tx| {
            for e in &entries {
                let m = Made {
                    evid: &e.evid,
                    count: e.count,
                    ticket: &e.ticket,
                    customer: &e.customer,
                    queue: &e.queue,
                    system: e.system.as_deref(),
                    reference: e.reference.as_deref(),
                };
                super::ticket_made(tx, &m, now)?;
                // An entry from before the journal said: the event was New when stored.
                let ack = match e.ack {
                    Some(a) => a,
                    None => super::row(tx, &e.evid)?.is_some_and(|r| r.event_state == Some(0)),
                };
                if ack {
                    let owed = NewWork {
                        key: WorkKey::new(&e.evid, What::Acknowledge, 0),
                        event: None,
                        claimed_by: None,
                        note: Some("ticket recorded from the journal"),
                    };
                    super::add_pending(tx, &owed, now)?;
                }
                // The ticket on its event, now that the state DB holds it.
                if super::meta(tx, super::DETAILS_UNSUPPORTED)?.is_none() {
                    let details = serde_json::json!({
                        "zenticket.ticket": e.ticket,
                        "zenticket.system": e.system.as_deref().unwrap_or("script"),
                        "zenticket.url": "",
                    })
                    .to_string();
                    super::drop_older(tx, &e.evid, What::Detail, e.count)?;
                    let owed = NewWork {
                        key: WorkKey::new(&e.evid, What::Detail, e.count),
                        event: Some(details.as_bytes()),
                        claimed_by: None,
                        note: Some("ticket recorded from the journal"),
                    };
                    super::add_pending(tx, &owed, now)?;
                }
            }
            Ok(())
        })?;
        for e in &entries {
            log::warn!(
                "evid {}: ticket {} for count {} recorded from the journal \
                 (an earlier run made it but could not write the state DB){}",
                e.evid,
                e.ticket,
                e.count,
                if e.ack == Some(false) {
                    ""
                } else {
                    "; its acknowledgement is owed"
                }
            );
        }
        if !bad_kept {
            let _ = FileExt::unlock(&f);
            return Ok(());
        }
        f.write_all_at(&vec![0u8; end], 0).map_err(&err)?;
        f.sync_data().map_err(&err)?;
        let _ = FileExt::unlock(&f);
        f.flush().map_err(&err)?;
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn lines_are_found_past_gaps_and_torn_ones_refused() {
            let m = Made {
                evid: "e1",
                count: 2,
                ticket: "99999999999999999999",
                customer: b"c",
                queue: b"q q",
                system: None,
                reference: None,
            };
            let good = line(&m, "k", true);
            let mut data = b"T\te1\t2\t47".to_vec();
            data.extend_from_slice(&[0; 40]);
            data.extend_from_slice(good.as_bytes());
            data.extend_from_slice(b"T\ta\t1\t2\t\t\n");
            data.extend_from_slice(&[0; 10]);
            let found: Vec<_> = lines(&data).map(parse).collect();
            let want = Entry {
                evid: "e1".into(),
                count: 2,
                ticket: "99999999999999999999".into(),
                customer: b"c".to_vec(),
                queue: b"q q".to_vec(),
                ack: Some(true),
                system: None,
                reference: None,
            };
            assert_eq!(found, vec![None, Some(want), None]);
        }

        #[test]
        fn entry_shapes() {
            let table: &[(&str, Option<Option<bool>>)] = &[
                ("T\te\t1\t4711\t63\t71\tk", Some(None)),
                ("T\te\t1\t4711\t63\t71\tk\tA", Some(Some(true))),
                ("T\te\t1\t4711\t63\t71\tk\t-", Some(Some(false))),
                ("T\te\t1\t4711\t63\t71\tk\tX", None),
                (
                    "T\te\t1\tINC1\t63\t71\tk\tA\tservicenow\t6162",
                    Some(Some(true)),
                ),
                (
                    "T\te\t1\tINC1\t63\t71\tk\t-\tservicenow\t-",
                    Some(Some(false)),
                ),
                ("T\te\t1\tINC1\t63\t71\tk\tA\tserv ice\t6162", None),
                ("T\te\t1\tINC1\t63\t71\tk\tA\tservicenow\t616", None),
                ("T\te\t1\t4711\t6\t71\tk", None),
                ("T\te\t-1\t4711\t63\t71\tk", None),
                ("T\t\t1\t4711\t63\t71\tk", None),
                ("X\te\t1\t4711\t63\t71\tk", None),
                ("T\te\t1\t4711\t63\t71", None),
            ];
            for (l, want) in table {
                assert_eq!(parse(l.as_bytes()).map(|e| e.ack), *want, "{l:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rusqlite::Connection;

    #[test]
    fn work_owed_before_the_installation_id_keeps_its_key_and_new_work_gets_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        {
            // A state DB of schema 7 with a ticket owed (its create may have landed).
            let conn = Connection::open(&path).expect("open");
            for sql in &sqlite::MIGRATIONS[..7] {
                conn.execute_batch(sql).expect("migrate");
            }
            conn.pragma_update(None, "user_version", 7)
                .expect("version");
            conn.execute(
                "INSERT INTO pending(evid, what, count, next_try, created, sent_at)
                 VALUES ('old', 'ticket', 3, 0, 0, 0)",
                [],
            )
            .expect("owed");
        }
        let mut st = State::open(&path).expect("open");
        let old = WorkKey::new("old", What::Ticket, 3);
        let new = WorkKey::new("new", What::Ticket, 1);
        st.write(|tx| {
            let w = NewWork {
                key: new.clone(),
                event: None,
                claimed_by: None,
                note: None,
            };
            add_pending(tx, &w, 1.0)
        })
        .expect("new work");
        let id = st.read(installation).expect("id");
        assert_eq!(id.len(), 16);
        assert_eq!(
            st.read(|c| work_key(c, &old)).expect("key"),
            crate::script::idempotency_key("old", 3, "")
        );
        assert_eq!(
            st.read(|c| work_key(c, &new)).expect("key"),
            crate::script::idempotency_key("new", 1, &id)
        );
        // The id is stable: opening again keeps it.
        drop(st);
        let st = State::open(&path).expect("reopen");
        assert_eq!(st.read(installation).expect("id"), id);
    }
}
