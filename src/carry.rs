//! `carry-state FROM.db`: brings an SQLite state DB (one host's) into the configured
//! shared one (MariaDB), so that a site moving to several hosts keeps every count, ticket
//! record and piece of owed work, and its installation id: owed work is retried with the
//! idempotency key it was first tried with, so no ticket is made twice.
//!
//! A merge, safe to run again: counts only rise, a ticket recorded is kept, owed work
//! already there keeps its own record. It refuses a shared DB that was used under another
//! installation id (its keys and the carried work's would differ).

use crate::run::Failure;
use crate::state::sql::{Dialect, Sql};
use crate::state::{self, State, Store};
use std::path::Path;

/// What one carry brought over.
#[derive(Debug, Default, PartialEq)]
pub struct Carried {
    pub events: usize,
    pub tickets: usize,
    pub owed: usize,
}

impl Carried {
    pub fn line(&self, from: &Path, to: &str) -> String {
        format!(
            "carried {} event(s), {} ticket record(s) and {} piece(s) of owed work from {} into {to}",
            self.events,
            self.tickets,
            self.owed,
            from.display()
        )
    }
}

pub fn run(g: &crate::run::Global, from: &Path) -> Result<String, Failure> {
    let cfg = g.load_config()?;
    g.install_log(&cfg);
    let store = cfg.store();
    if matches!(store, Store::Sqlite(_)) {
        return Err(Failure::usage(format!(
            "carry-state: the config's statedb is an SQLite file ({}): nothing to carry into \
             (set statedb: mysql://... first)",
            cfg.statedb.display()
        )));
    }
    // Opened for writing: an older DB is migrated first, so every column is there.
    let source = match State::open_read(from).map_err(|e| Failure::usage(e.to_string()))? {
        Some(_) => State::open(from).map_err(|e| Failure::retry(e.to_string()))?,
        None => {
            return Err(Failure::usage(format!(
                "carry-state: {}: no state DB there",
                from.display()
            )))
        }
    };
    let mut target = State::open_store(&store).map_err(|e| Failure::retry(e.to_string()))?;
    if g.dry_run {
        return Ok("carry-state: dry run, nothing changed".into());
    }
    let carried = carry(&source, &mut target).map_err(|e| Failure::retry(e.to_string()))?;
    let line = carried.line(from, &store.name().display().to_string());
    log::info!("{line}");
    Ok(line)
}

/// Merges `from` into `to` (see the module's note).
pub fn carry(from: &State, to: &mut State) -> Result<Carried, state::StateError> {
    let id = from.read(state::installation)?;
    let (theirs, used) = to.read(|c| {
        let used: i64 = c.scalar(
            "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM tickets) \
             + (SELECT count(*) FROM pending)",
            &[],
        )?;
        Ok((state::installation(c)?, used))
    })?;
    if used > 0 && theirs != id {
        return Err(state::StateError::new(
            &to.path,
            format!(
                "already holds the state of installation {theirs}, not {id} (the one of {}): \
                 carrying would give the carried work other idempotency keys; carry into an \
                 empty database",
                from.path.display()
            ),
        ));
    }
    let events = from.read(|c| {
        c.query(
            "SELECT evid, count, event_state, customer, queue, last_time, cleared, created, updated, missing_since FROM events",
            &[],
        )
    })?;
    let tickets = from.read(|c| {
        c.query(
            "SELECT evid, count, ticket, customer, queue, created, `system`, ref, closed_at, twin, check_twins_until FROM tickets",
            &[],
        )
    })?;
    let owed = from.read(|c| {
        c.query(
            "SELECT evid, what, count, event, attempts, last_error, next_try, created, given_up, \
             given_up_reason, sent_at, tried_at, asked_until, legacy_key FROM pending",
            &[],
        )
    })?;
    let meta = from.read(|c| c.query("SELECT `key`, value, at FROM meta", &[]))?;
    to.write_durable(|tx| {
        let mut n = Carried::default();
        // The installation first: every key of the carried work is made from it.
        state::set_meta(tx, "installation", &id, crate::time::now())?;
        for r in &meta {
            let key: String = r.get(0)?;
            if key != "installation" && state::meta(tx, &key)?.is_none() {
                state::set_meta(tx, &key, &r.get::<String>(1)?, r.get(2)?)?;
            }
        }
        for r in &events {
            let (evid, customer, queue): (String, Option<Vec<u8>>, Option<Vec<u8>>) =
                (r.get(0)?, r.get(3)?, r.get(4)?);
            let row = state::EventRow {
                evid: &evid,
                count: r.get(1)?,
                event_state: r.get(2)?,
                customer: customer.as_deref(),
                queue: queue.as_deref(),
                last_time: r.get(5)?,
            };
            if state::row(tx, row.evid)?.is_none() {
                n.events += 1;
            }
            state::upsert_event(tx, &row, r.get(8)?)?;
            if r.get::<bool>(6)? {
                state::mark_cleared(tx, row.evid, row.event_state, r.get(8)?)?;
            }
        }
        for r in &tickets {
            n.tickets += tx.exec(
                &keep_first(
                    tx,
                    "INTO tickets(evid, count, ticket, customer, queue, created, `system`, ref, \
                     closed_at, twin, check_twins_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                ),
                &r.0,
            )?;
        }
        for r in &owed {
            // A claim dies with the host that held it: carried work is unclaimed.
            n.owed += tx.exec(
                &keep_first(
                    tx,
                    "INTO pending(evid, what, count, event, attempts, last_error, next_try, created, \
                     given_up, given_up_reason, sent_at, tried_at, asked_until, legacy_key) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                ),
                &r.0,
            )?;
        }
        state::set_meta(
            tx,
            "carried_from",
            &from.path.display().to_string(),
            crate::time::now(),
        )?;
        Ok(n)
    })
}

/// An insert that keeps a row already there (and counts 0 for it), in each dialect.
fn keep_first(tx: &dyn Sql, into: &str) -> String {
    match tx.dialect() {
        Dialect::Sqlite => format!("INSERT OR IGNORE {into}"),
        // Not INSERT IGNORE, which would also keep a value cut short.
        Dialect::Mysql => format!("INSERT {into} ON DUPLICATE KEY UPDATE evid = evid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(evid: &str, count: i64) -> state::Made<'_> {
        state::Made {
            evid,
            count,
            ticket: "4711",
            customer: b"c",
            queue: b"q",
            system: None,
            reference: None,
        }
    }

    #[test]
    fn a_carry_keeps_the_installation_and_runs_again_without_doubling() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut from = State::open(&dir.path().join("from.db")).expect("open");
        let mut to = State::open(&dir.path().join("to.db")).expect("open");
        from.write(|tx| {
            let row = state::EventRow {
                evid: "e1",
                count: 3,
                event_state: Some(0),
                last_time: None,
                customer: Some(b"c"),
                queue: Some(b"q"),
            };
            state::upsert_event(tx, &row, 1.0)?;
            state::ticket_made(tx, &made("e1", 3), 1.0)?;
            let w = state::NewWork {
                key: state::WorkKey::new("e2", state::What::Ticket, 1),
                event: Some(b"ev"),
                claimed_by: Some("pid 1"),
                note: None,
            };
            state::add_pending(tx, &w, 1.0)
        })
        .expect("write");
        let first = carry(&from, &mut to).expect("carry");
        assert_eq!(
            first,
            Carried {
                events: 1,
                tickets: 1,
                owed: 1
            }
        );
        let again = carry(&from, &mut to).expect("carry again");
        assert_eq!(again, Carried::default());
        assert_eq!(
            to.read(state::installation).expect("id"),
            from.read(state::installation).expect("id")
        );
        let k = state::WorkKey::new("e2", state::What::Ticket, 1);
        assert_eq!(
            to.read(|c| state::work_key(c, &k)).expect("key"),
            from.read(|c| state::work_key(c, &k)).expect("key")
        );
        assert_eq!(to.pending("e2").expect("owed")[0].claimed_by, None);
        assert_eq!(to.row("e1").expect("row").map(|r| r.count), Some(3));
        // A DB used under another installation is refused.
        let other = State::open(&dir.path().join("other.db")).expect("open");
        let e = carry(&other, &mut to).expect_err("another installation");
        assert!(
            e.msg.contains("already holds the state of installation"),
            "{e}"
        );
    }
}
