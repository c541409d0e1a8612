//! Twins: a second ticket carrying the key of one already recorded. A system whose search
//! lags its writes (Jira) can hide a ticket whose create answer was lost for longer than
//! `lookupgrace`; the create is then sent again and the system holds two tickets for one
//! event. That cannot be undone from here, but it must never be silent: a ticket made
//! again after a lookup found nothing is searched for by its key at each sweep for an
//! hour (`work::TWIN_SEARCH`), and a twin found is recorded beside it (so the clear and
//! the closed-ticket sync act on both), logged, listed by `state`, and raised in Zenoss
//! (`health`).

use crate::config::Config;
use crate::event::Event;
use crate::state::{self, State, StateError, What, WorkKey};

/// One sweep's search: how many twins it found (None: nothing was searched).
pub fn run(cfg: &Config, st: &mut State) -> Result<Option<usize>, StateError> {
    let now = crate::time::now();
    let checks = st.write(|tx| state::twin_checks(tx, now))?;
    if checks.is_empty() {
        return Ok(None);
    }
    let Ok(sys) = crate::tickets::for_config(cfg) else {
        return Ok(None);
    };
    let collector = cfg.collector.clone().unwrap_or_else(crate::script::fqdn);
    let mut found = 0;
    for (evid, count, ticket) in checks {
        if ticket.system.as_deref() != Some(sys.name()) {
            continue;
        }
        let row = st.row(&evid)?;
        let customer = crate::work::customer_of(cfg, row.as_ref());
        let ev = Event {
            evid: evid.clone(),
            count: Some(count),
            ..Event::default()
        };
        let key = st.read(|c| state::work_key(c, &WorkKey::new(&evid, What::Ticket, count)))?;
        let r = crate::tickets::Request {
            ev: &ev,
            customer: &customer,
            collector: &collector,
            note_title: &cfg.notetitle,
            key: &key,
            event_url: crate::tickets::event_url(cfg, &evid),
        };
        match sys.find_all(&r) {
            crate::tickets::Answer::Done(all) => {
                let twins: Vec<_> = all.into_iter().filter(|t| t.id != ticket.id).collect();
                if !twins.is_empty() {
                    found += crate::work::record_twins(st, sys.as_ref(), &r, &twins)?;
                    st.write(|tx| state::twins_checked(tx, &evid, count))?;
                }
            }
            // Searched again at the next sweep, until the hour is over.
            _ => continue,
        }
    }
    Ok(Some(found))
}
