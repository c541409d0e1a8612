//! zenticket-hook as a library: everything but argument parsing, so that tests, benches
//! and fuzz targets reach the same code the binary runs.
//!
//! The parts, each one concept: `config` (zenticket.conf as Python 2 read it), `event`
//! (one event, from any source, validated), `decide` (the daemon's rules, pure), `state`
//! (the SQLite state DB), `netfs` (no state DB on a network filesystem), `script` (running the ticket script), `ticket` (a ticket's id, as text), `tickets` (the ticket systems behind one interface), `ticketsync` (the event closed when its ticket is), `zenoss` (the JSON API), `console` (a read of the open
//! events that knows whether it is complete),
//! `work` (owed work: attempts, retries, claims, give-up), `hook` (one event end to end),
//! `sweep` (the cron companion), `reconcile` (the daemon's polling: the whole console,
//! handled as a hook would), `health` (`status` and the tool's own events in Zenoss),
//! `output` (what is printed), `log` (the daemon's log
//! format), `time` (Zenoss's time forms), `run` (global options and the exit status).

pub mod carry;
pub mod cli;
pub mod config;
pub mod console;
pub mod decide;
pub mod event;
pub mod health;
pub mod hook;
pub mod log;
pub mod netfs;
pub mod output;
pub mod owner;
pub mod reconcile;
pub mod replay;
pub mod run;
pub mod script;
pub mod state;
pub mod sweep;
pub mod ticket;
pub mod tickets;
pub mod ticketsync;
pub mod time;
pub mod twins;
pub mod work;
pub mod zenoss;
