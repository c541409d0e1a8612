//! zenticket-hook as a library: the parts the binary wires together, public so that the
//! fuzz targets and benches can reach the parsers directly.

pub mod config;
pub mod decide;
pub mod event;
pub mod hook;
pub mod log;
pub mod script;
pub mod state;
pub mod sweep;
pub mod time;
pub mod zenoss;
