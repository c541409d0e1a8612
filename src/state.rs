//! The state DB: what the daemon kept in memory (the count seen per evid), plus what it
//! never had: ticket numbers, and the work still owed (pending) so that `sweep` finishes
//! what a hook could not.
//!
//! Every write is one short transaction taken under an exclusive `flock` on
//! `<statedb>.lock`, then `BEGIN IMMEDIATE`. The flock queues writers in the kernel, which
//! wakes the next one the moment the lock is free, where SQLite's own busy handler would
//! sleep and poll; no lock is ever held while a script runs or Zenoss is called.

use fs2::FileExt;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, ToSql, Transaction, TransactionBehavior};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt as _, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Schema migrations, in order; `PRAGMA user_version` says how many are applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE events(
        evid TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        event_state INTEGER,
        customer BLOB,
        queue BLOB,
        last_time REAL,
        cleared INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE tickets(
        evid TEXT NOT NULL,
        count INTEGER NOT NULL,
        ticket INTEGER NOT NULL,
        customer BLOB,
        queue BLOB,
        created REAL NOT NULL,
        PRIMARY KEY(evid, count)
    ) WITHOUT ROWID;
    CREATE TABLE pending(
        evid TEXT NOT NULL,
        what TEXT NOT NULL,
        count INTEGER NOT NULL,
        event BLOB,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_try REAL NOT NULL,
        claimed_by TEXT,
        claimed_at REAL,
        created REAL NOT NULL,
        PRIMARY KEY(evid, what, count)
    ) WITHOUT ROWID;
    CREATE INDEX pending_next_try ON pending(next_try);",
    // 2: given-up work is kept (with when and why) instead of deleted; `meta` holds the
    // breaker, the last sweep and which alerts Zenoss has been sent.
    "ALTER TABLE pending ADD COLUMN given_up REAL;
    ALTER TABLE pending ADD COLUMN given_up_reason TEXT;
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID;",
    // 3: a row is pruned only after two complete reads of the console missed its event
    // (`missing_since`: the first); ticket numbers are kept per (evid, count), never
    // replaced: a second number for one count is kept beside the first.
    "ALTER TABLE events ADD COLUMN missing_since REAL;
    CREATE TABLE tickets3(
        evid TEXT NOT NULL,
        count INTEGER NOT NULL,
        ticket INTEGER NOT NULL,
        customer BLOB,
        queue BLOB,
        created REAL NOT NULL,
        PRIMARY KEY(evid, count, ticket)
    ) WITHOUT ROWID;
    INSERT INTO tickets3 SELECT evid, count, ticket, customer, queue, created FROM tickets;
    DROP TABLE tickets;
    ALTER TABLE tickets3 RENAME TO tickets;",
    // 4: ticket ids are text (a script's number of any length, a ticket system's id),
    // every stored number kept. A clear owed is keyed by the count its ticket was made for
    // (it was keyed by the ticket number).
    "UPDATE pending SET count = coalesce(
        (SELECT max(t.count) FROM tickets t WHERE t.evid = pending.evid AND t.ticket = pending.count),
        count) WHERE what = 'clear';
    CREATE TABLE tickets4(
        evid TEXT NOT NULL,
        count INTEGER NOT NULL,
        ticket TEXT NOT NULL,
        customer BLOB,
        queue BLOB,
        created REAL NOT NULL,
        PRIMARY KEY(evid, count, ticket)
    ) WITHOUT ROWID;
    INSERT INTO tickets4 SELECT evid, count, CAST(ticket AS TEXT), customer, queue, created FROM tickets;
    DROP TABLE tickets;
    ALTER TABLE tickets4 RENAME TO tickets;",
    // 5: ticket systems. `sent_at`: a create was sent and no answer read since (the next
    // attempt looks the ticket up first); a ticket's system (NULL: the script) and its
    // internal id there (ServiceNow's sys_id).
    "ALTER TABLE pending ADD COLUMN sent_at REAL;
    ALTER TABLE tickets ADD COLUMN system TEXT;
    ALTER TABLE tickets ADD COLUMN ref TEXT;",
    // 6: when a sweep saw the ticket resolved or closed in its system (and acted on the
    // event): never acted on twice.
    "ALTER TABLE tickets ADD COLUMN closed_at REAL;",
    // 7: when a failed attempt set the next try (`tried_at`): a stamp later than now was
    // written by a clock that has since stepped back, whatever the wait; and the wait a
    // ticket system asked for (`asked_until`), shown by `state` and `status`.
    "ALTER TABLE pending ADD COLUMN tried_at REAL;
    ALTER TABLE pending ADD COLUMN asked_until REAL;",
    // 8: the installation's own id, folded into every idempotency key (two Zenoss hosts,
    // a clone, sharing a ticket system must never adopt each other's tickets); work owed
    // before it keeps the key it was first tried with (`legacy_key`), or a lost create
    // would be made again under a new key.
    "ALTER TABLE pending ADD COLUMN legacy_key INTEGER NOT NULL DEFAULT 0;
    UPDATE pending SET legacy_key = 1;
    INSERT OR IGNORE INTO meta(key, value, at)
        VALUES ('installation', lower(hex(randomblob(8))), CAST(strftime('%s', 'now') AS REAL));",
    // 9: a second ticket found carrying the key of one already recorded (a search that
    // lagged beyond `lookupgrace`), kept beside it as its `twin`; and until when a ticket
    // made after a lookup found nothing is searched for such a twin.
    "ALTER TABLE tickets ADD COLUMN twin INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN check_twins_until REAL;
    CREATE INDEX tickets_twin_checks ON tickets(check_twins_until)
        WHERE check_twins_until IS NOT NULL;",
];

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

impl ToSql for What {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for What {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        What::parse(s).ok_or_else(|| FromSqlError::Other(format!("unknown work {s:?}").into()))
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

pub struct State {
    pub path: PathBuf,
    conn: Connection,
    /// None when opened read-only.
    lock: Option<File>,
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

impl State {
    /// Opens (creating if need be) the state DB for reading and writing, and records any
    /// ticket left in the journal by a run that could not write. Refuses a path that is a
    /// symlink or that group or others may write (the hook runs as the zenoss user and must
    /// not be steered), a DB written by a newer version, and one on a network filesystem
    /// (`netfs`).
    pub fn open(path: &Path) -> Result<State> {
        let err = StateError::at(path);
        if let Some(why) = crate::netfs::refusal(path) {
            return Err(err(why));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                crate::owner::create_dirs(dir, 0o750).map_err(|e| {
                    err(io_words(
                        &format!("cannot create folder {}", dir.display()),
                        &e,
                    ))
                })?;
            }
        }
        check_folder(path)?;
        let lock = lock_file(path, ".lock").map_err(|e| {
            let lock = format!(
                "cannot create or open its lock file {}.lock",
                path.display()
            );
            err(io_words(&lock, &e))
        })?;
        if std::fs::symlink_metadata(path).is_err() {
            create(path, &lock)?;
        }
        check_file(path)?;
        let conn = Connection::open(path).map_err(|e| err(sql_words(path, &e)))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| StateError::new(path, e))?;
        for suffix in ["-wal", "-shm"] {
            crate::owner::adopt_path(&sibling(path, suffix));
        }
        let mut state = State {
            path: path.to_path_buf(),
            conn,
            lock: Some(lock),
        };
        let version = state.check_version()?;
        state.migrate(version)?;
        journal::replay(&mut state)?;
        Ok(state)
    }

    /// Opens an existing state DB only to read it (`state`, `--dry-run`): nothing is
    /// created, migrated or written. None when there is no DB.
    pub fn open_read(path: &Path) -> Result<Option<State>> {
        let err = StateError::at(path);
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(None);
        }
        check_file(path)?;
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .and_then(|c| {
                c.query_row("PRAGMA user_version", [], |_| Ok(()))
                    .map(|_| c)
            })
            .or_else(|e| {
                // A WAL DB whose `-shm` is gone cannot be read where nothing can be
                // written (a read-only mount); nobody can change it there either, so it is
                // read as immutable.
                let uri = format!("file:{}?immutable=1", uri_path(path));
                Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI).map_err(|_| e)
            })
            .map_err(|e| err(sql_words(path, &e)))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| StateError::new(path, e))?;
        let state = State {
            path: path.to_path_buf(),
            conn,
            lock: None,
        };
        state.check_version()?;
        Ok(Some(state))
    }

    /// The state of a dry run: the DB's row of one evid when there is a DB, in a scratch DB
    /// in memory, so that deciding runs the same code and nothing on disk is created or
    /// written.
    pub fn scratch(path: &Path, evid: &str) -> Result<State> {
        let err = |e: rusqlite::Error| StateError::new(path, e);
        let conn = Connection::open_in_memory().map_err(err)?;
        let mut st = State {
            path: path.to_path_buf(),
            conn,
            lock: None,
        };
        st.migrate(0)?;
        if let Some(disk) = State::open_read(path)? {
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

    /// A DB whose schema is newer than this binary knows (after a downgrade) is refused
    /// before anything runs: a changed table could make a ticket whose recording fails.
    fn check_version(&self) -> Result<i64> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(sql_words(&self.path, &e)))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(self.err(format!(
                "was written by a newer zenticket-hook (schema {version}, this one knows {}); \
                 upgrade zenticket-hook, or move the DB away",
                MIGRATIONS.len()
            )));
        }
        Ok(version)
    }

    fn err(&self, e: impl fmt::Display) -> StateError {
        StateError::at(&self.path)(e)
    }

    /// Runs a read (one of this module's query functions) on the DB, its error naming
    /// the DB: `st.read(|c| state::due(c, now, stale))`.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&self.conn).map_err(|e| self.err(e))
    }

    /// Brings the schema up to date from `version` (what `check_version` read).
    fn migrate(&mut self, version: i64) -> Result<()> {
        if version as usize >= MIGRATIONS.len() {
            // Nothing to do: the common case costs one read and no lock.
            return self.tune();
        }
        self.write(|tx| {
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            }
            Ok(())
        })?;
        // WAL persists in the file: readers (`state`) never block writers.
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| self.err(e))?;
        self.tune()
    }

    fn tune(&self) -> Result<()> {
        // WAL with synchronous NORMAL: a commit survives the process being killed (the
        // WAL is in the OS's hands) but is not waited onto the disk; the writes whose
        // loss in a power cut would make a ticket twice use `write_durable`.
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.err(e))
    }

    /// Runs `f` in one write transaction under the state lock. Safe against any kill of
    /// the process; a power cut may lose it (the count, a claim, a retry's bookkeeping:
    /// at worst an attempt is repeated, with the same idempotency key).
    pub fn write<T>(&mut self, f: impl FnOnce(&Transaction) -> rusqlite::Result<T>) -> Result<T> {
        self.write_with(false, f)
    }

    /// A write that must survive a power cut too: a ticket the script made (losing it
    /// would make the retry a second ticket), or an event recorded for `sweep` when
    /// nothing else will bring it back. Waits for the disk (and takes every earlier
    /// commit with it, the WAL being written in order).
    pub fn write_durable<T>(
        &mut self,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.write_with(true, f)
    }

    fn write_with<T>(
        &mut self,
        durable: bool,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let err = |msg: String| StateError {
            path: path.clone(),
            msg,
        };
        // Only a scratch DB in memory has no lock file; a DB opened read-only refuses the
        // write itself.
        if let Some(lock) = &self.lock {
            lock.lock_exclusive()
                .map_err(|e| err(format!("cannot lock: {e}")))?;
        }
        let result = (|| {
            if durable {
                self.conn.pragma_update(None, "synchronous", "FULL")?;
            }
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })();
        if durable {
            let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        }
        if let Some(lock) = &self.lock {
            let _ = FileExt::unlock(lock);
        }
        result.map_err(|e: rusqlite::Error| err(sql_words(&path, &e)))
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn row(&self, evid: &str) -> Result<Option<Row>> {
        row(&self.conn, evid).map_err(|e| self.err(e))
    }

    pub fn rows(&self, evid: Option<&str>) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        let sql = "SELECT evid, count, event_state, customer, queue, cleared, updated FROM events \
                   WHERE ?1 IS NULL OR evid = ?1 ORDER BY updated, evid";
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let mapped = stmt.query_map([evid], map_row).map_err(|e| self.err(e))?;
        for r in mapped {
            out.push(r.map_err(|e| self.err(e))?);
        }
        Ok(out)
    }

    pub fn tickets(&self, evid: &str) -> Result<Vec<Recorded>> {
        // `state` reads a DB it does not migrate: before schema 5 there is no system.
        let sql = if self.version()? >= 5 {
            "SELECT CAST(ticket AS TEXT), system, ref FROM tickets WHERE evid = ?1 ORDER BY count, created"
        } else {
            "SELECT CAST(ticket AS TEXT), NULL, NULL FROM tickets WHERE evid = ?1 ORDER BY count, created"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([evid], recorded(0))
            .and_then(|m| m.collect::<rusqlite::Result<Vec<Recorded>>>())
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// The ids of the evid's twin tickets (none before schema 9).
    fn twin_ids(&self, evid: &str) -> Result<Vec<String>> {
        if self.version()? < 9 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT CAST(ticket AS TEXT) FROM tickets WHERE evid = ?1 AND twin = 1 ORDER BY count, created",
            )
            .map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([evid], |r| r.get(0))
            .and_then(|m| m.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    fn version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    pub fn pending(&self, evid: &str) -> Result<Vec<PendingRow>> {
        // `state` reads a DB it does not migrate: before schema 7 no wait was asked for.
        let sql = if self.version()? >= 7 {
            "SELECT evid, what, count, attempts, last_error, next_try, claimed_by, claimed_at, \
             created, given_up, given_up_reason, asked_until \
             FROM pending WHERE evid = ?1 ORDER BY created, what, count"
        } else {
            "SELECT evid, what, count, attempts, last_error, next_try, claimed_by, claimed_at, \
             created, given_up, given_up_reason, NULL \
             FROM pending WHERE evid = ?1 ORDER BY created, what, count"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([evid], map_pending)
            .and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(v)
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

/// What the state DB at `path` holds (of one evid, or all), or None when there is no DB
/// yet: `state` must not create one.
/// With `given_up_only`, only the rows that have given-up work.
pub fn list(path: &Path, evid: Option<&str>, given_up_only: bool) -> Result<Option<Vec<Listing>>> {
    let Some(st) = State::open_read(path)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for row in st.rows(evid)? {
        let tickets = st.tickets(&row.evid)?;
        let pending = st.pending(&row.evid)?;
        if given_up_only && pending.iter().all(|p| p.given_up.is_none()) {
            continue;
        }
        let twins = st.twin_ids(&row.evid)?;
        out.push(Listing {
            row,
            tickets,
            pending,
            twins,
        });
    }
    Ok(Some(out))
}

fn map_row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok(Row {
        evid: r.get(0)?,
        count: r.get(1)?,
        event_state: r.get(2)?,
        customer: r.get(3)?,
        queue: r.get(4)?,
        cleared: r.get::<_, i64>(5)? != 0,
        updated: r.get(6)?,
    })
}

fn map_pending(r: &rusqlite::Row) -> rusqlite::Result<PendingRow> {
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

pub fn row(conn: &Connection, evid: &str) -> rusqlite::Result<Option<Row>> {
    conn.query_row(
        "SELECT evid, count, event_state, customer, queue, cleared, updated FROM events WHERE evid = ?1",
        [evid],
        map_row,
    )
    .optional()
}

/// Stores what is known of an evid; the count only ever rises.
pub fn upsert_event(tx: &Transaction, e: &EventRow, now: f64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO events(evid, count, event_state, customer, queue, last_time, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT(evid) DO UPDATE SET
            count = max(count, excluded.count),
            event_state = coalesce(excluded.event_state, event_state),
            customer = coalesce(excluded.customer, customer),
            queue = coalesce(excluded.queue, queue),
            last_time = coalesce(excluded.last_time, last_time),
            updated = excluded.updated",
    )?
    .execute(params![
        e.evid,
        e.count,
        e.event_state,
        e.customer,
        e.queue,
        e.last_time,
        now
    ])?;
    Ok(())
}

pub fn mark_cleared(
    tx: &Transaction,
    evid: &str,
    state: Option<i64>,
    now: f64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE events SET cleared = 1, event_state = coalesce(?2, event_state), updated = ?3 WHERE evid = ?1",
        params![evid, state, now],
    )?;
    Ok(())
}

/// Records owed work; a second record of the same work keeps the first claim.
pub fn add_pending(tx: &Transaction, w: &NewWork, now: f64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO pending(evid, what, count, event, attempts, last_error, next_try, claimed_by, claimed_at, created)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, CASE WHEN ?7 IS NULL THEN NULL ELSE ?6 END, ?6)
         ON CONFLICT(evid, what, count) DO UPDATE SET
            event = coalesce(excluded.event, event),
            claimed_by = coalesce(claimed_by, excluded.claimed_by),
            claimed_at = coalesce(claimed_at, excluded.claimed_at),
            last_error = coalesce(excluded.last_error, last_error)",
    )?
    .execute(params![
        w.key.evid,
        w.key.what,
        w.key.count,
        w.event,
        w.note,
        now,
        w.claimed_by
    ])?;
    Ok(())
}

/// The owed work is done (or given up): forget it.
pub fn done(tx: &Transaction, k: &WorkKey) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3")?
        .execute(params![k.evid, k.what, k.count])?;
    Ok(())
}

/// The work is given up: kept, with when and why, for `state`, `status` and `requeue`
/// (and dropped with the audit records after 90 days), never retried on its own.
pub fn give_up(tx: &Transaction, k: &WorkKey, reason: &str, now: f64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE pending SET given_up = ?4, given_up_reason = ?5, claimed_by = NULL, claimed_at = NULL
         WHERE evid = ?1 AND what = ?2 AND count = ?3",
    )?
    .execute(params![k.evid, k.what, k.count, now, reason])?;
    Ok(())
}

/// Puts given-up work (of one evid, or all) back in the queue, as if first owed now: the
/// same (evid, what, count), so the same idempotency key. Returns how many.
pub fn requeue(tx: &Transaction, evid: Option<&str>, now: f64) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE pending SET given_up = NULL, given_up_reason = NULL, attempts = 0,
            next_try = ?2, created = ?2, claimed_by = NULL, claimed_at = NULL
         WHERE given_up IS NOT NULL AND (?1 IS NULL OR evid = ?1)",
        params![evid, now],
    )
}

/// Releases a claim without counting an attempt: the work was not tried (the breaker is
/// open), and waits for `sweep`.
pub fn defer(tx: &Transaction, k: &WorkKey, note: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE pending SET claimed_by = NULL, claimed_at = NULL, last_error = ?4
         WHERE evid = ?1 AND what = ?2 AND count = ?3",
    )?
    .execute(params![k.evid, k.what, k.count, note])?;
    Ok(())
}

/// One `meta` value and when it was set.
pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<(String, f64)>> {
    conn.prepare_cached("SELECT value, at FROM meta WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

pub fn set_meta(tx: &Transaction, key: &str, value: &str, at: f64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta(key, value, at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, at = excluded.at",
    )?
    .execute(params![key, value, at])?;
    Ok(())
}

pub fn clear_meta(tx: &Transaction, key: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM meta WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// The ticket script's recent record, shared by every process through the DB: how many
/// runs failed in a row, and since when the breaker is open (None: closed).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Breaker {
    pub failures: u32,
    pub open_since: Option<f64>,
}

pub fn breaker(conn: &Connection) -> rusqlite::Result<Breaker> {
    let failures = meta(conn, "script_failures")?
        .and_then(|(v, _)| v.parse().ok())
        .unwrap_or(0);
    let open_since = meta(conn, "breaker_open")?.map(|(_, at)| at);
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
    tx: &Transaction,
    now: f64,
    opens: impl Fn(u32) -> bool,
) -> rusqlite::Result<(Breaker, bool)> {
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
pub fn script_worked(tx: &Transaction) -> rusqlite::Result<bool> {
    tx.prepare_cached("DELETE FROM meta WHERE key = 'script_failures' AND value != '0'")?
        .execute([])?;
    Ok(tx
        .prepare_cached("DELETE FROM meta WHERE key = 'breaker_open'")?
        .execute([])?
        > 0)
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

/// The state DB's health; `since`: the start of the "given up lately" window.
pub fn health(conn: &Connection, since: f64) -> rusqlite::Result<Health> {
    let mut owed = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT what, count(*) FROM pending WHERE given_up IS NULL GROUP BY what ORDER BY what",
    )?;
    for r in stmt.query_map([], |r| Ok((r.get::<_, What>(0)?, r.get::<_, i64>(1)?)))? {
        owed.push(r?);
    }
    let oldest = conn.query_row(
        "SELECT min(created) FROM pending WHERE given_up IS NULL",
        [],
        |r| r.get(0),
    )?;
    // `status` reads a DB it does not migrate: before schema 7 no wait was asked for.
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let asked = if version >= 7 {
        conn.query_row(
            "SELECT count(*), max(asked_until) FROM pending
             WHERE given_up IS NULL AND asked_until IS NOT NULL",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<f64>>(1)?)),
        )?
    } else {
        (0, None)
    };
    let twins_since = if version >= 9 {
        conn.query_row(
            "SELECT count(*) FROM tickets WHERE twin = 1 AND created >= ?1",
            [since],
            |r| r.get(0),
        )?
    } else {
        0
    };
    let asked = match asked {
        (n, Some(until)) if n > 0 => Some((n, until)),
        _ => None,
    };
    let (given_up_since, given_up_total) = conn.query_row(
        "SELECT count(CASE WHEN given_up >= ?1 THEN 1 END), count(given_up) FROM pending",
        [since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let last_ticket = conn
        .query_row(
            "SELECT created, CAST(ticket AS TEXT), system, ref, evid FROM tickets ORDER BY created DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, recorded(1)(r)?, r.get(4)?)),
        )
        .optional()?;
    Ok(Health {
        owed,
        oldest,
        asked,
        twins_since,
        given_up_since,
        given_up_total,
        breaker: breaker(conn)?,
        breaker_opened: meta(conn, BREAKER_OPENED)?.map(|(_, at)| at),
        last_sweep: meta(conn, "last_sweep")?.map(|(v, at)| (at, v)),
        last_ticket,
    })
}

/// An attempt failed: release the claim, count it, and set the next try (the policy,
/// `work::next_try`, is the caller's).
///
/// A `created` in the future (stamped while the clock was ahead) becomes now: the retry
/// window is measured from it, and would otherwise not start until the clock caught up.
pub fn failed(
    tx: &Transaction,
    k: &WorkKey,
    error: &str,
    next: &crate::work::NextTry,
    now: f64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE pending SET attempts = attempts + 1, last_error = ?4, next_try = ?5,
            claimed_by = NULL, claimed_at = NULL, created = min(created, ?6), tried_at = ?6,
            asked_until = ?7
         WHERE evid = ?1 AND what = ?2 AND count = ?3",
    )?
    .execute(params![
        k.evid,
        k.what,
        k.count,
        error,
        next.at,
        now,
        next.asked.then_some(next.at)
    ])?;
    Ok(())
}

/// The idempotency key of one piece of work (a ticket, or a clear keyed by its ticket's
/// count): with this installation's id, unless the work was owed before there was one
/// (schema 8), when it keeps the key it was first tried with.
pub fn work_key(conn: &Connection, k: &WorkKey) -> rusqlite::Result<String> {
    let legacy: bool = conn
        .query_row(
            "SELECT legacy_key FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3",
            params![k.evid, k.what, k.count],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let installation = if legacy {
        String::new()
    } else {
        installation(conn)?
    };
    Ok(crate::script::idempotency_key(
        &k.evid,
        k.count,
        &installation,
    ))
}

/// This installation's id (schema 8 on; "" before).
pub fn installation(conn: &Connection) -> rusqlite::Result<String> {
    Ok(meta(conn, "installation")?
        .map(|(v, _)| v)
        .unwrap_or_default())
}

/// Set (meta) once Zenoss answered that it has no `updateDetails` (4.2.0 to 4.2.4): details
/// are not asked for again, and each ticket is noted in the event's log instead.
pub const DETAILS_UNSUPPORTED: &str = "details_unsupported";

/// Drops owed `what` of an evid for counts below `count` (a newer ticket replaces them).
pub fn drop_older(tx: &Transaction, evid: &str, what: What, count: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM pending WHERE evid = ?1 AND what = ?2 AND count < ?3 AND given_up IS NULL",
    )?
    .execute(params![evid, what, count])?;
    Ok(())
}

/// Every detail owed becomes a note of its ticket (Zenoss has no `updateDetails`).
pub fn details_to_notes(tx: &Transaction, now: f64) -> rusqlite::Result<()> {
    let owed: Vec<(String, i64, Vec<u8>)> = {
        let mut stmt = tx.prepare(
            "SELECT evid, count, event FROM pending WHERE what = 'detail' AND given_up IS NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
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
    tx.execute("DELETE FROM pending WHERE what = 'detail'", [])?;
    Ok(())
}

/// Whether a ticket newer than `count` is recorded for the evid.
pub fn newer_ticket(conn: &Connection, evid: &str, count: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE evid = ?1 AND count > ?2)",
        params![evid, count],
        |r| r.get(0),
    )
}

/// The number of attempts recorded for one piece of work (0 when there is none).
pub fn attempts(conn: &Connection, k: &WorkKey) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT attempts FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3",
        params![k.evid, k.what, k.count],
        |r| r.get(0),
    )
    .optional()
    .map(Option::unwrap_or_default)
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
pub fn due(conn: &Connection, h: &Horizon) -> rusqlite::Result<Vec<Due>> {
    let mut stmt = conn.prepare(
        "SELECT evid, what, count, event, attempts, created, tried_at FROM pending
         WHERE (next_try <= ?1 OR next_try > ?2 OR tried_at > ?5
                OR (tried_at IS NULL AND next_try > ?6))
           AND (claimed_by IS NULL OR claimed_at < ?3 OR claimed_at > ?4) AND given_up IS NULL
         ORDER BY created, evid, count",
    )?;
    let rows = stmt.query_map(
        params![
            h.due_before,
            h.due_after,
            h.stale_before,
            h.stale_after,
            h.stamped_after,
            h.unstamped_after
        ],
        |r| {
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
        },
    )?;
    rows.collect()
}

/// Takes one piece of work for this process, unless someone else holds a live claim.
pub fn claim(tx: &Transaction, k: &WorkKey, me: &str, h: &Horizon) -> rusqlite::Result<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE pending SET claimed_by = ?4, claimed_at = ?5
             WHERE evid = ?1 AND what = ?2 AND count = ?3
               AND (claimed_by IS NULL OR claimed_at < ?6 OR claimed_at > ?7)",
        )?
        .execute(params![
            k.evid,
            k.what,
            k.count,
            me,
            h.now,
            h.stale_before,
            h.stale_after
        ])?;
    Ok(n == 1)
}

/// Whether a ticket already covers this count of the evid (or a later one).
pub fn ticket_covers(conn: &Connection, evid: &str, count: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE evid = ?1 AND count >= ?2)",
        params![evid, count],
        |r| r.get(0),
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
pub fn known(conn: &Connection) -> rusqlite::Result<Vec<Known>> {
    let mut stmt = conn.prepare(
        "SELECT e.evid, e.last_time, e.updated, EXISTS(SELECT 1 FROM pending p WHERE p.evid = e.evid),
            e.missing_since, e.count
         FROM events e",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Known {
            evid: r.get(0)?,
            last_time: r.get(1)?,
            updated: r.get(2)?,
            has_pending: r.get(3)?,
            missing_since: r.get(4)?,
            count: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// Marks evids missed by a complete read of the console (at `at`), or, with None, seen
/// again.
pub fn mark_missing(tx: &Transaction, evids: &[String], at: Option<f64>) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("UPDATE events SET missing_since = ?2 WHERE evid = ?1")?;
    for e in evids {
        stmt.execute(params![e, at])?;
    }
    Ok(())
}

/// Forgets evids (their events rows; tickets stay as the audit record).
///
/// A row written since `since` (the console read began, or the plan was made) and before
/// now was written by a hook meanwhile: it is kept. The clock is read here, inside the
/// write, so no such row can be stamped later than it.
pub fn prune(tx: &Transaction, evids: &[String], since: f64) -> rusqlite::Result<usize> {
    let now = crate::time::now();
    let mut stmt = tx.prepare_cached(
        "DELETE FROM events WHERE evid = ?1 AND NOT (updated >= ?2 AND updated <= ?3)
           AND NOT EXISTS (SELECT 1 FROM pending WHERE evid = ?1)",
    )?;
    let mut n = 0;
    for e in evids {
        n += stmt.execute(params![e, since, now])?;
    }
    Ok(n)
}

/// Drops audit records older than `before`: tickets of pruned events, and given-up work.
pub fn prune_audit(tx: &Transaction, before: f64) -> rusqlite::Result<usize> {
    let given_up = tx.execute(
        "DELETE FROM pending WHERE given_up IS NOT NULL AND given_up < ?1",
        [before],
    )?;
    Ok(given_up
        + tx.execute(
            "DELETE FROM tickets WHERE created < ?1 AND evid NOT IN (SELECT evid FROM events)",
            [before],
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

/// Reads (id, system, ref) from three columns starting at `at`.
fn recorded(at: usize) -> impl Fn(&rusqlite::Row) -> rusqlite::Result<Recorded> {
    move |r| {
        Ok(Recorded {
            id: r.get(at)?,
            system: r.get(at + 1)?,
            reference: r.get(at + 2)?,
        })
    }
}

/// A ticket exists for (evid, count). Older unclaimed ticket work for the evid is
/// superseded: this ticket covers the event's newer state.
/// Ticket ids are read as `CAST(ticket AS TEXT)`: `state` reads a DB it may not migrate,
/// whose numbers are still integers (schema 3).
pub fn ticket_made(tx: &Transaction, m: &Made, now: f64) -> rusqlite::Result<()> {
    insert_ticket(tx, m, now, false)?;
    done(tx, &WorkKey::new(m.evid, What::Ticket, m.count))?;
    tx.prepare_cached(
        "DELETE FROM pending WHERE evid = ?1 AND what = 'ticket' AND count < ?2 AND claimed_by IS NULL",
    )?
    .execute(params![m.evid, m.count])?;
    Ok(())
}

/// A second ticket found carrying the key of the one recorded for (evid, count): kept
/// beside it as its twin, so the clear and the closed-ticket sync act on both. Whether it
/// was new to the record.
pub fn twin_found(tx: &Transaction, m: &Made, now: f64) -> rusqlite::Result<bool> {
    Ok(insert_ticket(tx, m, now, true)? == 1)
}

/// One ticket into the record (kept if it is there already); how many rows it added.
fn insert_ticket(tx: &Transaction, m: &Made, now: f64, twin: bool) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO tickets(evid, count, ticket, customer, queue, created, system, ref, twin)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        m.evid,
        m.count,
        m.ticket,
        m.customer,
        m.queue,
        now,
        m.system,
        m.reference,
        twin
    ])
}

/// The ticket of (evid, count) was made after a lookup for its key found nothing, in a
/// system whose search lags: it is searched for a twin until `until`.
pub fn check_twins(
    tx: &Transaction,
    evid: &str,
    count: i64,
    ticket: &str,
    until: f64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE tickets SET check_twins_until = ?4 WHERE evid = ?1 AND count = ?2 AND ticket = ?3",
    )?
    .execute(params![evid, count, ticket, until])?;
    Ok(())
}

/// The tickets still searched for a twin at `now`: (evid, count, ticket); the searches
/// whose time is over are ended first.
pub fn twin_checks(tx: &Transaction, now: f64) -> rusqlite::Result<Vec<(String, i64, Recorded)>> {
    tx.execute(
        "UPDATE tickets SET check_twins_until = NULL WHERE check_twins_until <= ?1",
        [now],
    )?;
    let mut stmt = tx.prepare_cached(
        "SELECT evid, count, CAST(ticket AS TEXT), system, ref FROM tickets
         WHERE check_twins_until IS NOT NULL ORDER BY created",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, recorded(2)(r)?)))?;
    rows.collect()
}

/// Ends the search for twins of (evid, count).
pub fn twins_checked(tx: &Transaction, evid: &str, count: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE tickets SET check_twins_until = NULL WHERE evid = ?1 AND count = ?2",
    )?
    .execute(params![evid, count])?;
    Ok(())
}

/// The twins recorded beside the ticket of (evid, count).
pub fn twins_of(conn: &Connection, evid: &str, count: i64) -> rusqlite::Result<Vec<Recorded>> {
    let mut stmt = conn.prepare_cached(
        "SELECT CAST(ticket AS TEXT), system, ref FROM tickets
         WHERE evid = ?1 AND count = ?2 AND twin = 1 ORDER BY created",
    )?;
    let rows = stmt.query_map(params![evid, count], recorded(0))?;
    rows.collect()
}

/// The highest count the ticket record holds for an evid: what was ticketed even when
/// the evid's row has been pruned since (an autoclosed event reopened with the same evid).
pub fn ticketed_count(conn: &Connection, evid: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT max(count) FROM tickets WHERE evid = ?1")?
        .query_row([evid], |r| r.get(0))
}

/// The newest ticket of an evid, for the clear: (the count it was made for, the ticket).
pub fn last_ticket(conn: &Connection, evid: &str) -> rusqlite::Result<Option<(i64, Recorded)>> {
    conn.query_row(
        "SELECT count, CAST(ticket AS TEXT), system, ref FROM tickets WHERE evid = ?1 ORDER BY count DESC, twin, created DESC LIMIT 1",
        [evid],
        |r| Ok((r.get(0)?, recorded(1)(r)?)),
    )
    .optional()
}

/// The ticket made for (evid, count), for a clear owed on it.
pub fn ticket_for(conn: &Connection, evid: &str, count: i64) -> rusqlite::Result<Option<Recorded>> {
    conn.query_row(
        "SELECT CAST(ticket AS TEXT), system, ref FROM tickets WHERE evid = ?1 AND count = ?2 ORDER BY twin, created DESC LIMIT 1",
        params![evid, count],
        recorded(0),
    )
    .optional()
}

/// The stored bytes of one piece of owed work (the event, or a note's text), if owed.
pub fn pending_event(conn: &Connection, k: &WorkKey) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached(
        "SELECT event FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3 AND given_up IS NULL",
    )?
    .query_row(params![k.evid, k.what, k.count], |r| r.get(0))
    .optional()
    .map(Option::flatten)
}

/// Of these evids, the newest ticket of each when `system` made it and no sweep has seen
/// it closed yet.
pub fn open_tickets(
    conn: &Connection,
    evids: &[String],
    system: &str,
) -> rusqlite::Result<Vec<(String, Recorded)>> {
    // The newest count's ticket, and its twins: a second ticket with one key is synced
    // too. A count whose ticket was seen closed is not looked at again.
    let mut stmt = conn.prepare_cached(
        "SELECT CAST(ticket AS TEXT), system, ref FROM tickets t WHERE evid = ?1
           AND count = (SELECT max(count) FROM tickets WHERE evid = ?1)
           AND NOT EXISTS (SELECT 1 FROM tickets c WHERE c.evid = t.evid AND c.count = t.count
                             AND c.closed_at IS NOT NULL)
         ORDER BY twin, created",
    )?;
    let mut out = Vec::new();
    for evid in evids {
        let rows = stmt.query_map([evid], recorded(0))?;
        for t in rows {
            let t = t?;
            if t.system.as_deref() == Some(system) {
                out.push((evid.clone(), t));
            }
        }
    }
    Ok(out)
}

/// A sweep saw this ticket resolved or closed and acted on its event.
pub fn mark_closed(tx: &Transaction, evid: &str, ticket: &str, now: f64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE tickets SET closed_at = ?3 WHERE evid = ?1 AND CAST(ticket AS TEXT) = ?2",
    )?
    .execute(params![evid, ticket, now])?;
    Ok(())
}

/// When a create for this work was sent with no answer read since, if one was.
pub fn sent_at(conn: &Connection, k: &WorkKey) -> rusqlite::Result<Option<f64>> {
    conn.prepare_cached("SELECT sent_at FROM pending WHERE evid = ?1 AND what = ?2 AND count = ?3")?
        .query_row(params![k.evid, k.what, k.count], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// Records that a create is about to be sent (Some), or that its answer was read and
/// made nothing (None).
pub fn mark_sent(tx: &Transaction, k: &WorkKey, at: Option<f64>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE pending SET sent_at = ?4 WHERE evid = ?1 AND what = ?2 AND count = ?3",
    )?
    .execute(params![k.evid, k.what, k.count, at])?;
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

/// A claim name unique to this process run.
pub fn claimant() -> String {
    format!("pid {} at {:.6}", std::process::id(), crate::time::now())
}

/// SQLite creates `-wal`, `-shm` and the lock beside the DB by name: in a folder others
/// may write, someone could plant links there first.
fn check_folder(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Ok(m) if m.mode() & 0o002 != 0 => Err(StateError::at(path)(format!(
            "its folder {} is writable by everyone; put the state DB in a folder of the zenoss user (e.g. $ZENHOME/var)",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// The DB file itself: not a link, not writable by group or others.
fn check_file(path: &Path) -> Result<()> {
    let err = StateError::at(path);
    let meta = std::fs::symlink_metadata(path).map_err(|e| err(io_words("cannot read it", &e)))?;
    if meta.file_type().is_symlink() {
        return Err(StateError::new(
            path,
            "is a symbolic link; refusing to follow it (remove it, or set [GENERAL] statedb to a real path)",
        ));
    }
    if meta.is_dir() {
        return Err(StateError::new(
            path,
            "is a folder, not a file (set [GENERAL] statedb to a file path)",
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(err(format!(
            "group or others can write it (mode {:o}); run `chmod 600 {}`",
            meta.mode() & 0o777,
            path.display()
        )));
    }
    Ok(())
}

/// A path as the path part of an SQLite `file:` URI.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The DB is about to be created. When earlier runs left their lock file or WAL here, the
/// DB that held every count and ticket is gone (deleted, or lost with its folder): say so
/// loudly, since events may now be ticketed again; and keep an orphan WAL aside, since
/// SQLite would discard it when it opens the new DB.
/// What the lock file holds once a DB has been created beside it: a later run that finds
/// the lock file marked and the DB gone knows the DB was lost, not never made.
const CREATED_MARK: &[u8] = b"zenticket-hook state DB created here\n";

/// Creates the DB file (0600, never through a planted link), under the lock so that hooks
/// starting at once on a fresh install create it once and none mistakes another's creation
/// for a lost DB.
fn create(path: &Path, lock: &File) -> Result<()> {
    let err = StateError::at(path);
    lock.lock_exclusive()
        .map_err(|e| StateError::new(path, format!("cannot lock: {e}")))?;
    let result = (|| {
        if std::fs::symlink_metadata(path).is_ok() {
            return Ok(()); // another process made it while we waited
        }
        let marked = lock.metadata().is_ok_and(|m| m.len() > 0);
        warn_if_recreated(path, marked);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => crate::owner::adopt_file(path, &f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err(io_words("cannot create it", &e))),
        }
        if !marked {
            let _ = lock.write_all_at(CREATED_MARK, 0);
        }
        Ok(())
    })();
    let _ = FileExt::unlock(lock);
    result
}

/// The DB is about to be created. When an earlier run created one here (the lock file says
/// so) or left its WAL, the DB that held every count and ticket is gone (deleted, or lost
/// with its folder): say so loudly, since events may now be ticketed again; and keep an
/// orphan WAL aside, since SQLite would discard it when it opens the new DB.
fn warn_if_recreated(path: &Path, marked: bool) {
    let wal = sibling(path, "-wal");
    let had_wal = std::fs::symlink_metadata(&wal).is_ok();
    if !had_wal && !marked {
        return;
    }
    let mut msg = format!(
        "state DB {} is missing and is created empty, but earlier runs used it (its lock file \
         or WAL is there): the counts and tickets recorded before are gone, so open events may \
         be ticketed again (with the same ZENTICKET_IDEMPOTENCY_KEY as before)",
        path.display()
    );
    if had_wal {
        let kept = sibling(path, &format!("-wal.orphan-{}", crate::time::now() as i64));
        match std::fs::rename(&wal, &kept) {
            Ok(()) => msg.push_str(&format!(
                "; its orphan WAL is kept as {} (SQLite would have discarded it)",
                kept.display()
            )),
            Err(e) => msg.push_str(&format!("; its orphan WAL could not be kept aside: {e}")),
        }
    }
    log::error!("{msg}");
    eprintln!("zenticket-hook: {msg}");
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

/// A SQLite error in the administrator's words. SQLite's own are terse ("attempt to write
/// a readonly database", "disk I/O error"); its error codes say which case it is, and the
/// folder's free space tells a full disk from another I/O failure.
pub fn sql_words(path: &Path, e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return e.to_string();
    };
    let folder = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let hint = match f.code {
        ErrorCode::ReadOnly => format!(
            "it, or its folder {}, cannot be written: make both writable by the user the hook runs as (zenoss)",
            folder.display()
        ),
        ErrorCode::DiskFull => format!("the disk holding {} is full: free some space", folder.display()),
        ErrorCode::SystemIoFailure if disk_full(folder) => {
            format!("the disk holding {} is full: free some space", folder.display())
        }
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "another process held it locked for longer than 30 s (a stuck zenticket-hook or a sqlite3 shell?)".into()
        }
        ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
            "it is damaged or not a state DB: move it away (a new one is created)".into()
        }
        ErrorCode::CannotOpen => format!(
            "it cannot be opened: its folder {} must exist and be writable by the zenoss user",
            folder.display()
        ),
        _ => return e.to_string(),
    };
    format!("{hint} ({e})")
}

fn disk_full(folder: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(folder.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs fills a plain struct for a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_bavail == 0
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
        let Ok(mut f) = open(&st.path) else {
            return Ok(());
        };
        let db = st.path.clone();
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

    #[test]
    fn work_owed_before_the_installation_id_keeps_its_key_and_new_work_gets_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        {
            // A state DB of schema 7 with a ticket owed (its create may have landed).
            let conn = Connection::open(&path).expect("open");
            for sql in &MIGRATIONS[..7] {
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
