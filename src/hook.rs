//! Handling one event, end to end: validate it, fetch its text from
//! Zenoss when the notification passed only numbers, record it, decide, run the script,
//! record the ticket, settle with Zenoss. Each step is committed before the next can
//! fail, so that a hook killed anywhere (zenactiond SIGKILLs a command at its action
//! timeout, 60 s by default: `zenactiond.py`) leaves work `sweep` can finish.
//!
//! Most calls are repeats of an occurrence already handled (Zenoss re-signals an open
//! event on every change): those are decided from a plain WAL read with no lock or write.

use crate::config::Config;
use crate::decide::{decide, trigger, Decision, Kind};
use crate::event::{Event, Fields};
use crate::run::{self, Failure, Global};
use crate::script;
use crate::state::{self, EventRow, NewWork, State, StateError, What, WorkKey};
use crate::tickets;
use crate::work::{self, Attempt, Fetched, Settled};
use crate::zenoss::Client;
use std::cell::OnceCell;
use std::ffi::OsString;
use std::path::Path;

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
    pub ticket: Option<String>,
    /// The count the ticket was made for: its note is owed under it, whatever later
    /// calls of the evid have raised the row's count to meanwhile.
    pub ticket_count: Option<i64>,
    /// Who made the ticket: "script", or the ticket system's name.
    pub system: &'static str,
    pub argv: Option<Vec<OsString>>,
    /// The request a ticket system would be sent (`--dry-run`), secrets masked.
    pub request: Option<String>,
    pub ack: Action,
    pub close: Action,
    pub autoclear: bool,
    pub dry_run: bool,
    /// 1 when something must be retried.
    pub retry: bool,
}

/// The default mode: one event, from the command line to the report. The report is
/// logged here; printing it and the exit status are the caller's.
pub fn run(g: &Global, fields: &Fields) -> Result<Report, Failure> {
    let mut ev = fields.to_event().map_err(Failure::usage)?;
    let path = g.config_path()?;
    let cfg = match Config::load(&path, run::env_zenhome()) {
        Ok(cfg) => cfg,
        Err(e) => return Err(record_despite_config(g, &path, &ev, e.to_string())),
    };
    g.install_log(&cfg);
    let client = run::zenoss_client(&cfg)?;
    fetch_text(g, &cfg, client.as_ref(), fields, &mut ev)?;
    ev.check_numbers()
        .map_err(|m| Failure::usage(format!("evid {}: Zenoss's event: {m}", ev.evid)))?;
    for (name, why) in ev.bad_times() {
        log::warn!(
            "evid {}: Zenoss's event: {name}: {why}; passed to the script as given",
            ev.evid
        );
    }
    require_numbers(&ev, fields.clear)?;
    let hook = Hook {
        cfg: &cfg,
        zenoss: client.as_ref(),
        dry_run: g.dry_run,
    };
    let result = if fields.clear {
        hook.clear(&ev)
    } else {
        hook.handle(&ev)
    };
    let report = result.map_err(|e| {
        log::error!("evid {}: {e}", ev.evid);
        Failure::retry(format!("evid {}: {e}", ev.evid))
    })?;
    if !g.dry_run {
        if report.retry {
            log::warn!("{}", report.line());
        } else {
            log::info!("{}", report.line());
        }
    }
    Ok(report)
}

/// The config does not read: record the event anyway, in the state DB the broken file
/// names, so `sweep` acts on it once the config is fixed, log it where the file says, and
/// say exactly where it went.
fn record_despite_config(g: &Global, path: &Path, ev: &Event, mut msg: String) -> Failure {
    if g.dry_run || ev.count.is_none() {
        return Failure::usage(msg);
    }
    let found = Config::salvage(path, run::env_zenhome());
    if let Some(target) = found.logfile {
        crate::log::Logger::new(target, None, g.verbose).install();
    }
    let Some((db, named)) = found.statedb else {
        msg.push_str(&format!(
            "; evid {} NOT recorded: no statedb could be read from the config and ZENHOME is unknown",
            ev.evid
        ));
        log::error!("{msg}");
        return Failure::usage(msg);
    };
    let whose = if named {
        String::new()
    } else {
        " (the default: [GENERAL] statedb could not be read from the broken config; \
          if it names another DB, move this event there by calling the hook again once the \
          config is fixed)"
            .to_string()
    };
    let why = format!("config error: {msg}");
    match work::record_undecided(&db, ev, &why) {
        Ok(true) => msg.push_str(&format!(
            "; evid {} recorded in {}{whose} as pending for `sweep`",
            ev.evid,
            db.display()
        )),
        Ok(false) => msg.push_str(&format!(
            "; evid {} recorded in {}{whose}",
            ev.evid,
            db.display()
        )),
        Err(se) => msg.push_str(&format!("; evid {} NOT recorded: {se}", ev.evid)),
    }
    log::error!("{msg}");
    Failure::usage(msg)
}

/// The ZenPack's notification passes only evid and numbers (event text is not safe on a
/// /bin/sh command line, where zenactiond quotes only summary and message, and weakly:
/// `Products/ZenModel/actions.py`, `CommandAction`): the text comes from Zenoss itself.
fn fetch_text(
    g: &Global,
    cfg: &Config,
    client: Option<&Client>,
    fields: &Fields,
    ev: &mut Event,
) -> Result<(), Failure> {
    let needs_text = !(fields.clear && cfg.clearscript.is_none());
    if !(fields.fetch || (needs_text && !ev.has_text())) {
        return Ok(());
    }
    let Some(z) = client else {
        if fields.fetch {
            let file = cfg.file.display();
            return Err(Failure::usage(format!(
                "--fetch needs a [ZENOSS] section in {file}"
            )));
        }
        return Ok(());
    };
    match work::fetch(z, ev) {
        Fetched::Filled => Ok(()),
        Fetched::NotFound(e) => {
            log::error!("evid {}: {e}", ev.evid);
            Err(Failure::usage(e.to_string()))
        }
        Fetched::Failed(why) => {
            let mut msg = format!("evid {}: {why}", ev.evid);
            if !g.dry_run && ev.count.is_some() && ev.event_state.is_some() {
                match work::record_undecided(&cfg.statedb, ev, &msg) {
                    Ok(_) => msg.push_str("; recorded for `zenticket-hook sweep`"),
                    Err(se) => msg.push_str(&format!("; NOT recorded: {se}")),
                }
            }
            log::error!("{msg}");
            Err(Failure::retry(msg))
        }
    }
}

/// The numbers the rules cannot do without, once every source has had its say.
fn require_numbers(ev: &Event, clear: bool) -> Result<(), Failure> {
    if ev.count.is_none() {
        return Err(Failure::usage(format!(
            "evid {}: --count is missing (Zenoss renders it as ${{evt/count}})",
            ev.evid
        )));
    }
    if ev.event_state.is_none() && !clear {
        return Err(Failure::usage(format!(
            "evid {}: --event-state is missing (Zenoss renders it as ${{evt/eventState}})",
            ev.evid
        )));
    }
    Ok(())
}

/// Everything one hook call needs from outside.
pub struct Hook<'a> {
    pub cfg: &'a Config,
    pub zenoss: Option<&'a Client>,
    pub dry_run: bool,
}

impl Hook<'_> {
    /// The state DB; for a dry run, a scratch copy of this evid's row (nothing on disk is
    /// created or written).
    fn state(&self, evid: &str) -> Result<State, StateError> {
        if self.dry_run {
            State::scratch(&self.cfg.store(), evid)
        } else {
            State::open_store(&self.cfg.store())
        }
    }

    fn system_name(&self) -> &'static str {
        self.cfg.system.as_ref().map_or("script", |s| s.kind.name())
    }

    fn collector(&self, cell: &OnceCell<Vec<u8>>) -> Vec<u8> {
        cell.get_or_init(|| self.cfg.collector.clone().unwrap_or_else(script::fqdn))
            .clone()
    }

    /// Handles one (non-clear) event. `Err` only when the state DB itself fails.
    pub fn handle(&self, ev: &Event) -> Result<Report, StateError> {
        let mut st = self.state(&ev.evid)?;
        self.handle_in(&mut st, ev)
    }

    /// The same in an open state DB: what reconcile runs for an occurrence no hook
    /// handled, so that both make exactly the same decision through the same claims.
    pub fn handle_in(&self, st: &mut State, ev: &Event) -> Result<Report, StateError> {
        let st = &mut *st;
        let me = state::claimant();
        let d = self.decide_and_record(st, ev, &me)?;
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
            ticket_count: None,
            system: self.system_name(),
            argv: None,
            request: None,
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
        if let (Kind::Ticket, Some(_)) = (d.kind, d.customer.as_ref()) {
            self.ticket(st, ev, &d, &me, &mut report)?;
        }
        if self.dry_run && d.close {
            report.close = Action::Skipped;
        }
        self.settle(st, &ev.evid, &mut report)?;
        Ok(report)
    }

    /// Steps 1 to 4 and 6 decided and recorded in one transaction: the count is stored
    /// and the ticket claimed before any script runs.
    fn decide_and_record(
        &self,
        st: &mut State,
        ev: &Event,
        me: &str,
    ) -> Result<Decision, StateError> {
        let cfg = self.cfg;
        let now = crate::time::now();
        let collector = OnceCell::new();
        let count = ev.count.unwrap_or(0);
        let decided = |seen: Option<i64>| -> Decision {
            let triggers = trigger(count, ev.event_state.unwrap_or(0), seen).0;
            let c = if triggers {
                self.collector(&collector)
            } else {
                Vec::new()
            };
            decide(ev, cfg, seen, now, &c)
        };
        // A repeat of a handled occurrence needs no lock and no write: a concurrent
        // writer can only raise the count, so "unchanged" stays true. The row is still
        // touched hourly so pruning sees the event alive.
        let before = st.row(&ev.evid)?;
        let quick = before.as_ref().and_then(|row| {
            let d = decided(Some(row.count));
            let fresh = !crate::time::beyond(row.updated, now, 3600.0);
            let same_state = ev.event_state.is_none() || row.event_state == ev.event_state;
            (d.kind == Kind::Unchanged && !d.close && fresh && same_state).then_some(d)
        });
        if let Some(d) = quick {
            return Ok(d);
        }
        if self.dry_run {
            let seen = match before {
                Some(r) => Some(r.count),
                None => st.read(|c| state::ticketed_count(c, &ev.evid))?,
            };
            return Ok(decided(seen));
        }
        let encoded = ev.encode();
        st.write(|tx| {
            // An evid with no row may have been ticketed before its row was pruned (an
            // autoclosed event reopened with the same evid): the ticket record says which
            // count, so the same count is not ticketed twice.
            let seen = match state::row(tx, &ev.evid)? {
                Some(r) => Some(r.count),
                None => state::ticketed_count(tx, &ev.evid)?,
            };
            let d = decided(seen);
            let cust = d.customer.as_ref();
            let row = EventRow {
                evid: &ev.evid,
                count: d.store_count,
                event_state: ev.event_state,
                last_time: ev.last_epoch(),
                customer: cust.map(|c| c.id.as_slice()),
                queue: cust.map(|c| c.queue.as_slice()),
            };
            state::upsert_event(tx, &row, now)?;
            if d.kind == Kind::Ticket {
                let owed = NewWork {
                    key: WorkKey::new(&ev.evid, What::Ticket, count),
                    event: Some(&encoded),
                    claimed_by: cfg.ticketscript.as_ref().map(|_| me),
                    note: cfg
                        .ticketscript
                        .is_none()
                        .then_some("no ticketscript in [GENERAL]"),
                };
                state::add_pending(tx, &owed, now)?;
            }
            if d.close {
                let owed = NewWork {
                    key: WorkKey::new(&ev.evid, What::Close, 0),
                    event: None,
                    claimed_by: cfg.zenoss.is_some().then_some(me),
                    note: None,
                };
                state::add_pending(tx, &owed, now)?;
            }
            Ok(d)
        })
    }

    /// Step 4: the ticket, through the configured system (the script by default), for a
    /// decision that routed to a customer.
    fn ticket(
        &self,
        st: &mut State,
        ev: &Event,
        d: &Decision,
        me: &str,
        report: &mut Report,
    ) -> Result<(), StateError> {
        let Some(c) = d.customer.as_ref() else {
            return Ok(());
        };
        let collector = self.collector(&OnceCell::new());
        let count = ev.count.unwrap_or(0);
        let full_key =
            st.read(|c| state::work_key(c, &WorkKey::new(&ev.evid, What::Ticket, count)))?;
        let r = tickets::Request {
            ev,
            customer: c,
            collector: &collector,
            note_title: &self.cfg.notetitle,
            key: &full_key,
            event_url: tickets::event_url(self.cfg, &ev.evid),
        };
        if self.cfg.system.is_none() {
            let ctx = script::Context {
                customer_id: &c.id,
                queue: &c.queue,
                collector: &collector,
                note_title: &self.cfg.notetitle,
            };
            let (args, cut) = script::argv(ev, &ctx);
            for what in &cut {
                log::warn!("evid {}: {what}", ev.evid);
            }
            let Some(path) = &self.cfg.ticketscript else {
                report.kind = Kind::TicketFailed;
                report.reason = format!(
                    "{}; no ticketscript in [GENERAL]: ticket kept pending",
                    d.reason
                );
                report.retry = true;
                return Ok(());
            };
            let mut full = vec![path.as_os_str().to_owned()];
            full.extend(args);
            report.argv = Some(full);
        }
        let key = WorkKey::new(&ev.evid, What::Ticket, count);
        let sys = match tickets::for_config(self.cfg) {
            Ok(sys) => sys,
            Err(why) => {
                work::attempt_failed(self.cfg, st, &key, &why, None)?;
                self.failed(report, d, &why);
                return Ok(());
            }
        };
        if self.dry_run {
            if self.cfg.system.is_some() {
                report.request = Some(
                    sys.preview(&r)
                        .unwrap_or_else(|e| format!("(no request: {e})")),
                );
            }
            report.ack = if d.ack {
                Action::Skipped
            } else {
                Action::NotNeeded
            };
            return Ok(());
        }
        let breaker = st.read(state::breaker)?;
        if let Some(since) = breaker.open_since {
            // The ticket system is failing: do not hold one of zenactiond's command slots
            // for it. The ticket is owed; the outage is reported once, by sweep.
            let note = format!(
                "deferred: {} failed {} times in a row; breaker open since {}",
                work::system_words(self.cfg),
                breaker.failures,
                crate::time::log_format(since)
            );
            st.write(|tx| state::defer(tx, &key, &note))?;
            report.kind = Kind::TicketDeferred;
            report.reason = format!("{}; {note}: owed, for `zenticket-hook sweep`", d.reason);
            return Ok(());
        }
        let claim = self.cfg.zenoss.is_some().then_some(me);
        match work::attempt_ticket(self.cfg, st, sys.as_ref(), &r, d.ack, claim)? {
            Attempt::Made(ticket) => {
                report.ticket = Some(ticket.id);
                report.ticket_count = Some(count);
                if d.ack {
                    report.ack = Action::Pending;
                }
            }
            Attempt::Failed {
                why,
                breaker: false,
                wait: Some(until),
            } => {
                // The system asked to wait (429, 503, a search that lags): not a failure of
                // the hook, so zenactiond raises no /Cmd/Failed; owed, tried at that time.
                work::attempt_failed(self.cfg, st, &key, &why, Some(until))?;
                report.kind = Kind::TicketDeferred;
                report.reason = format!(
                    "{}; {why}: owed, for `zenticket-hook sweep` (the ticket system asked to wait)",
                    d.reason
                );
            }
            Attempt::Failed { why, breaker, wait } => {
                work::attempt_failed(self.cfg, st, &key, &why, wait)?;
                if breaker {
                    work::script_failed(self.cfg, st, &why)?;
                }
                let shown = match &report.argv {
                    Some(argv) if argv.len() > 1 => {
                        format!(
                            " (argv: {})",
                            script::show_argv(Path::new(&argv[0]), &argv[1..])
                        )
                    }
                    _ => String::new(),
                };
                log::error!(
                    "evid {}: ticket failed: {why}; kept pending for `zenticket-hook sweep`{shown}",
                    ev.evid
                );
                self.failed(report, d, &why);
            }
            Attempt::Deferred(why) => {
                // Over `maxconcurrent`: answered at once, the ticket owed for sweep.
                st.write(|tx| state::defer(tx, &key, &why))?;
                report.kind = Kind::TicketDeferred;
                report.reason = format!("{}; {why}: owed, for `zenticket-hook sweep`", d.reason);
            }
            Attempt::Refused(why) => {
                work::give_up_now(st, &key, &why)?;
                self.failed(report, d, &format!("{why}; given up (fix the mapping, then `zenticket-hook requeue --evid {}`)", ev.evid));
            }
        }
        Ok(())
    }

    /// The report of a ticket that was not made.
    fn failed(&self, report: &mut Report, d: &Decision, why: &str) {
        report.kind = Kind::TicketFailed;
        report.reason = format!("{}; {why}", d.reason);
        report.retry = true;
    }

    /// Steps 5 and 6: the acknowledgement and the move to history the decision owes.
    fn settle(&self, st: &mut State, evid: &str, report: &mut Report) -> Result<(), StateError> {
        if self.dry_run {
            return Ok(());
        }
        let Some(z) = self.zenoss else {
            if report.ack == Action::Pending || report.close == Action::Pending {
                log::info!(
                    "evid {evid}: no [ZENOSS] section in {}: acknowledge/close recorded as pending",
                    self.cfg.file.display()
                );
            }
            return Ok(());
        };
        for what in [What::Acknowledge, What::Close] {
            let action = match what {
                What::Acknowledge => &mut report.ack,
                _ => &mut report.close,
            };
            if *action != Action::Pending {
                continue;
            }
            match work::settle_one(self.cfg, st, z, what, evid)? {
                Settled::Done => *action = Action::Done,
                Settled::Owed(why) => {
                    log::error!(
                        "evid {evid}: {what} failed: {why}; kept pending for `zenticket-hook sweep`"
                    );
                    report.retry = true;
                }
            }
        }
        if let Some(count) = report.ticket_count {
            // The ticket's note on the event: after the ticket and its acknowledgement,
            // never holding them up; a failure stays owed for sweep. When Zenoss just
            // failed this call, it is left owed at once (released for sweep): a second
            // timeout would only hold zenactiond's slot longer. It is owed under the
            // ticket's own count, which a later call may have raised the row past. The
            // details (the console's Ticket column) first; the note only where owed.
            if report.retry {
                for what in [What::Detail, What::Note] {
                    let key = WorkKey::new(evid, what, count);
                    st.write(|tx| state::defer(tx, &key, "not tried: Zenoss failed this call"))?;
                }
                return Ok(());
            }
            if let Settled::Owed(why) = work::write_details(self.cfg, st, z, evid, count)? {
                log::warn!("evid {evid}: the ticket's details in Zenoss failed: {why}; owed, for `zenticket-hook sweep`");
                let key = WorkKey::new(evid, What::Note, count);
                st.write(|tx| state::defer(tx, &key, "not tried: Zenoss failed this call"))?;
                return Ok(());
            }
            if let Settled::Owed(why) = work::write_note(self.cfg, st, z, evid, count)? {
                log::warn!("evid {evid}: the ticket's note in Zenoss failed: {why}; owed, for `zenticket-hook sweep`");
            }
        }
        Ok(())
    }

    /// A notification's clear command: remember the event cleared, and tell its ticket
    /// (the clear script, or the system's comment or resolve) when one is configured.
    pub fn clear(&self, ev: &Event) -> Result<Report, StateError> {
        let cfg = self.cfg;
        let now = crate::time::now();
        let mut st = self.state(&ev.evid)?;
        let row = st.row(&ev.evid)?;
        let ticket = st.read(|c| state::last_ticket(c, &ev.evid))?;
        if !self.dry_run {
            st.write(|tx| {
                if row.is_none() {
                    let new = EventRow {
                        evid: &ev.evid,
                        count: ev.count.unwrap_or(0),
                        event_state: ev.event_state,
                        last_time: ev.last_epoch(),
                        customer: None,
                        queue: None,
                    };
                    state::upsert_event(tx, &new, now)?;
                }
                state::mark_cleared(tx, &ev.evid, ev.event_state, now)
            })?;
        }
        let customer = work::customer_of(cfg, row.as_ref());
        let mut report = Report {
            evid: ev.evid.clone(),
            kind: Kind::Cleared,
            reason: match &ticket {
                Some((_, t)) => format!("event cleared; its ticket is {}", t.id),
                None => "event cleared; it has no ticket".into(),
            },
            customer: row.as_ref().and_then(|r| r.customer.clone()),
            queue: row.as_ref().and_then(|r| r.queue.clone()),
            section: None,
            ticket: ticket.as_ref().map(|(_, t)| t.id.clone()),
            ticket_count: None,
            system: ticket
                .as_ref()
                .and_then(|(_, t)| t.system.as_deref())
                .map_or("script", |_| self.system_name()),
            argv: None,
            request: None,
            ack: Action::NotNeeded,
            close: Action::NotNeeded,
            autoclear: false,
            dry_run: self.dry_run,
            retry: false,
        };
        let Some((ticket_count, ticket)) = ticket else {
            return Ok(report);
        };
        let sys = match tickets::for_ticket(cfg, &ticket) {
            Ok(Some(sys)) => sys,
            Ok(None) => return Ok(report),
            Err(why) => {
                log::error!("evid {}: clear: {why}", ev.evid);
                report.reason = format!("{}; {why}", report.reason);
                report.retry = true;
                return Ok(report);
            }
        };
        let collector = self.collector(&OnceCell::new());
        let full_key =
            st.read(|c| state::work_key(c, &WorkKey::new(&ev.evid, What::Clear, ticket_count)))?;
        let r = tickets::Request {
            ev,
            customer: &customer,
            collector: &collector,
            note_title: &cfg.notetitle,
            key: &full_key,
            event_url: tickets::event_url(cfg, &ev.evid),
        };
        if let (None, Some(path)) = (&ticket.system, &cfg.clearscript) {
            let ctx = script::Context {
                customer_id: &customer.id,
                queue: &customer.queue,
                collector: &collector,
                note_title: &cfg.notetitle,
            };
            let mut full = vec![
                path.as_os_str().to_owned(),
                "-ticket".into(),
                ticket.id.clone().into(),
            ];
            full.extend(script::argv(ev, &ctx).0);
            report.argv = Some(full);
        }
        if self.dry_run {
            return Ok(report);
        }
        let why = match sys.clear(&work::as_ticket(&ticket), &r, &work::clear_text(ev)) {
            tickets::Answer::Done(_) => {
                work::clear_twins(
                    &mut st,
                    sys.as_ref(),
                    &r,
                    ticket_count,
                    &work::clear_text(ev),
                );
                return Ok(report);
            }
            tickets::Answer::Refused(why) => {
                report.reason = format!("{}; clear refused: {why}", report.reason);
                report.retry = true;
                let key = WorkKey::new(&ev.evid, What::Clear, ticket_count);
                self.owe_clear(&mut st, ev, &key, &why)?;
                work::give_up_now(&mut st, &key, &why)?;
                return Ok(report);
            }
            tickets::Answer::Wait { why, .. }
            | tickets::Answer::Busy(why)
            | tickets::Answer::Ambiguous(why)
            | tickets::Answer::Unconfirmed(why)
            | tickets::Answer::Credentials(why)
            | tickets::Answer::Failed(why) => why,
        };
        // Keyed by the count the ticket was made for: the retry reads the ticket back.
        let key = WorkKey::new(&ev.evid, What::Clear, ticket_count);
        self.owe_clear(&mut st, ev, &key, &why)?;
        work::attempt_failed(cfg, &mut st, &key, &why, None)?;
        log::error!(
            "evid {}: clear failed: {why}; kept pending for `zenticket-hook sweep`",
            ev.evid
        );
        report.reason = format!("{}; clear failed: {why}", report.reason);
        report.retry = true;
        Ok(report)
    }

    fn owe_clear(
        &self,
        st: &mut State,
        ev: &Event,
        key: &WorkKey,
        why: &str,
    ) -> Result<(), StateError> {
        let encoded = ev.encode();
        let owed = NewWork {
            key: key.clone(),
            event: Some(&encoded),
            claimed_by: None,
            note: Some(why),
        };
        let now = crate::time::now();
        st.write_durable(|tx| state::add_pending(tx, &owed, now))
    }
}
