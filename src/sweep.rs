//! `sweep`, the daemon's cycle: retries owed work (through `work`), reconciles the console,
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
use crate::console;
use crate::reconcile;
use crate::run::{self, Failure, Global};
use crate::state::{self, State, StateError};
use crate::time::beyond;
use crate::work::{Retrier, Tally};
use crate::zenoss::{Client, Evids};
use std::time::Instant;

/// Audit records (tickets of events no longer open) are kept this long.
const AUDIT_DAYS: f64 = 90.0;

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
    /// Whether the console read was complete, in words (None: no [ZENOSS]).
    pub console: Option<String>,
    /// Open events reconcile handled as a hook would have.
    pub reconciled: u64,
    /// Open events adopted on the first reconcile of an empty state DB.
    pub adopted: u64,
}

struct Sweep<'a> {
    cfg: &'a Config,
    zenoss: Option<&'a Client>,
    st: State,
    dry_run: bool,
    sum: Summary,
}

/// The `sweep` mode: config, log and Zenoss client from the global options, one run,
/// its summary logged. Printing is the caller's.
pub fn run_cmd(g: &Global, adopt: bool) -> Result<Summary, Failure> {
    let cfg = g.load_config()?;
    g.install_log(&cfg);
    let client = run::zenoss_client(&cfg)?;
    let opts = Options {
        dry_run: g.dry_run,
        adopt,
    };
    let summary = run(&cfg, client.as_ref(), opts).map_err(|e| {
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
        .read(|c| c.scalar::<i64>("SELECT count(*) FROM pending", &[]))
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

/// `sweep --every`: sweeps in a loop in the foreground, as the zenticket daemon polled,
/// one at a time (the single-run lock), `period` seconds from the start of one to the start
/// of the next (None: `cycletime`, re-read each cycle). The config is re-read every cycle:
/// a broken edit is logged once and the last good config kept, never a crash. SIGTERM or
/// SIGINT finish the step in hand and end the loop (exit 0); SIGHUP re-reads at once.
/// `cycles` stops it after that many (for tests and soak runs).
pub fn run_loop(
    g: &Global,
    period: Option<u64>,
    cycles: Option<u64>,
    adopt: bool,
) -> Result<(), Failure> {
    use crate::run::signals;
    signals::install();
    let mut cfg = g.load_config()?;
    g.install_log(&cfg);
    log::info!(
        "sweep loop started (pid {}): every {}s",
        std::process::id(),
        period.unwrap_or(cfg.cycletime)
    );
    let mut broken = false;
    let mut done = 0u64;
    loop {
        let started = Instant::now();
        let client = match run::zenoss_client(&cfg) {
            Ok(c) => c,
            Err(f) => {
                log::error!("sweep: {}", f.msg);
                None
            }
        };
        let opts = Options {
            dry_run: g.dry_run,
            adopt,
        };
        match run(&cfg, client.as_ref(), opts) {
            Ok(sum) => {
                if !sum.skipped && !g.dry_run {
                    log::info!("{}", sum.line());
                }
                crate::output::print(g.json, &sum.line(), &sum.json());
            }
            Err(e) => log::error!("sweep: {e}"),
        }
        done += 1;
        if signals::stopping() || cycles.is_some_and(|c| done >= c) {
            break;
        }
        let wait = std::time::Duration::from_secs(period.unwrap_or(cfg.cycletime));
        while started.elapsed() < wait && !signals::stopping() {
            if signals::take_reload() {
                log::info!("sweep loop: SIGHUP, re-reading the config now");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100).min(wait));
        }
        if signals::stopping() {
            break;
        }
        match g.load_config() {
            Ok(new) => {
                if broken {
                    log::info!("sweep loop: {} reads again; using it", new.file.display());
                }
                broken = false;
                g.install_log(&new);
                cfg = new;
            }
            Err(f) if !broken => {
                log::error!(
                    "sweep loop: the config does not read ({}); keeping the last good one until it is fixed",
                    f.msg
                );
                broken = true;
            }
            Err(_) => {}
        }
    }
    log::info!("sweep loop stopped after {done} cycle(s)");
    Ok(())
}

/// A dry run's view of the state DB: read-only when it exists, else an empty scratch DB.
fn dry_run_state(store: &state::Store) -> Result<State, StateError> {
    match State::open_read_store(store)? {
        Some(st) => Ok(st),
        None => State::scratch(store, ""),
    }
}

/// How a sweep runs: `--dry-run`, and whether a first reconcile on an empty state DB
/// adopts the console (not with `--no-adopt`).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub dry_run: bool,
    pub adopt: bool,
}

pub fn run(cfg: &Config, zenoss: Option<&Client>, opts: Options) -> Result<Summary, StateError> {
    // Sweep drains what hooks left over `maxconcurrent`: it waits for a slot, they do not.
    crate::tickets::http::wait_for_slots();
    let dry_run = opts.dry_run;
    let started = Instant::now();
    // A dry run reads a scratch copy (nothing on disk is created or written) and needs no
    // turn: it changes nothing another sweep could trip over.
    let mut st = if dry_run {
        dry_run_state(&cfg.store())?
    } else {
        let mut st = State::open_store(&cfg.store())?;
        if !st.sweep_turn()? {
            return Ok(Summary {
                skipped: true,
                dry_run,
                ..Summary::default()
            });
        }
        st
    };
    let mut retrier = Retrier {
        cfg,
        zenoss,
        st: &mut st,
        me: state::claimant(),
        tally: Tally::default(),
        sys: None,
    };
    retrier.run(dry_run)?;
    let t = std::mem::take(&mut retrier.tally);
    // Its ticket system borrows the state DB until it is gone.
    drop(retrier);
    let mut sweep = Sweep {
        cfg,
        zenoss,
        st,
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
    let read = sweep.read_console();
    if let (true, Some(read)) = (cfg.reconcile, read.as_ref()) {
        let tally = reconcile::run(cfg, zenoss, &mut sweep.st, read, opts.adopt, dry_run)?;
        sweep.sum.reconciled = tally.handled();
        sweep.sum.adopted = tally.adopted;
        if let Some(words) = tally.words() {
            sweep.sum.notes.push(words);
        }
    }
    if cfg.autocleartime > 0 {
        sweep.autoclear(read.as_ref())?;
    }
    sweep.prune(read.as_ref())?;
    if let (Some(z), Some(read)) = (zenoss, read.as_ref()) {
        let open: Vec<String> = read
            .rows
            .iter()
            .filter(|(_, row)| !reconcile::own_event(row))
            .map(|(e, _)| e.clone())
            .collect();
        let synced = crate::ticketsync::run(cfg, z, &mut sweep.st, &open, dry_run)?;
        if synced.acted > 0 || synced.trouble.is_some() {
            let mut words = format!(
                "{} event(s) whose ticket was resolved or closed acted on ({} request(s) to the ticket system)",
                synced.acted, synced.requests
            );
            if let Some(t) = &synced.trouble {
                log::warn!("sweep: closed-ticket sync: {t}");
                words.push_str(&format!("; sync stopped: {t}"));
            }
            sweep.sum.notes.push(words);
        }
    }
    if !dry_run {
        if let Some(n) = crate::twins::run(cfg, &mut sweep.st)?.filter(|n| *n > 0) {
            sweep.sum.notes.push(format!(
                "{n} second ticket(s) found carrying the key of one recorded (the search \
                 lagged beyond lookupgrace): recorded beside it, see `zenticket-hook state`"
            ));
        }
    }
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
            "breaker open since {}: {} still fails",
            crate::time::log_format(since),
            crate::work::system_words(cfg)
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
    // The sweep's turn is held by its state DB until here.
    Ok(sweep.sum)
}

impl Sweep<'_> {
    /// The console, read once; None (with a note) when Zenoss could not be read at all.
    fn read_console(&mut self) -> Option<console::Read> {
        let z = self.zenoss?;
        // Reconcile decides from the rows, so it asks for every field the rules read.
        let keys = if self.cfg.reconcile {
            reconcile::KEYS
        } else {
            &["evid", "count", "eventState", "lastTime", "eventClass"]
        };
        match console::read(z, keys) {
            Ok(read) => {
                match &read.incomplete {
                    None => {
                        self.sum.console = Some(format!(
                            "console read complete ({} open events)",
                            read.rows.len()
                        ))
                    }
                    Some(why) => {
                        log::warn!(
                            "sweep: the read of the open events does not add up ({why}): nothing is pruned, only events it saw are autoclosed"
                        );
                        self.sum.console =
                            Some(format!("console read incomplete ({why}): nothing pruned"));
                    }
                }
                Some(read)
            }
            Err(e) => {
                log::error!("sweep: cannot read open events from Zenoss: {e}");
                self.sum.console = Some(format!(
                    "open events not read ({e}): no autoclear, nothing pruned"
                ));
                None
            }
        }
    }

    /// Moves to history the open events whose lastTime, as Zenoss reports it in this read
    /// (never the stored one: later occurrences need not have called the hook), is older
    /// than autocleartime. The tool's own events are left alone.
    fn autoclear(&mut self, read: Option<&console::Read>) -> Result<(), StateError> {
        // The clock is read now, after the read: a lastTime Zenoss wrote during the read
        // is not taken for one stamped by a clock that was ahead.
        let (now, limit) = (crate::time::now(), self.cfg.autocleartime as f64);
        let Some(read) = read else {
            if self.zenoss.is_none() {
                self.sum
                    .notes
                    .push("autoclear needs a [ZENOSS] section".into());
            }
            return Ok(());
        };
        let old: Vec<String> = read
            .rows
            .iter()
            .filter(|(_, row)| !reconcile::own_event(row))
            .filter(|(_, row)| console::last_time(row).is_some_and(|l| beyond(l, now, limit)))
            .map(|(e, _)| e.clone())
            .collect();
        if self.dry_run {
            self.sum.autocleared = old.len() as u64;
            return Ok(());
        }
        let Some(z) = self.zenoss else {
            return Ok(());
        };
        for batch in Evids::batches(&old) {
            match z.close(&batch) {
                Ok(updated) => {
                    self.sum.autocleared += updated;
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
        Ok(())
    }

    /// Forgets the rows of events no longer open: only from complete reads, only rows
    /// written before the read began, and only once a second complete read, at least half
    /// a cycle later, missed the event too. Without `[ZENOSS]`: rows unchanged for longer
    /// than retrywindow. Never a row with work owed or given up.
    fn prune(&mut self, read: Option<&console::Read>) -> Result<(), StateError> {
        // Taken after the read: rows written meanwhile are seen as such. The clock is read
        // after them, so a row stamped during the read is never "ahead" of it.
        let known = self.st.read(state::known)?;
        let now = crate::time::now();
        let (prunable, missing, seen_again) = match (read, self.zenoss) {
            (Some(read), _) if read.complete() => {
                plan_prune(&known, read, self.cfg.cycletime as f64 / 2.0, now)
            }
            (_, Some(_)) => (Vec::new(), Vec::new(), Vec::new()),
            (None, None) => {
                let window = self.cfg.retrywindow as f64;
                let old = known
                    .iter()
                    .filter(|k| !k.has_pending && beyond(k.updated, now, window))
                    .map(|k| k.evid.clone())
                    .collect();
                (old, Vec::new(), Vec::new())
            }
            (Some(_), None) => (Vec::new(), Vec::new(), Vec::new()),
        };
        if self.dry_run {
            self.sum.pruned = prunable.len() as u64;
            return Ok(());
        }
        let started = read.map_or(now, |r| r.started);
        for chunk in missing.chunks(500) {
            self.st
                .write(|tx| state::mark_missing(tx, chunk, Some(started)))?;
        }
        for chunk in seen_again.chunks(500) {
            self.st.write(|tx| state::mark_missing(tx, chunk, None))?;
        }
        let audit_before = now - AUDIT_DAYS * 86400.0;
        // A hook may write a row between the plan and its pruning: the write itself
        // keeps a row written since the read began (or, without one, since the plan).
        for chunk in prunable.chunks(500) {
            let n = self.st.write(|tx| state::prune(tx, chunk, started))?;
            self.sum.pruned += n as u64;
        }
        self.st.write(|tx| state::prune_audit(tx, audit_before))?;
        Ok(())
    }
}

/// From a complete read: (rows to prune, rows missed for the first time, rows seen again
/// after a miss). A row is pruned when this read missed it, it was written before the read
/// began, nothing is owed on it, and an earlier complete read at least `apart` seconds
/// before this one missed it too.
///
/// Times after `now` were stamped while the clock was ahead: a row "written" then was not
/// written during this read, and a first miss "then" is taken as this read's (so two reads
/// still stand between a row and its pruning).
pub fn plan_prune(
    known: &[state::Known],
    read: &console::Read,
    apart: f64,
    now: f64,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut prune, mut missing, mut seen_again) = (Vec::new(), Vec::new(), Vec::new());
    for k in known {
        if read.rows.contains_key(&k.evid) {
            if k.missing_since.is_some() {
                seen_again.push(k.evid.clone());
            }
            continue;
        }
        if k.has_pending || (k.updated >= read.started && k.updated <= now) {
            continue;
        }
        match k.missing_since {
            None => missing.push(k.evid.clone()),
            Some(first) if first > now => missing.push(k.evid.clone()),
            Some(first) if first <= read.started - apart => prune.push(k.evid.clone()),
            Some(_) => {}
        }
    }
    (prune, missing, seen_again)
}
