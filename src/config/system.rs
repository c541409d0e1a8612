//! The ticket system a config names (`[GENERAL] ticketsystem`) and its section
//! (`[SERVICENOW]`, `[WEBHOOK]`, ...): where tickets go when no script makes them.

use super::parser::RawSection;
use super::{warn_unknown, Reader, Secret};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// The systems SPEC section 8 names; the section of each is its name in capitals.
pub const NAMES: &[&str] = &["servicenow", "jira", "webhook", "connectwise", "autotask"];

/// The systems built so far; the others are refused by name.
const BUILT: &[Kind] = &[Kind::ServiceNow, Kind::Webhook];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ServiceNow,
    Jira,
    Webhook,
    ConnectWise,
    Autotask,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "servicenow" => Kind::ServiceNow,
            "jira" => Kind::Jira,
            "webhook" => Kind::Webhook,
            "connectwise" => Kind::ConnectWise,
            "autotask" => Kind::Autotask,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::ServiceNow => "servicenow",
            Kind::Jira => "jira",
            Kind::Webhook => "webhook",
            Kind::ConnectWise => "connectwise",
            Kind::Autotask => "autotask",
        }
    }

    pub fn section(self) -> String {
        self.name().to_ascii_uppercase()
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::ServiceNow => &[
                "url",
                "user",
                "password",
                "passwordfile",
                "token",
                "tokenfile",
                "timeout",
                "verifytls",
                "cafile",
                "proxy",
                "onclear",
                "body",
                "table",
                "resolvestate",
                "closecode",
                "maxconcurrent",
            ],
            _ => &[
                "url",
                "user",
                "password",
                "passwordfile",
                "token",
                "tokenfile",
                "timeout",
                "verifytls",
                "cafile",
                "proxy",
                "onclear",
                "body",
                "ticketfield",
                "clearurl",
                "maxconcurrent",
            ],
        }
    }
}

/// Whether a section name is a ticket system's (never a customer).
pub fn is_system_section(name: &[u8]) -> bool {
    NAMES
        .iter()
        .any(|n| n.to_ascii_uppercase().as_bytes() == name)
}

/// What a clear does to the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClear {
    Comment,
    Resolve,
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemAuth {
    None,
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

/// One ticket system's settings.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    pub kind: Kind,
    pub url: String,
    pub auth: SystemAuth,
    pub timeout: Duration,
    pub verifytls: bool,
    pub cafile: Option<PathBuf>,
    /// `proxy`; None: none (HTTPS_PROXY/NO_PROXY are read by the client).
    pub proxy: Option<String>,
    pub onclear: OnClear,
    /// The system section's `body`, merged over the built-in default when a ticket is made.
    pub body: Option<Value>,
    /// ServiceNow: the table (incident), the resolved state (6), the close code.
    pub table: String,
    pub resolvestate: String,
    pub closecode: String,
    /// Webhook: the answer's field holding the ticket (a dotted path), and the clear URL.
    pub ticketfield: String,
    pub clearurl: Option<String>,
}

impl Reader<'_> {
    /// `[GENERAL] ticketsystem` and its section; None for `script` (the default).
    pub(super) fn system(
        &mut self,
        general: &RawSection,
        warnings: &mut Vec<String>,
    ) -> Option<SystemConfig> {
        let (name, line) = self.text(general, "ticketsystem")?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name == "script" {
            return None;
        }
        let Some(kind) = Kind::parse(&name) else {
            self.err(
                general,
                "ticketsystem",
                Some(line),
                format!(
                    "{name:?} is not a ticket system (script, {})",
                    NAMES.join(", ")
                ),
            );
            return None;
        };
        if !BUILT.contains(&kind) {
            self.err(
                general,
                "ticketsystem",
                Some(line),
                format!(
                    "{name} is not built into this version yet (servicenow and webhook are); \
                     use a ticketscript meanwhile"
                ),
            );
            return None;
        }
        let sname = kind.section();
        let Some(s) = self.ini.section(sname.as_bytes()).cloned() else {
            self.err(
                general,
                "ticketsystem",
                Some(line),
                format!(
                    "is {name}, but there is no [{sname}] section with its url and credentials"
                ),
            );
            return None;
        };
        let url = self.system_url(&s)?;
        if url.starts_with("http://") {
            warnings.push(format!(
                "{}: [{sname}] url is http://: credentials and event text travel in clear",
                self.file.display()
            ));
        }
        let user = self.text(&s, "user").map(|x| x.0).filter(|u| !u.is_empty());
        let password = self.secret(&s, "password");
        let token = self.secret(&s, "token");
        let auth = match (token, user, password) {
            (Some(t), _, _) => SystemAuth::Bearer(t),
            (None, Some(user), Some(password)) => SystemAuth::Basic { user, password },
            (None, Some(_), None) => {
                self.err(
                    &s,
                    "password",
                    Some(s.line),
                    "is missing: give `password` or `passwordfile` with `user` (or a `token`)"
                        .into(),
                );
                SystemAuth::None
            }
            _ => SystemAuth::None,
        };
        if kind == Kind::ServiceNow && auth == SystemAuth::None {
            self.err(
                &s,
                "user",
                Some(s.line),
                "is missing: ServiceNow needs `user` and `password` (or `token`)".into(),
            );
        }
        let timeout = match self.text(&s, "timeout") {
            None => Duration::from_secs(10),
            Some((t, line)) => match t.trim().parse::<f64>() {
                Ok(n) if n > 0.0 && n.is_finite() => Duration::from_secs_f64(n),
                _ => {
                    self.err(
                        &s,
                        "timeout",
                        Some(line),
                        format!("{t:?} is not a positive number of seconds"),
                    );
                    Duration::from_secs(10)
                }
            },
        };
        let verifytls = self.boolean(&s, "verifytls", true);
        let cafile = self.path(&s, "cafile");
        let proxy = self
            .text(&s, "proxy")
            .map(|x| x.0.trim().to_string())
            .filter(|p| !p.is_empty());
        let onclear = match self.text(&s, "onclear") {
            None => OnClear::Comment,
            Some((v, line)) => match v.trim() {
                "comment" => OnClear::Comment,
                "resolve" => OnClear::Resolve,
                "nothing" => OnClear::Nothing,
                _ => {
                    self.err(
                        &s,
                        "onclear",
                        Some(line),
                        format!("{v:?} is not comment, resolve or nothing"),
                    );
                    OnClear::Comment
                }
            },
        };
        let body = self.body(&s);
        let word = |r: &mut Reader, key: &str, default: &str| {
            r.text(&s, key)
                .map(|x| x.0.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let table = word(self, "table", "incident");
        let resolvestate = word(self, "resolvestate", "6");
        let closecode = word(self, "closecode", "Solved (Permanently)");
        let ticketfield = word(self, "ticketfield", "ticket");
        let clearurl = self
            .text(&s, "clearurl")
            .map(|x| x.0.trim().to_string())
            .filter(|u| !u.is_empty());
        warn_unknown(self.file, &s, kind.keys(), warnings);
        Some(SystemConfig {
            kind,
            url,
            auth,
            timeout,
            verifytls,
            cafile,
            proxy,
            onclear,
            body,
            table,
            resolvestate,
            closecode,
            ticketfield,
            clearurl,
        })
    }

    fn system_url(&mut self, s: &RawSection) -> Option<String> {
        let Some((u, line)) = self.text(s, "url") else {
            self.err(
                s,
                "url",
                Some(s.line),
                "is missing (the system's base URL, e.g. https://example.service-now.com)".into(),
            );
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
            self.err(s, "url", Some(line), "carries a user or password (`user:password@host`), which would show in every message naming the URL: give the bare URL, and the credentials as `user` and `password` (or `token`)".into());
            return None;
        }
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            self.err(
                s,
                "url",
                Some(line),
                format!("{u:?} must start with http:// or https://"),
            );
            return None;
        }
        Some(u)
    }

    /// `key`, or `keyfile` (the file must be the owner's alone).
    fn secret(&mut self, s: &RawSection, key: &str) -> Option<Secret> {
        if let Some((v, _)) = self.text(s, key) {
            return (!v.is_empty()).then_some(Secret(v));
        }
        let file_key = format!("{key}file");
        let path = self.path(s, &file_key)?;
        super::read_secret_file(self, s, &file_key, &path).map(Secret)
    }

    /// A `body`: a JSON object (continuation lines allowed); an error names the line and
    /// column inside it.
    pub(super) fn body(&mut self, s: &RawSection) -> Option<Value> {
        let (text, line) = self.text(s, "body")?;
        match serde_json::from_str::<Value>(&text) {
            Ok(v @ Value::Object(_)) => Some(v),
            Ok(_) => {
                self.err(
                    s,
                    "body",
                    Some(line),
                    "is not a JSON object (`{...}`)".into(),
                );
                None
            }
            Err(e) => {
                self.err(
                    s,
                    "body",
                    Some(line),
                    format!(
                        "is not JSON: {} at line {} column {} of the body",
                        strip_position(&e.to_string()),
                        e.line(),
                        e.column()
                    ),
                );
                None
            }
        }
    }
}

/// serde_json's message without its own " at line L column C" (said in the body's terms).
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
