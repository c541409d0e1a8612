//! Handling one event, end to end: record it, decide, run the script, record the ticket,
//! settle with Zenoss. Each step is committed before the next can fail, so that a hook
//! killed anywhere (zenactiond SIGKILLs at its timeout) leaves work `sweep` can finish.

use crate::config::Config;
use crate::decide::{decide, trigger, Decision, Kind};
use crate::event::Event;
use crate::script;
use crate::state::{self, State, What};
use crate::zenoss::{Client, Evids};
use serde_json::{json, Value};
use std::cell::OnceCell;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// What happened to an acknowledgement or a move to history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Done,
    Pending,
    NotNeeded,
    Skipped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Done => "done",
            Action::Pending => "pending",
            Action::NotNeeded => "not-needed",
            Action::Skipped => "skipped",
        }
    }
}

/// The result of one hook call: what stdout, the log and the exit status say.
#[derive(Debug)]
pub struct Report {
    pub evid: String,
    pub kind: Kind,
    pub reason: String,
    pub customer: Option<Vec<u8>>,
    pub queue: Option<Vec<u8>>,
    pub section: Option<String>,
    pub ticket: Option<i64>,
    pub argv: Option<Vec<OsString>>,
    pub ack: Action,
    pub close: Action,
    pub autoclear: bool,
    pub dry_run: bool,
    /// 1 when something must be retried.
    pub retry: bool,
}

impl Report {
    pub fn line(&self) -> String {
        let lossy =
            |v: &Option<Vec<u8>>| String::from_utf8_lossy(v.as_deref().unwrap_or(b"")).into_owned();
        let mut s = match (self.kind, self.ticket) {
            (Kind::Ticket, Some(t)) => format!(
                "ticket {t} for evid {} (customer {}, queue {})",
                self.evid,
                lossy(&self.customer),
                lossy(&self.queue)
            ),
            (Kind::Ticket, None) => format!(
                "ticket due for evid {} (customer {}, queue {})",
                self.evid,
                lossy(&self.customer),
                lossy(&self.queue)
            ),
            (kind, _) => format!("{} for evid {}: {}", kind.as_str(), self.evid, self.reason),
        };
        match self.ack {
            Action::Done => s.push_str("; acknowledged"),
            Action::Pending => s.push_str("; acknowledge pending"),
            Action::Skipped => s.push_str("; would acknowledge"),
            Action::NotNeeded => {}
        }
        match self.close {
            Action::Done => s.push_str("; moved to history"),
            Action::Pending => s.push_str("; move to history pending"),
            Action::Skipped => s.push_str("; would move to history"),
            Action::NotNeeded => {}
        }
        if self.autoclear {
            s.push_str(" (autoclear)");
        }
        if self.dry_run {
            s.push_str(" [dry run: nothing changed]");
        }
        s
    }

    pub fn json(&self) -> Value {
        let text =
            |v: &Option<Vec<u8>>| v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
        json!({
            "evid": self.evid,
            "decision": self.kind.as_str(),
            "reason": self.reason,
            "customer": text(&self.customer),
            "queue": text(&self.queue),
            "section": self.section,
            "ticket": self.ticket,
            "argv": self.argv.as_ref().map(|a| a.iter()
                .map(|x| String::from_utf8_lossy(x.as_bytes()).into_owned())
                .collect::<Vec<_>>()),
            "ack": self.ack.as_str(),
            "close": self.close.as_str(),
            "autoclear": self.autoclear,
            "dry_run": self.dry_run,
        })
    }
}

/// Everything one hook call needs from outside.
pub struct Hook<'a> {
    pub cfg: &'a Config,
    pub zenoss: Option<&'a Client>,
    pub dry_run: bool,
}

impl Hook<'_> {
    fn collector(&self, cell: &OnceCell<Vec<u8>>) -> Vec<u8> {
        cell.get_or_init(|| self.cfg.collector.clone().unwrap_or_else(script::fqdn))
            .clone()
    }

    /// Handles one (non-clear) event. `Err` only when the state DB itself fails.
    pub fn handle(&self, ev: &Event) -> Result<Report, state::StateError> {
        let cfg = self.cfg;
        let now = crate::time::now();
        let mut st = State::open(&cfg.statedb)?;
        let me = state::claimant();
        let collector = OnceCell::new();
        let count = ev.count.unwrap_or(0);
        let zenoss = cfg.zenoss.is_some();

        // Step 1-4, 6 decided and recorded in one transaction: the count is stored and
        // the ticket claimed before any script runs.
        let decided = |seen: Option<i64>| -> Decision {
            let triggers = trigger(count, ev.event_state.unwrap_or(0), seen).0;
            let c = if triggers {
                self.collector(&collector)
            } else {
                Vec::new()
            };
            decide(ev, cfg, seen, now, &c)
        };
        // Most calls are repeats of an occurrence already handled (Zenoss re-signals an
        // open event on every change): decided from a plain WAL read, they need no lock
        // and no write. A concurrent writer can only raise the count, so "unchanged"
        // stays true. The row is still touched hourly so pruning sees the event alive.
        let before = st.row(&ev.evid)?;
        let quick = before.as_ref().and_then(|row| {
            let d = decided(Some(row.count));
            let fresh = row.updated > now - 3600.0;
            let same_state = ev.event_state.is_none() || row.event_state == ev.event_state;
            (d.kind == Kind::Unchanged && !d.close && fresh && same_state).then_some(d)
        });
        let d = if let Some(d) = quick {
            d
        } else if self.dry_run {
            decided(before.map(|r| r.count))
        } else {
            let encoded = ev.encode();
            st.write(|tx| {
                let seen = state::row(tx, &ev.evid)?.map(|r| r.count);
                let d = decided(seen);
                let cust = d.customer.as_ref();
                state::upsert_event(
                    tx,
                    &ev.evid,
                    d.store_count,
                    ev.event_state,
                    ev.last_epoch(),
                    cust.map(|c| c.id.as_slice()),
                    cust.map(|c| c.queue.as_slice()),
                    now,
                )?;
                if d.kind == Kind::Ticket {
                    let claim = cfg.ticketscript.as_ref().map(|_| me.as_str());
                    let note = cfg
                        .ticketscript
                        .is_none()
                        .then_some("no ticketscript in [GENERAL]");
                    state::add_pending(
                        tx,
                        &ev.evid,
                        What::Ticket,
                        count,
                        Some(&encoded),
                        claim,
                        note,
                        now,
                    )?;
                }
                if d.close {
                    let claim = zenoss.then_some(me.as_str());
                    state::add_pending(tx, &ev.evid, What::Close, 0, None, claim, None, now)?;
                }
                Ok(d)
            })?
        };
        for w in &d.warnings {
            log::warn!("{w}");
        }

        let mut report = Report {
            evid: ev.evid.clone(),
            kind: d.kind,
            reason: d.reason.clone(),
            customer: d.customer.as_ref().map(|c| c.id.clone()),
            queue: d.customer.as_ref().map(|c| c.queue.clone()),
            section: d.customer.as_ref().map(|c| c.section.clone()),
            ticket: None,
            argv: None,
            ack: Action::NotNeeded,
            close: if d.close {
                Action::Pending
            } else {
                Action::NotNeeded
            },
            autoclear: d.autoclear,
            dry_run: self.dry_run,
            retry: false,
        };

        if let (Kind::Ticket, Some(c)) = (d.kind, d.customer.as_ref()) {
            let collector = self.collector(&collector);
            let ctx = script::Context {
                customer_id: &c.id,
                queue: &c.queue,
                collector: &collector,
                note_title: &cfg.notetitle,
            };
            let (args, cut) = script::argv(ev, &ctx);
            for field in &cut {
                log::warn!(
                    "evid {}: {field} was {} bytes or longer, over Linux's limit for one argument; cut to 131071 bytes",
                    ev.evid,
                    crate::event::MAX_ARG
                );
            }
            match &cfg.ticketscript {
                None => {
                    report.kind = Kind::TicketFailed;
                    report.reason = format!(
                        "{}; no ticketscript in [GENERAL]: ticket kept pending",
                        d.reason
                    );
                    report.retry = true;
                }
                Some(path) => {
                    let mut full = vec![path.as_os_str().to_owned()];
                    full.extend(args.iter().cloned());
                    report.argv = Some(full);
                    if self.dry_run {
                        report.ack = if d.ack {
                            Action::Skipped
                        } else {
                            Action::NotNeeded
                        };
                    } else {
                        self.ticket(&mut st, ev, &d, path, &args, &me, &mut report)?;
                    }
                }
            }
        }
        if self.dry_run && d.close {
            report.close = Action::Skipped;
        }
        if let (false, Some(z)) = (self.dry_run, self.zenoss) {
            if report.ack == Action::Pending {
                report.ack =
                    self.settle(&mut st, z, What::Acknowledge, &ev.evid, &mut report.retry)?;
            }
            if report.close == Action::Pending {
                report.close = self.settle(&mut st, z, What::Close, &ev.evid, &mut report.retry)?;
            }
        }
        if !self.dry_run
            && (report.ack == Action::Pending || report.close == Action::Pending)
            && !zenoss
        {
            log::info!(
                "evid {}: no [ZENOSS] section in {}: acknowledge/close recorded as pending",
                ev.evid,
                cfg.file.display()
            );
        }
        Ok(report)
    }

    /// Acknowledges or closes one event in Zenoss; the pending row is removed when it
    /// worked and released for `sweep` when it did not.
    fn settle(
        &self,
        st: &mut State,
        z: &Client,
        what: What,
        evid: &str,
        retry: &mut bool,
    ) -> Result<Action, state::StateError> {
        let evids = Evids::one(evid);
        let result = match what {
            What::Acknowledge => z.acknowledge(&evids),
            _ => z.close(&evids),
        };
        let now = crate::time::now();
        match result {
            Ok(_) => {
                st.write(|tx| state::done(tx, evid, what, 0))?;
                Ok(Action::Done)
            }
            Err(e) => {
                let why = e.to_string();
                st.write(|tx| state::failed(tx, evid, what, 0, &why, now, self.cfg.retrydelay))?;
                log::error!(
                    "evid {evid}: {} failed: {why}; kept pending for `zenticket-hook sweep`",
                    what.as_str()
                );
                *retry = true;
                Ok(Action::Pending)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ticket(
        &self,
        st: &mut State,
        ev: &Event,
        d: &Decision,
        path: &std::path::Path,
        args: &[OsString],
        me: &str,
        report: &mut Report,
    ) -> Result<(), state::StateError> {
        let claim = self.cfg.zenoss.is_some().then_some(me);
        match attempt_ticket(self.cfg, st, ev, d, path, args, claim)? {
            Ok(ticket) => {
                report.ticket = Some(ticket);
                if d.ack {
                    report.ack = Action::Pending;
                }
            }
            Err(why) => {
                let count = ev.count.unwrap_or(0);
                let now = crate::time::now();
                let delay = self.cfg.retrydelay;
                st.write(|tx| state::failed(tx, &ev.evid, What::Ticket, count, &why, now, delay))?;
                log::error!(
                    "evid {}: ticket failed: {why}; kept pending for `zenticket-hook sweep` (argv: {})",
                    ev.evid,
                    script::show_argv(path, args)
                );
                report.kind = Kind::TicketFailed;
                report.reason = format!("{}; {why}", d.reason);
                report.retry = true;
            }
        }
        Ok(())
    }

    /// A notification's clear command: remember the event cleared, and run the clear
    /// script for its ticket when one is configured.
    pub fn clear(&self, ev: &Event) -> Result<Report, state::StateError> {
        let cfg = self.cfg;
        let now = crate::time::now();
        let mut st = State::open(&cfg.statedb)?;
        let row = st.row(&ev.evid)?;
        let ticket = state::last_ticket(st.conn(), &ev.evid).map_err(|e| state::StateError {
            path: cfg.statedb.clone(),
            msg: e.to_string(),
        })?;
        if !self.dry_run {
            st.write(|tx| {
                if row.is_none() {
                    state::upsert_event(
                        tx,
                        &ev.evid,
                        ev.count.unwrap_or(0),
                        ev.event_state,
                        ev.last_epoch(),
                        None,
                        None,
                        now,
                    )?;
                }
                state::mark_cleared(tx, &ev.evid, ev.event_state, now)
            })?;
        }
        let customer = row.as_ref().and_then(|r| r.customer.clone());
        let queue = row.as_ref().and_then(|r| r.queue.clone());
        let mut report = Report {
            evid: ev.evid.clone(),
            kind: Kind::Cleared,
            reason: match ticket {
                Some(t) => format!("event cleared; its ticket is {t}"),
                None => "event cleared; it has no ticket".into(),
            },
            customer: customer.clone(),
            queue: queue.clone(),
            section: None,
            ticket,
            argv: None,
            ack: Action::NotNeeded,
            close: Action::NotNeeded,
            autoclear: false,
            dry_run: self.dry_run,
            retry: false,
        };
        let (Some(path), Some(ticket)) = (&cfg.clearscript, ticket) else {
            return Ok(report);
        };
        let args = clear_args(cfg, ev, ticket, customer.as_deref(), queue.as_deref());
        let mut full = vec![path.as_os_str().to_owned()];
        full.extend(args.iter().cloned());
        report.argv = Some(full);
        if self.dry_run {
            return Ok(report);
        }
        if let Err(why) = run_clear(cfg, path, ev, &args) {
            let encoded = ev.encode();
            st.write_durable(|tx| {
                state::add_pending(
                    tx,
                    &ev.evid,
                    What::Clear,
                    ticket,
                    Some(&encoded),
                    None,
                    Some(&why),
                    now,
                )?;
                state::failed(tx, &ev.evid, What::Clear, ticket, &why, now, cfg.retrydelay)
            })?;
            log::error!(
                "evid {}: clear script failed: {why}; kept pending for `zenticket-hook sweep`",
                ev.evid
            );
            report.reason = format!("{}; clear script failed: {why}", report.reason);
            report.retry = true;
        }
        Ok(report)
    }
}

/// The clear script's argv: `-ticket N` and then the ticket script's.
pub fn clear_args(
    cfg: &Config,
    ev: &Event,
    ticket: i64,
    customer: Option<&[u8]>,
    queue: Option<&[u8]>,
) -> Vec<OsString> {
    let collector = cfg.collector.clone().unwrap_or_else(script::fqdn);
    let ctx = script::Context {
        customer_id: customer.unwrap_or(b""),
        queue: queue.unwrap_or(b""),
        collector: &collector,
        note_title: &cfg.notetitle,
    };
    let mut args: Vec<OsString> = vec!["-ticket".into(), ticket.to_string().into()];
    args.extend(script::argv(ev, &ctx).0);
    args
}

/// Runs the clear script; success is exit status 0 (its output is not read).
pub fn run_clear(
    cfg: &Config,
    path: &std::path::Path,
    ev: &Event,
    args: &[OsString],
) -> Result<(), String> {
    let count = ev.count.unwrap_or(0);
    let key = format!("{}-clear", script::idempotency_key(&ev.evid, count));
    let out = script::run(path, args, (&ev.evid, count, &key), cfg.scripttimeout);
    if out.succeeded() {
        Ok(())
    } else {
        Err(out.failure(path))
    }
}

/// Runs the ticket script for (evid, count) and, when it printed a ticket number, records
/// the ticket and the acknowledgement it calls for (claimed by `ack_claim` when given).
/// The inner `Err` is why no ticket came of it; recording that is the caller's.
pub fn attempt_ticket(
    cfg: &Config,
    st: &mut State,
    ev: &Event,
    d: &Decision,
    path: &std::path::Path,
    args: &[OsString],
    ack_claim: Option<&str>,
) -> Result<Result<i64, String>, state::StateError> {
    let count = ev.count.unwrap_or(0);
    let key = script::idempotency_key(&ev.evid, count);
    let out = script::run(path, args, (&ev.evid, count, &key), cfg.scripttimeout);
    let now = crate::time::now();
    let Some(ticket) = out.ticket() else {
        return Ok(Err(out.failure(path)));
    };
    let (id, queue) = d
        .customer
        .as_ref()
        .map(|c| (c.id.clone(), c.queue.clone()))
        .unwrap_or_default();
    st.write_durable(|tx| {
        state::ticket_made(tx, &ev.evid, count, ticket, &id, &queue, now)?;
        if d.ack {
            state::add_pending(
                tx,
                &ev.evid,
                What::Acknowledge,
                0,
                None,
                ack_claim,
                None,
                now,
            )?;
        }
        Ok(())
    })?;
    if !out.succeeded() {
        let status = if out.timed_out {
            "was killed at the timeout".to_string()
        } else {
            out.status
                .map_or("ended oddly".into(), |s| format!("ended with {s}"))
        };
        log::warn!(
            "evid {}: {} printed ticket {ticket} but {status}; the ticket counts (a retry would make a second one)",
            ev.evid,
            path.display()
        );
    }
    Ok(Ok(ticket))
}

/// Records an event whose config could not be read: the trigger rule needs no config, so
/// the count is kept and a ticket that falls due is left pending for `sweep`.
pub fn record_undecided(
    path: &std::path::Path,
    ev: &Event,
    why: &str,
) -> Result<bool, state::StateError> {
    let now = crate::time::now();
    let mut st = State::open(path)?;
    let encoded = ev.encode();
    let count = ev.count.unwrap_or(0);
    st.write_durable(|tx| {
        let seen = state::row(tx, &ev.evid)?.map(|r| r.count);
        let (triggers, store) = trigger(count, ev.event_state.unwrap_or(0), seen);
        state::upsert_event(
            tx,
            &ev.evid,
            store,
            ev.event_state,
            ev.last_epoch(),
            None,
            None,
            now,
        )?;
        if triggers {
            state::add_pending(
                tx,
                &ev.evid,
                What::Ticket,
                count,
                Some(&encoded),
                None,
                Some(why),
                now,
            )?;
        }
        Ok(triggers)
    })
}
