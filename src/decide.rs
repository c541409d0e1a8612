//! The daemon's rules as one pure function: (event, config, stored count, now) -> what to
//! do. No I/O here, so that every rule is tested as data (see the table in the tests).

use crate::config::{Config, Customer};
use crate::event::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ticket,
    TicketFailed,
    /// The breaker is open: the ticket is owed, for `sweep`.
    TicketDeferred,
    Unchanged,
    SeenAcknowledged,
    FilteredClosed,
    FilteredKept,
    NoGroup,
    Cleared,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::TicketFailed => "ticket-failed",
            Kind::TicketDeferred => "ticket-deferred",
            Kind::Unchanged => "unchanged",
            Kind::SeenAcknowledged => "seen-acknowledged",
            Kind::FilteredClosed => "filtered-closed",
            Kind::FilteredKept => "filtered-kept",
            Kind::NoGroup => "no-group",
            Kind::Cleared => "cleared",
        }
    }
}

/// What the rules say. `Kind::Ticket` here means "a ticket is due"; whether the script
/// made one is the caller's to find out.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub kind: Kind,
    pub reason: String,
    /// The count to store: never lower than what was stored (no count is lost).
    pub store_count: i64,
    pub customer: Option<Customer>,
    /// Acknowledge after the ticket (the event was New).
    pub ack: bool,
    /// Move to history (filtered-closed or autoclear).
    pub close: bool,
    pub autoclear: bool,
    pub warnings: Vec<String>,
}

/// The daemon's trigger rule alone: it needs no config, so an event can be recorded even
/// when the config is broken. Returns (triggered, count to store).
pub fn trigger(count: i64, event_state: i64, seen: Option<i64>) -> (bool, i64) {
    match seen {
        Some(seen) => (count > seen, count.max(seen)),
        None => (event_state == 0, count),
    }
}

fn text(v: &Option<Vec<u8>>) -> &[u8] {
    v.as_deref().unwrap_or(b"")
}

fn show(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// The daemon's rules for one event: trigger (a count above the one seen, or a new event
/// in state New), filters, routing (the last matching section), and autoclear.
pub fn decide(ev: &Event, cfg: &Config, seen: Option<i64>, now: f64, collector: &[u8]) -> Decision {
    let count = ev.count.unwrap_or(0);
    let state = ev.event_state.unwrap_or(0);
    let (triggered, store_count) = trigger(count, state, seen);
    let mut d = Decision {
        kind: Kind::Unchanged,
        reason: String::new(),
        store_count,
        customer: None,
        ack: false,
        close: false,
        autoclear: false,
        warnings: Vec::new(),
    };

    if !triggered {
        match seen {
            Some(s) => {
                d.kind = Kind::Unchanged;
                d.reason = format!("count {count} is not above the {s} already seen");
            }
            None => {
                d.kind = Kind::SeenAcknowledged;
                d.reason = format!(
                    "new event arrived {}: remembered, not ticketed",
                    crate::event::state_name(state)
                );
            }
        }
    } else {
        let why = if seen.is_some() {
            format!("count rose to {count}")
        } else {
            "new event".to_string()
        };
        apply_rules(&mut d, ev, cfg, collector, &why);
    }

    if cfg.autocleartime > 0 {
        if let Some(last) = ev.last_epoch() {
            let limit = cfg.autocleartime as f64;
            if crate::time::beyond(last, now, limit) {
                d.autoclear = true;
                d.close = true;
                let how = if last > now {
                    format!("{}s ahead of this host's clock", (last - now).floor())
                } else {
                    format!("{}s old", (now - last).floor())
                };
                d.reason.push_str(&format!(
                    "; lastTime is {how}, over autocleartime {}s",
                    cfg.autocleartime
                ));
            }
        }
    }
    d
}

/// Steps 2 to 4 for an event whose ticket is due (triggered now, or pending for a retry).
fn apply_rules(d: &mut Decision, ev: &Event, cfg: &Config, collector: &[u8], why: &str) {
    let state = ev.event_state.unwrap_or(0);
    let failed = failed_filters(ev, cfg);
    if !failed.is_empty() {
        let kept = kept_by(ev, cfg);
        if let Some(rule) = kept {
            d.kind = Kind::FilteredKept;
            d.reason = format!("{why}; fails {}; kept open by {rule}", failed.join(", "));
        } else {
            d.kind = Kind::FilteredClosed;
            d.reason = format!("{why}; fails {}", failed.join(", "));
            d.close = true;
        }
    } else {
        let matches = route(ev, cfg);
        match matches.last() {
            None => {
                d.kind = Kind::NoGroup;
                d.reason = format!(
                    "{why}; no customer section has one of its device groups {:?}",
                    show(text(&ev.device_groups))
                );
                let device = text(&ev.device);
                if device != collector {
                    d.warnings
                        .push(format!("Device {} is not in a device group", show(device)));
                }
            }
            Some(last) => {
                if matches.len() > 1 {
                    let names: Vec<String> =
                        matches.iter().map(|c| format!("[{}]", c.section)).collect();
                    d.warnings.push(format!(
                        "evid {}: device groups {:?} match {}: using [{}], the last in the file (as the daemon did)",
                        ev.evid,
                        show(text(&ev.device_groups)),
                        names.join(", "),
                        last.section
                    ));
                }
                d.kind = Kind::Ticket;
                d.reason = format!("{why}; routed to [{}]", last.section);
                d.customer = Some((*last).clone());
                d.ack = state == 0;
            }
        }
    }
}

/// Steps 2 to 4 again for a ticket that `sweep` retries: the trigger already fired,
/// the current config decides the rest.
pub fn decide_due(ev: &Event, cfg: &Config, collector: &[u8]) -> Decision {
    decide_occurrence(ev, cfg, collector, "retry of a pending ticket")
}

/// Steps 2 to 4 for one occurrence taken as due (`why` says why), with no trigger and no
/// autoclear: what `replay` asks of a config for each past event.
pub fn decide_occurrence(ev: &Event, cfg: &Config, collector: &[u8], why: &str) -> Decision {
    let count = ev.count.unwrap_or(0);
    let mut d = Decision {
        kind: Kind::Unchanged,
        reason: String::new(),
        store_count: count,
        customer: None,
        ack: false,
        close: false,
        autoclear: false,
        warnings: Vec::new(),
    };
    apply_rules(&mut d, ev, cfg, collector, why);
    d
}

/// The filters an event fails, in words (empty: it passes); each begins with the key.
pub fn failed_filters(ev: &Event, cfg: &Config) -> Vec<String> {
    let f = &cfg.filters;
    let mut failed = Vec::new();
    if let Some(re) = &f.skipmessage {
        if re.is_match(text(&ev.message)) {
            failed.push(format!("skipmessage /{}/", re.as_str()));
        }
    }
    if !f.prodstate.is_empty() && !ev.prod_state.is_some_and(|p| f.prodstate.contains(&p)) {
        failed.push(format!(
            "prodstate (prodState {} is not {})",
            ev.prod_state.map_or("None".into(), |p| p.to_string()),
            join(&f.prodstate)
        ));
    }
    if let Some(min) = f.minseverity {
        if ev.severity.is_none_or(|s| s < min) {
            failed.push(format!(
                "minseverity (severity {} is below {min})",
                ev.severity.map_or("None".into(), |s| s.to_string())
            ));
        }
    }
    if let Some(re) = &f.skipsummary {
        if re.is_match(text(&ev.summary)) {
            failed.push(format!("skipsummary /{}/", re.as_str()));
        }
    }
    if let Some(re) = &f.skipdeviceclass {
        if re.is_match(text(&ev.device_class)) {
            failed.push(format!("skipdeviceclass /{}/", re.as_str()));
        }
    }
    failed
}

/// The keep rule that holds a filtered event open, if any; it begins with the key.
pub fn kept_by(ev: &Event, cfg: &Config) -> Option<String> {
    let f = &cfg.filters;
    if let Some(re) = &f.keepeventclass {
        if re.is_match(text(&ev.event_class)) {
            return Some(format!("keepeventclass /{}/", re.as_str()));
        }
    }
    if let Some(re) = &f.keepsummary {
        if re.is_match(text(&ev.summary)) {
            return Some(format!("keepsummary /{}/", re.as_str()));
        }
    }
    if ev.severity.is_some_and(|s| f.keepseverity.contains(&s)) {
        return Some(format!("keepseverity {}", join(&f.keepseverity)));
    }
    None
}

fn join(v: &[i64]) -> String {
    v.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Every customer section one of whose groups is one of the event's, in file order.
pub fn route<'c>(ev: &Event, cfg: &'c Config) -> Vec<&'c Customer> {
    let groups: Vec<&[u8]> = text(&ev.device_groups)
        .split(|&b| b == b'|')
        .filter(|g| !g.is_empty())
        .collect();
    cfg.customers
        .iter()
        .filter(|c| {
            c.groups.iter().any(|(_, want)| {
                !want.is_empty()
                    && groups.iter().any(|g| {
                        *g == want.as_slice()
                            || (cfg.matchsubgroups
                                && g.len() > want.len()
                                && g.starts_with(want)
                                && (g[want.len()] == b'/' || want.ends_with(b"/")))
                    })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::RawIni;
    use std::path::Path;

    const CONF: &str = "[GENERAL]\nticketscript: /bin/true\n\n[LAB]\nid:nnl-00000\nqueue:Front Line\ngroup1:None\ngroup2:/Network\ngroup3:/Server\n\n[ACME]\nid:acme-1\nqueue:Acme Q\ngroup1:/Acme\ngroup2:/Server\n";

    fn cfg(extra: &str) -> Config {
        let file = Path::new("/z/etc/zenticket.conf");
        let text = format!("{CONF}{extra}");
        let ini = RawIni::parse(text.as_bytes()).unwrap();
        crate::config::Config::load_from_ini_for_tests(file, &ini)
    }

    fn ev() -> Event {
        Event {
            evid: "e1".into(),
            count: Some(1),
            event_state: Some(0),
            severity: Some(4),
            prod_state: Some(1000),
            device: Some(b"router1".to_vec()),
            summary: Some(b"Link down".to_vec()),
            message: Some(b"ifOperStatus=2".to_vec()),
            event_class: Some(b"/Net/Link".to_vec()),
            device_class: Some(b"/Network/Router".to_vec()),
            device_groups: Some(b"|/Network".to_vec()),
            ..Default::default()
        }
    }

    /// (name, event change, seen, config extra, expected kind, expected section, close)
    type Row = (
        &'static str,
        fn(&mut Event),
        Option<i64>,
        &'static str,
        Kind,
        Option<&'static str>,
        bool,
    );

    #[test]
    fn rules_table() {
        let rows: &[Row] = &[
            (
                "new New event",
                |_| {},
                None,
                "",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "new Acknowledged event",
                |e| e.event_state = Some(1),
                None,
                "",
                Kind::SeenAcknowledged,
                None,
                false,
            ),
            (
                "new Suppressed event",
                |e| e.event_state = Some(2),
                None,
                "",
                Kind::SeenAcknowledged,
                None,
                false,
            ),
            (
                "same count",
                |_| {},
                Some(1),
                "",
                Kind::Unchanged,
                None,
                false,
            ),
            (
                "lower count",
                |_| {},
                Some(5),
                "",
                Kind::Unchanged,
                None,
                false,
            ),
            (
                "count rose",
                |e| e.count = Some(2),
                Some(1),
                "",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "count rose while acknowledged",
                |e| {
                    e.count = Some(2);
                    e.event_state = Some(1)
                },
                Some(1),
                "",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "timed out message",
                |e| e.message = Some(b"Command timed out on device x".to_vec()),
                None,
                "",
                Kind::FilteredClosed,
                None,
                true,
            ),
            (
                "timed out later in message",
                |e| e.message = Some(b"x Command timed out on device".to_vec()),
                None,
                "",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "not production",
                |e| e.prod_state = Some(500),
                None,
                "",
                Kind::FilteredClosed,
                None,
                true,
            ),
            (
                "prodState missing",
                |e| e.prod_state = None,
                None,
                "",
                Kind::FilteredClosed,
                None,
                true,
            ),
            (
                "severity info",
                |e| e.severity = Some(2),
                None,
                "",
                Kind::FilteredClosed,
                None,
                true,
            ),
            (
                "severity warning passes",
                |e| e.severity = Some(3),
                None,
                "",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "severity debug kept",
                |e| e.severity = Some(1),
                None,
                "",
                Kind::FilteredKept,
                None,
                false,
            ),
            (
                "summary Unknown",
                |e| e.summary = Some(b"Unknown".to_vec()),
                None,
                "",
                Kind::FilteredClosed,
                None,
                true,
            ),
            (
                "summary Unknown host",
                |e| e.summary = Some(b"Unknown host".to_vec()),
                None,
                "",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "discovered class",
                |e| e.device_class = Some(b"/Discovered".to_vec()),
                None,
                "",
                Kind::FilteredClosed,
                None,
                true,
            ),
            (
                "ping kept",
                |e| {
                    e.prod_state = Some(300);
                    e.event_class = Some(b"/Status/Ping".to_vec())
                },
                None,
                "",
                Kind::FilteredKept,
                None,
                false,
            ),
            (
                "snmp agent down kept",
                |e| {
                    e.prod_state = Some(300);
                    e.summary = Some(b"SNMP agent down".to_vec())
                },
                None,
                "",
                Kind::FilteredKept,
                None,
                false,
            ),
            (
                "threshold kept",
                |e| {
                    e.severity = Some(2);
                    e.summary = Some(b"threshold of cpu exceeded".to_vec())
                },
                None,
                "",
                Kind::FilteredKept,
                None,
                false,
            ),
            (
                "interface down kept",
                |e| {
                    e.severity = Some(2);
                    e.summary = Some(b"interface operationally down".to_vec())
                },
                None,
                "",
                Kind::FilteredKept,
                None,
                false,
            ),
            (
                "no group",
                |e| e.device_groups = Some(b"|/Other".to_vec()),
                None,
                "",
                Kind::NoGroup,
                None,
                false,
            ),
            (
                "None group part matches nothing",
                |e| e.device_groups = Some(b"|None".to_vec()),
                None,
                "",
                Kind::NoGroup,
                None,
                false,
            ),
            (
                "DeviceGroups None",
                |e| e.device_groups = Some(b"None".to_vec()),
                None,
                "",
                Kind::NoGroup,
                None,
                false,
            ),
            (
                "empty group parts dropped",
                |e| e.device_groups = Some(b"||/Network|".to_vec()),
                None,
                "",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "last matching section wins",
                |e| e.device_groups = Some(b"|/Server".to_vec()),
                None,
                "",
                Kind::Ticket,
                Some("ACME"),
                false,
            ),
            (
                "subgroup without matchsubgroups",
                |e| e.device_groups = Some(b"|/Network/Core".to_vec()),
                None,
                "",
                Kind::NoGroup,
                None,
                false,
            ),
            (
                "subgroup with matchsubgroups",
                |e| e.device_groups = Some(b"|/Network/Core".to_vec()),
                None,
                "matchsubgroups: true\n",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "sibling prefix never matches",
                |e| e.device_groups = Some(b"|/NetworkX".to_vec()),
                None,
                "matchsubgroups: true\n",
                Kind::NoGroup,
                None,
                false,
            ),
            (
                "filters off",
                |e| e.prod_state = Some(300),
                None,
                "[FILTERS]\nprodstate:\n",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
            (
                "custom minseverity",
                |e| e.severity = Some(4),
                None,
                "[FILTERS]\nminseverity: 5\nkeepseverity:\n",
                Kind::FilteredClosed,
                None,
                true,
            ),
            (
                "autoclear on unchanged",
                |e| e.last_time = Some("1000".into()),
                Some(1),
                "autocleartime: 60\n",
                Kind::Unchanged,
                None,
                true,
            ),
            (
                "autoclear off at 0",
                |e| e.last_time = Some("1000".into()),
                Some(1),
                "autocleartime: 0\n",
                Kind::Unchanged,
                None,
                false,
            ),
            (
                "fresh event not autocleared",
                |e| e.last_time = Some("9990".into()),
                None,
                "autocleartime: 60\n",
                Kind::Ticket,
                Some("LAB"),
                false,
            ),
        ];
        for (name, change, seen, extra, kind, section, close) in rows {
            let mut e = ev();
            change(&mut e);
            // Keys after [ACME] go to [ACME] unless they start a section; GENERAL keys
            // are put there by prefixing a second [GENERAL] (sections merge).
            let extra = if extra.starts_with('[') {
                extra.to_string()
            } else {
                format!("[GENERAL]\n{extra}")
            };
            let c = cfg(&extra);
            let d = decide(&e, &c, *seen, 10_000.0, b"collector.example");
            assert_eq!(d.kind, *kind, "{name}: {}", d.reason);
            assert_eq!(
                d.customer.as_ref().map(|c| c.section.as_str()),
                *section,
                "{name}"
            );
            assert_eq!(d.close, *close, "{name}: {}", d.reason);
        }
    }

    #[test]
    fn counts_are_never_lost() {
        assert_eq!(trigger(3, 1, Some(5)), (false, 5));
        assert_eq!(trigger(7, 1, Some(5)), (true, 7));
        assert_eq!(trigger(0, 0, None), (true, 0));
        assert_eq!(trigger(4, 1, None), (false, 4));
    }

    #[test]
    fn ack_only_for_new_events_and_warnings_name_sections() {
        let c = cfg("");
        let mut e = ev();
        e.device_groups = Some(b"|/Network|/Acme".to_vec());
        let d = decide(&e, &c, None, 0.0, b"c");
        assert!(d.ack);
        assert!(d.warnings[0].contains("[LAB], [ACME]"), "{:?}", d.warnings);
        e.event_state = Some(1);
        e.count = Some(2);
        assert!(!decide(&e, &c, Some(1), 0.0, b"c").ack);
    }

    #[test]
    fn no_group_warning_is_the_daemons_and_spares_the_collector() {
        let c = cfg("");
        let mut e = ev();
        e.device_groups = None;
        let d = decide(&e, &c, None, 0.0, b"c");
        assert_eq!(d.warnings, vec!["Device router1 is not in a device group"]);
        e.device = Some(b"c".to_vec());
        assert!(decide(&e, &c, None, 0.0, b"c").warnings.is_empty());
    }
}
