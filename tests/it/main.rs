//! The integration tests, one binary (as just's and cargo's are): each file is one
//! feature area, every test runs the real `zenticket-hook` as a process through the one
//! builder in `common` (`Test::new().config(..).event(..).run()`), against real ticket
//! scripts and, where Zenoss is involved, the Zenoss test server on 127.0.0.1
//! (`common::zenoss`), which answers with the shapes of ZENOSS.md.

mod common;

mod bad_input;
mod chaos;
mod cli;
mod clock;
mod concurrency;
mod config_py2;
mod console;
mod daemon;
mod files;
mod hosts;
mod outages;
mod psa;
mod reconcile;
mod replay;
mod servicenow;
mod state_db;
mod sweep;
mod ticket_script;
mod webhook;
mod zenoss_api;
mod zenpack;
