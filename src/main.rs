//! zenticket-hook: Zenoss events to tickets, one event per call.
//!
//! `main` only parses arguments and wires the parts; the exit status is decided in one
//! place (`main`): 0 handled by policy, 1 something must be retried, 2 usage or config.

use clap::{Args, Parser, Subcommand};
use config::Config;
use event::Event;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use zenticket_hook::{config, event, hook, log, state, sweep, time, zenoss};

#[derive(Parser)]
#[command(
    name = "zenticket-hook",
    version,
    about = "Turns Zenoss events into tickets, once per count increase (replaces the zenticket daemon)",
    subcommand_negates_reqs = true,
    args_override_self = true
)]
struct Cli {
    /// zenticket.conf [default: $ZENTICKET_CONF, else $ZENHOME/etc/zenticket.conf]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Decide and print; change nothing anywhere (no script, no Zenoss call, no state write)
    #[arg(long, global = true)]
    dry_run: bool,
    /// Print the result as one JSON object
    #[arg(long, global = true)]
    json: bool,
    /// Also echo log lines to stderr
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(flatten)]
    event: EventArgs,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cron job: retry pending work, autoclear stale events, prune the state DB
    Sweep,
    /// Validate the config and print the routing table
    CheckConfig,
    /// Show what the state DB holds
    State {
        /// Only this evid
        #[arg(long)]
        evid: Option<String>,
    },
}

/// The event's fields, each named after the Zenoss attribute it carries.
#[derive(Args, Default)]
struct EventArgs {
    /// evid (required)
    #[arg(long)]
    evid: Option<String>,
    /// count (integer, or None)
    #[arg(long, allow_hyphen_values = true)]
    count: Option<String>,
    /// eventState, 0..6 (0 New, 1 Acknowledged, ...)
    #[arg(long, allow_hyphen_values = true)]
    event_state: Option<String>,
    /// severity, 0..5
    #[arg(long, allow_hyphen_values = true)]
    severity: Option<String>,
    /// prodState (1000 Production, ...)
    #[arg(long, allow_hyphen_values = true)]
    prod_state: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    device: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    ip_address: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    component: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    summary: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    message: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    event_class: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    device_class: Option<OsString>,
    /// DeviceGroups, pipe separated: |/Network|/Server
    #[arg(long, allow_hyphen_values = true)]
    device_groups: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    device_priority: Option<OsString>,
    /// firstTime: 2009/11/18 16:45:33.000, ISO 8601, or epoch seconds/milliseconds
    #[arg(long, allow_hyphen_values = true)]
    first_time: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    last_time: Option<String>,
    /// This call is a notification's clear command
    #[arg(long)]
    clear: bool,
    /// Read the fields from one JSON object keyed by Zenoss attribute names (- = stdin)
    #[arg(long, value_name = "PATH")]
    event_json: Option<PathBuf>,
    /// Fetch the event from Zenoss (`detail`) even when text fields are given; they win
    #[arg(long)]
    fetch: bool,
}

/// Why a run did not end well, with the exit status it earns.
struct Failure {
    code: i32,
    msg: String,
}

impl Failure {
    fn usage(msg: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            msg: msg.into(),
        }
    }
    fn retry(msg: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            msg: msg.into(),
        }
    }
}

fn main() {
    let code = match try_main() {
        Ok(code) => code,
        Err(f) => {
            let _ = writeln!(std::io::stderr(), "zenticket-hook: {}", f.msg);
            f.code
        }
    };
    std::process::exit(code);
}

fn try_main() -> Result<i32, Failure> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Ok(0);
            }
            // One line that says what is wrong; --help has the rest.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.trim_start_matches("error: ");
            return Err(Failure::usage(format!("{first} (see --help)")));
        }
    };
    if cli.cmd.is_some() && (cli.event.evid.is_some() || cli.event.event_json.is_some()) {
        return Err(Failure::usage(
            "event fields go without a subcommand: `zenticket-hook --evid X ...`",
        ));
    }
    match cli.cmd {
        Some(Cmd::Sweep) => run_sweep(&cli),
        Some(Cmd::CheckConfig) => check_config(&cli),
        Some(Cmd::State { ref evid }) => show_state(&cli, evid.as_deref()),
        None => handle_event(&cli),
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn config_path(cli: &Cli) -> Result<PathBuf, Failure> {
    cli.config
        .clone()
        .or_else(|| env_path("ZENTICKET_CONF"))
        .or_else(|| env_path("ZENHOME").map(|z| z.join("etc/zenticket.conf")))
        .ok_or_else(|| {
            Failure::usage("no config: give --config PATH, or set ZENTICKET_CONF or ZENHOME")
        })
}

fn load_config(cli: &Cli) -> Result<Config, Failure> {
    let path = config_path(cli)?;
    Config::load(&path, env_path("ZENHOME")).map_err(|e| Failure::usage(e.to_string()))
}

/// The Zenoss client when `[ZENOSS]` is configured.
fn zenoss_client(cfg: &Config) -> Result<Option<zenoss::Client>, Failure> {
    cfg.zenoss
        .as_ref()
        .map(|z| zenoss::Client::new(z).map_err(|e| Failure::usage(e.to_string())))
        .transpose()
}

fn bytes(v: &Option<OsString>) -> Option<Vec<u8>> {
    v.clone().map(OsStringExt::into_vec)
}

fn event_from_args(a: &EventArgs) -> Result<Event, Failure> {
    let int = |name: &str, v: &Option<String>| -> Result<Option<i64>, Failure> {
        match v {
            None => Ok(None),
            Some(s) => event::parse_int(name, s).map_err(Failure::usage),
        }
    };
    let time = |name: &str, v: &Option<String>| -> Result<Option<String>, Failure> {
        match v {
            None => Ok(None),
            Some(s) if s.trim() == "None" || s.trim().is_empty() => Ok(None),
            Some(s) => {
                time::parse(s).map_err(|m| Failure::usage(format!("{name}: {m}")))?;
                Ok(Some(s.clone()))
            }
        }
    };
    let count = int("--count", &a.count)?;
    if count.is_some_and(|c| c < 0) {
        return Err(Failure::usage("--count must be 0 or more"));
    }
    let event_state = int("--event-state", &a.event_state)?;
    if event_state.is_some_and(|s| !(0..=6).contains(&s)) {
        return Err(Failure::usage("--event-state must be 0..6 (0 New, 1 Acknowledged, 2 Suppressed, 3 Closed, 4 Cleared, 5 Dropped, 6 Aged)"));
    }
    let severity = int("--severity", &a.severity)?;
    if severity.is_some_and(|s| !(0..=5).contains(&s)) {
        return Err(Failure::usage(
            "--severity must be 0..5 (0 Clear .. 5 Critical)",
        ));
    }
    Ok(Event {
        evid: a.evid.clone().unwrap_or_default(),
        count,
        event_state,
        severity,
        prod_state: int("--prod-state", &a.prod_state)?,
        device: bytes(&a.device),
        ip_address: bytes(&a.ip_address),
        component: bytes(&a.component),
        summary: bytes(&a.summary),
        message: bytes(&a.message),
        event_class: bytes(&a.event_class),
        device_class: bytes(&a.device_class),
        device_groups: bytes(&a.device_groups),
        device_priority: bytes(&a.device_priority),
        first_time: time("--first-time", &a.first_time)?,
        last_time: time("--last-time", &a.last_time)?,
    })
}

fn read_event_json(path: &PathBuf) -> Result<Event, Failure> {
    let data = if path.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
            .map_err(|e| Failure::usage(format!("--event-json -: cannot read stdin: {e}")))?;
        v
    } else {
        std::fs::read(path)
            .map_err(|e| Failure::usage(format!("--event-json {}: {e}", path.display())))?
    };
    let value: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| Failure::usage(format!("--event-json {}: not JSON: {e}", path.display())))?;
    let obj = value.as_object().ok_or_else(|| {
        Failure::usage(format!(
            "--event-json {}: expected one JSON object keyed by Zenoss attribute names",
            path.display()
        ))
    })?;
    Event::from_json(obj)
        .map_err(|m| Failure::usage(format!("--event-json {}: {m}", path.display())))
}

/// The default mode: one event.
fn handle_event(cli: &Cli) -> Result<i32, Failure> {
    let mut ev = event_from_args(&cli.event)?;
    if let Some(p) = &cli.event.event_json {
        ev.fill_from(read_event_json(p)?);
    }
    if ev.evid.is_empty() {
        return Err(Failure::usage("--evid is required"));
    }
    event::check_evid(&ev.evid).map_err(Failure::usage)?;

    let path = config_path(cli)?;
    let cfg = match Config::load(&path, env_path("ZENHOME")) {
        Ok(cfg) => cfg,
        Err(e) => {
            // Record the event anyway, so `sweep` can act on it once the config is fixed.
            let mut msg = e.to_string();
            if !cli.dry_run && ev.count.is_some() {
                if let Some(db) = Config::salvage_statedb(&path, env_path("ZENHOME")) {
                    match hook::record_undecided(&db, &ev, &format!("config error: {msg}")) {
                        Ok(true) => msg.push_str(&format!(
                            "; evid {} recorded in {} as pending for `sweep`",
                            ev.evid,
                            db.display()
                        )),
                        Ok(false) => msg.push_str(&format!(
                            "; evid {} recorded in {}",
                            ev.evid,
                            db.display()
                        )),
                        Err(se) => msg.push_str(&format!("; evid {} NOT recorded: {se}", ev.evid)),
                    }
                }
            }
            return Err(Failure::usage(msg));
        }
    };
    log::Logger::new(cfg.logfile.clone(), cfg.syslog.as_deref(), cli.verbose).install();

    let client = zenoss_client(&cfg)?;
    // The ZenPack's notification passes only evid and numbers (event text is not safe on
    // a /bin/sh command line): the text comes from Zenoss itself.
    let needs_text = !(cli.event.clear && cfg.clearscript.is_none());
    if cli.event.fetch || (needs_text && !ev.has_text()) {
        match &client {
            None if cli.event.fetch => {
                return Err(Failure::usage(format!(
                    "--fetch needs a [ZENOSS] section in {}",
                    cfg.file.display()
                )))
            }
            None => {}
            Some(z) => match z.detail(&ev.evid) {
                Ok(obj) => {
                    let fetched = Event::from_json(&obj).map_err(|m| {
                        Failure::retry(format!(
                            "evid {}: Zenoss's event does not read: {m}",
                            ev.evid
                        ))
                    })?;
                    ev.fill_from(fetched);
                }
                Err(e @ zenoss::ZenossError::NotFound(_)) => {
                    ::log::error!("evid {}: {e}", ev.evid);
                    return Err(Failure::usage(e.to_string()));
                }
                Err(e) => {
                    let mut msg = format!("evid {}: cannot fetch the event: {e}", ev.evid);
                    if !cli.dry_run && ev.count.is_some() && ev.event_state.is_some() {
                        match hook::record_undecided(&cfg.statedb, &ev, &msg) {
                            Ok(_) => msg.push_str("; recorded for `zenticket-hook sweep`"),
                            Err(se) => msg.push_str(&format!("; NOT recorded: {se}")),
                        }
                    }
                    ::log::error!("{msg}");
                    return Err(Failure::retry(msg));
                }
            },
        }
    }

    if ev.count.is_none() {
        return Err(Failure::usage(format!(
            "evid {}: --count is missing (Zenoss renders it as ${{evt/count}})",
            ev.evid
        )));
    }
    if ev.event_state.is_none() && !cli.event.clear {
        return Err(Failure::usage(format!(
            "evid {}: --event-state is missing (Zenoss renders it as ${{evt/eventState}})",
            ev.evid
        )));
    }

    let hook = hook::Hook {
        cfg: &cfg,
        zenoss: client.as_ref(),
        dry_run: cli.dry_run,
    };
    let result = if cli.event.clear {
        hook.clear(&ev)
    } else {
        hook.handle(&ev)
    };
    let report = result.map_err(|e| {
        ::log::error!("evid {}: {e}", ev.evid);
        Failure::retry(format!("evid {}: {e}", ev.evid))
    })?;

    let line = report.line();
    if !cli.dry_run {
        if report.retry {
            ::log::warn!("{line}");
        } else {
            ::log::info!("{line}");
        }
    }
    print(cli.json, &line, report.json());
    Ok(if report.retry { 1 } else { 0 })
}

/// The result on stdout: one line, or with --json one object.
fn print(json: bool, line: &str, value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(out, "{value}")
    } else {
        writeln!(out, "{line}")
    };
}

fn run_sweep(cli: &Cli) -> Result<i32, Failure> {
    let cfg = load_config(cli)?;
    log::Logger::new(cfg.logfile.clone(), cfg.syslog.as_deref(), cli.verbose).install();
    let client = zenoss_client(&cfg)?;
    let summary = sweep::run(&cfg, client.as_ref(), cli.dry_run).map_err(|e| {
        ::log::error!("sweep: {e}");
        Failure::retry(format!("sweep: {e}"))
    })?;
    let line = summary.line();
    if !cli.dry_run && !summary.skipped {
        ::log::info!("{line}");
    }
    print(cli.json, &line, summary.json());
    Ok(0)
}

fn check_config(cli: &Cli) -> Result<i32, Failure> {
    let path = config_path(cli)?;
    let cfg = match Config::load(&path, env_path("ZENHOME")) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            return Err(Failure::usage(format!(
                "{}: {} error(s)",
                path.display(),
                errors.0.len()
            )));
        }
    };
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    let lossy = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let mut out = std::io::stdout().lock();
    if cli.json {
        let rows: Vec<_> = cfg
            .customers
            .iter()
            .map(|c| {
                serde_json::json!({
                    "section": c.section, "id": lossy(&c.id), "queue": lossy(&c.queue),
                    "groups": c.groups.iter().map(|(_, g)| lossy(g)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({"config": path.display().to_string(), "customers": rows, "warnings": cfg.warnings})
        );
        return Ok(0);
    }
    let _ = writeln!(out, "config {}: OK", path.display());
    let _ = writeln!(
        out,
        "ticketscript {}",
        cfg.ticketscript
            .as_ref()
            .map_or("(none: tickets stay pending)".into(), |p| p
                .display()
                .to_string())
    );
    let _ = writeln!(
        out,
        "zenhome      {}",
        cfg.zenhome
            .as_ref()
            .map_or("(unknown)".into(), |z| z.display().to_string())
    );
    let _ = writeln!(out, "statedb      {}", cfg.statedb.display());
    let _ = writeln!(
        out,
        "logfile      {}",
        match &cfg.logfile {
            config::LogTarget::Stderr => "-".to_string(),
            config::LogTarget::File(p) => p.display().to_string(),
        }
    );
    let _ = writeln!(
        out,
        "zenoss       {}",
        cfg.zenoss
            .as_ref()
            .map_or("(none: acknowledge/close stay pending)".into(), |z| z
                .url
                .clone())
    );
    let _ = writeln!(out, "\nrouting (the last matching section wins):");
    let _ = writeln!(out, "{:<20} {:<16} {:<20} groups", "section", "id", "queue");
    for c in &cfg.customers {
        let groups: Vec<String> = c.groups.iter().map(|(_, g)| lossy(g)).collect();
        let _ = writeln!(
            out,
            "{:<20} {:<16} {:<20} {}",
            c.section,
            lossy(&c.id),
            lossy(&c.queue),
            groups.join(" ")
        );
    }
    Ok(0)
}

fn show_state(cli: &Cli, evid: Option<&str>) -> Result<i32, Failure> {
    let cfg = load_config(cli)?;
    if !cfg.statedb.exists() {
        return Err(Failure::usage(format!(
            "no state DB at {} yet (the first hook call creates it)",
            cfg.statedb.display()
        )));
    }
    let st = state::State::open(&cfg.statedb).map_err(|e| Failure::retry(e.to_string()))?;
    let rows = st.rows(evid).map_err(|e| Failure::retry(e.to_string()))?;
    let lossy = |v: &Option<Vec<u8>>| v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
    let mut out = std::io::stdout().lock();
    let mut json_rows = Vec::new();
    for r in &rows {
        let tickets = st
            .tickets(&r.evid)
            .map_err(|e| Failure::retry(e.to_string()))?;
        let pending = st
            .pending(&r.evid)
            .map_err(|e| Failure::retry(e.to_string()))?;
        if cli.json {
            json_rows.push(serde_json::json!({
                "evid": r.evid, "count": r.count, "event_state": r.event_state,
                "tickets": tickets, "customer": lossy(&r.customer), "queue": lossy(&r.queue),
                "cleared": r.cleared,
                "pending": pending.iter().map(|p| serde_json::json!({
                    "what": p.what, "count": p.count, "attempts": p.attempts,
                    "last_error": p.last_error, "next_try": p.next_try,
                    "claimed_by": p.claimed_by,
                })).collect::<Vec<_>>(),
                "updated": r.updated,
            }));
        } else {
            let _ = writeln!(
                out,
                "{} count {} state {} tickets {:?} customer {} queue {} updated {}",
                r.evid,
                r.count,
                r.event_state
                    .map_or("None".into(), |s| event::state_name(s).to_string()),
                tickets,
                lossy(&r.customer).unwrap_or_default(),
                lossy(&r.queue).unwrap_or_default(),
                time::log_format(r.updated)
            );
            for p in pending {
                let _ = writeln!(
                    out,
                    "  pending {}{}: {} attempt(s), next try {}{}",
                    p.what,
                    if p.what == "ticket" {
                        format!(" (count {})", p.count)
                    } else {
                        String::new()
                    },
                    p.attempts,
                    time::log_format(p.next_try),
                    p.last_error
                        .map_or(String::new(), |e| format!(", last error: {e}"))
                );
            }
        }
    }
    if cli.json {
        let _ = writeln!(out, "{}", serde_json::Value::Array(json_rows));
    } else if rows.is_empty() {
        let _ = writeln!(out, "no rows");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arg() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("--evid".to_string()),
            Just("--count".to_string()),
            Just("--event-state".to_string()),
            Just("--severity".to_string()),
            Just("--prod-state".to_string()),
            Just("--last-time".to_string()),
            Just("--summary".to_string()),
            Just("--clear".to_string()),
            Just("None".to_string()),
            Just("sweep".to_string()),
            "-?-?[a-z-]{1,12}",
            "-?[0-9]{1,25}",
            "\\PC{0,16}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any argument vector gives a parsed event or a usage error, never a panic.
        #[test]
        fn any_arguments_parse_or_fail_cleanly(args in proptest::collection::vec(arg(), 0..10)) {
            let argv = std::iter::once("zenticket-hook".to_string()).chain(args);
            if let Ok(cli) = Cli::try_parse_from(argv) {
                if let Ok(ev) = event_from_args(&cli.event) {
                    prop_assert!(ev.count.is_none_or(|c| c >= 0));
                    prop_assert!(ev.event_state.is_none_or(|s| (0..=6).contains(&s)));
                }
            }
        }
    }
}
