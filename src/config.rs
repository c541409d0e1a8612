//! zenticket.conf: the daemon's config file, read as Python 2 read it, turned into the
//! typed settings the hook runs on.
//!
//! Every error names the file, the line where known, the section and the key, because the
//! person reading it is an administrator with a text editor at 3 a.m.

pub mod parser;
pub mod system;

use parser::{RawIni, RawSection};
use regex::bytes::Regex;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const GENERAL_KEYS: &[&str] = &[
    "ticketscript",
    "clearscript",
    "cycletime",
    "autocleartime",
    "statedb",
    "statedbpasswordfile",
    "logfile",
    "syslog",
    "scripttimeout",
    "notetitle",
    "collector",
    "matchsubgroups",
    "retries",
    "retrywindow",
    "retrydelay",
    "retrymaxdelay",
    "maxwait",
    "breakafter",
    "reconcile",
    "ticketsystem",
    "onticketclosed",
];
pub const FILTER_KEYS: &[&str] = &[
    "skipmessage",
    "prodstate",
    "minseverity",
    "skipsummary",
    "skipdeviceclass",
    "keepeventclass",
    "keepsummary",
    "keepseverity",
];
pub const ZENOSS_KEYS: &[&str] = &[
    "url",
    "user",
    "password",
    "passwordfile",
    "apikey",
    "timeout",
    "verifytls",
    "cafile",
    "ticketnote",
];

/// One thing wrong with the config, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub key: Option<String>,
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ":")?;
        if let Some(s) = &self.section {
            write!(f, " [{s}]")?;
        }
        if let Some(k) = &self.key {
            write!(f, " {k}:")?;
        }
        write!(f, " {}", self.msg)
    }
}

/// All that is wrong with one config file.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => write!(f, "config error"),
            [one] => write!(f, "{one}"),
            [first, rest @ ..] => write!(
                f,
                "{first} (and {} more: run `zenticket-hook check-config`)",
                rest.len()
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Filters {
    pub skipmessage: Option<Regex>,
    pub prodstate: Vec<i64>,
    pub minseverity: Option<i64>,
    pub skipsummary: Option<Regex>,
    pub skipdeviceclass: Option<Regex>,
    pub keepeventclass: Option<Regex>,
    pub keepsummary: Option<Regex>,
    pub keepseverity: Vec<i64>,
}

impl Default for Filters {
    /// Exactly the daemon's hard-coded rules.
    fn default() -> Self {
        let re = |s: &str| Regex::new(s).ok();
        Filters {
            skipmessage: re("^Command timed out on device"),
            prodstate: vec![1000],
            minseverity: Some(3),
            skipsummary: re("^Unknown$"),
            skipdeviceclass: re("^/Discovered"),
            keepeventclass: re("^/Status/Ping"),
            keepsummary: re("^(SNMP agent down|interface operationally down|threshold of)"),
            keepseverity: vec![1],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub section: String,
    pub id: Vec<u8>,
    pub queue: Vec<u8>,
    /// (key, value) of every groupN that is set, in N order; `None` values are left out.
    pub groups: Vec<(String, Vec<u8>)>,
    /// A `body` of its own for the configured ticket system, merged over the system's.
    pub body: Option<serde_json::Value>,
}

/// A secret that never shows in Debug output, logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: Secret },
    ApiKey(Secret),
}

#[derive(Debug, Clone)]
pub struct ZenossConfig {
    pub url: String,
    pub auth: Auth,
    pub timeout: Duration,
    pub verifytls: bool,
    pub cafile: Option<PathBuf>,
    /// `ticketnote`: also note each ticket in the event's log (`write_log`). The ticket
    /// is on the event as details (a console column) anyway; the note costs a request.
    pub ticketnote: bool,
}

/// `[GENERAL] onticketclosed`: the event, once its ticket is resolved or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTicketClosed {
    Nothing,
    Close,
    Acknowledge,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub zenhome: Option<PathBuf>,
    pub ticketscript: Option<PathBuf>,
    pub clearscript: Option<PathBuf>,
    pub autocleartime: u64,
    /// The SQLite DB, or with `statedb_mysql` the prefix of this host's own files (the
    /// journal).
    pub statedb: PathBuf,
    /// `statedb: mysql://...`: the shared MariaDB/MySQL state DB.
    pub statedb_mysql: Option<crate::state::mysql::Target>,
    pub logfile: LogTarget,
    pub syslog: Option<String>,
    pub scripttimeout: Duration,
    pub notetitle: Vec<u8>,
    pub collector: Option<Vec<u8>>,
    pub matchsubgroups: bool,
    /// A cap on attempts within the window; 0 = none (work is retried until the window
    /// has passed).
    pub retries: u32,
    /// Seconds after work was first owed during which it is retried; then it is given up.
    pub retrywindow: u64,
    /// Seconds before the first retry; each further one waits twice as long ...
    pub retrydelay: u64,
    /// ... but never longer than this.
    pub retrymaxdelay: u64,
    /// The longest wait a ticket system may ask for (Retry-After, X-RateLimit-Reset) that
    /// is honoured; a longer one is cut to it.
    pub maxwait: u64,
    /// Consecutive script failures that open the breaker; 0 = never.
    pub breakafter: u32,
    /// Seconds between sweeps of `sweep --every` (the daemon's cycle).
    pub cycletime: u64,
    /// Whether each sweep reads the whole open console and handles what no hook call did.
    pub reconcile: bool,
    pub filters: Filters,
    pub customers: Vec<Customer>,
    pub zenoss: Option<ZenossConfig>,
    /// The ticket system tickets go to; None: the ticket script (`ticketsystem: script`).
    pub system: Option<system::SystemConfig>,
    /// What a sweep does to an open event whose ticket was resolved or closed.
    pub onticketclosed: OnTicketClosed,
    /// Things that are legal but probably not meant; `check-config` prints them.
    pub warnings: Vec<String>,
}

/// Whether a section is a customer: the daemon skipped every section starting with
/// GENERAL; FILTERS and ZENOSS are the hook's own.
pub fn is_customer_section(name: &[u8]) -> bool {
    !(name.starts_with(b"GENERAL")
        || name == b"FILTERS"
        || name == b"ZENOSS"
        || system::is_system_section(name))
}

/// ZENHOME: the environment's, else the parent of the config file's `etc/` folder
/// (Zenoss 4.2 runs notifications with an almost empty environment).
pub fn zenhome_for(config: &Path, env_zenhome: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(z) = env_zenhome.filter(|z| !z.as_os_str().is_empty()) {
        return Some(z);
    }
    let abs = if config.is_absolute() {
        config.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(config)
    };
    let dir = abs.parent()?;
    if dir.file_name()? == "etc" {
        dir.parent().map(Path::to_path_buf)
    } else {
        None
    }
}

struct Reader<'a> {
    file: &'a Path,
    ini: &'a RawIni,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn err(&mut self, sect: &RawSection, key: &str, line: Option<usize>, msg: String) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            section: Some(String::from_utf8_lossy(&sect.name).into_owned()),
            key: Some(key.to_string()),
            msg,
        });
    }

    /// The interpolated value of a key the hook reads; errors are recorded, not fatal.
    fn get(&mut self, sect: &RawSection, key: &str) -> Option<(Vec<u8>, usize)> {
        let (res, line) = self.ini.get(sect, key.as_bytes())?;
        match res {
            Ok(v) => Some((v, line)),
            Err(e) => {
                self.err(sect, key, Some(line), e.to_string());
                None
            }
        }
    }

    fn text(&mut self, sect: &RawSection, key: &str) -> Option<(String, usize)> {
        let (v, line) = self.get(sect, key)?;
        match String::from_utf8(v) {
            Ok(s) => Some((s, line)),
            Err(_) => {
                self.err(sect, key, Some(line), "is not valid UTF-8".into());
                None
            }
        }
    }

    fn int(&mut self, sect: &RawSection, key: &str) -> Option<i64> {
        let (s, line) = self.text(sect, key)?;
        match s.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(
                    sect,
                    key,
                    Some(line),
                    format!("{s:?} is not a whole number"),
                );
                None
            }
        }
    }

    fn uint(&mut self, sect: &RawSection, key: &str, default: u64) -> u64 {
        match self.int(sect, key) {
            Some(n) if n >= 0 => n as u64,
            Some(n) => {
                let line = self.ini.get(sect, key.as_bytes()).map(|x| x.1);
                self.err(sect, key, line, format!("{n} is negative"));
                default
            }
            None => default,
        }
    }

    fn int_list(&mut self, sect: &RawSection, key: &str) -> Option<Vec<i64>> {
        let (s, line) = self.text(sect, key)?;
        let mut out = Vec::new();
        for part in s.split(|c: char| c == ',' || c.is_ascii_whitespace()) {
            if part.is_empty() {
                continue;
            }
            match part.parse::<i64>() {
                Ok(n) => out.push(n),
                Err(_) => {
                    self.err(
                        sect,
                        key,
                        Some(line),
                        format!(
                            "{part:?} is not a whole number (expected e.g. `1000` or `1000, 500`)"
                        ),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    fn boolean(&mut self, sect: &RawSection, key: &str, default: bool) -> bool {
        let Some((s, line)) = self.text(sect, key) else {
            return default;
        };
        // ConfigParser.getboolean's words.
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => true,
            "0" | "no" | "false" | "off" => false,
            _ => {
                self.err(
                    sect,
                    key,
                    Some(line),
                    format!("{s:?} is not a boolean (true/false, yes/no, on/off, 1/0)"),
                );
                default
            }
        }
    }

    fn regex(&mut self, sect: &RawSection, key: &str, default: Option<Regex>) -> Option<Regex> {
        let Some((s, line)) = self.text(sect, key) else {
            return default;
        };
        if s.is_empty() {
            return None;
        }
        match Regex::new(&s) {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                self.err(
                    sect,
                    key,
                    Some(line),
                    format!("{s:?} is not a valid regular expression ({first})"),
                );
                default
            }
        }
    }

    /// An http(s) URL, without a trailing slash. One carrying `user:password@` is refused:
    /// it would show in every message that names the URL (check-config, the log, stderr,
    /// the state DB's last_error). `missing`: the words when a required one is absent.
    fn url(
        &mut self,
        sect: &RawSection,
        key: &str,
        missing: Option<&str>,
        creds: &str,
    ) -> Option<String> {
        let Some((u, line)) = self.text(sect, key) else {
            if let Some(example) = missing {
                self.err(
                    sect,
                    key,
                    Some(sect.line),
                    format!("is missing ({example})"),
                );
            }
            return None;
        };
        let u = u.trim().trim_end_matches('/').to_string();
        let authority = u
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("");
        if authority.contains('@') {
            self.err(
                sect,
                key,
                Some(line),
                format!(
                    "carries a user or password (`user:password@host`), which would show in \
                     every message naming the URL: give the bare URL, and the credentials as {creds}"
                ),
            );
            return None;
        }
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            self.err(
                sect,
                key,
                Some(line),
                format!("{u:?} must start with http:// or https://"),
            );
            return None;
        }
        Some(u)
    }

    fn path(&mut self, sect: &RawSection, key: &str) -> Option<PathBuf> {
        let (v, _) = self.get(sect, key)?;
        if v.is_empty() {
            return None;
        }
        Some(self.resolve(v))
    }

    /// Relative paths are taken from the config file's folder: zenactiond's working
    /// directory is nothing a config should depend on.
    /// `statedb: mysql://...` with its `statedbpasswordfile` (required: the URL never
    /// holds the password).
    fn mysql_target(&mut self, g: &RawSection, line: usize) -> Option<crate::state::mysql::Target> {
        let (url, _) = self.get(g, "statedb")?;
        let url = String::from_utf8_lossy(&url).into_owned();
        let target = crate::state::mysql::Target::parse(&url, String::new())
            .map_err(|why| self.err(g, "statedb", Some(line), why))
            .ok();
        let password = match self.path(g, "statedbpasswordfile") {
            Some(p) => read_secret_file(self, g, "statedbpasswordfile", &p),
            None => {
                self.err(
                    g,
                    "statedbpasswordfile",
                    None,
                    "must name the file holding the password of the statedb's user \
                     (statedb is a mysql:// URL)"
                        .into(),
                );
                None
            }
        };
        let mut target = target?;
        target.password = password?;
        Some(target)
    }

    fn resolve(&self, v: Vec<u8>) -> PathBuf {
        use std::os::unix::ffi::OsStringExt;
        let p = PathBuf::from(std::ffi::OsString::from_vec(v));
        if p.is_absolute() {
            p
        } else {
            self.file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join(p)
        }
    }
}

impl Reader<'_> {
    /// A config with [GENERAL]'s settings (defaults for what is not set; no section is a
    /// warning, not an error) and the daemon's filters; no customers yet.
    fn general(&mut self, zenhome: &Option<PathBuf>, warnings: &mut Vec<String>) -> Config {
        let general = match self.ini.section(b"GENERAL") {
            Some(g) => g.clone(),
            None => {
                warnings.push(format!(
                    "{}: no [GENERAL] section: no ticket script, every ticket stays pending",
                    self.file.display()
                ));
                RawSection::named(b"GENERAL")
            }
        };
        let g = &general;
        let ticketscript = self.path(g, "ticketscript");
        let clearscript = self.path(g, "clearscript");
        let cycletime = match self.uint(g, "cycletime", 60) {
            0 => 60,
            n => n,
        };
        let autocleartime = self.uint(g, "autocleartime", 0);
        let url = self
            .get(g, "statedb")
            .and_then(|(v, line)| url_scheme(&v).map(|s| (s, line)));
        let mut statedb_mysql = None;
        let statedb = match (url, self.path(g, "statedb")) {
            (Some((scheme, line)), _) => {
                // Not a path: taken as one it would be a SQLite file named `mysql:` in
                // the config's folder, and nothing would say so.
                match scheme.to_ascii_lowercase().as_str() {
                    "mysql" | "mariadb" => {
                        statedb_mysql = self.mysql_target(g, line);
                    }
                    _ => self.err(
                        g,
                        "statedb",
                        Some(line),
                        format!(
                            "{scheme}:// is not a state DB this tool knows: give a path \
                             (SQLite) or mysql://USER@HOST:PORT/DATABASE (MariaDB/MySQL)"
                        ),
                    ),
                }
                // What stays on this host (the journal of a ticket the database would not
                // take) goes beside where the SQLite DB would be.
                match (zenhome, &statedb_mysql) {
                    (Some(z), Some(t)) => z.join(format!("var/zenticket-{}", t.database)),
                    (None, Some(t)) => {
                        self.resolve(format!("zenticket-{}", t.database).into_bytes())
                    }
                    _ => PathBuf::new(),
                }
            }
            (None, Some(p)) => p,
            (None, None) => match zenhome {
                Some(z) => z.join("var/zenticket.db"),
                None => {
                    self.err(g, "statedb", None,
                        "is not set and ZENHOME is unknown (set ZENHOME, keep the config in $ZENHOME/etc, or set statedb)".into());
                    PathBuf::new()
                }
            },
        };
        if statedb_mysql.is_none() {
            if let Some((_, line)) = self.get(g, "statedbpasswordfile") {
                warnings.push(format!(
                    "{}:{line}: [GENERAL] statedbpasswordfile: ignored: statedb is not a mysql:// URL",
                    self.file.display()
                ));
            }
        }
        let logfile = match self.get(g, "logfile") {
            Some((v, _)) if v == b"-" => LogTarget::Stderr,
            Some((v, _)) if !v.is_empty() => LogTarget::File(self.resolve(v)),
            _ => match zenhome {
                Some(z) => LogTarget::File(z.join("log/zenticket.log")),
                None => LogTarget::Stderr,
            },
        };
        let syslog = match self.text(g, "syslog") {
            None => None,
            Some((s, line)) => {
                let s = s.trim().to_ascii_lowercase();
                match s.as_str() {
                    "" | "off" | "no" | "false" => None,
                    "user" | "daemon" | "local0" | "local1" | "local2" | "local3" | "local4"
                    | "local5" | "local6" | "local7" => Some(s),
                    _ => {
                        self.err(g, "syslog", Some(line), format!("{s:?} is not a syslog facility (user, daemon, local0..local7, or off)"));
                        None
                    }
                }
            }
        };
        let scripttimeout = match self.text(g, "scripttimeout") {
            None => Duration::from_secs(45),
            Some((s, line)) => match s.trim().parse::<f64>() {
                Ok(n) if n > 0.0 && n.is_finite() => {
                    if n >= 60.0 {
                        warnings.push(format!("{}:{line}: [GENERAL] scripttimeout {n} is not below zenactiond's default action timeout of 60 s: zenactiond may SIGKILL the hook first", self.file.display()));
                    }
                    Duration::from_secs_f64(n)
                }
                _ => {
                    self.err(
                        g,
                        "scripttimeout",
                        Some(line),
                        format!("{s:?} is not a positive number of seconds"),
                    );
                    Duration::from_secs(45)
                }
            },
        };
        let notetitle = self
            .get(g, "notetitle")
            .map(|x| x.0)
            .unwrap_or_else(|| b"System Monitor Error".to_vec());
        let collector = self
            .get(g, "collector")
            .map(|x| x.0)
            .filter(|c| !c.is_empty());
        let matchsubgroups = self.boolean(g, "matchsubgroups", false);
        let retries = self.uint(g, "retries", 0).min(u32::MAX as u64) as u32;
        let retrywindow = self.uint(g, "retrywindow", 86400);
        let retrydelay = self.uint(g, "retrydelay", 60);
        let retrymaxdelay = self.uint(g, "retrymaxdelay", 600).max(retrydelay);
        let maxwait = self.uint(g, "maxwait", 86400);
        let breakafter = self.uint(g, "breakafter", 3).min(u32::MAX as u64) as u32;
        let reconcile = self.boolean(g, "reconcile", true);
        let onticketclosed = match self.text(g, "onticketclosed") {
            None => OnTicketClosed::Nothing,
            Some((v, line)) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "nothing" => OnTicketClosed::Nothing,
                "close" => OnTicketClosed::Close,
                "acknowledge" => OnTicketClosed::Acknowledge,
                _ => {
                    self.err(
                        g,
                        "onticketclosed",
                        Some(line),
                        format!("{v:?} is not close, acknowledge or nothing"),
                    );
                    OnTicketClosed::Nothing
                }
            },
        };
        warn_unknown(self.file, g, GENERAL_KEYS, warnings);

        Config {
            file: self.file.to_path_buf(),
            zenhome: zenhome.clone(),
            ticketscript,
            clearscript,
            autocleartime,
            statedb,
            statedb_mysql,
            logfile,
            syslog,
            scripttimeout,
            notetitle,
            collector,
            matchsubgroups,
            retries,
            retrywindow,
            retrydelay,
            retrymaxdelay,
            maxwait,
            breakafter,
            cycletime,
            reconcile,
            filters: Filters::default(),
            customers: Vec::new(),
            zenoss: None,
            system: None,
            onticketclosed,
            warnings: Vec::new(),
        }
    }

    /// [FILTERS], each key defaulting to the daemon's hard-coded rule.
    fn filters(&mut self, warnings: &mut Vec<String>) -> Filters {
        let filters = match self.ini.section(b"FILTERS") {
            None => Filters::default(),
            Some(f) => {
                let d = Filters::default();
                let filters = Filters {
                    skipmessage: self.regex(f, "skipmessage", d.skipmessage),
                    prodstate: self.int_list(f, "prodstate").unwrap_or(d.prodstate),
                    minseverity: match self.text(f, "minseverity") {
                        Some((s, _)) if s.trim().is_empty() => None,
                        Some(_) => self.int(f, "minseverity").or(d.minseverity),
                        None => d.minseverity,
                    },
                    skipsummary: self.regex(f, "skipsummary", d.skipsummary),
                    skipdeviceclass: self.regex(f, "skipdeviceclass", d.skipdeviceclass),
                    keepeventclass: self.regex(f, "keepeventclass", d.keepeventclass),
                    keepsummary: self.regex(f, "keepsummary", d.keepsummary),
                    keepseverity: self.int_list(f, "keepseverity").unwrap_or(d.keepseverity),
                };
                warn_unknown(self.file, f, FILTER_KEYS, warnings);
                filters
            }
        };

        filters
    }

    /// Every customer section, in file order: `id`, `queue` and `groupN` in N order.
    fn customers(&mut self) -> Vec<Customer> {
        let mut customers = Vec::new();
        for s in self
            .ini
            .sections
            .iter()
            .filter(|s| is_customer_section(&s.name))
        {
            let name = String::from_utf8_lossy(&s.name).into_owned();
            let required = |key: &str, r: &mut Reader<'_>| match r.get(s, key) {
                Some((v, _)) => Some(v),
                None => {
                    if r.ini.raw(s, key.as_bytes()).is_none() {
                        r.err(s, key, Some(s.line), "is missing: every customer section needs `id` and `queue` (or name this section GENERAL... if it is not a customer)".to_string());
                    }
                    None
                }
            };
            let id = required("id", self);
            let queue = required("queue", self);
            let mut keys: Vec<(u64, String)> = self
                .ini
                .keys(s)
                .into_iter()
                .filter_map(|k| {
                    let k = String::from_utf8(k).ok()?;
                    let digits = k.strip_prefix("group")?;
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    let n = digits.parse::<u64>().ok()?;
                    Some((n, k))
                })
                .collect();
            keys.sort();
            let mut groups = Vec::new();
            for (_, key) in keys {
                if let Some((v, _)) = self.get(s, &key) {
                    // `None` is unset: the daemon let a DeviceGroups part `None` match it.
                    if v != b"None" {
                        groups.push((key, v));
                    }
                }
            }
            let body = self.body(s);
            if let (Some(id), Some(queue)) = (id, queue) {
                customers.push(Customer {
                    section: name,
                    id,
                    queue,
                    groups,
                    body,
                });
            }
        }
        customers
    }
}

impl Config {
    /// Where the state DB is (SQLite, or the shared MariaDB/MySQL one).
    pub fn store(&self) -> crate::state::Store {
        match &self.statedb_mysql {
            Some(target) => crate::state::Store::Mysql {
                target: target.clone(),
                local: self.statedb.clone(),
            },
            None => crate::state::Store::Sqlite(self.statedb.clone()),
        }
    }

    /// Reads and checks the whole file. Every problem is reported, not just the first.
    pub fn load(file: &Path, env_zenhome: Option<PathBuf>) -> Result<Config, ConfigErrors> {
        let whole = |msg: String| {
            ConfigErrors(vec![ConfigError {
                file: file.to_path_buf(),
                line: None,
                section: None,
                key: None,
                msg,
            }])
        };
        let data = std::fs::read(file).map_err(|e| whole(format!("cannot read: {e}")))?;
        let ini = RawIni::parse(&data).map_err(|e| whole(e.to_string()))?;
        Config::from_ini(file, &ini, zenhome_for(file, env_zenhome))
    }

    fn from_ini(
        file: &Path,
        ini: &RawIni,
        zenhome: Option<PathBuf>,
    ) -> Result<Config, ConfigErrors> {
        let mut r = Reader {
            file,
            ini,
            errors: Vec::new(),
        };
        let mut warnings: Vec<String> = ini
            .suspicious
            .iter()
            .map(|(line, text)| {
                format!(
                    "{}:{line}: {text:?} starts with white space, so it continues the value above it \
                     (Python's ConfigParser did the same); remove the indent if it is meant as its own line",
                    file.display()
                )
            })
            .collect();

        let general = r.general(&zenhome, &mut warnings);
        let filters = r.filters(&mut warnings);
        let zenoss = ini.section(b"ZENOSS").and_then(|z| {
            let zc = read_zenoss(&mut r, z);
            warn_unknown(file, z, ZENOSS_KEYS, &mut warnings);
            zc
        });

        let system = match ini.section(b"GENERAL") {
            Some(g) => r.system(g, &mut warnings),
            None => None,
        };
        for name in system::NAMES {
            let upper = name.to_ascii_uppercase();
            if let Some(s) = ini.section(upper.as_bytes()) {
                let holds = |k: &[u8]| s.own_keys().any(|(key, _)| key == k);
                if holds(b"id") || holds(b"queue") {
                    warnings.push(format!(
                        "{}:{}: [{upper}] holds id/queue, but it is the {name} ticket system's \
                         section, never a customer: rename it if it is a customer",
                        file.display(),
                        s.line
                    ));
                }
            }
        }
        if general.onticketclosed != OnTicketClosed::Nothing {
            let can = system
                .as_ref()
                .is_some_and(|s| s.kind != system::Kind::Webhook);
            if !can || zenoss.is_none() {
                warnings.push(format!(
                    "{}: [GENERAL] onticketclosed needs [ZENOSS] and a built-in ticket system other \
                     than the webhook (it asks the system for its tickets' state): ignored",
                    file.display()
                ));
            }
        }
        let customers = r.customers();
        warn_overlaps(&customers, &mut warnings);

        if !r.errors.is_empty() {
            return Err(ConfigErrors(r.errors));
        }
        Ok(Config {
            filters,
            customers,
            zenoss,
            system,
            warnings,
            ..general
        })
    }

    #[cfg(test)]
    pub fn load_from_ini_for_tests(file: &Path, ini: &RawIni) -> Config {
        match Config::from_ini(file, ini, Some("/z".into())) {
            Ok(c) => c,
            Err(e) => panic!("test config does not load: {e}"),
        }
    }

    /// Where the state DB and the log are, from a config that does not load: an event must
    /// be recorded even then, in the DB `sweep` will read once the config is fixed. The
    /// file is read as far as it can be (a byte order mark, a line Python 2 refused, an
    /// error in another section do not stop it).
    pub fn salvage(file: &Path, env_zenhome: Option<PathBuf>) -> Salvaged {
        let zenhome = zenhome_for(file, env_zenhome);
        let ini = std::fs::read(file)
            .ok()
            .and_then(|d| RawIni::parse_salvaging(&d));
        let value = |key: &[u8]| -> Option<Vec<u8>> {
            let ini = ini.as_ref()?;
            let g = ini.section(b"GENERAL")?;
            ini.get(g, key)?.0.ok().filter(|v| !v.is_empty())
        };
        let resolve = |v: Vec<u8>| {
            use std::os::unix::ffi::OsStringExt;
            let p = PathBuf::from(std::ffi::OsString::from_vec(v));
            if p.is_absolute() {
                p
            } else {
                file.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .join(p)
            }
        };
        let statedb = match value(b"statedb") {
            // A URL is no file to record into: the default DB takes the event.
            Some(v) if url_scheme(&v).is_some() => zenhome
                .as_ref()
                .map(|z| (z.join("var/zenticket.db"), false)),
            Some(v) => Some((resolve(v), true)),
            None => zenhome
                .as_ref()
                .map(|z| (z.join("var/zenticket.db"), false)),
        };
        let logfile = match value(b"logfile") {
            Some(v) if v == b"-" => Some(LogTarget::Stderr),
            Some(v) => Some(LogTarget::File(resolve(v))),
            None => zenhome.map(|z| LogTarget::File(z.join("log/zenticket.log"))),
        };
        Salvaged { statedb, logfile }
    }
}

/// What `Config::salvage` found in a config that does not load.
pub struct Salvaged {
    /// The state DB, and whether the file named it (false: the default under ZENHOME).
    pub statedb: Option<(PathBuf, bool)>,
    pub logfile: Option<LogTarget>,
}

fn read_zenoss(r: &mut Reader, z: &RawSection) -> Option<ZenossConfig> {
    let url = r.url(
        z,
        "url",
        Some("e.g. `url: http://localhost:8080`"),
        "`user` and `password` (or `passwordfile`)",
    )?;
    let user = r.text(z, "user").map(|x| x.0);
    let password = match (r.text(z, "password"), r.path(z, "passwordfile")) {
        (Some((p, _)), _) => Some(p),
        (None, Some(pf)) => read_secret_file(r, z, "passwordfile", &pf),
        (None, None) => None,
    };
    // The key goes into a header as it is: one it cannot carry is refused here, never
    // quoted by the HTTP client's error.
    let apikey = r
        .text(z, "apikey")
        .filter(|(k, line)| match check_secret(k) {
            Ok(()) => true,
            Err(why) => {
                r.err(z, "apikey", Some(*line), format!("holds {why}"));
                false
            }
        })
        .map(|x| x.0)
        .filter(|k| !k.is_empty());
    let auth = match (apikey, user, password) {
        (Some(k), _, _) => Auth::ApiKey(Secret(k)),
        (None, Some(user), Some(password)) => Auth::Basic {
            user,
            password: Secret(password),
        },
        (None, Some(_), None) if r.ini.raw(z, b"passwordfile").is_none() => {
            r.err(
                z,
                "password",
                Some(z.line),
                "is missing: give `password` or `passwordfile` with `user`".into(),
            );
            Auth::None
        }
        _ => Auth::None,
    };
    let timeout = match r.text(z, "timeout") {
        None => Duration::from_secs(10),
        Some((s, line)) => match s.trim().parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Duration::from_secs_f64(n),
            _ => {
                r.err(
                    z,
                    "timeout",
                    Some(line),
                    format!("{s:?} is not a positive number of seconds"),
                );
                Duration::from_secs(10)
            }
        },
    };
    let verifytls = r.boolean(z, "verifytls", true);
    let cafile = r.path(z, "cafile");
    if let Some(ca) = &cafile {
        if let Err(why) = crate::zenoss::ca_certs(ca) {
            let line = r.ini.get(z, b"cafile").map(|x| x.1);
            r.err(z, "cafile", line, why);
        }
    }
    let ticketnote = r.boolean(z, "ticketnote", false);
    Some(ZenossConfig {
        url,
        auth,
        timeout,
        verifytls,
        cafile,
        ticketnote,
    })
}

/// A secret's file (`passwordfile`, `tokenfile`): the owner's alone, its first line.
fn read_secret_file(r: &mut Reader, z: &RawSection, key: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let line = r.ini.get(z, key.as_bytes()).map(|x| x.1);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            r.err(z, key, line, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    if meta.is_dir() {
        r.err(
            z,
            key,
            line,
            format!(
                "{} is a folder, not a file: name the file that holds the password",
                path.display()
            ),
        );
        return None;
    }
    if meta.mode() & 0o077 != 0 {
        r.err(
            z,
            key,
            line,
            format!(
                "{} can be read or written by group or others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                meta.mode() & 0o777,
                path.display()
            ),
        );
        return None;
    }
    let text = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            r.err(z, key, line, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    // Never the content in a message: only the file and what is wrong with it.
    match secret_of_file(&text) {
        Ok(secret) => Some(secret),
        Err(why) => {
            r.err(z, key, line, format!("{} {why}", path.display()));
            None
        }
    }
}

/// The secret a file holds: its first line, without a byte order mark (Notepad writes one)
/// or a trailing CR. Err: what is wrong, in words that never show the content.
pub fn secret_of_file(text: &[u8]) -> Result<String, String> {
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let first = text.split(|&b| b == b'\n').next().unwrap_or(b"");
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if first.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("is empty (its first line holds no secret)".into());
    }
    let secret = String::from_utf8(first.to_vec())
        .map_err(|_| "is not UTF-8 text (the content is not shown)".to_string())?;
    check_secret(&secret).map_err(|why| format!("holds {why}"))?;
    Ok(secret)
}

/// A secret goes into an HTTP header (a bearer token, Autotask's Secret): a control
/// character (a line break from a continuation line, a tab, a NUL) cannot be carried
/// there. Err: what it holds, never the secret itself.
pub fn check_secret(secret: &str) -> Result<(), String> {
    match secret.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "a control character ({}) a header cannot carry (the content is not shown)",
            match c {
                '\n' | '\r' => "a line break: a continuation line?".to_string(),
                '\t' => "a tab".to_string(),
                c => format!("U+{:04X}", c as u32),
            }
        )),
        None => Ok(()),
    }
}

/// The scheme of a `statedb` that is a URL (`mysql://...`), not a path.
fn url_scheme(v: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(v).ok()?.trim();
    let (scheme, _) = text.split_once("://")?;
    (!scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)))
    .then(|| scheme.to_string())
}

fn warn_unknown(file: &Path, sect: &RawSection, known: &[&str], warnings: &mut Vec<String>) {
    for (key, line) in sect.own_keys() {
        let key = String::from_utf8_lossy(key);
        if !known.contains(&key.as_ref()) {
            warnings.push(format!(
                "{}:{line}: [{}] {key}: unknown key, ignored (a typo? known keys: {})",
                file.display(),
                String::from_utf8_lossy(&sect.name),
                known.join(", ")
            ));
        }
    }
}

/// A group configured in more than one section: the last one in the file wins, as in the
/// daemon, which is rarely what was meant. Indexed by group, so that a config of many
/// thousands of sections (an MSP's) is checked in O(sections x groups), not pairwise.
fn warn_overlaps(customers: &[Customer], warnings: &mut Vec<String>) {
    let mut by_group: std::collections::HashMap<&[u8], Vec<usize>> = Default::default();
    for (i, c) in customers.iter().enumerate() {
        for (_, g) in &c.groups {
            let at = by_group.entry(g.as_slice()).or_default();
            if !g.is_empty() && at.last() != Some(&i) {
                at.push(i);
            }
        }
    }
    // (first section, second section, the group's place in the first): the order in which
    // a reader of the file meets them.
    let mut pairs: Vec<(usize, usize, usize, &[u8])> = Vec::new();
    for (g, at) in by_group.iter().filter(|(_, at)| at.len() > 1) {
        for (k, &i) in at.iter().enumerate() {
            let place = customers[i]
                .groups
                .iter()
                .position(|(_, h)| h.as_slice() == *g)
                .unwrap_or(0);
            pairs.extend(at[k + 1..].iter().map(|&j| (i, j, place, *g)));
        }
    }
    pairs.sort_unstable();
    for (i, j, _, g) in pairs {
        let (a, b) = (&customers[i], &customers[j]);
        warnings.push(format!(
            "group {} is in [{}] and [{}]: its events go to [{}], the last one in the file (as the daemon did)",
            String::from_utf8_lossy(g), a.section, b.section, b.section
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigErrors> {
        let ini = RawIni::parse(text.as_bytes()).expect("parses");
        Config::from_ini(Path::new("/z/etc/zenticket.conf"), &ini, Some("/z".into()))
    }

    #[test]
    fn daemon_sample_config() {
        let c = load("[GENERAL]\nticketscript:/home/zenoss/zenticket/create_ticket.pl\ncycletime:30\n\n[LAB]\nid:nnl-00000\nqueue:Front Line\ngroup1:None\ngroup2:/Network\ngroup3:/Security\ngroup4:/Server\ngroup5:/Up-Down\n").unwrap();
        assert_eq!(c.autocleartime, 0);
        assert_eq!(c.statedb, PathBuf::from("/z/var/zenticket.db"));
        assert_eq!(
            c.logfile,
            LogTarget::File(PathBuf::from("/z/log/zenticket.log"))
        );
        assert_eq!(c.customers.len(), 1);
        let g: Vec<_> = c.customers[0].groups.iter().map(|g| g.1.clone()).collect();
        assert_eq!(
            g,
            vec![
                b"/Network".to_vec(),
                b"/Security".to_vec(),
                b"/Server".to_vec(),
                b"/Up-Down".to_vec()
            ]
        );
        assert_eq!(c.customers[0].queue, b"Front Line");
    }

    #[test]
    fn errors_name_section_and_key() {
        let e = load("[GENERAL]\nautocleartime: soon\n[A]\nqueue: q\n[FILTERS]\nskipsummary: (\n")
            .unwrap_err();
        let text: Vec<String> = e.0.iter().map(|e| e.to_string()).collect();
        assert!(text[0].contains(":2: [GENERAL] autocleartime: \"soon\" is not a whole number"));
        assert!(text.iter().any(|t| t.contains("[FILTERS] skipsummary:")));
        assert!(text.iter().any(|t| t.contains("[A] id: is missing")));
    }

    #[test]
    fn unread_keys_never_fail_but_unknown_ones_warn() {
        let c = load("[GENERAL]\nhelper: %(missing)s\nautocleartme: 5\n").unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("autocleartme")));
        assert!(c.warnings.iter().any(|w| w.contains("helper")));
    }

    #[test]
    fn defaults_inherit_and_are_not_reported() {
        let c = load("[DEFAULT]\nqueue: Front Line\nfoo: bar\n[GENERAL]\n[A]\nid: a\ngroup7: /X\ngroup10: /Y\n").unwrap();
        assert!(c.warnings.iter().all(|w| !w.contains("foo")));
        assert_eq!(c.customers[0].queue, b"Front Line");
        let keys: Vec<_> = c.customers[0].groups.iter().map(|g| g.0.clone()).collect();
        assert_eq!(keys, vec!["group7", "group10"]);
    }

    #[test]
    fn empty_filter_disables_it() {
        let c = load("[FILTERS]\nskipsummary:\nprodstate: 1000, 500\nminseverity:\n").unwrap();
        assert!(c.filters.skipsummary.is_none());
        assert_eq!(c.filters.prodstate, vec![1000, 500]);
        assert_eq!(c.filters.minseverity, None);
        assert!(c.filters.skipmessage.is_some());
    }
}
