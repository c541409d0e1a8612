//! `sweep`, the cron companion: finishes what hooks could not (tickets, acknowledgements,
//! moves to history, clear scripts), autocloses stale events, prunes the state DB, and
//! says what it did in one line.
//!
//! Only one sweep runs at a time (a non-blocking flock on `<statedb>.sweep`); it takes
//! the state lock one short transaction at a time, never while a script or Zenoss runs,
//! so hooks are never held up by it for longer than that.

use crate::config::Config;
use crate::decide::{decide_due, Kind};
use crate::event::Event;
use crate::hook;
use crate::script;
use crate::state::{self, Due, State, StateError, What};
use crate::zenoss::{Client, Evids, ZenossError};
use fs2::FileExt;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Audit records (tickets of events no longer open) are kept this long.
const AUDIT_DAYS: f64 = 90.0;
/// An event seen this recently is not pruned even if Zenoss does not list it as open:
/// the query may have run before the hook recorded it.
const PRUNE_GRACE: f64 = 300.0;

#[derive(Debug, Default)]
pub struct Summary {
    pub retried: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub given_up: u64,
    pub autocleared: u64,
    pub pruned: u64,
    pub took: f64,
    pub dry_run: bool,
    /// Another sweep held the lock: nothing was done.
    pub skipped: bool,
    pub notes: Vec<String>,
}

impl Summary {
    pub fn line(&self) -> String {
        if self.skipped {
            return "sweep: another sweep is running; nothing done".into();
        }
        let mut s = format!(
            "sweep{}: retried {} (succeeded {}, failed {}, given up {}), autocleared {}, pruned {}, took {:.2}s",
            if self.dry_run { " (dry run: would have)" } else { "" },
            self.retried,
            self.succeeded,
            self.failed,
            self.given_up,
            self.autocleared,
            self.pruned,
            self.took
        );
        for n in &self.notes {
            s.push_str("; ");
            s.push_str(n);
        }
        s
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "retried": self.retried, "succeeded": self.succeeded, "failed": self.failed,
            "given_up": self.given_up, "autocleared": self.autocleared, "pruned": self.pruned,
            "took": self.took, "dry_run": self.dry_run, "skipped": self.skipped, "notes": self.notes,
        })
    }
}

struct Sweep<'a> {
    cfg: &'a Config,
    zenoss: Option<&'a Client>,
    st: State,
    me: String,
    now: f64,
    stale_before: f64,
    dry_run: bool,
    sum: Summary,
}

pub fn run(cfg: &Config, zenoss: Option<&Client>, dry_run: bool) -> Result<Summary, StateError> {
    let started = Instant::now();
    let st = State::open(&cfg.statedb)?;
    let lock = state::lock_file(&cfg.statedb, ".sweep").map_err(|e| StateError {
        path: cfg.statedb.clone(),
        msg: format!(
            "cannot open the sweep lock ({}.sweep): {e}",
            cfg.statedb.display()
        ),
    })?;
    if lock.try_lock_exclusive().is_err() {
        return Ok(Summary {
            skipped: true,
            dry_run,
            ..Summary::default()
        });
    }
    let now = crate::time::now();
    // A claim is dead once its holder must have been killed: zenactiond's kill comes
    // after the script's timeout and two Zenoss calls at the latest.
    let zenoss_time = cfg.zenoss.as_ref().map_or(0.0, |z| z.timeout.as_secs_f64());
    let stale_before = now - (cfg.scripttimeout.as_secs_f64() + 2.0 * zenoss_time + 30.0);
    let mut sweep = Sweep {
        cfg,
        zenoss,
        st,
        me: state::claimant(),
        now,
        stale_before,
        dry_run,
        sum: Summary {
            dry_run,
            ..Summary::default()
        },
    };
    sweep.retry()?;
    sweep.autoclear_and_prune()?;
    sweep.sum.took = started.elapsed().as_secs_f64();
    drop(lock);
    Ok(sweep.sum)
}

impl Sweep<'_> {
    fn err(&self, e: rusqlite::Error) -> StateError {
        StateError {
            path: self.cfg.statedb.clone(),
            msg: e.to_string(),
        }
    }

    fn retry(&mut self) -> Result<(), StateError> {
        let due =
            state::due(self.st.conn(), self.now, self.stale_before).map_err(|e| self.err(e))?;
        if self.dry_run {
            self.sum.retried = due.len() as u64;
            return Ok(());
        }
        let scripts = due
            .into_iter()
            .filter(|d| d.what == What::Ticket.as_str() || d.what == What::Clear.as_str());
        for d in scripts {
            if !self.claim(&d)? {
                continue;
            }
            self.sum.retried += 1;
            if d.what == What::Ticket.as_str() {
                self.retry_ticket(&d)?;
            } else {
                self.retry_clear(&d)?;
            }
        }
        // Acknowledgements and closes, in batches, read as of now: the tickets just made
        // owe acknowledgements created after this sweep started.
        let settles = state::due(self.st.conn(), crate::time::now(), self.stale_before)
            .map_err(|e| self.err(e))?;
        for what in [What::Acknowledge, What::Close] {
            let rows: Vec<Due> = settles
                .iter()
                .filter(|d| d.what == what.as_str())
                .cloned()
                .collect();
            self.settle(what, rows)?;
        }
        Ok(())
    }

    fn claim(&mut self, d: &Due) -> Result<bool, StateError> {
        let (me, now, stale) = (self.me.clone(), self.now, self.stale_before);
        self.st.write(|tx| state::claim(tx, d, &me, now, stale))
    }

    /// A failed attempt: retried later, or given up once out of tries or time.
    fn fail(&mut self, d: &Due, what: What, why: &str) -> Result<(), StateError> {
        let attempts = d.attempts + 1;
        let age = self.now - d.created;
        let now = self.now;
        let delay = self.cfg.retrydelay;
        if attempts >= i64::from(self.cfg.retries) || age >= self.cfg.retrywindow as f64 {
            self.st
                .write(|tx| state::done(tx, &d.evid, what, d.count))?;
            log::error!(
                "evid {}: giving up on {} after {attempts} attempt(s) over {:.0}s: {why}",
                d.evid,
                what.as_str(),
                age
            );
            self.sum.given_up += 1;
        } else {
            self.st
                .write(|tx| state::failed(tx, &d.evid, what, d.count, why, now, delay))?;
            log::warn!(
                "evid {}: {} attempt {attempts} failed: {why}",
                d.evid,
                what.as_str()
            );
            self.sum.failed += 1;
        }
        Ok(())
    }

    fn stored_event(&self, d: &Due) -> Option<Event> {
        d.event.as_deref().and_then(|b| Event::decode(b).ok())
    }

    fn retry_ticket(&mut self, d: &Due) -> Result<(), StateError> {
        let covered =
            state::ticket_covers(self.st.conn(), &d.evid, d.count).map_err(|e| self.err(e))?;
        if covered {
            self.st
                .write(|tx| state::done(tx, &d.evid, What::Ticket, d.count))?;
            log::info!(
                "evid {}: pending ticket for count {} is covered by a newer ticket",
                d.evid,
                d.count
            );
            self.sum.succeeded += 1;
            return Ok(());
        }
        let Some(mut ev) = self.stored_event(d) else {
            return self.fail(d, What::Ticket, "the stored event is missing or damaged");
        };
        // Recorded without text (Zenoss was down when the hook ran): fetch it now.
        if !ev.has_text() {
            if let Some(z) = self.zenoss {
                match z.detail(&ev.evid) {
                    Ok(obj) => match Event::from_json(&obj) {
                        Ok(fetched) => ev.fill_from(fetched),
                        Err(m) => {
                            return self.fail(
                                d,
                                What::Ticket,
                                &format!("Zenoss's event does not read: {m}"),
                            )
                        }
                    },
                    Err(e @ ZenossError::NotFound(_)) => {
                        self.st
                            .write(|tx| state::done(tx, &d.evid, What::Ticket, d.count))?;
                        log::error!("evid {}: giving up on ticket: {e}", d.evid);
                        self.sum.given_up += 1;
                        return Ok(());
                    }
                    Err(e) => {
                        return self.fail(d, What::Ticket, &format!("cannot fetch the event: {e}"))
                    }
                }
            }
        }
        let collector = self.cfg.collector.clone().unwrap_or_else(script::fqdn);
        let decision = decide_due(&ev, self.cfg, &collector);
        for w in &decision.warnings {
            log::warn!("{w}");
        }
        let now = self.now;
        match decision.kind {
            Kind::Ticket => {}
            Kind::FilteredClosed => {
                self.st.write(|tx| {
                    state::done(tx, &d.evid, What::Ticket, d.count)?;
                    state::add_pending(tx, &d.evid, What::Close, 0, None, None, None, now)
                })?;
                log::info!(
                    "evid {}: pending ticket now filtered-closed: {}",
                    d.evid,
                    decision.reason
                );
                self.sum.succeeded += 1;
                return Ok(());
            }
            other => {
                self.st
                    .write(|tx| state::done(tx, &d.evid, What::Ticket, d.count))?;
                log::info!(
                    "evid {}: pending ticket now {}: {}",
                    d.evid,
                    other.as_str(),
                    decision.reason
                );
                self.sum.succeeded += 1;
                return Ok(());
            }
        }
        let Some(path) = self.cfg.ticketscript.clone() else {
            return self.fail(d, What::Ticket, "no ticketscript in [GENERAL]");
        };
        let Some(c) = decision.customer.as_ref() else {
            return self.fail(d, What::Ticket, "no customer section");
        };
        let ctx = script::Context {
            customer_id: &c.id,
            queue: &c.queue,
            collector: &collector,
            note_title: &self.cfg.notetitle,
        };
        let (args, _) = script::argv(&ev, &ctx);
        match hook::attempt_ticket(self.cfg, &mut self.st, &ev, &decision, &path, &args, None)? {
            Ok(ticket) => {
                log::info!(
                    "ticket {ticket} for evid {} (customer {}, queue {}) on attempt {}",
                    d.evid,
                    String::from_utf8_lossy(&c.id),
                    String::from_utf8_lossy(&c.queue),
                    d.attempts + 1
                );
                self.sum.succeeded += 1;
                Ok(())
            }
            Err(why) => self.fail(d, What::Ticket, &why),
        }
    }

    fn retry_clear(&mut self, d: &Due) -> Result<(), StateError> {
        let Some(path) = self.cfg.clearscript.clone() else {
            self.st
                .write(|tx| state::done(tx, &d.evid, What::Clear, d.count))?;
            return Ok(());
        };
        let Some(ev) = self.stored_event(d) else {
            return self.fail(d, What::Clear, "the stored event is missing or damaged");
        };
        let row = self.st.row(&d.evid)?;
        let customer = row.as_ref().and_then(|r| r.customer.clone());
        let queue = row.as_ref().and_then(|r| r.queue.clone());
        let args = hook::clear_args(
            self.cfg,
            &ev,
            d.count,
            customer.as_deref(),
            queue.as_deref(),
        );
        match hook::run_clear(self.cfg, &path, &ev, &args) {
            Ok(()) => {
                self.st
                    .write(|tx| state::done(tx, &d.evid, What::Clear, d.count))?;
                log::info!(
                    "evid {}: clear script ran for ticket {} on a retry",
                    d.evid,
                    d.count
                );
                self.sum.succeeded += 1;
                Ok(())
            }
            Err(why) => self.fail(d, What::Clear, &why),
        }
    }

    /// Acknowledges or closes what is owed, at most 500 evids a call.
    fn settle(&mut self, what: What, rows: Vec<Due>) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        let Some(z) = self.zenoss else {
            // Nothing can deliver them; keep them until the window closes.
            for d in rows {
                if self.now - d.created >= self.cfg.retrywindow as f64 {
                    self.st
                        .write(|tx| state::done(tx, &d.evid, what, d.count))?;
                    log::error!(
                        "evid {}: giving up on {}: no [ZENOSS] section to deliver it",
                        d.evid,
                        what.as_str()
                    );
                    self.sum.given_up += 1;
                }
            }
            return Ok(());
        };
        // One transaction for all the claims: a commit per row would cost an fsync each.
        let (me, now, stale) = (self.me.clone(), self.now, self.stale_before);
        let claimed: Vec<Due> = self.st.write(|tx| {
            let mut claimed = Vec::new();
            for d in rows {
                if state::claim(tx, &d, &me, now, stale)? {
                    claimed.push(d);
                }
            }
            Ok(claimed)
        })?;
        let evids: Vec<String> = claimed.iter().map(|d| d.evid.clone()).collect();
        for batch in Evids::batches(&evids) {
            let batch_rows: Vec<Due> = claimed
                .iter()
                .filter(|d| batch.as_slice().contains(&d.evid))
                .cloned()
                .collect();
            self.sum.retried += batch_rows.len() as u64;
            let result = match what {
                What::Acknowledge => z.acknowledge(&batch),
                _ => z.close(&batch),
            };
            match result {
                Ok(_) => {
                    self.st.write(|tx| {
                        for d in &batch_rows {
                            state::done(tx, &d.evid, what, d.count)?;
                        }
                        Ok(())
                    })?;
                    self.sum.succeeded += batch_rows.len() as u64;
                }
                Err(e) => {
                    let why = e.to_string();
                    for d in &batch_rows {
                        self.fail(d, what, &why)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads every open event from Zenoss, page by page; None when any page fails (a
    /// partial list must never be taken as "the rest is closed").
    fn open_events(&mut self, z: &Client) -> Option<BTreeMap<String, Option<f64>>> {
        let mut open = BTreeMap::new();
        let mut start = 0u64;
        loop {
            match z.query_open(start, 1000) {
                Ok(page) => {
                    let n = page.events.len() as u64;
                    for e in page.events {
                        let Some(evid) = e.get("evid").and_then(|v| v.as_str()).map(String::from)
                        else {
                            continue;
                        };
                        let last = match e.get("lastTime") {
                            Some(serde_json::Value::Number(n)) => {
                                n.as_f64().map(|f| if f > 1e11 { f / 1000.0 } else { f })
                            }
                            Some(serde_json::Value::String(s)) => crate::time::parse(s).ok(),
                            _ => None,
                        };
                        open.insert(evid, last);
                    }
                    start += n;
                    if n == 0 || start >= page.total {
                        return Some(open);
                    }
                }
                Err(e) => {
                    log::error!("sweep: cannot read open events from Zenoss: {e}");
                    self.sum.notes.push(format!(
                        "open events not read ({e}): no autoclear or prune via Zenoss"
                    ));
                    return None;
                }
            }
        }
    }

    fn autoclear_and_prune(&mut self) -> Result<(), StateError> {
        let known = state::known(self.st.conn()).map_err(|e| self.err(e))?;
        let mut open = match self.zenoss {
            Some(z) => self.open_events(z),
            None => None,
        };

        if self.cfg.autocleartime > 0 {
            let cutoff = self.now - self.cfg.autocleartime as f64;
            let mut old: BTreeSet<String> = BTreeSet::new();
            if let Some(open) = &open {
                old.extend(
                    open.iter()
                        .filter(|(_, last)| last.is_some_and(|l| l < cutoff))
                        .map(|(e, _)| e.clone()),
                );
            }
            // Also those the state DB knows to be old (a Zenoss user may not see them all).
            let still_open = |e: &str| open.as_ref().is_none_or(|o| o.contains_key(e));
            old.extend(
                known
                    .iter()
                    .filter(|k| k.last_time.is_some_and(|l| l < cutoff) && still_open(&k.evid))
                    .map(|k| k.evid.clone()),
            );
            let old: Vec<String> = old.into_iter().collect();
            if self.dry_run {
                self.sum.autocleared = old.len() as u64;
            } else if let Some(z) = self.zenoss {
                for batch in Evids::batches(&old) {
                    match z.close(&batch) {
                        Ok(updated) => {
                            self.sum.autocleared += updated;
                            if let Some(open) = open.as_mut() {
                                for e in batch.as_slice() {
                                    open.remove(e);
                                }
                            }
                            log::info!(
                                "sweep: autoclear moved {updated} event(s) to history (lastTime older than {}s)",
                                self.cfg.autocleartime
                            );
                        }
                        Err(e) => {
                            log::error!(
                                "sweep: autoclear of {} event(s) failed: {e}",
                                batch.as_slice().len()
                            );
                            self.sum.notes.push(format!("autoclear failed: {e}"));
                        }
                    }
                }
            } else if !old.is_empty() {
                self.sum.notes.push(format!(
                    "{} event(s) due for autoclear, but no [ZENOSS] section",
                    old.len()
                ));
            }
        }

        // Prune: rows of events no longer open in Zenoss; without Zenoss, rows unchanged
        // for longer than retrywindow. Never a row with work still owed.
        let prunable: Vec<String> = known
            .iter()
            .filter(|k| {
                !k.has_pending
                    && match (&open, self.zenoss) {
                        (Some(open), _) => {
                            !open.contains_key(&k.evid) && k.updated < self.now - PRUNE_GRACE
                        }
                        (None, None) => k.updated < self.now - self.cfg.retrywindow as f64,
                        (None, Some(_)) => false,
                    }
            })
            .map(|k| k.evid.clone())
            .collect();
        if self.dry_run {
            self.sum.pruned = prunable.len() as u64;
            return Ok(());
        }
        let audit_before = self.now - AUDIT_DAYS * 86400.0;
        for chunk in prunable.chunks(500) {
            let n = self.st.write(|tx| state::prune(tx, chunk))?;
            self.sum.pruned += n as u64;
        }
        self.st.write(|tx| state::prune_audit(tx, audit_before))?;
        Ok(())
    }
}
