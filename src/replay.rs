//! `replay`: what a config would have done with past events, before it goes live. An MSP
//! adds a customer section or changes a group, and the first sign of a mistake used to be a
//! customer's ticket in another customer's queue. The decision is a pure function, so it is
//! put to work on events from Zenoss (open ones with `query`, history with `archive: true`,
//! newest first, back to `--since`) or from a file of JSON lines (`detail` or
//! `--event-json` shape, so it works on an export with no Zenoss).
//!
//! Each event is decided as one new occurrence at its count (filters and routing; no
//! trigger, no autoclear). Nothing runs, nothing is written, nothing in Zenoss changes, and
//! no state DB is needed. With `--against OTHER.conf` every event whose decision, customer
//! or queue differs is listed, side by side, and counted per kind of change.

use crate::config::Config;
use crate::decide::{self, Decision, Kind};
use crate::event::Event;
use crate::run::{self, Failure, Global};
use crate::zenoss::Client;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `replay` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only events whose lastTime is this recent (seconds).
    pub since: f64,
    pub against: Option<PathBuf>,
    pub events: Option<PathBuf>,
}

/// `7d`, `12h`, `30m`, `90s` or plain seconds.
pub fn parse_since(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 's'),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("--since {text:?}: expected a number with d, h, m or s (7d)"))?;
    let scale = match unit {
        'd' => 86400.0,
        'h' => 3600.0,
        'm' => 60.0,
        's' => 1.0,
        _ => return Err(format!("--since {text:?}: the unit is d, h, m or s")),
    };
    Ok(n * scale)
}

/// One event's outcome under a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: Kind,
    pub section: Option<String>,
    pub customer: Option<String>,
    pub queue: Option<String>,
    /// The first filter failed (its key), for filtered decisions.
    pub filter: Option<String>,
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn key_of(rule: &str) -> String {
    rule.split([' ', '(']).next().unwrap_or(rule).to_string()
}

/// The decision for one past event under `cfg`, as one new occurrence.
pub fn outcome(ev: &Event, cfg: &Config) -> Outcome {
    let d: Decision = decide::decide_occurrence(ev, cfg, b"", "replayed occurrence");
    let filter = match d.kind {
        Kind::FilteredClosed | Kind::FilteredKept => {
            decide::failed_filters(ev, cfg).first().map(|f| key_of(f))
        }
        _ => None,
    };
    Outcome {
        kind: d.kind,
        section: d.customer.as_ref().map(|c| c.section.clone()),
        customer: d.customer.as_ref().map(|c| lossy(&c.id)),
        queue: d.customer.as_ref().map(|c| lossy(&c.queue)),
        filter,
    }
}

/// What changed for one event between two configs, as a kind to count.
pub fn change(before: &Outcome, after: &Outcome) -> Option<String> {
    if before.kind != after.kind {
        return Some(format!(
            "{} -> {}",
            before.kind.as_str(),
            after.kind.as_str()
        ));
    }
    if before.customer != after.customer || before.section != after.section {
        return Some("another customer".into());
    }
    if before.queue != after.queue {
        return Some("another queue".into());
    }
    None
}

/// Counts per customer section and queue, and of the other decisions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Table {
    pub events: u64,
    /// (section, customer, queue) -> tickets.
    pub tickets: BTreeMap<(String, String, String), u64>,
    pub filtered_closed: u64,
    pub filtered_kept: u64,
    pub no_group: u64,
    /// Filter key -> events it filtered (closed or kept).
    pub filters: BTreeMap<String, u64>,
    /// DeviceGroups of no-group events -> count.
    pub no_group_groups: BTreeMap<String, u64>,
}

impl Table {
    pub fn add(&mut self, ev: &Event, o: &Outcome) {
        self.events += 1;
        match o.kind {
            Kind::Ticket => {
                let k = (
                    o.section.clone().unwrap_or_default(),
                    o.customer.clone().unwrap_or_default(),
                    o.queue.clone().unwrap_or_default(),
                );
                *self.tickets.entry(k).or_insert(0) += 1;
            }
            Kind::FilteredClosed => self.filtered_closed += 1,
            Kind::FilteredKept => self.filtered_kept += 1,
            Kind::NoGroup => {
                self.no_group += 1;
                let g = ev
                    .device_groups
                    .as_deref()
                    .map(lossy)
                    .filter(|g| !g.is_empty())
                    .unwrap_or_else(|| "(none)".into());
                *self.no_group_groups.entry(g).or_insert(0) += 1;
            }
            _ => {}
        }
        if let Some(f) = &o.filter {
            *self.filters.entry(f.clone()).or_insert(0) += 1;
        }
    }
}

/// The most frequent entries, most first (ties by name).
fn top(m: &BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = m.iter().map(|(k, c)| (k.clone(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// One event that the other config decides differently.
#[derive(Debug, Clone)]
pub struct Changed {
    pub evid: String,
    pub device: String,
    pub groups: String,
    pub before: Outcome,
    pub after: Outcome,
    pub kind: String,
}

/// Everything a replay found.
#[derive(Debug, Default)]
pub struct Report {
    pub source: String,
    pub config: String,
    pub table: Table,
    pub against: Option<(String, Table)>,
    pub changed: Vec<Changed>,
    pub by_change: BTreeMap<String, u64>,
    /// Lines or rows that did not read as an event.
    pub unreadable: u64,
    /// The details each ticket would be set on its event with (None: no `[ZENOSS]`).
    pub details: Option<Value>,
}

/// Decides every event under `cfg` (and `other`), one at a time: events are not kept.
pub struct Replayer<'a> {
    cfg: &'a Config,
    other: Option<&'a Config>,
    report: Report,
}

impl<'a> Replayer<'a> {
    pub fn new(cfg: &'a Config, other: Option<&'a Config>) -> Replayer<'a> {
        Replayer {
            cfg,
            other,
            report: Report {
                against: other.map(|o| (o.file.display().to_string(), Table::default())),
                config: cfg.file.display().to_string(),
                details: cfg.zenoss.as_ref().map(|_| {
                    let system = cfg.system.as_ref().map_or("script", |s| s.kind.name());
                    json!({
                        "zenticket.ticket": "<the ticket's id>",
                        "zenticket.system": system,
                        "zenticket.url": "<its page, where the system gives one>",
                    })
                }),
                ..Report::default()
            },
        }
    }

    pub fn add(&mut self, ev: &Event) {
        let before = outcome(ev, self.cfg);
        self.report.table.add(ev, &before);
        let Some(other) = self.other else { return };
        let after = outcome(ev, other);
        if let Some((_, t)) = self.report.against.as_mut() {
            t.add(ev, &after);
        }
        if let Some(kind) = change(&before, &after) {
            *self.report.by_change.entry(kind.clone()).or_insert(0) += 1;
            self.report.changed.push(Changed {
                evid: ev.evid.clone(),
                device: ev.device.as_deref().map(lossy).unwrap_or_default(),
                groups: ev.device_groups.as_deref().map(lossy).unwrap_or_default(),
                before,
                after,
                kind,
            });
        }
    }

    pub fn finish(self) -> Report {
        self.report
    }
}

/// An event of the file or the console, taken as a new occurrence; None when it does not
/// read (counted, never fatal: one bad line of an export must not hide the rest).
fn as_event(obj: &Map<String, Value>) -> Option<Event> {
    let mut ev = Event::from_json(obj).ok()?;
    if ev.evid.is_empty() || ev.check_numbers().is_err() {
        return None;
    }
    ev.event_state = Some(0);
    Some(ev)
}

/// Says how far a long read has got, on stderr, when someone is watching it.
struct Progress {
    started: Instant,
    last: Instant,
    show: bool,
}

impl Progress {
    fn new(json: bool) -> Progress {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        Progress {
            started: Instant::now(),
            last: Instant::now(),
            show: tty && !json,
        }
    }

    fn tick(&mut self, n: u64) {
        if self.show && self.started.elapsed().as_secs() >= 3 && self.last.elapsed().as_secs() >= 2
        {
            eprintln!("replay: {n} events so far ...");
            self.last = Instant::now();
        }
    }
}

/// Events from a file of JSON lines.
fn from_file(path: &Path, r: &mut Replayer, progress: &mut Progress) -> Result<(), Failure> {
    let f = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("--events {}: {e}", path.display())))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, f);
    let (mut n, mut lineno, mut line) = (0u64, 0u64, Vec::new());
    let read_err = |e: std::io::Error| Failure::usage(format!("--events {}: {e}", path.display()));
    while let Some(whole) = bounded_line(&mut reader, &mut line, MAX_LINE).map_err(read_err)? {
        lineno += 1;
        if !whole {
            log::warn!(
                "replay: --events {} line {lineno} is longer than {MAX_LINE} bytes: counted as unreadable",
                path.display()
            );
            r.report.unreadable += 1;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Map<String, Value>>(&line)
            .ok()
            .and_then(|o| as_event(&o))
        {
            Some(ev) => r.add(&ev),
            None => r.report.unreadable += 1,
        }
        n += 1;
        progress.tick(n);
    }
    Ok(())
}

/// A line of `--events` is bounded as `--event-json` is: one event is never larger.
pub const MAX_LINE: u64 = crate::event::MAX_EVENT_JSON;

/// Reads the next line (without its newline) into `buf`, keeping at most `max` bytes:
/// Some(true) for a whole line, Some(false) for one longer than `max` (the rest is read
/// and dropped, so `/dev/zero` costs no memory), None at the end of the input.
pub fn bounded_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: u64,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let (mut whole, mut any) = (true, false);
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(whole));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if whole && (buf.len() + part.len()) as u64 <= max {
            buf.extend_from_slice(part);
        } else {
            whole = false;
            buf.clear();
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(whole));
        }
    }
}

/// Events from Zenoss: the open console and the history, newest first, back to `since`.
fn from_zenoss(
    z: &Client,
    since: f64,
    r: &mut Replayer,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let cutoff = crate::time::now() - since;
    let mut seen: HashSet<String> = HashSet::new();
    let mut n = 0u64;
    for archive in [false, true] {
        let mut start = 0u64;
        loop {
            let page = z
                .query_recent(start, 1000, crate::reconcile::KEYS, archive)
                .map_err(|e| Failure::retry(format!("cannot read events from Zenoss: {e}")))?;
            let got = page.events.len() as u64;
            let mut older = false;
            for row in &page.events {
                match crate::console::last_time(row) {
                    Some(t) if t < cutoff => {
                        older = true;
                        continue;
                    }
                    _ => {}
                }
                let evid = row.get("evid").and_then(Value::as_str).unwrap_or("");
                if !seen.insert(evid.to_string()) {
                    continue; // an event moving from the console to history while read
                }
                match as_event(row) {
                    Some(ev) => r.add(&ev),
                    None => r.report.unreadable += 1,
                }
                n += 1;
                progress.tick(n);
            }
            start += got;
            // Newest first: once a page reaches past `since`, the rest is older still.
            if got == 0 || older || page.total.is_some_and(|t| start >= t) {
                break;
            }
        }
    }
    Ok(())
}

/// The `replay` mode.
pub fn run(g: &Global, opts: &Options) -> Result<Report, Failure> {
    let cfg = g.load_config()?;
    let other = match &opts.against {
        None => None,
        // Its state DB is never opened: ZENHOME from the main config is only so that a
        // config kept outside $ZENHOME/etc loads.
        Some(p) => Some(
            Config::load(p, run::env_zenhome().or_else(|| cfg.zenhome.clone()))
                .map_err(|e| Failure::usage(e.to_string()))?,
        ),
    };
    let mut progress = Progress::new(g.json);
    let mut r = Replayer::new(&cfg, other.as_ref());
    let source = match &opts.events {
        Some(p) => {
            from_file(p, &mut r, &mut progress)?;
            p.display().to_string()
        }
        None => {
            let z = run::zenoss_client(&cfg)?.ok_or_else(|| {
                Failure::usage(format!(
                    "replay reads past events from Zenoss: add a [ZENOSS] section to {}, or give --events FILE",
                    cfg.file.display()
                ))
            })?;
            from_zenoss(&z, opts.since, &mut r, &mut progress)?;
            cfg.zenoss
                .as_ref()
                .map(|z| z.url.clone())
                .unwrap_or_default()
        }
    };
    let mut report = r.finish();
    report.source = source;
    Ok(report)
}

fn table_lines(out: &mut String, t: &Table) {
    out.push_str(&format!(
        "  {:<24} {:<16} {:<20} {:>8}\n",
        "section", "customer", "queue", "tickets"
    ));
    for ((section, customer, queue), n) in &t.tickets {
        out.push_str(&format!(
            "  {:<24} {:<16} {:<20} {:>8}\n",
            format!("[{section}]"),
            customer,
            queue,
            n
        ));
    }
    let words = |v: Vec<(String, u64)>| {
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "  filtered-closed {}, filtered-kept {} (top filters: {})\n",
        t.filtered_closed,
        t.filtered_kept,
        words(top(&t.filters, 5))
    ));
    out.push_str(&format!(
        "  no-group {} (top device groups: {})\n",
        t.no_group,
        words(top(&t.no_group_groups, 5))
    ));
}

fn show(o: &Outcome) -> String {
    match (&o.section, &o.queue) {
        (Some(s), Some(q)) => format!(
            "{} [{s}] {}/{q}",
            o.kind.as_str(),
            o.customer.as_deref().unwrap_or("")
        ),
        _ => o.kind.as_str().to_string(),
    }
}

impl Report {
    pub fn text(&self) -> String {
        let mut out = format!(
            "replay of {} event(s) from {}, each as one new occurrence\nunder {}:\n",
            self.table.events, self.source, self.config
        );
        table_lines(&mut out, &self.table);
        if let Some(d) = &self.details {
            out.push_str(&format!(
                "each ticket is set on its event (the console's Ticket column) as {}\n",
                d.as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k} = {}", v.as_str().unwrap_or("")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            ));
        }
        if let Some((other, t)) = &self.against {
            out.push_str(&format!("under {other}:\n"));
            table_lines(&mut out, t);
            let kinds: Vec<String> = self
                .by_change
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            out.push_str(&format!(
                "{} event(s) decided differently{}\n",
                self.changed.len(),
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", kinds.join(", "))
                }
            ));
            for c in &self.changed {
                out.push_str(&format!(
                    "  {}  {}  {}  {} -> {}\n",
                    c.evid,
                    c.device,
                    c.groups,
                    show(&c.before),
                    show(&c.after)
                ));
            }
        }
        if self.unreadable > 0 {
            out.push_str(&format!(
                "{} line(s) or row(s) did not read as an event\n",
                self.unreadable
            ));
        }
        out.trim_end().to_string()
    }

    pub fn json(&self) -> Value {
        let table = |t: &Table| {
            json!({
                "events": t.events,
                "tickets": t.tickets.iter().map(|((s, c, q), n)| json!({"section": s, "customer": c, "queue": q, "tickets": n})).collect::<Vec<_>>(),
                "filtered_closed": t.filtered_closed,
                "filtered_kept": t.filtered_kept,
                "no_group": t.no_group,
                "top_filters": top(&t.filters, 10),
                "top_no_group_groups": top(&t.no_group_groups, 10),
            })
        };
        let outcome = |o: &Outcome| json!({"decision": o.kind.as_str(), "section": o.section, "customer": o.customer, "queue": o.queue, "filter": o.filter});
        json!({
            "source": self.source,
            "config": self.config,
            "result": table(&self.table),
            "against": self.against.as_ref().map(|(f, t)| json!({"config": f, "result": table(t)})),
            "changes": {
                "total": self.changed.len(),
                "by_kind": self.by_change,
                "events": self.changed.iter().map(|c| json!({
                    "evid": c.evid, "device": c.device, "groups": c.groups, "kind": c.kind,
                    "before": outcome(&c.before), "after": outcome(&c.after),
                })).collect::<Vec<_>>(),
            },
            "unreadable": self.unreadable,
            "details": self.details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_read_whole_or_dropped_past_the_bound() {
        // (input, bound, chunk size) -> lines
        type Want = &'static [(Option<bool>, &'static [u8])];
        let table: &[(&[u8], u64, usize, Want)] = &[
            (
                b"ab\ncd",
                2,
                1,
                &[(Some(true), b"ab"), (Some(true), b"cd"), (None, b"")],
            ),
            (
                b"abc\nd\n",
                2,
                2,
                &[(Some(false), b""), (Some(true), b"d"), (None, b"")],
            ),
            (b"abc", 2, 64, &[(Some(false), b""), (None, b"")]),
            (
                b"\n\n",
                0,
                1,
                &[(Some(true), b""), (Some(true), b""), (None, b"")],
            ),
            (b"", 5, 1, &[(None, b"")]),
        ];
        for &(input, max, cap, want) in table {
            let mut r = std::io::BufReader::with_capacity(cap, input);
            let mut buf = Vec::new();
            for &(w, text) in want {
                let got = bounded_line(&mut r, &mut buf, max).unwrap();
                assert_eq!((got, buf.as_slice()), (w, text), "{input:?} {max}");
            }
        }
    }

    #[test]
    fn since_takes_days_hours_minutes_seconds() {
        let table: &[(&str, Option<f64>)] = &[
            ("7d", Some(604800.0)),
            ("12h", Some(43200.0)),
            ("30m", Some(1800.0)),
            ("90s", Some(90.0)),
            ("3600", Some(3600.0)),
            ("1.5d", Some(129600.0)),
            ("-1d", None),
            ("7w", None),
            ("d", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_since(text).ok(), *want, "{text}");
        }
    }

    fn o(
        kind: Kind,
        section: Option<&str>,
        customer: Option<&str>,
        queue: Option<&str>,
    ) -> Outcome {
        Outcome {
            kind,
            section: section.map(String::from),
            customer: customer.map(String::from),
            queue: queue.map(String::from),
            filter: None,
        }
    }

    #[test]
    fn changes_are_told_by_decision_then_customer_then_queue() {
        let t = |c, q| o(Kind::Ticket, Some("LAB"), Some(c), Some(q));
        let table = [
            (t("a", "Q"), t("a", "Q"), None),
            (t("a", "Q"), t("b", "Q"), Some("another customer")),
            (t("a", "Q"), t("a", "R"), Some("another queue")),
            (
                t("a", "Q"),
                o(Kind::NoGroup, None, None, None),
                Some("ticket -> no-group"),
            ),
            (
                o(Kind::FilteredClosed, None, None, None),
                o(Kind::FilteredKept, None, None, None),
                Some("filtered-closed -> filtered-kept"),
            ),
        ];
        for (before, after, want) in table {
            assert_eq!(
                change(&before, &after).as_deref(),
                want,
                "{before:?} {after:?}"
            );
        }
    }
}
