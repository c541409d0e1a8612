//! Everything the tool prints on stdout: the hook's report, the sweep's summary,
//! `check-config`'s routing table and `state`'s rows, each as one line (or a table) for a
//! person and as JSON (`--json`) for a program. The shapes are what scripts and the
//! ZenPack rely on (the hook's JSON: evid, decision, reason, customer, queue, ticket,
//! argv, ack, close, autoclear, dry_run); nothing here decides anything.

use crate::config::{Config, LogTarget};
use crate::decide::Kind;
use crate::hook::{Action, Report};
use crate::state::{Listing, What};
use crate::sweep::Summary;
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

/// The result on stdout: one line, or with --json one object.
pub fn print(json: bool, line: &str, value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(out, "{value}")
    } else {
        writeln!(out, "{line}")
    };
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn lossy_opt(v: &Option<Vec<u8>>) -> Option<String> {
    v.as_deref().map(lossy)
}

impl Report {
    pub fn line(&self) -> String {
        let lossy = |v: &Option<Vec<u8>>| lossy_opt(v).unwrap_or_default();
        let mut s = match (self.kind, &self.ticket) {
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
            if let Some(req) = &self.request {
                s.push_str("\nwould send: ");
                s.push_str(req);
            }
        }
        s
    }

    pub fn json(&self) -> Value {
        json!({
            "evid": self.evid,
            "decision": self.kind.as_str(),
            "reason": self.reason,
            "customer": lossy_opt(&self.customer),
            "queue": lossy_opt(&self.queue),
            "section": self.section,
            "ticket": self.ticket.as_deref().map(|t| crate::ticket::json(t, self.system == "script")),
            "request": self.request,
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

impl Summary {
    pub fn line(&self) -> String {
        if self.skipped {
            return "sweep: another sweep is running; nothing done".into();
        }
        let mut s = format!(
            "sweep{}: retried {} (succeeded {}, failed {}, given up {}), autocleared {}, pruned {}, took {:.2}s",
            if self.dry_run { " (dry run: would have)" } else { "" },
            self.retried,
            self.succeeded,
            self.failed,
            self.given_up,
            self.autocleared,
            self.pruned,
            self.took
        );
        for n in self.console.iter().chain(&self.notes) {
            s.push_str("; ");
            s.push_str(n);
        }
        s
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "retried": self.retried, "succeeded": self.succeeded, "failed": self.failed,
            "given_up": self.given_up, "autocleared": self.autocleared, "pruned": self.pruned,
            "took": self.took, "dry_run": self.dry_run, "skipped": self.skipped, "notes": self.notes,
            "console": self.console, "reconciled": self.reconciled, "adopted": self.adopted,
        })
    }
}

/// The `check-config` mode: every error (exit 2) or every warning on stderr, then the
/// settings and the routing table on stdout.
pub fn check_config_cmd(g: &crate::run::Global) -> Result<(), crate::run::Failure> {
    let path = g.config_path()?;
    let cfg = Config::load(&path, crate::run::env_zenhome()).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("error: {e}");
        }
        crate::run::Failure::usage(format!("{}: {} error(s)", path.display(), errors.0.len()))
    })?;
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    let _ = check_config(&mut std::io::stdout().lock(), &cfg, g.json);
    // A `{name:int}` of a value the config fixes (the customer's id, ...) that is no
    // integer is an error now; one of the event's values can only fail per event.
    let fixed = |e: &str| {
        crate::tickets::FIXED
            .iter()
            .any(|f| e.contains(&format!("{{{f}:int}}")))
            || e.contains("needs an integer")
    };
    let bad: Vec<String> = sample_requests(&cfg)
        .into_iter()
        .filter_map(|(section, r)| {
            r.err()
                .filter(|e| fixed(e))
                .map(|e| format!("[{section}] body: {e}"))
        })
        .collect();
    if !bad.is_empty() {
        return Err(crate::run::Failure::usage(format!(
            "{}: {}",
            path.display(),
            bad.join("; ")
        )));
    }
    // A shared DB that cannot be reached or refuses the login stops every hook: say so now.
    if cfg.statedb_mysql.is_some() {
        if let Err(e) = crate::state::State::open_read_store(&cfg.store()) {
            return Err(crate::run::Failure::usage(e.to_string()));
        }
    }
    // Every mode that writes refuses this DB: say so now, not at the first event.
    if let Some(why) = cfg
        .statedb_mysql
        .is_none()
        .then(|| crate::netfs::refusal(&cfg.statedb))
        .flatten()
    {
        return Err(crate::run::Failure::usage(format!(
            "state DB {}: {why}",
            cfg.statedb.display()
        )));
    }
    // A state file made by another user (a root shell) that hooks cannot open.
    let locked: Vec<String> = [
        "",
        "-wal",
        "-shm",
        ".lock",
        ".journal",
        ".journal.bad",
        ".sweep",
    ]
    .iter()
    .filter_map(|suffix| {
        let mut p = cfg.statedb.as_os_str().to_owned();
        p.push(suffix);
        crate::owner::locked_out(std::path::Path::new(&p))
    })
    .collect();
    if !locked.is_empty() {
        return Err(crate::run::Failure::usage(format!(
            "state DB {}: {}",
            cfg.statedb.display(),
            locked.join("; ")
        )));
    }
    Ok(())
}

/// The `state` mode: what the state DB holds (read-only; no DB is a usage error).
pub fn state_cmd(
    g: &crate::run::Global,
    evid: Option<&str>,
    given_up: bool,
) -> Result<(), crate::run::Failure> {
    use crate::run::Failure;
    let cfg = g.load_config()?;
    let rows = crate::state::list(&cfg.store(), evid, given_up)
        .map_err(|e| Failure::retry(e.to_string()))?
        .ok_or_else(|| {
            Failure::usage(format!(
                "no state DB at {} yet (the first hook call creates it)",
                cfg.statedb.display()
            ))
        })?;
    let _ = state(&mut std::io::stdout().lock(), &rows, g.json);
    Ok(())
}

/// `check-config`: the settings that matter and the routing table, or with `json` the
/// customers and warnings.
pub fn check_config(out: &mut dyn Write, cfg: &Config, json: bool) -> std::io::Result<()> {
    let path = cfg.file.display();
    if json {
        let rows: Vec<_> = cfg
            .customers
            .iter()
            .map(|c| {
                json!({
                    "section": c.section, "id": lossy(&c.id), "queue": lossy(&c.queue),
                    "groups": c.groups.iter().map(|(_, g)| lossy(g)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let v = json!({"config": path.to_string(), "customers": rows, "warnings": cfg.warnings});
        return writeln!(out, "{v}");
    }
    let or = |v: Option<String>, none: &str| v.unwrap_or_else(|| none.to_string());
    writeln!(out, "config {path}: OK")?;
    let script = match &cfg.system {
        Some(sc) => Some(format!("(not used: ticketsystem {})", sc.kind.name())),
        None => cfg.ticketscript.as_ref().map(|p| p.display().to_string()),
    };
    writeln!(
        out,
        "ticketscript {}",
        or(script, "(none: tickets stay pending)")
    )?;
    let zenhome = cfg.zenhome.as_ref().map(|z| z.display().to_string());
    writeln!(out, "zenhome      {}", or(zenhome, "(unknown)"))?;
    match &cfg.statedb_mysql {
        None => writeln!(
            out,
            "statedb      {} (SQLite: one host)",
            cfg.statedb.display()
        )?,
        Some(t) => writeln!(
            out,
            "statedb      {} (MariaDB/MySQL: shared by every host; this host's journal {}.journal)",
            t.url(),
            cfg.statedb.display()
        )?,
    }
    let id = installation(cfg);
    writeln!(
        out,
        "installation {} (in every key a ticket system sees; kept in the state DB)",
        if id.is_empty() {
            "(made with the state DB, by the first hook)"
        } else {
            &id
        }
    )?;
    writeln!(
        out,
        "cycletime    {}s (the zenticket daemon's period: `sweep --every`)",
        cfg.cycletime
    )?;
    let logfile = match &cfg.logfile {
        LogTarget::Stderr => "-".to_string(),
        LogTarget::File(p) => p.display().to_string(),
    };
    writeln!(out, "logfile      {logfile}")?;
    let zenoss = cfg.zenoss.as_ref().map(|z| z.url.clone());
    writeln!(
        out,
        "zenoss       {}",
        or(zenoss, "(none: acknowledge/close stay pending)")
    )?;
    writeln!(out, "\nrouting (the last matching section wins):")?;
    writeln!(out, "{:<20} {:<16} {:<20} groups", "section", "id", "queue")?;
    for c in &cfg.customers {
        let groups: Vec<String> = c.groups.iter().map(|(_, g)| lossy(g)).collect();
        writeln!(
            out,
            "{:<20} {:<16} {:<20} {}",
            c.section,
            lossy(&c.id),
            lossy(&c.queue),
            groups.join(" ")
        )?;
    }
    system_bodies(out, cfg)
}

/// With a ticket system: which, where the key goes, and per customer section the request
/// a sample event would send (secrets are never part of it: they go in headers).
fn system_bodies(out: &mut dyn Write, cfg: &Config) -> std::io::Result<()> {
    let Some(sc) = &cfg.system else {
        return Ok(());
    };
    use crate::config::system::{Kind, OnClear};
    let key_goes = match sc.kind {
        Kind::ServiceNow => "correlation_id (looked up there after a lost answer)",
        Kind::Webhook => "the Idempotency-Key header (the receiver deduplicates)",
        _ => "(not built)",
    };
    let onclear = match sc.onclear {
        OnClear::Comment => "comment",
        OnClear::Resolve => "resolve",
        OnClear::Nothing => "nothing",
    };
    writeln!(
        out,
        "\nticketsystem {} at {}; the key goes in {key_goes}; onclear: {onclear}",
        sc.kind.name(),
        sc.url
    )?;
    for (section, req) in sample_requests(cfg) {
        match req {
            Ok(req) => writeln!(out, "[{section}] would send, for a sample event:\n{req}")?,
            Err(e) => writeln!(out, "[{section}] cannot make its request: {e}")?,
        }
    }
    Ok(())
}

/// This installation's id, from the state DB when there is one ("" before).
fn installation(cfg: &Config) -> String {
    crate::state::State::open_read_store(&cfg.store())
        .ok()
        .flatten()
        .and_then(|st| st.read(crate::state::installation).ok())
        .unwrap_or_default()
}

/// Per customer section, the request its tickets would make for a sample event, or why
/// none can be made (a `{name:int}` of a value that is no integer, say).
pub fn sample_requests(cfg: &Config) -> Vec<(String, Result<String, String>)> {
    let sys = match crate::tickets::for_config(cfg) {
        Ok(sys) => sys,
        Err(e) => return vec![("ticketsystem".into(), Err(e))],
    };
    let ev = crate::event::Event {
        evid: "sample-evid".into(),
        count: Some(1),
        event_state: Some(0),
        severity: Some(4),
        device: Some(b"router1".to_vec()),
        ip_address: Some(b"10.0.0.1".to_vec()),
        component: Some(b"Gi0/1".to_vec()),
        summary: Some(b"Interface Gi0/1 down".to_vec()),
        message: Some(b"ifOperStatus=2".to_vec()),
        ..Default::default()
    };
    let key = crate::script::idempotency_key(&ev.evid, 1, &installation(cfg));
    let collector = cfg.collector.clone().unwrap_or_default();
    cfg.customers
        .iter()
        .map(|c| {
            let groups = c.groups.iter().map(|(_, g)| lossy(g)).collect::<Vec<_>>();
            let ev = crate::event::Event {
                device_groups: Some(groups.join("|").into_bytes()),
                ..ev.clone()
            };
            let r = crate::tickets::Request {
                ev: &ev,
                customer: c,
                collector: &collector,
                note_title: &cfg.notetitle,
                key: &key,
                event_url: crate::tickets::event_url(cfg, &ev.evid),
            };
            (c.section.clone(), sys.preview(&r))
        })
        .collect()
}

/// `state`: a line per evid and one per piece of owed work, or with `json` one array.
pub fn state(out: &mut dyn Write, rows: &[Listing], json: bool) -> std::io::Result<()> {
    if json {
        let v: Vec<Value> = rows.iter().map(state_json).collect();
        return writeln!(out, "{}", Value::Array(v));
    }
    if rows.is_empty() {
        return writeln!(out, "no rows");
    }
    for Listing {
        row: r,
        tickets,
        pending,
        twins,
    } in rows
    {
        writeln!(
            out,
            "{} count {} state {} tickets [{}] customer {} queue {} updated {}",
            r.evid,
            r.count,
            r.event_state
                .map_or("None".into(), |s| crate::event::state_name(s).to_string()),
            tickets
                .iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            lossy_opt(&r.customer).unwrap_or_default(),
            lossy_opt(&r.queue).unwrap_or_default(),
            crate::time::log_format(r.updated)
        )?;
        for t in twins {
            writeln!(
                out,
                "  twin {t}: a second ticket with the same key (the search lagged beyond \
                 lookupgrace); the clear and the sync act on it too"
            )?;
        }
        for p in pending {
            let count = if p.what == What::Ticket {
                format!(" (count {})", p.count)
            } else {
                String::new()
            };
            let last = p
                .last_error
                .as_ref()
                .map_or(String::new(), |e| format!(", last error: {e}"));
            let asked = if p.asked_until.is_some() {
                " (a wait the ticket system asked for)"
            } else {
                ""
            };
            match p.given_up {
                None => writeln!(
                    out,
                    "  pending {}{count}: {} attempt(s), next try {}{asked}{last}",
                    p.what,
                    p.attempts,
                    crate::time::log_format(p.next_try),
                )?,
                Some(at) => writeln!(
                    out,
                    "  given up {}{count} at {}: {}",
                    p.what,
                    crate::time::log_format(at),
                    p.given_up_reason.as_deref().unwrap_or("")
                )?,
            }
        }
    }
    Ok(())
}

fn state_json(s: &Listing) -> Value {
    let r = &s.row;
    let work = |p: &crate::state::PendingRow| {
        let mut v = json!({
            "what": p.what.as_str(), "count": p.count, "attempts": p.attempts,
            "last_error": p.last_error, "next_try": p.next_try,
            "claimed_by": p.claimed_by, "owed_since": p.created,
            "asked_until": p.asked_until,
        });
        if let Some(at) = p.given_up {
            v["given_up_at"] = json!(at);
            v["reason"] = json!(p.given_up_reason);
        }
        v
    };
    json!({
        "evid": r.evid, "count": r.count, "event_state": r.event_state,
        "tickets": s.tickets.iter().map(|t| t.json()).collect::<Vec<_>>(), "customer": lossy_opt(&r.customer), "queue": lossy_opt(&r.queue),
        "cleared": r.cleared,
        "twins": s.twins,
        "pending": s.pending.iter().filter(|p| p.given_up.is_none()).map(work).collect::<Vec<_>>(),
        "given_up": s.pending.iter().filter(|p| p.given_up.is_some()).map(work).collect::<Vec<_>>(),
        "updated": r.updated,
    })
}
