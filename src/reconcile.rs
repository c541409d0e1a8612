//! Reconcile: the daemon's polling, reborn in `sweep`. The hook sees only what zenactiond
//! hands it; an occurrence whose notification never ran (zenactiond restarting, its queue
//! full in a storm, a notification disabled for a minute, a command killed at its action
//! timeout), noise outside the trigger (non-production devices, Info events), and a site
//! with no notification at all (Zenoss Cloud) would otherwise get nothing. Each sweep reads
//! the whole open console and, for each event whose count is above the stored one (or that
//! is unseen), runs exactly what a hook call runs (`Hook::handle_in`: the same decision,
//! the same claims), so a hook and a sweep racing on one occurrence make one ticket, and
//! increases seen at once make one ticket with the current count, as the daemon's cycle did.
//!
//! The first reconcile on an empty state DB adopts the console instead (records counts and
//! states, makes no ticket, closes nothing), so installing over a busy console is not a
//! burst of tickets; `sweep --no-adopt` acts on everything open, as the daemon did at start.
//! The tool's own events (`/App/Zenticket`) are never acted on.

use crate::config::Config;
use crate::console::{self, Read};
use crate::decide::Kind;
use crate::event::Event;
use crate::hook::Hook;
use crate::state::{self, EventRow, State, StateError};
use crate::zenoss::Client;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What a reconciling sweep asks of each open event: everything the decision reads
/// (query row shapes: `Products/Zuul/infos/event.py`, `EventCompatInfo`).
pub const KEYS: &[&str] = crate::event::KEYS;

/// The tool's own event class (`add_event`).
pub const OWN_CLASS: &str = "/App/Zenticket";

/// Whether a query row is one of the tool's own events.
pub fn own_event(row: &Map<String, Value>) -> bool {
    let class = match row.get("eventClass") {
        Some(Value::Object(o)) => o.get("text").and_then(Value::as_str),
        Some(v) => v.as_str(),
        None => None,
    };
    class.is_some_and(|c| c == OWN_CLASS || c.starts_with("/App/Zenticket/"))
}

/// Whether an open event needs the hook's treatment: unseen, or its count above the one
/// stored (or ticketed).
pub fn needs_action(count: Option<i64>, stored: Option<i64>) -> bool {
    match (count, stored) {
        (_, None) => true,
        (Some(c), Some(s)) => c > s,
        (None, Some(_)) => false,
    }
}

/// What reconcile did, for the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Open events recorded as they are, on the first reconcile of an empty state DB.
    pub adopted: u64,
    /// Events handled as a hook would have, by decision.
    pub by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Rows that did not read as an event.
    pub unreadable: u64,
    /// Left for the next run: this one used its time.
    pub left: u64,
}

impl Tally {
    pub fn handled(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// One clause for the summary line, when there is anything to say.
    pub fn words(&self) -> Option<String> {
        if self.adopted > 0 {
            return Some(format!(
                "adopted {} open event(s) on the first reconcile (no tickets made, nothing closed; `sweep --no-adopt` acts on them)",
                self.adopted
            ));
        }
        if self.handled() == 0 && self.unreadable == 0 {
            return None;
        }
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let mut s = format!(
            "reconciled {} event(s) no hook handled: {}",
            self.handled(),
            kinds.join(", ")
        );
        if self.unreadable > 0 {
            s.push_str(&format!("; {} row(s) unreadable", self.unreadable));
        }
        if self.left > 0 {
            s.push_str(&format!("; {} left for the next sweep", self.left));
        }
        Some(s)
    }
}

/// Reconciles the state DB with one read of the console.
pub fn run(
    cfg: &Config,
    zenoss: Option<&Client>,
    st: &mut State,
    read: &Read,
    adopt: bool,
    dry_run: bool,
) -> Result<Tally, StateError> {
    let mut tally = Tally::default();
    let stored: HashMap<String, i64> = st
        .read(state::known)?
        .into_iter()
        .map(|k| (k.evid, k.count))
        .collect();
    let adopted_before = st.read(|c| state::meta(c, "adopted"))?.is_some();
    if !adopted_before && stored.is_empty() && adopt {
        if !read.complete() {
            // Adopting half a console would leave the other half to be ticketed next run.
            return Ok(tally);
        }
        tally.adopted = adopt_all(st, read, dry_run)?;
        return Ok(tally);
    }
    if !adopted_before && !dry_run {
        let now = crate::time::now();
        st.write(|tx| state::set_meta(tx, "adopted", "no", now))?;
    }
    let hook = Hook {
        cfg,
        zenoss,
        dry_run,
    };
    let started = std::time::Instant::now();
    for (evid, row) in &read.rows {
        if own_event(row) {
            continue;
        }
        let count = row.get("count").and_then(Value::as_i64);
        let known = match stored.get(evid) {
            Some(c) => Some(*c),
            None => st.read(|c| state::ticketed_count(c, evid))?,
        };
        if !needs_action(count, known) {
            continue;
        }
        if started.elapsed() > crate::work::SCRIPT_BUDGET || crate::run::signals::stopping() {
            tally.left += 1;
            continue;
        }
        let ev = match Event::from_json(row).and_then(|e| e.check_numbers().map(|_| e)) {
            Ok(ev) if ev.count.is_some() && ev.event_state.is_some() => ev,
            Ok(_) | Err(_) => {
                log::warn!("reconcile: evid {evid}: the console's row does not read as an event");
                tally.unreadable += 1;
                continue;
            }
        };
        let report = hook.handle_in(st, &ev)?;
        if report.kind != Kind::Unchanged && !dry_run {
            log::info!("reconcile: {}", report.line());
        }
        *tally.by_kind.entry(report.kind.as_str()).or_insert(0) += 1;
    }
    Ok(tally)
}

/// Records every open event's count and state, and nothing else.
fn adopt_all(st: &mut State, read: &Read, dry_run: bool) -> Result<u64, StateError> {
    let rows: Vec<(String, i64, Option<i64>, Option<f64>)> = read
        .rows
        .iter()
        .filter(|(_, row)| !own_event(row))
        .filter_map(|(evid, row)| {
            let ev = Event::from_json(row).ok()?;
            Some((
                evid.clone(),
                ev.count?,
                ev.event_state,
                console::last_time(row),
            ))
        })
        .collect();
    if dry_run {
        return Ok(rows.len() as u64);
    }
    let now = crate::time::now();
    for chunk in rows.chunks(500) {
        st.write(|tx| {
            for (evid, count, event_state, last_time) in chunk {
                let row = EventRow {
                    evid,
                    count: *count,
                    event_state: *event_state,
                    last_time: *last_time,
                    customer: None,
                    queue: None,
                };
                state::upsert_event(tx, &row, now)?;
            }
            Ok(())
        })?;
    }
    st.write(|tx| state::set_meta(tx, "adopted", &rows.len().to_string(), now))?;
    log::info!(
        "reconcile: adopted {} open event(s) on the first reconcile of an empty state DB: counts recorded, no ticket made, nothing closed",
        rows.len()
    );
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn which_open_events_need_the_hooks_treatment() {
        // (count in the console, count stored or ticketed) -> act
        let table = [
            (Some(1), None, true),
            (Some(3), Some(2), true),
            (Some(2), Some(2), false),
            (Some(1), Some(2), false),
            (None, None, true),
            (None, Some(1), false),
        ];
        for (count, stored, want) in table {
            assert_eq!(needs_action(count, stored), want, "{count:?} {stored:?}");
        }
    }

    #[test]
    fn the_tools_own_events_are_told_in_either_shape() {
        let row = |v: Value| json!({"eventClass": v}).as_object().cloned().unwrap();
        assert!(own_event(&row(
            json!({"text": "/App/Zenticket", "uid": "x"})
        )));
        assert!(own_event(&row(json!("/App/Zenticket"))));
        assert!(own_event(&row(json!("/App/Zenticket/Sub"))));
        assert!(!own_event(&row(json!("/App/ZenticketX"))));
        assert!(!own_event(&row(json!({"text": "/Net/Link"}))));
        assert!(!own_event(&row(json!(null))));
    }
}
