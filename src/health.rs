//! The tool's own health, where an administrator looks: `status` (and `status --nagios`,
//! for a Zenoss COMMAND data source: one Nagios plugin line with performance data, exit
//! 0/1/2, read by `Products/ZenRRD/parsers/Nagios.py`), and the events the tool raises in
//! Zenoss about itself (`add_event`, event class `/App/Zenticket`, which the ZenPack
//! creates and its trigger excludes, so they never become tickets through the tool).
//!
//! Three conditions, each raised once when it starts and cleared when it ends, with a
//! summary that never changes (Zenoss counts repeats of one summary instead of adding
//! events): the breaker is open (Error), work was given up in the last 24 h (Error),
//! work has been owed for more than 15 minutes (Warning). The decisions are pure
//! functions of `state::Health`; sending is at the edge.

use crate::config::Config;
use crate::state::{self, Health, State, StateError};
use crate::time::age;
use crate::zenoss::{Client, OwnEvent};
use serde_json::{json, Value};

/// Owed work older than this is a warning.
pub const OWED_TOO_LONG: f64 = 15.0 * 60.0;
/// No sweep for this long is critical: nothing retries, reconciles or autocloses.
pub const NO_SWEEP: f64 = 10.0 * 60.0;
/// Given-up work counts as recent this long.
pub const RECENT: f64 = 24.0 * 3600.0;

/// One condition the tool raises in Zenoss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    Breaker,
    GivenUp,
    Owed,
    Twins,
}

impl Alert {
    pub const ALL: [Alert; 4] = [Alert::Breaker, Alert::GivenUp, Alert::Owed, Alert::Twins];

    fn key(self) -> &'static str {
        match self {
            Alert::Breaker => "alert:breaker",
            Alert::GivenUp => "alert:given_up",
            Alert::Owed => "alert:owed",
            Alert::Twins => "alert:twins",
        }
    }

    /// The same words every time: Zenoss deduplicates on them.
    pub fn summary(self) -> &'static str {
        match self {
            Alert::Breaker => {
                "zenticket: the ticket script keeps failing; breaker open, tickets deferred"
            }
            Alert::GivenUp => {
                "zenticket: work given up (see zenticket-hook state --given-up; requeue)"
            }
            Alert::Owed => "zenticket: work owed for more than 15 minutes",
            Alert::Twins => {
                "zenticket: a ticket system holds a second ticket for one event (see zenticket-hook state)"
            }
        }
    }

    pub fn severity(self) -> &'static str {
        match self {
            Alert::Breaker | Alert::GivenUp | Alert::Twins => "Error",
            Alert::Owed => "Warning",
        }
    }

    /// Whether the condition holds.
    pub fn holds(self, h: &Health, now: f64) -> bool {
        match self {
            Alert::Breaker => h.breaker.open_since.is_some(),
            Alert::GivenUp => h.given_up_since > 0,
            Alert::Owed => h.oldest.is_some_and(|t| age(t, now) > OWED_TOO_LONG),
            Alert::Twins => h.twins_since > 0,
        }
    }
}

/// What to send for one alert: its severity when it starts, `Clear` when it ends, nothing
/// while it stays as it was.
pub fn transition(holds: bool, raised: bool) -> Option<bool> {
    (holds != raised).then_some(holds)
}

/// What to send for one alert, in order (true: raise, false: clear), given whether it
/// holds now, whether it started since Zenoss was last told (a breaker that opened and
/// closed between two sweeps delayed tickets all the same), and whether it is raised.
pub fn steps(holds: bool, started_untold: bool, raised: bool) -> Vec<bool> {
    let mut out = Vec::new();
    let mut raised = raised;
    if started_untold && !raised {
        out.push(true);
        raised = true;
    }
    out.extend(transition(holds, raised));
    out
}

/// The health as the state DB has it now.
pub fn read(st: &State, now: f64) -> Result<Health, StateError> {
    st.health(now - RECENT)
}

/// Raises and clears the tool's events as the conditions start and end. Without
/// `[ZENOSS]` the log line is all there is. A failed send is logged and tried again on the
/// next sweep, never in a loop.
pub fn alert(cfg: &Config, zenoss: Option<&Client>, st: &mut State) -> Result<(), StateError> {
    let now = crate::time::now();
    let h = read(st, now)?;
    let device =
        String::from_utf8_lossy(&cfg.collector.clone().unwrap_or_else(crate::script::fqdn))
            .into_owned();
    for a in Alert::ALL {
        let raised = st.read(|c| state::meta(c, a.key()))?.is_some();
        let untold = a == Alert::Breaker && h.breaker_opened.is_some();
        for starts in steps(a.holds(&h, now), untold, raised) {
            if !tell(&device, zenoss, a, starts) {
                // Tried again on the next sweep, from what the state DB still says.
                break;
            }
            st.write(|tx| {
                if starts {
                    state::set_meta(tx, a.key(), a.severity(), now)?;
                    if a == Alert::Breaker {
                        state::clear_meta(tx, state::BREAKER_OPENED)?;
                    }
                    Ok(())
                } else {
                    state::clear_meta(tx, a.key())
                }
            })?;
        }
    }
    Ok(())
}

/// Logs one alert's start or end and sends it to Zenoss; whether it was delivered (always,
/// without `[ZENOSS]`: the log line is all there is).
fn tell(device: &str, zenoss: Option<&Client>, a: Alert, starts: bool) -> bool {
    let severity = if starts { a.severity() } else { "Clear" };
    if starts {
        log::error!("{}", a.summary());
    } else {
        log::info!("cleared: {}", a.summary());
    }
    let Some(z) = zenoss else {
        return true;
    };
    let e = OwnEvent {
        summary: a.summary().into(),
        device: device.to_string(),
        component: "zenticket".into(),
        severity: severity.into(),
        evclasskey: "zenticket".into(),
        evclass: "/App/Zenticket".into(),
    };
    match z.add_event(&e) {
        Ok(()) => true,
        Err(err) => {
            log::error!("cannot tell Zenoss ({severity}: {}): {err}", a.summary());
            false
        }
    }
}

/// The `status` mode: (exit status, line or Nagios line, JSON). Plain `status` exits 0
/// whatever it finds (it answered); `--nagios` exits as a plugin does.
pub fn status(
    g: &crate::run::Global,
    nagios: bool,
) -> Result<(i32, String, Value), crate::run::Failure> {
    use crate::run::Failure;
    let cfg = g.load_config()?;
    let now = crate::time::now();
    let read = State::open_read_store(&cfg.store()).and_then(|st| match st {
        Some(st) => read(&st, now),
        None => Ok(Health::default()),
    });
    let h = match read {
        Ok(h) => h,
        // Every hook opens this DB first: one that cannot be read stops them all. A
        // plugin says so in its one line; exit 1 with no line would read as WARNING.
        Err(e) if nagios => {
            let line = format!("CRITICAL - every hook and sweep stops: {e}");
            let value = json!({"nagios": "CRITICAL", "error": e.to_string()});
            return Ok((2, line, value));
        }
        Err(e) => return Err(Failure::retry(e.to_string())),
    };
    let (code, line) = nagios_line(&h, now);
    let store = cfg.store();
    let mut value = json(&h, now);
    value["statedb"] =
        json!({"backend": backend(&store), "name": store.name().display().to_string()});
    if nagios {
        // The backend before the perfdata: which DB a CRITICAL is about, at a glance.
        let line = match line.split_once(" | ") {
            Some((words, perf)) => format!("{words} [{}] | {perf}", backend(&store)),
            None => line,
        };
        return Ok((code, line, value));
    }
    let failing = crate::work::system_words(&cfg);
    let text = text(&h, now, &failing);
    Ok((0, format!("{text}state DB: {}", store.describe()), value))
}

/// The backend's short name, as `status --nagios` and `--json` give it.
fn backend(store: &crate::state::Store) -> &'static str {
    match store {
        crate::state::Store::Sqlite(_) => "SQLite",
        crate::state::Store::Mysql { .. } => "MariaDB",
    }
}

/// Nagios plugin status: 0 OK, 1 WARNING, 2 CRITICAL, and the words for the line.
pub fn nagios_status(h: &Health, now: f64) -> (i32, Vec<String>) {
    let mut crit = Vec::new();
    let mut warn = Vec::new();
    if let Some(since) = h.breaker.open_since {
        crit.push(format!("breaker open for {:.0}s", age(since, now)));
    }
    match &h.last_sweep {
        None => crit.push("no sweep has run".to_string()),
        Some((at, _)) if age(*at, now) > NO_SWEEP => {
            crit.push(format!("no sweep for {:.0}s", age(*at, now)))
        }
        _ => {}
    }
    if h.given_up_since > 0 {
        warn.push(format!("{} given up in 24 h", h.given_up_since));
    }
    if let Some(t) = h.oldest.filter(|t| age(*t, now) > OWED_TOO_LONG) {
        warn.push(format!("work owed for {:.0}s", age(t, now)));
    }
    if h.twins_since > 0 {
        warn.push(format!(
            "{} second ticket(s) for one key in 24 h",
            h.twins_since
        ));
    }
    if !crit.is_empty() {
        crit.extend(warn);
        (2, crit)
    } else if !warn.is_empty() {
        (1, warn)
    } else {
        (0, Vec::new())
    }
}

fn owed_total(h: &Health) -> i64 {
    h.owed.iter().map(|(_, n)| n).sum()
}

/// The one Nagios line: `STATUS - words | perfdata`.
pub fn nagios_line(h: &Health, now: f64) -> (i32, String) {
    let (code, words) = nagios_status(h, now);
    let label = ["OK", "WARNING", "CRITICAL"][code as usize];
    let owed = owed_total(h);
    let text = if words.is_empty() {
        format!("{owed} owed, breaker closed")
    } else {
        words.join(", ")
    };
    let oldest = h.oldest.map_or(0.0, |t| age(t, now));
    // Before the first sweep there is no value: Nagios's `U`, not a made-up -1.
    let since_sweep = h
        .last_sweep
        .as_ref()
        .map_or("U".to_string(), |(at, _)| format!("{:.0}s", age(*at, now)));
    let line = format!(
        "{label} - {text} | owed={owed};;;0 oldest={oldest:.0}s;{OWED_TOO_LONG:.0};;0 \
         given_up={};1;;0 breaker={};;1;0;1 since_sweep={since_sweep};;{NO_SWEEP:.0};0",
        h.given_up_since,
        u8::from(h.breaker.open_since.is_some()),
    );
    (code, line)
}

/// `status` for a person: what an administrator checks first.
/// `failing`: what the breaker counts failures of ("the ticket script", "the ticket
/// system (servicenow)").
pub fn text(h: &Health, now: f64, failing: &str) -> String {
    let log_time = crate::time::log_format;
    let mut out = String::new();
    let owed: Vec<String> = h.owed.iter().map(|(w, n)| format!("{n} {w}")).collect();
    match h.oldest {
        None => out.push_str("owed: nothing\n"),
        Some(t) => out.push_str(&format!(
            "owed: {} (oldest owed for {:.0}s, since {})\n",
            owed.join(", "),
            age(t, now),
            log_time(t)
        )),
    }
    if h.twins_since > 0 {
        out.push_str(&format!(
            "twins: {} second ticket(s) found in the last 24 h carrying the key of one recorded \
             (a search that lagged beyond lookupgrace): `state` lists them\n",
            h.twins_since
        ));
    }
    if let Some((n, until)) = h.asked {
        out.push_str(&format!(
            "waiting: {n} as the ticket system asked (Retry-After, X-RateLimit-Reset), until {} at the latest\n",
            log_time(until)
        ));
    }
    out.push_str(&format!(
        "given up: {} in the last 24 h, {} kept (`state --given-up`, `requeue`)\n",
        h.given_up_since, h.given_up_total
    ));
    match h.breaker.open_since {
        Some(since) => out.push_str(&format!(
            "breaker: OPEN since {} ({} failures in a row of {failing}): hooks defer tickets\n",
            log_time(since),
            h.breaker.failures
        )),
        None => out.push_str(&format!(
            "breaker: closed ({} failures in a row of {failing})\n",
            h.breaker.failures
        )),
    }
    match &h.last_sweep {
        Some((at, line)) => out.push_str(&format!(
            "last sweep: {} ({:.0}s ago): {line}\n",
            log_time(*at),
            age(*at, now)
        )),
        None => out.push_str("last sweep: none yet\n"),
    }
    match &h.last_ticket {
        Some((at, t, evid)) => out.push_str(&format!(
            "last ticket: {} for evid {evid} at {}\n",
            t.id,
            log_time(*at)
        )),
        None => out.push_str("last ticket: none yet\n"),
    }
    out
}

pub fn json(h: &Health, now: f64) -> Value {
    let (code, _) = nagios_status(h, now);
    let nagios = ["OK", "WARNING", "CRITICAL"][code as usize];
    json!({
        "owed": h.owed.iter().map(|(w, n)| (w.as_str().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "owed_total": owed_total(h),
        "oldest_owed_age": h.oldest.map(|t| age(t, now)),
        "twins_24h": h.twins_since,
        "waiting_as_asked": h.asked.map(|(n, until)| json!({"count": n, "until": until})),
        "given_up_24h": h.given_up_since,
        "given_up_kept": h.given_up_total,
        "breaker": {
            "open": h.breaker.open_since.is_some(),
            "since": h.breaker.open_since,
            "failures_in_a_row": h.breaker.failures,
        },
        "last_sweep": h.last_sweep.as_ref().map(|(at, line)| json!({"at": at, "summary": line})),
        "last_ticket": h.last_ticket.as_ref().map(|(at, t, evid)| json!({"at": at, "ticket": t.json(), "evid": evid})),
        "nagios": nagios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Breaker, What};

    fn health(owed_age: Option<f64>, given_up: i64, open: bool, swept_ago: Option<f64>) -> Health {
        let now = 1_000_000.0;
        Health {
            owed: owed_age
                .map(|_| vec![(What::Ticket, 2)])
                .unwrap_or_default(),
            oldest: owed_age.map(|a| now - a),
            asked: None,
            // A day with work given up is one with a twin found too, in these rows.
            twins_since: given_up,
            given_up_since: given_up,
            given_up_total: given_up,
            breaker: Breaker {
                failures: if open { 3 } else { 0 },
                open_since: open.then_some(now - 60.0),
            },
            breaker_opened: None,
            last_sweep: swept_ago.map(|a| (now - a, "sweep: ...".into())),
            last_ticket: None,
        }
    }

    /// (owed age, given up, breaker open, last sweep ago, exit status)
    type Row = (Option<f64>, i64, bool, Option<f64>, i32);

    #[test]
    fn nagios_status_table() {
        let now = 1_000_000.0;
        // (owed age, given up, breaker open, last sweep ago) -> exit status
        let table: &[Row] = &[
            (None, 0, false, Some(30.0), 0),
            (Some(60.0), 0, false, Some(30.0), 0),
            (Some(900.0), 0, false, Some(30.0), 0),
            (Some(901.0), 0, false, Some(30.0), 1),
            (None, 1, false, Some(30.0), 1),
            (None, 0, true, Some(30.0), 2),
            (None, 0, false, Some(601.0), 2),
            (None, 0, false, None, 2),
            (Some(5000.0), 4, true, Some(30.0), 2),
        ];
        for &(owed, given_up, open, swept, want) in table {
            let h = health(owed, given_up, open, swept);
            assert_eq!(
                nagios_status(&h, now).0,
                want,
                "{owed:?} {given_up} {open} {swept:?}"
            );
        }
    }

    #[test]
    fn alerts_hold_and_change_as_the_conditions_do() {
        let now = 1_000_000.0;
        let h = health(Some(901.0), 1, true, Some(30.0));
        assert!(Alert::ALL.iter().all(|a| a.holds(&h, now)));
        let h = health(Some(899.0), 0, false, Some(30.0));
        assert!(Alert::ALL.iter().all(|a| !a.holds(&h, now)));
        // (holds, raised) -> send (Some(true): raise, Some(false): clear)
        let table = [
            (true, false, Some(true)),
            (true, true, None),
            (false, true, Some(false)),
            (false, false, None),
        ];
        for (holds, raised, want) in table {
            assert_eq!(transition(holds, raised), want, "{holds} {raised}");
        }
    }

    #[test]
    fn an_alert_that_started_and_ended_between_two_sweeps_is_raised_then_cleared() {
        // (holds, started untold, raised) -> sends in order (true: raise, false: clear)
        let table: &[(bool, bool, bool, &[bool])] = &[
            (false, false, false, &[]),
            (true, false, false, &[true]),
            (true, false, true, &[]),
            (false, false, true, &[false]),
            // Opened and closed again since the last sweep: both, in order.
            (false, true, false, &[true, false]),
            // Opened since and still open: raised once.
            (true, true, false, &[true]),
            (true, true, true, &[]),
            (false, true, true, &[false]),
        ];
        for &(holds, untold, raised, want) in table {
            assert_eq!(
                steps(holds, untold, raised),
                want,
                "{holds} {untold} {raised}"
            );
        }
    }
}
