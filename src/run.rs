//! One run of the tool, as every mode sees it: the global options, the setup they share
//! (config, log, Zenoss client), and `Failure`, the one error type at the command-line
//! boundary, which carries the exit status it earns: 1 when something
//! must be retried, 2 for a usage or config error. `main` maps it to the exit status.

use crate::config::Config;
use crate::zenoss;
use std::path::PathBuf;

/// The options every mode takes.
#[derive(Debug, Clone, Default)]
pub struct Global {
    pub config: Option<PathBuf>,
    pub dry_run: bool,
    pub json: bool,
    pub verbose: bool,
}

/// Why a run did not end well, with the exit status it earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub msg: String,
}

impl Failure {
    /// A usage or config error: exit 2.
    pub fn usage(msg: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            msg: msg.into(),
        }
    }

    /// Something failed and must be retried: exit 1.
    pub fn retry(msg: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            msg: msg.into(),
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$ZENHOME` when set and not empty.
pub fn env_zenhome() -> Option<PathBuf> {
    env_path("ZENHOME")
}

impl Global {
    /// The config file: `--config`, else `$ZENTICKET_CONF`, else `$ZENHOME/etc/zenticket.conf`.
    pub fn config_path(&self) -> Result<PathBuf, Failure> {
        self.config
            .clone()
            .or_else(|| env_path("ZENTICKET_CONF"))
            .or_else(|| env_zenhome().map(|z| z.join("etc/zenticket.conf")))
            .ok_or_else(|| {
                Failure::usage("no config: give --config PATH, or set ZENTICKET_CONF or ZENHOME")
            })
    }

    /// The config, read; an error is a usage error naming file, section and key.
    pub fn load_config(&self) -> Result<Config, Failure> {
        let path = self.config_path()?;
        Config::load(&path, env_zenhome()).map_err(|e| Failure::usage(e.to_string()))
    }

    /// Sends log lines where the config says (and to stderr with `-v`).
    pub fn install_log(&self, cfg: &Config) {
        crate::log::Logger::new(cfg.logfile.clone(), cfg.syslog.as_deref(), self.verbose).install();
    }
}

/// The Zenoss client when `[ZENOSS]` is configured.
pub fn zenoss_client(cfg: &Config) -> Result<Option<zenoss::Client>, Failure> {
    cfg.zenoss
        .as_ref()
        .map(|z| zenoss::Client::new(z).map_err(|e| Failure::usage(e.to_string())))
        .transpose()
}

/// Signals for the long-running `sweep --every`: SIGTERM and SIGINT ask it to finish the
/// step it is in and stop; SIGHUP asks it to re-read the config now. The handlers only set
/// flags; the loop and the sweep's steps look at them between steps, so no state is ever
/// half written.
pub mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};

    static STOP: AtomicBool = AtomicBool::new(false);
    static RELOAD: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_stop(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }

    extern "C" fn on_reload(_: libc::c_int) {
        RELOAD.store(true, Ordering::SeqCst);
    }

    /// Installs the handlers (only the loop does; a one-shot run keeps the defaults).
    pub fn install() {
        // SAFETY: the handlers only store to atomics, which is async-signal-safe.
        unsafe {
            let stop = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            let reload = on_reload as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::signal(libc::SIGTERM, stop);
            libc::signal(libc::SIGINT, stop);
            libc::signal(libc::SIGHUP, reload);
        }
    }

    /// Whether a stop was asked for: finish the current step, start no other.
    pub fn stopping() -> bool {
        STOP.load(Ordering::SeqCst)
    }

    /// Whether a re-read was asked for since the last call.
    pub fn take_reload() -> bool {
        RELOAD.swap(false, Ordering::SeqCst)
    }
}
