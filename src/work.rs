//! Owed work: everything the tool has promised and not yet done (a ticket, an
//! acknowledgement, a move to history, a clear script), how one attempt at it is made,
//! and the policy for trying again. A hook makes the first attempt; `sweep` retries. Both
//! come here, so the rules live in one place:
//!
//! - **Recorded before attempted.** Work is a `pending` row (evid, what, count) written
//!   before the script runs or Zenoss is called, claimed by the process doing it. A
//!   process killed mid-attempt (zenactiond SIGKILLs at its action timeout) leaves the row;
//!   `sweep` takes it over once the claim is stale.
//! - **One ticket per (evid, count).** The script gets `ZENTICKET_IDEMPOTENCY_KEY`, the
//!   same for every attempt at one ticket; a positive number it prints is a ticket even if
//!   it then fails (a retry would make a second one), recorded with a write that waits for
//!   the disk.
//! - **Backoff** (`backoff`): `retrydelay` after the first failure, doubling, never more
//!   than `retrymaxdelay` apart, so a ticket system back after an hour is tried again within
//!   minutes (Postfix's queue: `maximal_backoff_time`).
//! - **Give up** (`give_up`): once `retrywindow` (24 h) has passed since the work was first
//!   owed, or after `retries` attempts when that optional cap is set. Given-up work is kept,
//!   with when and why, shown by `state` and `status`, raised in Zenoss, and put back by
//!   `requeue` (the same key, so the same idempotency key).
//! - **Breaker** (`breaker_opens`): after `breakafter` script failures in a row (a timeout
//!   counts), hooks stop running the script and defer the ticket (`ticket-deferred`, exit
//!   0): a dead ticket system must not hold zenactiond's command slots, which every
//!   notification of the site shares. Each sweep tries the oldest owed ticket once; its
//!   success closes the breaker and the backlog drains, oldest first.
//! - **Stale claims** (`stale_after`, `claim_is_stale`): a claim is dead once its holder
//!   must have been killed: after the script's timeout plus two Zenoss calls plus 30 s.
//! - **Fetch** (`fetch`): an event recorded without text (the ZenPack's notification
//!   passes only the evid and numbers) is read from Zenoss with `detail` first.
//! - **Settle**: acknowledge and close go to Zenoss at most 500 evids a call (`Evids`);
//!   an empty list would act on every event in Zenoss, so it cannot be built.

use crate::config::Config;
use crate::decide::{decide_due, Kind};
use crate::event::Event;
use crate::script;
use crate::state::{self, Due, NewWork, State, StateError, What, WorkKey};
use crate::tickets::{Answer, Request, System, Ticket};
use crate::zenoss::{Client, Evids, ZenossError};
use std::path::Path;

/// How long one sweep may spend running scripts before it leaves the rest to the next
/// (cron starts one a minute).
pub const SCRIPT_BUDGET: std::time::Duration = std::time::Duration::from_secs(50);

/// Seconds to wait after a failed attempt, given the attempts that failed before it.
pub fn backoff(failed_before: i64, base: u64, cap: u64) -> u64 {
    let doublings = failed_before.clamp(0, 12) as u32;
    base.saturating_mul(1u64 << doublings).min(cap)
}

/// Whether work is given up after its `attempts`-th failed attempt, `age` seconds after it
/// was first owed: out of time (`window` seconds), or out of tries when `retries` caps
/// them (0: no cap).
pub fn give_up(attempts: i64, age: f64, retries: u32, window: u64) -> bool {
    age >= window as f64 || (retries > 0 && attempts >= i64::from(retries))
}

/// Whether `failures` script failures in a row open the breaker (`breakafter` 0: never).
pub fn breaker_opens(failures: u32, breakafter: u32) -> bool {
    breakafter > 0 && failures >= breakafter
}

/// How old a claim must be before its holder is taken for dead: a hook is killed by
/// zenactiond at the latest after the script's timeout and two Zenoss calls.
pub fn stale_after(cfg: &Config) -> f64 {
    let zenoss = cfg.zenoss.as_ref().map_or(0.0, |z| z.timeout.as_secs_f64());
    cfg.scripttimeout.as_secs_f64() + 2.0 * zenoss + 30.0
}

/// Whether a claim taken at `claimed_at` may be taken over at `now`: its holder must be
/// dead by now, or the claim was stamped further ahead than that by a clock that has
/// since stepped back.
pub fn claim_is_stale(claimed_at: f64, now: f64, stale_after: f64) -> bool {
    claimed_at < now - stale_after || claimed_at > now + stale_after
}

/// Which owed ticket probes an open breaker: one never tried first, else the one tried
/// least lately (the oldest on a tie), so that sweeps take the tickets in turn.
pub fn probe(tickets: &[Due]) -> Option<usize> {
    (0..tickets.len()).min_by(|&a, &b| {
        let at = |d: &Due| d.tried_at.unwrap_or(f64::NEG_INFINITY);
        at(&tickets[a])
            .total_cmp(&at(&tickets[b]))
            .then(tickets[a].created.total_cmp(&tickets[b].created))
    })
}

/// When owed work is next tried, and whether that is a wait the ticket system asked for
/// (shown as such by `state` and `status`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NextTry {
    pub at: f64,
    pub asked: bool,
}

/// The next try after a failed attempt at `now`: the wait the system asked for (`asked`,
/// an absolute time), cut to `maxwait`; else the backoff for the attempts that failed
/// before this one. A wait that has already passed is no wait.
pub fn next_try(now: f64, asked: Option<f64>, failed_before: i64, cfg: &Config) -> NextTry {
    match asked {
        Some(at) if at > now => NextTry {
            at: at.min(now + cfg.maxwait as f64),
            asked: true,
        },
        _ => NextTry {
            at: now + backoff(failed_before, cfg.retrydelay, cfg.retrymaxdelay) as f64,
            asked: false,
        },
    }
}

/// Whether work whose next try is `next_try`, set at `tried_at` (None: by an older
/// version, which did not say), is due at `now`. Its time has come; or the stamp is later
/// than now, so the clock stepped back since (the wait is over, however long it was); or
/// it lies further ahead than any wait could have put it (`maxwait`; for an unstamped
/// row, than any backoff: `max_delay`).
pub fn is_due(
    next_try: f64,
    tried_at: Option<f64>,
    now: f64,
    max_delay: u64,
    maxwait: u64,
) -> bool {
    next_try <= now
        || next_try > now + maxwait as f64
        || match tried_at {
            Some(at) => at > now,
            None => next_try > now + max_delay as f64,
        }
}

/// The moment owed work is read at, by these rules (`state::due`, `state::claim`).
pub fn horizon(cfg: &Config, now: f64) -> state::Horizon {
    let stale = stale_after(cfg);
    state::Horizon {
        due_before: now,
        stamped_after: now,
        unstamped_after: now + cfg.retrymaxdelay as f64,
        due_after: now + cfg.maxwait.max(cfg.retrymaxdelay) as f64,
        stale_before: now - stale,
        stale_after: now + stale,
        now,
    }
}

/// The outcome of one attempt at a ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The ticket is made and recorded.
    Made(Ticket),
    /// No ticket came of it, for this reason; it stays owed. `breaker`: the failure counts
    /// towards the breaker (a 429 does not); `wait`: the earliest next try the system asked
    /// for.
    Failed {
        why: String,
        breaker: bool,
        wait: Option<f64>,
    },
    /// The system refused the ticket itself (400/422): retrying cannot help, so it is
    /// given up at once, with the system's words.
    Refused(String),
    /// Not tried: `maxconcurrent` requests are in flight; owed, for sweep.
    Deferred(String),
}

/// One attempt at the ticket of `r` through `sys`, exactly once: a create that may have
/// landed (`sent_at` recorded before it was sent) is looked up by its key first. A ticket
/// made is recorded with the acknowledgement (`ack`) and the note in Zenoss it owes,
/// claimed by `ack_claim` when given.
pub fn attempt_ticket(
    cfg: &Config,
    st: &mut State,
    sys: &dyn System,
    r: &Request,
    ack: bool,
    ack_claim: Option<&str>,
) -> Result<Attempt, StateError> {
    let count = r.ev.count.unwrap_or(0);
    let key = WorkKey::new(&r.ev.evid, What::Ticket, count);
    // Made again after a lookup found nothing, in a system whose search lags: searched
    // for a twin afterwards.
    let mut again_after_lookup = false;
    if sys.can_find() {
        if let Some(sent) = st.read(|c| state::sent_at(c, &key))? {
            match sys.find_all(r) {
                Answer::Done(found) if !found.is_empty() => {
                    let mut found = found.into_iter();
                    let t = found.next().expect("not empty");
                    log::warn!(
                        "evid {}: ticket {} found by its key in {} after an answer was lost: recorded, not made again",
                        r.ev.evid,
                        t.id,
                        sys.name()
                    );
                    let twins: Vec<Ticket> = found.collect();
                    let made = record_made(cfg, st, sys, r, t, ack, ack_claim, None)?;
                    record_twins(st, sys, r, &twins)?;
                    return Ok(made);
                }
                Answer::Done(_) => {
                    again_after_lookup = sys.lookup_grace() > 0.0;
                    // A search that lags its writes may not show the ticket yet: nothing
                    // is created again until the grace has passed since the lost create.
                    let until = sent + sys.lookup_grace();
                    if crate::time::now() < until {
                        return Ok(Attempt::Failed {
                            why: format!(
                                "{}'s search finds nothing for the key yet, and it lags its writes: \
                                 not created again before {} (lookupgrace after the lost create)",
                                sys.name(),
                                crate::time::log_format(until)
                            ),
                            breaker: false,
                            wait: Some(until),
                        });
                    }
                }
                other => return Ok(failed(other, "looking the ticket up by its key")),
            }
        }
        let now = crate::time::now();
        st.write_durable(|tx| state::mark_sent(tx, &key, Some(now)))?;
    }
    match sys.create(r) {
        Answer::Done(t) => {
            let check = again_after_lookup.then(|| crate::time::now() + TWIN_SEARCH);
            record_made(cfg, st, sys, r, t, ack, ack_claim, check)
        }
        Answer::Refused(why) => {
            forget_sent(st, sys, &key)?;
            Ok(Attempt::Refused(why))
        }
        other => {
            // Only what cannot have landed clears the mark: an ambiguous answer (or a
            // 503/409) leaves it, so the next attempt looks first.
            let landed = matches!(
                other,
                Answer::Ambiguous(_)
                    | Answer::Unconfirmed(_)
                    | Answer::Wait {
                        ambiguous: true,
                        ..
                    }
            );
            if !landed {
                forget_sent(st, sys, &key)?;
            }
            Ok(failed(other, "making the ticket"))
        }
    }
}

fn forget_sent(st: &mut State, sys: &dyn System, key: &WorkKey) -> Result<(), StateError> {
    if sys.can_find() {
        st.write(|tx| state::mark_sent(tx, key, None))?;
    }
    Ok(())
}

/// An answer that made nothing, as an attempt's failure.
fn failed<T>(a: Answer<T>, doing: &str) -> Attempt {
    let now = crate::time::now();
    match a {
        Answer::Done(_) => Attempt::Failed {
            why: format!("{doing}: no answer to act on"),
            breaker: true,
            wait: None,
        },
        Answer::Wait { secs, why, .. } => Attempt::Failed {
            why,
            breaker: false,
            wait: Some(now + secs),
        },
        Answer::Refused(why) => Attempt::Refused(why),
        Answer::Busy(why) => Attempt::Deferred(why),
        Answer::Unconfirmed(why) => Attempt::Failed {
            why,
            breaker: false,
            wait: None,
        },
        Answer::Ambiguous(why) | Answer::Credentials(why) | Answer::Failed(why) => {
            Attempt::Failed {
                why,
                breaker: true,
                wait: None,
            }
        }
    }
}

/// Records a ticket made (or found), with the acknowledgement and the note it owes; the
/// breaker closes. A ticket the state DB will not take goes to the journal.
#[allow(clippy::too_many_arguments)]
fn record_made(
    cfg: &Config,
    st: &mut State,
    sys: &dyn System,
    r: &Request,
    t: Ticket,
    ack: bool,
    ack_claim: Option<&str>,
    check_twins_until: Option<f64>,
) -> Result<Attempt, StateError> {
    let now = crate::time::now();
    let made = made_of(r, &t, sys);
    let note = note_text(&t, r);
    let details = details_of(&t, sys.name()).to_string();
    let recorded = st.write_durable(|tx| {
        state::ticket_made(tx, &made, now)?;
        if let Some(until) = check_twins_until {
            state::check_twins(tx, made.evid, made.count, made.ticket, until)?;
        }
        if state::script_worked(tx)? {
            log::warn!("{} works again: breaker closed", system_words(cfg));
        }
        // Owed with the ticket, claimed by the hook that settles them now (if any).
        let owe = |what: What, count: i64, event: Option<&[u8]>| {
            let owed = NewWork {
                key: WorkKey::new(&r.ev.evid, what, count),
                event,
                claimed_by: ack_claim,
                note: None,
            };
            state::add_pending(tx, &owed, now)
        };
        if ack {
            owe(What::Acknowledge, 0, None)?;
        }
        if let Some(z) = &cfg.zenoss {
            // The ticket on the event (the console's Ticket column), the newest only: a
            // detail still owed for an older count must not overwrite it later.
            let no_details = state::meta(tx, state::DETAILS_UNSUPPORTED)?.is_some();
            state::drop_older(tx, &r.ev.evid, What::Detail, made.count)?;
            if !no_details {
                owe(What::Detail, made.count, Some(details.as_bytes()))?;
            }
            if z.ticketnote || no_details {
                owe(What::Note, made.count, Some(note.as_bytes()))?;
            }
        }
        Ok(())
    });
    if let Err(e) = recorded {
        return Err(unrecorded(st, &made, r.key, ack, e));
    }
    Ok(Attempt::Made(t))
}

/// The record of a ticket `sys` made for `r` (the script's kept with no system).
fn made_of<'a>(r: &'a Request, t: &'a Ticket, sys: &dyn System) -> state::Made<'a> {
    state::Made {
        evid: &r.ev.evid,
        count: r.ev.count.unwrap_or(0),
        ticket: &t.id,
        customer: &r.customer.id,
        queue: &r.customer.queue,
        system: (sys.name() != "script").then(|| sys.name()),
        reference: t.reference.as_deref(),
    }
}

/// How long a ticket made again after a lookup found nothing is searched for a twin: a
/// search lagging longer than this is an index that is broken, not slow.
pub const TWIN_SEARCH: f64 = 3600.0;

/// Records tickets found carrying the key of one already recorded for (evid, count) as its
/// twins, saying so loudly: the ticket system holds two tickets for one event (its search
/// lagged beyond `lookupgrace` after a lost answer). The clear and the closed-ticket sync
/// act on them too; `state` lists them; sweep raises it in Zenoss.
pub fn record_twins(
    st: &mut State,
    sys: &dyn System,
    r: &Request,
    twins: &[Ticket],
) -> Result<usize, StateError> {
    let mut new = 0;
    for t in twins {
        let made = made_of(r, t, sys);
        let now = crate::time::now();
        if st.write_durable(|tx| state::twin_found(tx, &made, now))? {
            new += 1;
            log::error!(
                "evid {} count {}: {} holds a second ticket {} with the same key as the one recorded (its search lagged beyond lookupgrace after a lost answer): both are recorded, and the clear and the closed-ticket sync act on both; close the one you do not want in {}",
                r.ev.evid,
                made.count,
                sys.name(),
                t.id,
                sys.name()
            );
        }
    }
    Ok(new)
}

/// Tells the twins of the ticket of (evid, count) the clear as well (best effort: the
/// ticket's own clear is what stays owed).
pub fn clear_twins(st: &mut State, sys: &dyn System, r: &Request, count: i64, text: &str) {
    let twins = match st.read(|c| state::twins_of(c, &r.ev.evid, count)) {
        Ok(t) => t,
        Err(e) => {
            log::warn!(
                "evid {}: the twins of its ticket cannot be read: {e}",
                r.ev.evid
            );
            return;
        }
    };
    for t in twins {
        if let Answer::Done(_) = sys.clear(&as_ticket(&t), r, text) {
            log::info!(
                "evid {}: clear told to the twin ticket {} too",
                r.ev.evid,
                t.id
            );
        } else {
            log::warn!(
                "evid {}: the clear of the twin ticket {} failed",
                r.ev.evid,
                t.id
            );
        }
    }
}

/// The ticket as details on its event (SPEC section 9): one string each; the url empty
/// where the system gives no page, so a newer ticket without one replaces an older link.
pub fn details_of(t: &Ticket, system: &str) -> serde_json::Value {
    serde_json::json!({
        "zenticket.ticket": t.id,
        "zenticket.system": system,
        "zenticket.url": t.link.clone().unwrap_or_default(),
    })
}

/// The note on the event in Zenoss that says which ticket it has (SPEC section 9).
pub fn note_text(t: &Ticket, r: &Request) -> String {
    let mut s = format!(
        "zenticket: ticket {} (customer {}, queue {})",
        t.id,
        String::from_utf8_lossy(&r.customer.id),
        String::from_utf8_lossy(&r.customer.queue)
    );
    if let Some(link) = &t.link {
        s.push(' ');
        s.push_str(link);
    }
    s
}

/// How the log names what makes tickets: "the ticket script", or the system.
pub fn system_words(cfg: &Config) -> String {
    match &cfg.system {
        None => "the ticket script".to_string(),
        Some(s) => format!("the ticket system ({})", s.kind.name()),
    }
}

/// The script made a ticket and the state DB would not take it: the ticket must not be
/// lost from every record (a retry would make it twice). It goes to the journal, which
/// the next run that can write records, and to the log and stderr with everything needed
/// to find it in the ticket system.
fn unrecorded(st: &State, m: &state::Made, key: &str, ack: bool, e: StateError) -> StateError {
    // This host's journal: beside a SQLite DB, or the local prefix of a shared one.
    let kept = match state::journal::record(&st.local, m, key, ack) {
        Ok(j) => format!("kept in {} for the next run that can write", j.display()),
        Err(je) => format!("NOT kept: the journal cannot be written either ({je})"),
    };
    let msg = format!(
        "ticket {} was made for evid {} count {} (idempotency key {key}) but could not be \
         recorded: {}; {kept}",
        m.ticket, m.evid, m.count, e.msg
    );
    log::error!("{msg}");
    StateError::new(&st.path, msg)
}

/// An attempt failed and the work stays owed: release the claim and set the next try.
pub fn attempt_failed(
    cfg: &Config,
    st: &mut State,
    k: &WorkKey,
    why: &str,
    wait: Option<f64>,
) -> Result<(), StateError> {
    st.write(|tx| {
        let before = state::attempts(tx, k)?;
        let now = crate::time::now();
        let next = next_try(now, wait, before, cfg);
        state::failed(tx, k, why, &next, now)
    })
}

/// Gives one piece of work up now (the ticket system refused it): kept with the reason
/// for `state --given-up`, raised in Zenoss by the next sweep, put back by `requeue`.
pub fn give_up_now(st: &mut State, k: &WorkKey, why: &str) -> Result<(), StateError> {
    let now = crate::time::now();
    st.write(|tx| state::give_up(tx, k, why, now))?;
    log::error!(
        "evid {}: giving up on {} at once: {why}; kept: `zenticket-hook state --given-up` lists \
         it, `zenticket-hook requeue --evid {}` tries again once the mapping is fixed",
        k.evid,
        k.what,
        k.evid
    );
    Ok(())
}

/// The ticket script failed (no number, a timeout, cannot run): one more in a row. Opens
/// the breaker at `breakafter`, saying so once.
pub fn script_failed(cfg: &Config, st: &mut State, why: &str) -> Result<(), StateError> {
    let now = crate::time::now();
    let breakafter = cfg.breakafter;
    let (b, opened) =
        st.write(|tx| state::script_failed(tx, now, |n| breaker_opens(n, breakafter)))?;
    if opened {
        let what = system_words(cfg);
        log::error!(
            "{what} failed {} times in a row (last: {why}): breaker open, hooks now \
             defer tickets to `zenticket-hook sweep`, which tries one each run until {} \
             works again",
            b.failures,
            if cfg.system.is_none() {
                "the script"
            } else {
                "it"
            }
        );
    }
    Ok(())
}

/// What became of an acknowledgement or a move to history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Done,
    /// Zenoss did not take it, for this reason; it stays owed.
    Owed(String),
}

/// Acknowledges or closes one event in Zenoss; the pending row is removed when it
/// worked and released for `sweep` when it did not.
pub fn settle_one(
    cfg: &Config,
    st: &mut State,
    z: &Client,
    what: What,
    evid: &str,
) -> Result<Settled, StateError> {
    let evids = Evids::one(evid);
    let key = WorkKey::new(evid, what, 0);
    match change(z, what, &evids) {
        Ok(_) => {
            st.write(|tx| state::done(tx, &key))?;
            Ok(Settled::Done)
        }
        Err(e) => {
            let why = e.to_string();
            attempt_failed(cfg, st, &key, &why, None)?;
            Ok(Settled::Owed(why))
        }
    }
}

/// Writes the ticket's note owed on an event (`write_log`); the pending row is removed
/// when it worked and released for `sweep` when it did not.
pub fn write_note(
    cfg: &Config,
    st: &mut State,
    z: &Client,
    evid: &str,
    count: i64,
) -> Result<Settled, StateError> {
    let key = WorkKey::new(evid, What::Note, count);
    let Some(text) = st.read(|c| state::pending_event(c, &key))? else {
        return Ok(Settled::Done);
    };
    match z.write_log(evid, &String::from_utf8_lossy(&text)) {
        Ok(()) => {
            st.write(|tx| state::done(tx, &key))?;
            Ok(Settled::Done)
        }
        Err(e) => {
            let why = e.to_string();
            attempt_failed(cfg, st, &key, &why, None)?;
            Ok(Settled::Owed(why))
        }
    }
}

/// Sets the ticket's details owed on an event (`updateDetails`): removed when set (or when
/// Zenoss no longer knows the evid, or a newer ticket replaced it), released for `sweep`
/// when Zenoss failed. A Zenoss without the method is asked once: the flag is kept, every
/// detail owed is dropped, and the ticket is noted in the event's log instead.
pub fn write_details(
    cfg: &Config,
    st: &mut State,
    z: &Client,
    evid: &str,
    count: i64,
) -> Result<Settled, StateError> {
    let settled = set_details(st, z, evid, count)?;
    if let Settled::Owed(why) = &settled {
        attempt_failed(cfg, st, &WorkKey::new(evid, What::Detail, count), why, None)?;
    }
    Ok(settled)
}

/// `write_details` but for recording a failure, which is the caller's.
fn set_details(st: &mut State, z: &Client, evid: &str, count: i64) -> Result<Settled, StateError> {
    let key = WorkKey::new(evid, What::Detail, count);
    let Some(raw) = st.read(|c| state::pending_event(c, &key))? else {
        return Ok(Settled::Done);
    };
    if st.read(|c| state::newer_ticket(c, evid, count))? {
        st.write(|tx| state::done(tx, &key))?;
        return Ok(Settled::Done);
    }
    let details = serde_json::from_slice::<serde_json::Value>(&raw)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    match z.update_details(evid, &details) {
        Ok(crate::zenoss::Details::Set) => {
            st.write(|tx| state::done(tx, &key))?;
            Ok(Settled::Done)
        }
        Ok(crate::zenoss::Details::Unsupported(words)) => {
            details_unsupported(st, &words)?;
            Ok(Settled::Done)
        }
        Err(ZenossError::NotFound(_)) => {
            log::warn!(
                "evid {evid}: Zenoss no longer knows the event: its ticket's details are not set"
            );
            st.write(|tx| state::done(tx, &key))?;
            Ok(Settled::Done)
        }
        Err(e) => Ok(Settled::Owed(e.to_string())),
    }
}

/// Zenoss has no `updateDetails`: said once, never asked again; the tickets whose details
/// were owed are noted in their events' logs instead, so the ticket still reaches Zenoss.
fn details_unsupported(st: &mut State, words: &str) -> Result<(), StateError> {
    let now = crate::time::now();
    let first = st.write(|tx| {
        let first = state::meta(tx, state::DETAILS_UNSUPPORTED)?.is_none();
        state::set_meta(tx, state::DETAILS_UNSUPPORTED, words, now)?;
        state::details_to_notes(tx, now)?;
        Ok(first)
    })?;
    if first {
        log::warn!(
            "this Zenoss has no updateDetails (4.2.0 to 4.2.4: {words}): the ticket is not put \
             on the event as a console column and is noted in the event's log instead; not \
             asked again"
        );
    }
    Ok(())
}

fn change(z: &Client, what: What, evids: &Evids) -> Result<u64, ZenossError> {
    match what {
        What::Acknowledge => z.acknowledge(evids),
        _ => z.close(evids),
    }
}

/// What fetching an event's text from Zenoss gave.
#[derive(Debug)]
pub enum Fetched {
    /// The event's missing fields are filled in.
    Filled,
    /// Zenoss does not know the evid: nothing will ever come of it.
    NotFound(ZenossError),
    /// Zenoss could not be asked, or its answer does not read: try again later.
    Failed(String),
}

/// Fills the fields `ev` lacks from Zenoss's `detail` of it (the given fields win: they
/// describe the occurrence that fired).
pub fn fetch(z: &Client, ev: &mut Event) -> Fetched {
    match z.detail(&ev.evid) {
        Ok(obj) => match Event::from_json(&obj) {
            Ok(fetched) => {
                ev.fill_from(fetched);
                Fetched::Filled
            }
            Err(m) => Fetched::Failed(format!("Zenoss's event does not read: {m}")),
        },
        Err(e @ ZenossError::NotFound(_)) => Fetched::NotFound(e),
        Err(e) => Fetched::Failed(format!("cannot fetch the event: {e}")),
    }
}

/// Records an event whose config could not be read: the trigger rule needs no config, so
/// the count is kept and a ticket that falls due is left pending for `sweep`. Returns
/// whether a ticket fell due.
pub fn record_undecided(path: &Path, ev: &Event, why: &str) -> Result<bool, StateError> {
    let now = crate::time::now();
    let mut st = State::open(path)?;
    let encoded = ev.encode();
    let count = ev.count.unwrap_or(0);
    st.write_durable(|tx| {
        let seen = state::row(tx, &ev.evid)?.map(|r| r.count);
        let (triggers, store) = crate::decide::trigger(count, ev.event_state.unwrap_or(0), seen);
        let row = state::EventRow {
            evid: &ev.evid,
            count: store,
            event_state: ev.event_state,
            last_time: ev.last_epoch(),
            customer: None,
            queue: None,
        };
        state::upsert_event(tx, &row, now)?;
        if triggers {
            let owed = NewWork {
                key: WorkKey::new(&ev.evid, What::Ticket, count),
                event: Some(&encoded),
                claimed_by: None,
                note: Some(why),
            };
            state::add_pending(tx, &owed, now)?;
        }
        Ok(triggers)
    })
}

/// The `requeue` mode: given-up work (of one evid, or all) back in the queue, first owed
/// now, with the same (evid, what, count) and so the same idempotency key; a ticket still
/// goes through the filters and routing of the config at its next try.
pub fn requeue(g: &crate::run::Global, evid: Option<&str>) -> Result<String, crate::run::Failure> {
    use crate::run::Failure;
    let cfg = g.load_config()?;
    g.install_log(&cfg);
    if g.dry_run {
        return Ok("requeue: dry run, nothing changed".into());
    }
    let mut st = State::open_store(&cfg.store()).map_err(|e| Failure::retry(e.to_string()))?;
    let now = crate::time::now();
    let n = st
        .write(|tx| state::requeue(tx, evid, now))
        .map_err(|e| Failure::retry(e.to_string()))?;
    if let (0, Some(e)) = (n, evid) {
        // Asked for one evid and nothing changed: say why rather than "requeued 0".
        let known = st.row(e).map_err(|e| Failure::retry(e.to_string()))?;
        let owed = st.pending(e).map_err(|e| Failure::retry(e.to_string()))?;
        let why = match (known, owed.len()) {
            (None, 0) => "is not in the state DB".to_string(),
            (_, 0) => "has nothing owed and nothing given up".to_string(),
            (_, n) => {
                format!("has nothing given up ({n} piece(s) of work still owed, retried by sweep)")
            }
        };
        return Err(Failure::usage(format!(
            "requeue: evid {e} {why}: nothing to requeue ({} lists what was given up)",
            "`zenticket-hook state --given-up`"
        )));
    }
    let line = match evid {
        Some(e) => format!("requeued {n} piece(s) of given-up work of evid {e}"),
        None => format!("requeued {n} piece(s) of given-up work"),
    };
    log::info!("{line}");
    Ok(line)
}

/// The customer a stored row was routed to (its section's `body` found by id and queue).
pub fn customer_of(cfg: &Config, row: Option<&state::Row>) -> crate::config::Customer {
    let id = row.and_then(|r| r.customer.clone()).unwrap_or_default();
    let queue = row.and_then(|r| r.queue.clone()).unwrap_or_default();
    cfg.customers
        .iter()
        .find(|c| c.id == id && c.queue == queue)
        .cloned()
        .unwrap_or(crate::config::Customer {
            section: String::new(),
            id,
            queue,
            groups: Vec::new(),
            body: None,
        })
}

/// A recorded ticket, as the systems take it.
pub fn as_ticket(t: &state::Recorded) -> Ticket {
    Ticket {
        id: t.id.clone(),
        reference: t.reference.clone(),
        link: None,
    }
}

/// What a ticket is told when its event clears: when, and the event's summary.
pub fn clear_text(ev: &Event) -> String {
    let when = ev.last_epoch().map_or_else(
        || crate::time::log_format(crate::time::now()),
        crate::time::log_format,
    );
    format!(
        "zenticket: the event cleared in Zenoss at {when}: {}",
        String::from_utf8_lossy(ev.summary.as_deref().unwrap_or(b""))
    )
}

/// How many tickets a sweep makes at once: one for the script (scripts run one at a
/// time, as the daemon ran them); for a ticket system, `maxconcurrent` when it caps the
/// requests, else four.
pub fn lanes(cfg: &Config) -> usize {
    match &cfg.system {
        None => 1,
        Some(s) if s.maxconcurrent > 0 => s.maxconcurrent as usize,
        Some(_) => 4,
    }
}

/// What one round of retries did, for the sweep's summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub retried: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub given_up: u64,
    /// Scripts left for the next run: this one used its time.
    pub deferred: u64,
}

/// Retries owed work: scripts one at a time, then acknowledgements and closes in batches.
pub struct Retrier<'a> {
    pub cfg: &'a Config,
    pub zenoss: Option<&'a Client>,
    pub st: &'a mut State,
    /// This process's claim name.
    pub me: String,
    pub tally: Tally,
    /// The ticket system, made at the first ticket retried and kept for the rest (its
    /// HTTP client and TLS settings are built once per sweep, not once per ticket).
    pub sys: Option<Box<dyn System + 'a>>,
}

impl Retrier<'_> {
    /// Owed work as of now: the clock is read for each decision, never once per sweep
    /// (a sweep runs for minutes, and what it judges may have been written meanwhile).
    fn horizon(&self) -> state::Horizon {
        horizon(self.cfg, crate::time::now())
    }

    /// Every piece of work that is due, oldest first. With `dry_run` it only counts them.
    pub fn run(&mut self, dry_run: bool) -> Result<(), StateError> {
        let h = self.horizon();
        let due = self.st.read(|c| state::due(c, &h))?;
        if dry_run {
            self.tally.retried = due.len() as u64;
            return Ok(());
        }
        let scripts: Vec<Due> = due
            .into_iter()
            .filter(|d| d.key.what.runs_script())
            .collect();
        if let Some(scripts) = self.through_breaker(scripts)? {
            let started = std::time::Instant::now();
            match lanes(self.cfg) {
                n if n > 1 && scripts.len() > 1 => self.drain_in_lanes(scripts, n, started)?,
                _ => {
                    let queue = std::sync::Mutex::new(scripts.into());
                    self.drain(&queue, started)?;
                }
            }
        }
        // Acknowledgements and closes, in batches, read as of now: the tickets just made
        // owe acknowledgements created after this sweep started.
        let now = crate::time::now();
        let h = horizon(self.cfg, now);
        let settles = self.st.read(|c| state::due(c, &h))?;
        for what in [What::Acknowledge, What::Close] {
            let rows: Vec<Due> = settles
                .iter()
                .filter(|d| d.key.what == what)
                .cloned()
                .collect();
            self.settle(what, rows)?;
        }
        let details: Vec<Due> = settles
            .iter()
            .filter(|d| d.key.what == What::Detail)
            .cloned()
            .collect();
        self.details(details)?;
        let notes = settles.into_iter().filter(|d| d.key.what == What::Note);
        self.notes(notes.collect())?;
        Ok(())
    }

    /// Takes owed work from `queue` until it is empty, the budget is spent, the breaker
    /// opens or a stop is asked for.
    fn drain(
        &mut self,
        queue: &std::sync::Mutex<std::collections::VecDeque<Due>>,
        started: std::time::Instant,
    ) -> Result<(), StateError> {
        loop {
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            let Some(d) = next else {
                return Ok(());
            };
            if crate::run::signals::stopping() {
                return Ok(());
            }
            if started.elapsed() > SCRIPT_BUDGET {
                self.tally.deferred += 1;
                continue;
            }
            if self.st.read(state::breaker)?.open_since.is_some() {
                return Ok(());
            }
            self.retry_script(&d)?;
        }
    }

    /// The same in `n` lanes at once, each with its own connection to the state DB (the
    /// claims keep two lanes off one piece of work, as they keep two processes off it):
    /// a backlog for a ticket system drains as fast as it and `maxconcurrent` allow.
    fn drain_in_lanes(
        &mut self,
        work: Vec<Due>,
        n: usize,
        started: std::time::Instant,
    ) -> Result<(), StateError> {
        let queue = std::sync::Mutex::new(std::collections::VecDeque::from(work));
        let (cfg, zenoss) = (self.cfg, self.zenoss);
        let results: Vec<Result<Tally, StateError>> = std::thread::scope(|scope| {
            let lanes: Vec<_> = (0..n)
                .map(|i| {
                    let queue = &queue;
                    let me = format!("{} lane {i}", self.me);
                    scope.spawn(move || {
                        let mut st = State::open_store(&cfg.store())?;
                        let mut lane = Retrier {
                            cfg,
                            zenoss,
                            st: &mut st,
                            me,
                            tally: Tally::default(),
                            sys: None,
                        };
                        lane.drain(queue, started)?;
                        Ok(lane.tally)
                    })
                })
                .collect();
            lanes
                .into_iter()
                .map(|l| {
                    l.join().unwrap_or_else(|_| {
                        Err(StateError::new(&cfg.statedb, "a sweep lane panicked"))
                    })
                })
                .collect()
        });
        for r in results {
            let t = r?;
            self.tally.retried += t.retried;
            self.tally.succeeded += t.succeeded;
            self.tally.failed += t.failed;
            self.tally.given_up += t.given_up;
            self.tally.deferred += t.deferred;
        }
        Ok(())
    }

    /// With the breaker closed, the scripts due. With it open, one probe (`probe`: the
    /// owed ticket tried least lately, due or not, so one ticket the system can never
    /// confirm does not stand for the system at every sweep); if it works, the breaker is
    /// closed and every owed ticket follows, oldest first (the backlog drains now, not at
    /// each one's backoff); if not, none.
    fn through_breaker(&mut self, due: Vec<Due>) -> Result<Option<Vec<Due>>, StateError> {
        if self.st.read(state::breaker)?.open_since.is_none() {
            return Ok(Some(due));
        }
        let all = state::Horizon {
            due_before: f64::MAX,
            ..self.horizon()
        };
        let owed = self.st.read(|c| state::due(c, &all))?;
        let mut tickets: Vec<Due> = owed
            .into_iter()
            .filter(|d| d.key.what == What::Ticket)
            .collect();
        let Some(i) = probe(&tickets) else {
            return Ok(Some(due));
        };
        let first = tickets.remove(i);
        self.retry_script(&first)?;
        if self.st.read(state::breaker)?.open_since.is_some() {
            return Ok(None);
        }
        let clears = due.into_iter().filter(|d| d.key.what == What::Clear);
        Ok(Some(tickets.into_iter().chain(clears).collect()))
    }

    fn retry_script(&mut self, d: &Due) -> Result<(), StateError> {
        if !self.claim(d)? {
            return Ok(());
        }
        self.tally.retried += 1;
        if d.key.what == What::Ticket {
            self.retry_ticket(d)
        } else {
            self.retry_clear(d)
        }
    }

    fn claim(&mut self, d: &Due) -> Result<bool, StateError> {
        let (me, h) = (self.me.clone(), self.horizon());
        self.st.write(|tx| state::claim(tx, &d.key, &me, &h))
    }

    fn forget(&mut self, k: &WorkKey) -> Result<(), StateError> {
        self.st.write(|tx| state::done(tx, k))
    }

    /// Gives work up: kept with its reason for `state --given-up` and `requeue`.
    fn abandon(&mut self, k: &WorkKey, reason: &str) -> Result<(), StateError> {
        let now = crate::time::now();
        self.st.write(|tx| state::give_up(tx, k, reason, now))?;
        log::error!(
            "evid {}: giving up on {} {reason}; kept: `zenticket-hook state --given-up` lists \
             it, `zenticket-hook requeue --evid {}` tries again",
            k.evid,
            k.what,
            k.evid
        );
        self.tally.given_up += 1;
        Ok(())
    }

    /// A failed attempt: retried later, or given up once out of tries or time.
    fn fail(&mut self, d: &Due, why: &str) -> Result<(), StateError> {
        self.fail_until(d, why, None)
    }

    /// The same, not retried before `wait` when the system asked for that.
    fn fail_until(&mut self, d: &Due, why: &str, wait: Option<f64>) -> Result<(), StateError> {
        let attempts = d.attempts + 1;
        let now = crate::time::now();
        let age = crate::time::age(d.created, now);
        let k = &d.key;
        if give_up(attempts, age, self.cfg.retries, self.cfg.retrywindow) {
            let reason = format!("after {attempts} attempt(s) over {age:.0}s: {why}");
            self.abandon(k, &reason)?;
        } else {
            let next = next_try(now, wait, d.attempts, self.cfg);
            self.st.write(|tx| state::failed(tx, k, why, &next, now))?;
            log::warn!(
                "evid {}: {} attempt {attempts} failed: {why}",
                k.evid,
                k.what
            );
            self.tally.failed += 1;
        }
        Ok(())
    }

    fn stored_event(d: &Due) -> Option<Event> {
        d.event.as_deref().and_then(|b| Event::decode(b).ok())
    }

    fn retry_ticket(&mut self, d: &Due) -> Result<(), StateError> {
        let k = &d.key;
        let covered = self
            .st
            .read(|c| state::ticket_covers(c, &k.evid, k.count))?;
        if covered {
            self.forget(k)?;
            log::info!(
                "evid {}: pending ticket for count {} is covered by a newer ticket",
                k.evid,
                k.count
            );
            self.tally.succeeded += 1;
            return Ok(());
        }
        let Some(mut ev) = Self::stored_event(d) else {
            return self.fail(d, "the stored event is missing or damaged");
        };
        if let Err(m) = ev.check_numbers() {
            return self.fail(d, &format!("the stored event does not read: {m}"));
        }
        // Recorded without text (Zenoss was down when the hook ran): fetch it now.
        if let (false, Some(z)) = (ev.has_text(), self.zenoss) {
            match fetch(z, &mut ev) {
                Fetched::Filled => {}
                Fetched::NotFound(e) => return self.abandon(k, &format!("at once: {e}")),
                Fetched::Failed(why) => return self.fail(d, &why),
            }
        }
        let collector = self.cfg.collector.clone().unwrap_or_else(script::fqdn);
        let decision = decide_due(&ev, self.cfg, &collector);
        for w in &decision.warnings {
            log::warn!("{w}");
        }
        if decision.kind != Kind::Ticket {
            let now = crate::time::now();
            let close = decision.kind == Kind::FilteredClosed;
            self.st.write(|tx| {
                state::done(tx, k)?;
                if close {
                    let owed = NewWork {
                        key: WorkKey::new(&k.evid, What::Close, 0),
                        event: None,
                        claimed_by: None,
                        note: None,
                    };
                    state::add_pending(tx, &owed, now)?;
                }
                Ok(())
            })?;
            log::info!(
                "evid {}: pending ticket now {}: {}",
                k.evid,
                decision.kind.as_str(),
                decision.reason
            );
            self.tally.succeeded += 1;
            return Ok(());
        }
        let Some(c) = decision.customer.as_ref() else {
            return self.fail(d, "no customer section");
        };
        if self.sys.is_none() {
            match crate::tickets::for_config(self.cfg) {
                Ok(sys) => self.sys = Some(sys),
                Err(why) => return self.fail(d, &why),
            }
        }
        let Some(sys) = self.sys.as_deref() else {
            return Ok(());
        };
        let full_key = self.st.read(|c| state::work_key(c, k))?;
        let r = crate::tickets::Request {
            ev: &ev,
            customer: c,
            collector: &collector,
            note_title: &self.cfg.notetitle,
            key: &full_key,
            event_url: crate::tickets::event_url(self.cfg, &k.evid),
        };
        match attempt_ticket(self.cfg, self.st, sys, &r, decision.ack, None)? {
            Attempt::Made(ticket) => {
                log::info!(
                    "ticket {} for evid {} (customer {}, queue {}) on attempt {}",
                    ticket.id,
                    k.evid,
                    String::from_utf8_lossy(&c.id),
                    String::from_utf8_lossy(&c.queue),
                    d.attempts + 1
                );
                self.tally.succeeded += 1;
                Ok(())
            }
            Attempt::Failed { why, breaker, wait } => {
                if breaker {
                    script_failed(self.cfg, self.st, &why)?;
                }
                self.fail_until(d, &why, wait)
            }
            Attempt::Refused(why) => {
                give_up_now(self.st, k, &why)?;
                self.tally.given_up += 1;
                Ok(())
            }
            Attempt::Deferred(why) => {
                self.st.write(|tx| state::defer(tx, k, &why))?;
                self.tally.deferred += 1;
                Ok(())
            }
        }
    }

    fn retry_clear(&mut self, d: &Due) -> Result<(), StateError> {
        let k = &d.key;
        let Some(ev) = Self::stored_event(d) else {
            return self.fail(d, "the stored event is missing or damaged");
        };
        let Some(ticket) = self.st.read(|c| state::ticket_for(c, &k.evid, k.count))? else {
            log::warn!(
                "evid {}: a clear is owed for the ticket of count {}, which is no longer recorded: dropped",
                k.evid,
                k.count
            );
            return self.forget(k);
        };
        let row = self.st.row(&k.evid)?;
        let customer = customer_of(self.cfg, row.as_ref());
        let collector = self.cfg.collector.clone().unwrap_or_else(script::fqdn);
        let full_key = self.st.read(|c| state::work_key(c, k))?;
        let r = crate::tickets::Request {
            ev: &ev,
            customer: &customer,
            collector: &collector,
            note_title: &self.cfg.notetitle,
            key: &full_key,
            event_url: crate::tickets::event_url(self.cfg, &k.evid),
        };
        let sys = match crate::tickets::for_ticket(self.cfg, &ticket) {
            Ok(Some(sys)) => sys,
            Ok(None) => return self.forget(k),
            Err(why) => return self.fail(d, &why),
        };
        match sys.clear(&as_ticket(&ticket), &r, &clear_text(&ev)) {
            Answer::Done(_) => {
                clear_twins(self.st, sys.as_ref(), &r, k.count, &clear_text(&ev));
                self.forget(k)?;
                log::info!(
                    "evid {}: clear of ticket {} done on a retry ({})",
                    k.evid,
                    ticket.id,
                    sys.name()
                );
                self.tally.succeeded += 1;
                Ok(())
            }
            Answer::Refused(why) => {
                give_up_now(self.st, k, &why)?;
                self.tally.given_up += 1;
                Ok(())
            }
            Answer::Wait { secs, why, .. } => {
                self.fail_until(d, &why, Some(crate::time::now() + secs))
            }
            Answer::Busy(why) => {
                self.st.write(|tx| state::defer(tx, k, &why))?;
                self.tally.deferred += 1;
                Ok(())
            }
            Answer::Ambiguous(why)
            | Answer::Unconfirmed(why)
            | Answer::Credentials(why)
            | Answer::Failed(why) => self.fail(d, &why),
        }
    }

    /// Sets the owed details on events in Zenoss, one call each (`updateDetails` takes one
    /// evid), the newest ticket of each event only.
    fn details(&mut self, rows: Vec<Due>) -> Result<(), StateError> {
        let Some(z) = self.zenoss else {
            // Owed from the journal on a site without [ZENOSS]: nothing can set them.
            return self.undeliverable(rows);
        };
        for d in rows {
            let (me, h) = (self.me.clone(), self.horizon());
            if !self.st.write(|tx| state::claim(tx, &d.key, &me, &h))? {
                continue;
            }
            self.tally.retried += 1;
            match set_details(self.st, z, &d.key.evid, d.key.count)? {
                Settled::Done => self.tally.succeeded += 1,
                Settled::Owed(why) => self.fail(&d, &why)?,
            }
            if self
                .st
                .read(|c| state::meta(c, state::DETAILS_UNSUPPORTED))?
                .is_some()
            {
                // Said once; the rest were turned into notes, written below.
                break;
            }
        }
        Ok(())
    }

    /// Work only Zenoss can take, owed on a site without `[ZENOSS]`: kept until the
    /// window closes, then given up.
    fn undeliverable(&mut self, rows: Vec<Due>) -> Result<(), StateError> {
        for d in rows {
            let age = crate::time::age(d.created, crate::time::now());
            if age >= self.cfg.retrywindow as f64 {
                let reason = format!("after {age:.0}s: no [ZENOSS] section to deliver it");
                self.abandon(&d.key, &reason)?;
            }
        }
        Ok(())
    }

    /// Writes the owed notes on events in Zenoss, one call each (each says its own ticket).
    fn notes(&mut self, rows: Vec<Due>) -> Result<(), StateError> {
        let Some(z) = self.zenoss else {
            return Ok(());
        };
        for d in rows {
            let (me, h) = (self.me.clone(), self.horizon());
            if !self.st.write(|tx| state::claim(tx, &d.key, &me, &h))? {
                continue;
            }
            self.tally.retried += 1;
            let text = String::from_utf8_lossy(d.event.as_deref().unwrap_or(b"")).into_owned();
            match z.write_log(&d.key.evid, &text) {
                Ok(()) => {
                    self.forget(&d.key)?;
                    self.tally.succeeded += 1;
                }
                Err(e) => self.fail(&d, &e.to_string())?,
            }
        }
        Ok(())
    }

    /// Acknowledges or closes what is owed, at most 500 evids a call.
    fn settle(&mut self, what: What, rows: Vec<Due>) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        let Some(z) = self.zenoss else {
            return self.undeliverable(rows);
        };
        // One transaction for all the claims: a commit per row would cost an fsync each.
        let (me, h) = (self.me.clone(), self.horizon());
        let claimed: Vec<Due> = self.st.write(|tx| {
            let mut claimed = Vec::new();
            for d in &rows {
                if state::claim(tx, &d.key, &me, &h)? {
                    claimed.push(d.clone());
                }
            }
            Ok(claimed)
        })?;
        let evids: Vec<String> = claimed.iter().map(|d| d.key.evid.clone()).collect();
        for batch in Evids::batches(&evids) {
            let batch_rows: Vec<Due> = claimed
                .iter()
                .filter(|d| batch.as_slice().contains(&d.key.evid))
                .cloned()
                .collect();
            self.tally.retried += batch_rows.len() as u64;
            match change(z, what, &batch) {
                Ok(_) => {
                    self.st.write(|tx| {
                        for d in &batch_rows {
                            state::done(tx, &d.key)?;
                        }
                        Ok(())
                    })?;
                    self.tally.succeeded += batch_rows.len() as u64;
                }
                Err(e) => {
                    let why = e.to_string();
                    for d in &batch_rows {
                        self.fail(d, &why)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config read from `text` (its statedb relative to a folder of its own).
    fn config(text: &str) -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("z.conf");
        std::fs::write(&conf, text).expect("write");
        Config::load(&conf, None).expect("config")
    }

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        // (failed before, base, cap) -> seconds
        let table: &[(i64, u64, u64, u64)] = &[
            (0, 60, 3600, 60),
            (1, 60, 3600, 120),
            (2, 60, 3600, 240),
            (5, 60, 3600, 1920),
            (6, 60, 3600, 3600),
            (40, 60, 3600, 3600),
            (-1, 60, 3600, 60),
            (0, 0, 3600, 0),
            (12, 1, 1 << 20, 4096),
            (13, 1, 1 << 20, 4096),
            (12, u64::MAX, 600, 600),
        ];
        for &(n, base, cap, want) in table {
            assert_eq!(backoff(n, base, cap), want, "backoff({n}, {base}, {cap})");
        }
    }

    #[test]
    fn give_up_when_out_of_tries_or_out_of_time() {
        // (attempts, age, retries, window) -> give up
        let table: &[(i64, f64, u32, u64, bool)] = &[
            // No cap (the default): only the window ends it.
            (1, 0.0, 0, 86400, false),
            (500, 86399.9, 0, 86400, false),
            (1, 86400.0, 0, 86400, true),
            // A cap set (`retries: 5`, as daemon-era configs have): whichever comes first.
            (4, 100.0, 5, 86400, false),
            (5, 100.0, 5, 86400, true),
            (6, 100.0, 5, 86400, true),
            (1, 86400.0, 5, 86400, true),
            (1, 0.0, 1, 86400, true),
            (1, 0.0, 2, 0, true),
        ];
        for &(attempts, age, retries, window, want) in table {
            assert_eq!(
                give_up(attempts, age, retries, window),
                want,
                "give_up({attempts}, {age}, {retries}, {window})"
            );
        }
    }

    #[test]
    fn the_breaker_opens_at_breakafter_failures_in_a_row() {
        // (failures, breakafter) -> open
        let table: &[(u32, u32, bool)] = &[
            (0, 3, false),
            (2, 3, false),
            (3, 3, true),
            (40, 3, true),
            (1, 1, true),
            (1000, 0, false),
        ];
        for &(failures, breakafter, want) in table {
            assert_eq!(
                breaker_opens(failures, breakafter),
                want,
                "{failures} {breakafter}"
            );
        }
    }

    #[test]
    fn a_claim_is_stale_only_after_its_holder_must_be_dead() {
        // (claimed_at, now, stale_after) -> stale
        let table: &[(f64, f64, f64, bool)] = &[
            (1000.0, 1000.0, 95.0, false),
            (1000.0, 1095.0, 95.0, false),
            (1000.0, 1095.1, 95.0, true),
            (1000.0, 5000.0, 95.0, true),
            (1000.0, 999.0, 95.0, false),
            // Taken while the clock was ahead: within the limit it is live ...
            (1095.0, 1000.0, 95.0, false),
            // ... beyond it, stale now (an hour ahead, a year ahead).
            (1095.1, 1000.0, 95.0, true),
            (4600.0, 1000.0, 95.0, true),
            (1000.0 + 365.0 * 86400.0, 1000.0, 95.0, true),
        ];
        for &(at, now, after, want) in table {
            assert_eq!(claim_is_stale(at, now, after), want, "{at} {now} {after}");
        }
    }

    #[test]
    fn work_is_due_when_its_time_came_or_the_clock_stepped_back_since_it_was_set() {
        // (next_try, tried_at, now, max_delay 600, maxwait 86400) -> due
        let table: &[(f64, Option<f64>, f64, bool)] = &[
            (1000.0, Some(900.0), 1000.0, true),
            (999.0, Some(900.0), 1000.0, true),
            (1000.1, Some(900.0), 1000.0, false),
            // A wait the system asked for, longer than any backoff: honoured.
            (1000.0 + 1800.0, Some(1000.0), 1000.0, false),
            (1000.0 + 3600.0, Some(990.0), 1000.0, false),
            (1000.0 + 86400.0, Some(1000.0), 1000.0, false),
            // Further than maxwait could have put it: due.
            (1000.0 + 86400.1, Some(1000.0), 1000.0, true),
            // Set by a clock an hour ahead (stamped later than now): due, however short.
            (4600.0 + 60.0, Some(4600.0), 1000.0, true),
            (1000.5, Some(1000.4), 1000.0, true),
            // An older DB's row (no stamp): beyond any backoff counts as a clock step.
            (1600.0, None, 1000.0, false),
            (1600.1, None, 1000.0, true),
            (1000.0 + 365.0 * 86400.0, None, 1000.0, true),
        ];
        for &(next, tried, now, want) in table {
            assert_eq!(
                is_due(next, tried, now, 600, 86400),
                want,
                "{next} {tried:?} {now}"
            );
        }
    }

    #[test]
    fn an_open_breaker_is_probed_with_each_owed_ticket_in_turn() {
        let due = |evid: &str, created: f64, tried_at: Option<f64>| Due {
            key: WorkKey::new(evid, What::Ticket, 1),
            event: None,
            attempts: 1,
            created,
            tried_at,
        };
        // (owed tickets) -> the probe
        let table: &[(&[Due], Option<&str>)] = &[
            (&[], None),
            (&[due("a", 1.0, Some(50.0))], Some("a")),
            // The poison ticket was the last probe: another goes next.
            (
                &[due("poison", 1.0, Some(90.0)), due("b", 2.0, Some(10.0))],
                Some("b"),
            ),
            (
                &[due("poison", 1.0, Some(90.0)), due("new", 5.0, None)],
                Some("new"),
            ),
            (&[due("x", 3.0, None), due("y", 2.0, None)], Some("y")),
            (
                &[due("x", 3.0, Some(7.0)), due("y", 2.0, Some(7.0))],
                Some("y"),
            ),
        ];
        for (owed, want) in table {
            let got = probe(owed).map(|i| owed[i].key.evid.as_str());
            assert_eq!(got, *want);
        }
    }

    #[test]
    fn a_wait_the_system_asked_for_is_kept_up_to_maxwait() {
        let cfg =
            config("[GENERAL]\nstatedb: s.db\nretrydelay: 60\nretrymaxdelay: 600\nmaxwait: 7200\n");
        // (asked, failed before) -> (next try, asked) at now 1000
        let table: &[(Option<f64>, i64, f64, bool)] = &[
            (None, 0, 1060.0, false),
            (None, 3, 1480.0, false),
            (None, 9, 1600.0, false),
            (Some(1003.0), 0, 1003.0, true),
            (Some(2800.0), 0, 2800.0, true),
            (Some(1000.0 + 7200.0), 5, 8200.0, true),
            (Some(1e15), 0, 8200.0, true),
            // A wait already over is no wait: the backoff.
            (Some(999.0), 1, 1120.0, false),
        ];
        for &(asked, before, at, was_asked) in table {
            assert_eq!(
                next_try(1000.0, asked, before, &cfg),
                NextTry {
                    at,
                    asked: was_asked
                },
                "{asked:?} {before}"
            );
        }
    }

    #[test]
    fn a_claim_outlives_the_script_timeout_and_two_zenoss_calls() {
        let text = "[GENERAL]\nstatedb: s.db\nscripttimeout: 45\n[ZENOSS]\nurl: http://127.0.0.1:9\ntimeout: 10\n";
        assert_eq!(stale_after(&config(text)), 45.0 + 20.0 + 30.0);
        let cfg = config("[GENERAL]\nstatedb: s.db\nscripttimeout: 45\n");
        assert_eq!(stale_after(&cfg), 75.0);
    }

    #[test]
    fn a_sweep_drains_scripts_one_at_a_time_and_systems_in_lanes() {
        let system = "[WEBHOOK]\nurl: http://127.0.0.1:9/h\n";
        // (ticketsystem, extra lines in its section) -> lanes
        let table: &[(&str, &str, usize)] = &[
            ("script", "", 1),
            ("webhook", "", 4),
            ("webhook", "maxconcurrent: 3\n", 3),
            ("webhook", "maxconcurrent: 1\n", 1),
        ];
        for &(kind, extra, want) in table {
            let text = format!("[GENERAL]\nstatedb: s.db\nticketsystem: {kind}\n{system}{extra}");
            assert_eq!(lanes(&config(&text)), want, "{kind} {extra:?}");
        }
    }
}
