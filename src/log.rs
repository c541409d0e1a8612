//! The daemon's log: `%Y-%m-%d %H:%M:%S LEVEL zen.zenticket: message`, one line per record,
//! appended under an exclusive lock so that concurrent hooks never interleave or tear a
//! line. Control characters in messages are escaped: event text must not forge lines.

use crate::config::LogTarget;
use fs2::FileExt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

type Syslog = syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>;

pub struct Logger {
    target: LogTarget,
    syslog: Option<Mutex<Syslog>>,
    /// `-v`: also echo to stderr.
    echo: bool,
}

/// The installed logger's settings: `sweep --every` re-reads the config each cycle, and
/// a changed `logfile` or `syslog` takes effect without a restart.
static CURRENT: Mutex<Option<Logger>> = Mutex::new(None);

/// What the `log` macros call: the current settings, whatever they are now.
struct Installed;

impl Logger {
    pub fn new(target: LogTarget, facility: Option<&str>, echo: bool) -> Logger {
        let syslog = facility.and_then(|f| {
            let facility = f.parse::<syslog::Facility>().ok()?;
            let fmt = syslog::Formatter3164 {
                facility,
                hostname: None,
                process: "zenticket-hook".into(),
                pid: std::process::id(),
            };
            syslog::unix(fmt).ok().map(Mutex::new)
        });
        Logger {
            target,
            syslog,
            echo,
        }
    }

    /// Installs this logger for the `log` macros, or replaces the one installed.
    pub fn install(self) {
        if let Ok(mut current) = CURRENT.lock() {
            *current = Some(self);
        }
        if log::set_logger(&Installed).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    }

    fn write_line(&self, line: &str) {
        match &self.target {
            LogTarget::Stderr => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            LogTarget::File(path) => {
                if let Err(e) = append(path, line.as_bytes()) {
                    // The log is not worth failing an event for; say so where we can.
                    let what = format!("cannot write log {}", path.display());
                    let _ = writeln!(
                        std::io::stderr(),
                        "zenticket-hook: {}; the line was: {}",
                        crate::state::io_words(&what, &e),
                        line.trim_end()
                    );
                }
                if self.echo {
                    let _ = std::io::stderr().write_all(line.as_bytes());
                }
            }
        }
    }
}

fn append(path: &PathBuf, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        crate::owner::create_dirs(dir, 0o755)?;
    }
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    crate::owner::adopt_file(path, &f);
    f.lock_exclusive()?;
    // One write of the whole line: with O_APPEND and the lock, lines stay whole.
    let r = f.write_all(data);
    let _ = FileExt::unlock(&f);
    r
}

impl log::Log for Installed {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        if let Ok(current) = CURRENT.lock() {
            if let Some(l) = current.as_ref() {
                l.record(record);
            }
        }
    }

    fn flush(&self) {}
}

impl Logger {
    fn record(&self, record: &log::Record) {
        let level = match record.level() {
            log::Level::Error => "ERROR",
            log::Level::Warn => "WARNING",
            log::Level::Info => "INFO",
            log::Level::Debug | log::Level::Trace => "DEBUG",
        };
        let msg = escape(&record.args().to_string());
        let line = format!(
            "{} {level} zen.zenticket: {msg}\n",
            crate::time::log_format(crate::time::now())
        );
        self.write_line(&line);
        if let Some(s) = &self.syslog {
            if let Ok(mut s) = s.lock() {
                let _ = match record.level() {
                    log::Level::Error => s.err(&msg),
                    log::Level::Warn => s.warning(&msg),
                    _ => s.info(&msg),
                };
            }
        }
    }
}

/// Control characters (newlines, ANSI escapes, ...) as `\n`, `\x1b`: one record, one line.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Shortens text for a log line, at a character boundary.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// One argument for a log line: shown plainly when it is plain, else quoted.
pub fn quote(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "-_./:@,+=%".contains(c))
    {
        clip(&s, 300)
    } else {
        format!("'{}'", clip(&s.replace('\'', "'\\''"), 300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_keep_one_line() {
        assert_eq!(escape("a\nb\x1b[31m"), "a\\nb\\x1b[31m");
        assert_eq!(quote(b"Front Line"), "'Front Line'");
        assert_eq!(quote(b"/Network"), "/Network");
        assert!(clip(&"é".repeat(200), 101).ends_with("(400 bytes)"));
    }
}
