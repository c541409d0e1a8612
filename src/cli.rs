//! The command line: the global options, the event's fields (`event::Fields`) and the
//! subcommands, as clap derives them. `main` parses with it and dispatches; the modes
//! themselves live in the library.

use crate::event;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "zenticket-hook",
    version,
    about = "Turns Zenoss events into tickets, once per count increase (replaces the zenticket daemon)",
    subcommand_negates_reqs = true,
    args_override_self = true
)]
pub struct Cli {
    /// zenticket.conf [default: $ZENTICKET_CONF, else $ZENHOME/etc/zenticket.conf]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Decide and print; change nothing anywhere (no script, no Zenoss call, no state write)
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Print the result as one JSON object
    #[arg(long, global = true)]
    pub json: bool,
    /// Also echo log lines to stderr
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(flatten)]
    pub event: event::Fields,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Subcommand)]
pub enum Cmd {
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
        #[arg(long, default_value = "7d", value_parser = crate::replay::parse_since)]
        since: f64,
        /// Compare with this config: every event decided differently, side by side
        #[arg(long, value_name = "OTHER.conf")]
        against: Option<PathBuf>,
        /// Read events from a file of JSON lines (detail or --event-json shape), not Zenoss
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
    },
    /// Carry an SQLite state DB into the configured shared one (MariaDB): counts, tickets,
    /// owed work and the installation id (so the same idempotency keys); safe to run again
    CarryState {
        /// The SQLite state DB to carry (e.g. /var/zenoss/zenticket/zenticket.db)
        from: std::path::PathBuf,
    },
    /// Put given-up work back in the queue (the same idempotency key)
    #[command(group(clap::ArgGroup::new("which").required(true).args(["evid", "all"])))]
    Requeue {
        /// The given-up work of this evid
        #[arg(long)]
        evid: Option<String>,
        /// All given-up work
        #[arg(long)]
        all: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
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
