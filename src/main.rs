//! zenticket-hook: Zenoss events to tickets, one event per call.
//!
//! `main` only parses arguments and wires the parts: each mode is one library call, and
//! the exit status is decided here alone (0 handled by policy, 1 something must be
//! retried, 2 usage or config error; `run::Failure` carries 1 or 2).

use clap::Parser;
use std::io::Write;
use zenticket_hook::cli::{Cli, Cmd};
use zenticket_hook::run::{Failure, Global};
use zenticket_hook::{carry, health, hook, output, replay, sweep, work};

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
        Some(Cmd::CheckConfig) => output::check_config_cmd(&g).map(|_| 0),
        Some(Cmd::State { evid, given_up }) => {
            output::state_cmd(&g, evid.as_deref(), given_up).map(|_| 0)
        }
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
        Some(Cmd::CarryState { from }) => {
            let line = carry::run(&g, &from)?;
            output::print(g.json, &line, &serde_json::json!({"carried": line}));
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
    // The message runs to the first blank line: "required arguments were not provided:"
    // is followed by the arguments, one a line, which are the point.
    let text = e.render().to_string();
    let words: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let msg = words.join(" ");
    let msg = msg.trim_start_matches("error: ");
    let msg = if msg.is_empty() { "bad arguments" } else { msg };
    Err(Failure::usage(format!("{msg} (see --help)")))
}
