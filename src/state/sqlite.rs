//! The embedded backend: one SQLite file, shared by every process on one host.
//!
//! Every write is one short transaction taken under an exclusive `flock` on
//! `<statedb>.lock`, then `BEGIN IMMEDIATE`. The flock queues writers in the kernel, which
//! wakes the next one the moment the lock is free, where SQLite's own busy handler would
//! sleep and poll; no lock is ever held while a script runs or Zenoss is called.

use super::sql::{DbError, Dialect, Result as DbResult, Row, Sql, Value};
use super::{io_words, lock_file, sibling, Backend, Result, StateError};
use fs2::FileExt;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql, TransactionBehavior};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt as _, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Schema migrations, in order; `PRAGMA user_version` says how many are applied.
pub const MIGRATIONS: &[&str] = &[
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

pub struct Sqlite {
    path: PathBuf,
    conn: Connection,
    /// None when opened read-only, or in memory.
    lock: Option<File>,
    /// The sweep's turn (`<statedb>.sweep`), once taken.
    sweep: Option<File>,
}

impl Sqlite {
    /// Opens (creating if need be) the DB. Refuses a path that is a symlink or that group
    /// or others may write (the hook runs as the zenoss user and must not be steered), a
    /// DB written by a newer version, and one on a network filesystem (`netfs`).
    pub fn open(path: &Path) -> Result<Sqlite> {
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
        let mut db = Sqlite {
            path: path.to_path_buf(),
            conn,
            lock: Some(lock),
            sweep: None,
        };
        let version = db.check_version()?;
        db.migrate(version)?;
        Ok(db)
    }

    /// Opens an existing DB only to read it; None when there is none.
    pub fn open_read(path: &Path) -> Result<Option<Sqlite>> {
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
        let db = Sqlite {
            path: path.to_path_buf(),
            conn,
            lock: None,
            sweep: None,
        };
        db.check_version()?;
        Ok(Some(db))
    }

    /// A scratch DB in memory (a dry run), named `path` in messages.
    pub fn in_memory(path: &Path) -> Result<Sqlite> {
        let conn = Connection::open_in_memory().map_err(|e| StateError::new(path, e))?;
        let mut db = Sqlite {
            path: path.to_path_buf(),
            conn,
            lock: None,
            sweep: None,
        };
        db.migrate(0)?;
        Ok(db)
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        StateError::at(&self.path)(e)
    }

    /// A DB whose schema is newer than this binary knows (after a downgrade) is refused
    /// before anything runs: a changed table could make a ticket whose recording fails.
    fn check_version(&self) -> Result<i64> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(sql_words(&self.path, &e)))?;
        super::refuse_newer(&self.path, version)?;
        Ok(version)
    }

    /// Brings the schema up to date from `version` (what `check_version` read).
    fn migrate(&mut self, version: i64) -> Result<()> {
        if version as usize >= MIGRATIONS.len() {
            // Nothing to do: the common case costs one read and no lock.
            return self.tune();
        }
        if let Some(lock) = &self.lock {
            lock.lock_exclusive()
                .map_err(|e| self.err(format!("cannot lock: {e}")))?;
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            }
            tx.commit()
        })();
        if let Some(lock) = &self.lock {
            let _ = FileExt::unlock(lock);
        }
        result.map_err(|e| self.err(sql_words(&self.path, &e)))?;
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
}

impl Backend for Sqlite {
    fn read(&self, f: &mut dyn FnMut(&dyn Sql) -> DbResult<()>) -> DbResult<()> {
        f(&self.conn)
    }

    fn write(
        &mut self,
        durable: bool,
        f: &mut dyn FnMut(&dyn Sql) -> DbResult<()>,
    ) -> DbResult<()> {
        // Only a scratch DB in memory has no lock file; a DB opened read-only refuses the
        // write itself.
        if let Some(lock) = &self.lock {
            lock.lock_exclusive()
                .map_err(|e| DbError::Value(format!("cannot lock: {e}")))?;
        }
        let result = (|| {
            if durable {
                self.conn.pragma_update(None, "synchronous", "FULL")?;
            }
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            f(&*tx)?;
            tx.commit()?;
            Ok(())
        })();
        if durable {
            let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        }
        if let Some(lock) = &self.lock {
            let _ = FileExt::unlock(lock);
        }
        result
    }

    fn version(&self) -> DbResult<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn words(&self, e: &DbError) -> String {
        match e {
            DbError::Sqlite(e) => sql_words(&self.path, e),
            e => e.to_string(),
        }
    }

    fn sweep_turn(&mut self) -> std::result::Result<bool, String> {
        let lock = lock_file(&self.path, ".sweep").map_err(|e| {
            let what = format!("cannot open the sweep lock {}.sweep", self.path.display());
            io_words(&what, &e)
        })?;
        if lock.try_lock_exclusive().is_err() {
            return Ok(false);
        }
        self.sweep = Some(lock);
        Ok(true)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn value(v: ValueRef) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_string()),
            Err(_) => Value::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl Sql for Connection {
    fn exec(&self, sql: &str, params: &[Value]) -> DbResult<usize> {
        Ok(self
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(params))?)
    }

    fn query(&self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let mut stmt = self.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(value(r.get_ref(i)?));
            }
            out.push(Row(row));
        }
        Ok(out)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
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
