//! `sweep`, the cron companion (SPEC section 6): retries owed work (through `work`),
//! autocloses stale events, prunes the state DB, and says what it did in one line.
//!
//! Only one sweep runs at a time (a non-blocking flock on `<statedb>.sweep`); it takes
//! the state lock one short transaction at a time, never while a script or Zenoss runs,
//! so hooks are never held up by it for longer than that.
//!
//! Pruning forgets the rows of events Zenoss no longer lists as open, and only after a
//! read of every page of open events succeeded: a partial list must never be taken as
//! "the rest is closed". Ticket numbers stay 90 days as the audit record.

use crate::config::Config;
use crate::run::{self, Failure, Global};
use crate::state::{self, State, StateError};
use crate::work::{Retrier, Tally};
use crate::zenoss::{Client, Evids};
use fs2::FileExt;
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

struct Sweep<'a> {
    cfg: &'a Config,
    zenoss: Option<&'a Client>,
    st: State,
    now: f64,
    dry_run: bool,
    sum: Summary,
}

/// The `sweep` mode: config, log and Zenoss client from the global options, one run,
/// its summary logged. Printing is the caller's.
pub fn run_cmd(g: &Global) -> Result<Summary, Failure> {
    let cfg = g.load_config()?;
    g.install_log(&cfg);
    let client = run::zenoss_client(&cfg)?;
    let summary = run(&cfg, client.as_ref(), g.dry_run).map_err(|e| {
        log::error!("sweep: {e}");
        Failure::retry(format!("sweep: {e}"))
    })?;
    if !g.dry_run && !summary.skipped {
        log::info!("{}", summary.line());
    }
    Ok(summary)
}

/// Events recorded in the default state DB while the config was broken, when the config
/// (fixed since) names another: nothing sweeps them there, so say so every run.
fn stray_events(cfg: &Config) -> Option<String> {
    let default = cfg.zenhome.as_ref()?.join("var/zenticket.db");
    if default == cfg.statedb {
        return None;
    }
    let st = State::open_read(&default).ok()??;
    let owed = st
        .read(|c| c.query_row("SELECT count(*) FROM pending", [], |r| r.get::<_, i64>(0)))
        .ok()?;
    (owed > 0).then(|| {
        format!(
            "{owed} piece(s) of owed work wait in {} (recorded there while the config could not \
             be read), not in the statedb {} this config names: run `zenticket-hook --config \
             <a config with statedb: {}> sweep` once, or move them",
            default.display(),
            cfg.statedb.display(),
            default.display()
        )
    })
}

/// A dry run's view of the state DB: read-only when it exists, else an empty scratch DB.
fn dry_run_state(path: &std::path::Path) -> Result<State, StateError> {
    match State::open_read(path)? {
        Some(st) => Ok(st),
        None => State::scratch(path, ""),
    }
}

pub fn run(cfg: &Config, zenoss: Option<&Client>, dry_run: bool) -> Result<Summary, StateError> {
    let started = Instant::now();
    // A dry run reads a scratch copy (nothing on disk is created or written) and needs no
    // turn: it changes nothing another sweep could trip over.
    let (mut st, lock) = if dry_run {
        (dry_run_state(&cfg.statedb)?, None)
    } else {
        let st = State::open(&cfg.statedb)?;
        let lock = state::lock_file(&cfg.statedb, ".sweep").map_err(|e| {
            let what = format!("cannot open the sweep lock {}.sweep", cfg.statedb.display());
            StateError::new(&cfg.statedb, state::io_words(&what, &e))
        })?;
        if lock.try_lock_exclusive().is_err() {
            return Ok(Summary {
                skipped: true,
                dry_run,
                ..Summary::default()
            });
        }
        (st, Some(lock))
    };
    let now = crate::time::now();
    let mut retrier = Retrier {
        cfg,
        zenoss,
        st: &mut st,
        me: state::claimant(),
        now,
        tally: Tally::default(),
    };
    retrier.run(dry_run)?;
    let t = retrier.tally;
    let mut sweep = Sweep {
        cfg,
        zenoss,
        st,
        now,
        dry_run,
        sum: Summary {
            retried: t.retried,
            succeeded: t.succeeded,
            failed: t.failed,
            given_up: t.given_up,
            dry_run,
            ..Summary::default()
        },
    };
    sweep.autoclear_and_prune()?;
    if let Some(note) = stray_events(cfg) {
        log::warn!("sweep: {note}");
        sweep.sum.notes.push(note);
    }
    if t.deferred > 0 {
        sweep.sum.notes.push(format!(
            "{} script run(s) left for the next sweep (this one used its {}s)",
            t.deferred,
            crate::work::SCRIPT_BUDGET.as_secs()
        ));
    }
    if let Some(since) = sweep.st.read(state::breaker)?.open_since {
        sweep.sum.notes.push(format!(
            "breaker open since {}: the ticket script still fails",
            crate::time::log_format(since)
        ));
    }
    sweep.sum.took = started.elapsed().as_secs_f64();
    if !dry_run {
        crate::health::alert(cfg, zenoss, &mut sweep.st)?;
        let line = sweep.sum.line();
        let at = crate::time::now();
        sweep
            .st
            .write(|tx| state::set_meta(tx, "last_sweep", &line, at))?;
    }
    drop(lock);
    Ok(sweep.sum)
}

impl Sweep<'_> {
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
        let known = self.st.read(state::known)?;
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
