//! The event closed when its ticket is (`[GENERAL] onticketclosed: close | acknowledge`):
//! each sweep asks the ticket system, in batches of `tickets::SYNC_BATCH`, for the state of
//! the newest ticket of every event its console read found open, and acts on the event
//! whose ticket was resolved or closed there, with a note naming the ticket. A ticket seen
//! closed is recorded so (never acted on twice); nothing is reopened: the event's next
//! count increase makes the next ticket, as always.

use crate::config::{Config, OnTicketClosed};
use crate::state::{self, State, StateError};
use crate::tickets::{self, Answer};
use crate::zenoss::{Client, Evids};

/// What one sync did: events acted on, requests to the system, and trouble in words.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Synced {
    pub acted: u64,
    pub requests: u64,
    pub trouble: Option<String>,
}

/// Asks about the tickets of `open` (evids the console read found open) and acts on
/// their events. Does nothing unless `onticketclosed` asks and the system can answer.
pub fn run(
    cfg: &Config,
    z: &Client,
    st: &mut State,
    open: &[String],
    dry_run: bool,
) -> Result<Synced, StateError> {
    let mut out = Synced::default();
    let Some(sc) = &cfg.system else {
        return Ok(out);
    };
    if cfg.onticketclosed == OnTicketClosed::Nothing {
        return Ok(out);
    }
    let sys = match tickets::for_config(cfg) {
        Ok(sys) if sys.can_sync() => sys,
        Ok(_) => return Ok(out),
        Err(e) => {
            out.trouble = Some(e);
            return Ok(out);
        }
    };
    let owned = st.read(|c| state::open_tickets(c, open, sc.kind.name()))?;
    let mut closed: Vec<(String, state::Recorded)> = Vec::new();
    for batch in owned.chunks(tickets::SYNC_BATCH) {
        out.requests += 1;
        let recs: Vec<state::Recorded> = batch.iter().map(|(_, t)| t.clone()).collect();
        match sys.closed(&recs) {
            Answer::Done(ids) => {
                closed.extend(batch.iter().filter(|(_, t)| ids.contains(&t.id)).cloned())
            }
            Answer::Ambiguous(why)
            | Answer::Unconfirmed(why)
            | Answer::Wait { why, .. }
            | Answer::Refused(why)
            | Answer::Credentials(why)
            | Answer::Failed(why)
            | Answer::Busy(why) => {
                // Asked again next sweep; what was learnt so far is acted on.
                out.trouble = Some(why);
                break;
            }
        }
    }
    if dry_run || closed.is_empty() {
        out.acted = if dry_run { closed.len() as u64 } else { 0 };
        return Ok(out);
    }
    // An event whose ticket and its twin both closed is acted on once.
    let mut evids: Vec<String> = closed.iter().map(|(e, _)| e.clone()).collect();
    evids.dedup();
    let mut seen = std::collections::HashSet::new();
    closed.retain(|(e, _)| seen.insert(e.clone()));
    let verb = match cfg.onticketclosed {
        OnTicketClosed::Acknowledge => "acknowledged",
        _ => "moved to history",
    };
    for batch in Evids::batches(&evids) {
        let acted = match cfg.onticketclosed {
            OnTicketClosed::Acknowledge => z.acknowledge(&batch),
            _ => z.close(&batch),
        };
        if let Err(e) = acted {
            out.trouble = Some(format!("Zenoss did not take it: {e}"));
            continue;
        }
        let now = crate::time::now();
        for (evid, t) in closed.iter().filter(|(e, _)| batch.as_slice().contains(e)) {
            let note = format!(
                "zenticket: ticket {} was resolved or closed in {}: event {verb}",
                t.id,
                sc.kind.name()
            );
            if let Err(e) = z.write_log(evid, &note) {
                log::warn!(
                    "evid {evid}: the note that its ticket closed could not be written: {e}"
                );
            }
            st.write(|tx| state::mark_closed(tx, evid, &t.id, now))?;
            log::info!("evid {evid}: {note}");
            out.acted += 1;
        }
    }
    Ok(out)
}
