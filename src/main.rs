//! zenticket-hook: Zenoss events to tickets, one event per call.
//!
//! `main` only parses arguments and wires the parts: each mode is one library call, and
//! the exit status is decided here alone (0 handled by policy, 1 something must be
//! retried, 2 usage or config error; `run::Failure` carries 1 or 2).

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use zenticket_hook::run::{Failure, Global};
use zenticket_hook::{event, health, hook, output, replay, state, sweep, work};

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
    event: event::Fields,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cron job: retry owed work, reconcile the open console, autoclear, prune the state DB
    Sweep {
        /// On an empty state DB, act on every open event (as the daemon did at start)
        /// instead of adopting the console
        #[arg(long)]
        no_adopt: bool,
        /// Run in the foreground, a sweep every SECONDS [default: cycletime, else 60];
        /// SIGTERM/SIGINT stop it after the current step, SIGHUP re-reads the config
        #[arg(long, value_name = "SECONDS")]
        every: Option<Option<u64>>,
        /// With --every: stop after this many sweeps
        #[arg(long, requires = "every", value_name = "N")]
        cycles: Option<u64>,
    },
    /// Validate the config and print the routing table
    CheckConfig,
    /// Show what the state DB holds
    State {
        /// Only this evid
        #[arg(long)]
        evid: Option<String>,
        /// Only rows with given-up work
        #[arg(long)]
        given_up: bool,
    },
    /// Health at a glance: owed work, oldest, given up, breaker, last sweep, last ticket
    Status {
        /// One Nagios plugin line with performance data; exit 0 OK, 1 WARNING, 2 CRITICAL
        #[arg(long)]
        nagios: bool,
    },
    /// What a config would have done with past events (nothing runs or changes)
    Replay {
        /// Events whose lastTime is this recent: 7d, 12h, 30m, 90s
        #[arg(long, default_value = "7d", value_parser = replay::parse_since)]
        since: f64,
        /// Compare with this config: every event decided differently, side by side
        #[arg(long, value_name = "OTHER.conf")]
        against: Option<PathBuf>,
        /// Read events from a file of JSON lines (detail or --event-json shape), not Zenoss
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
    },
    /// Put given-up work back in the queue (the same idempotency key)
    Requeue {
        /// The given-up work of this evid
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        evid: Option<String>,
        /// All given-up work
        #[arg(long)]
        all: bool,
    },
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
        Err(e) => return usage_error(e),
    };
    if cli.cmd.is_some() && (cli.event.evid.is_some() || cli.event.event_json.is_some()) {
        return Err(Failure::usage(
            "event fields go without a subcommand: `zenticket-hook --evid X ...`",
        ));
    }
    let g = Global {
        config: cli.config,
        dry_run: cli.dry_run,
        json: cli.json,
        verbose: cli.verbose,
    };
    match cli.cmd {
        None => {
            let report = hook::run(&g, &cli.event)?;
            output::print(g.json, &report.line(), &report.json());
            Ok(if report.retry { 1 } else { 0 })
        }
        Some(Cmd::Sweep {
            no_adopt,
            every: Some(period),
            cycles,
        }) => sweep::run_loop(&g, period, cycles, !no_adopt).map(|_| 0),
        Some(Cmd::Sweep { no_adopt, .. }) => {
            let summary = sweep::run_cmd(&g, !no_adopt)?;
            output::print(g.json, &summary.line(), &summary.json());
            Ok(0)
        }
        Some(Cmd::CheckConfig) => check_config(&g),
        Some(Cmd::State { evid, given_up }) => show_state(&g, evid.as_deref(), given_up),
        Some(Cmd::Status { nagios }) => {
            let (code, line, value) = health::status(&g, nagios)?;
            output::print(g.json, &line, &value);
            Ok(code)
        }
        Some(Cmd::Replay {
            since,
            against,
            events,
        }) => {
            let opts = replay::Options {
                since,
                against,
                events,
            };
            let report = replay::run(&g, &opts)?;
            output::print(g.json, &report.text(), &report.json());
            Ok(0)
        }
        Some(Cmd::Requeue { evid, .. }) => {
            let line = work::requeue(&g, evid.as_deref())?;
            output::print(g.json, &line, &serde_json::json!({"requeued": line}));
            Ok(0)
        }
    }
}

/// --help and --version print and exit 0; anything else is one line that says what is
/// wrong (--help has the rest), exit 2.
fn usage_error(e: clap::Error) -> Result<i32, Failure> {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return Ok(0);
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("bad arguments");
    let first = first.trim_start_matches("error: ");
    Err(Failure::usage(format!("{first} (see --help)")))
}

fn check_config(g: &Global) -> Result<i32, Failure> {
    let path = g.config_path()?;
    let cfg = zenticket_hook::config::Config::load(&path, zenticket_hook::run::env_zenhome())
        .map_err(|errors| {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            Failure::usage(format!("{}: {} error(s)", path.display(), errors.0.len()))
        })?;
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    let _ = output::check_config(&mut std::io::stdout().lock(), &cfg, g.json);
    Ok(0)
}

fn show_state(g: &Global, evid: Option<&str>, given_up: bool) -> Result<i32, Failure> {
    let cfg = g.load_config()?;
    let rows = state::list(&cfg.statedb, evid, given_up)
        .map_err(|e| Failure::retry(e.to_string()))?
        .ok_or_else(|| {
            Failure::usage(format!(
                "no state DB at {} yet (the first hook call creates it)",
                cfg.statedb.display()
            ))
        })?;
    let _ = output::state(&mut std::io::stdout().lock(), &rows, g.json);
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
                if let Ok(ev) = cli.event.to_event() {
                    prop_assert!(ev.count.is_none_or(|c| c >= 0));
                    prop_assert!(ev.event_state.is_none_or(|s| (0..=6).contains(&s)));
                }
            }
        }
    }
}
