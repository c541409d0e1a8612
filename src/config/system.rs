//! The ticket system a config names (`[GENERAL] ticketsystem`) and its section
//! (`[SERVICENOW]`, `[WEBHOOK]`, ...): where tickets go when no script makes them.

use super::parser::RawSection;
use super::{warn_unknown, Reader, Secret};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// The systems SPEC section 8 names; the section of each is its name in capitals.
pub const NAMES: &[&str] = &["servicenow", "jira", "webhook", "connectwise", "autotask"];

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

    fn keys(self) -> Vec<&'static str> {
        let mut k = vec![
            "url",
            "timeout",
            "verifytls",
            "cafile",
            "proxy",
            "onclear",
            "body",
            "maxconcurrent",
        ];
        k.extend(match self {
            Kind::ServiceNow => &[
                "user",
                "password",
                "passwordfile",
                "token",
                "tokenfile",
                "table",
                "resolvestate",
                "closecode",
            ][..],
            Kind::Webhook => &[
                "user",
                "password",
                "passwordfile",
                "token",
                "tokenfile",
                "ticketfield",
                "clearurl",
            ][..],
            Kind::Jira => &[
                "user",
                "token",
                "tokenfile",
                "auth",
                "api",
                "project",
                "issuetype",
                "resolvetransition",
                "lookupgrace",
            ][..],
            Kind::ConnectWise => &[
                "codebase",
                "company",
                "publickey",
                "privatekey",
                "privatekeyfile",
                "clientid",
                "resolvestatus",
            ][..],
            Kind::Autotask => &[
                "user",
                "secret",
                "secretfile",
                "integrationcode",
                "integrationcodefile",
                "newstatus",
                "resolvestatus",
            ][..],
        });
        k
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
    Basic {
        user: String,
        password: Secret,
    },
    Bearer(Secret),
    /// Secrets in headers of their own (Autotask's UserName, Secret, ApiIntegrationCode).
    Headers(Vec<(String, Secret)>),
}

impl SystemAuth {
    /// Every secret as it may appear in a message: each value, and the Basic header's
    /// encoding of the pair.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            SystemAuth::None => Vec::new(),
            SystemAuth::Basic { user, password } => vec![
                password.0.clone(),
                crate::zenoss::base64(format!("{user}:{}", password.0).as_bytes()),
            ],
            SystemAuth::Bearer(t) => vec![t.0.clone()],
            SystemAuth::Headers(hs) => hs.iter().map(|(_, v)| v.0.clone()).collect(),
        }
    }
}

/// The shortest `lookupgrace` accepted: Jira's search lags its writes by seconds to
/// minutes (developer.atlassian.com, "search and reconcile").
pub const MIN_LOOKUPGRACE: f64 = 60.0;

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
    /// Jira: the project key, the issue type, the API version (3 Cloud, 2 Data Center),
    /// the transition that resolves, and how long a lookup that finds nothing is not
    /// trusted after a lost create (its search lags its writes).
    pub project: String,
    pub issuetype: String,
    pub api: u8,
    pub resolvetransition: String,
    pub lookupgrace: f64,
    /// ConnectWise: the codebase (v4_6_release) and the `clientId` header.
    pub codebase: String,
    pub clientid: String,
    /// ConnectWise's status name or Autotask's status number that resolves; Autotask's
    /// status of a new ticket.
    pub resolvestatus: String,
    pub newstatus: String,
    /// Requests in flight to this system at once, across every process (0: no cap).
    pub maxconcurrent: u32,
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
        let creds = "its own keys (user, password, token, ...)";
        let example = "the system's base URL, e.g. https://example.service-now.com";
        let url = self.url(&s, "url", Some(example), creds)?;
        // The webhook's url is its endpoint, sent as written: `/hook/` and `/hook` may be
        // two routes of the receiver. Every other system's is a base the paths are added to.
        let as_written = |r: &mut Self, key: &str, checked: String| match kind {
            Kind::Webhook => r
                .text(&s, key)
                .map_or(checked, |(raw, _)| raw.trim().to_string()),
            _ => checked,
        };
        let url = as_written(self, "url", url);
        if url.starts_with("http://") {
            warnings.push(format!(
                "{}: [{sname}] url is http://: credentials and event text travel in clear",
                self.file.display()
            ));
        }
        let auth = self.system_auth(kind, &s);
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
        if let Some(ca) = &cafile {
            if let Err(why) = crate::zenoss::ca_certs(ca) {
                let line = self.text(&s, "cafile").map(|x| x.1);
                self.err(&s, "cafile", line, why);
            }
        }
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
            .url(&s, "clearurl", None, creds)
            .map(|u| as_written(self, "clearurl", u));
        let project = word(self, "project", "");
        if kind == Kind::Jira && project.is_empty() {
            self.err(
                &s,
                "project",
                Some(s.line),
                "is missing: the Jira project key issues go to (e.g. OPS)".into(),
            );
        }
        let issuetype = word(self, "issuetype", "Task");
        let api = match word(self, "api", "3").as_str() {
            "2" => 2,
            "3" => 3,
            other => {
                self.err(&s, "api", Some(s.line), format!("{other:?} is not 2 or 3"));
                3
            }
        };
        let resolvetransition = word(self, "resolvetransition", "Done");
        let lookupgrace = self.uint(&s, "lookupgrace", 300) as f64;
        if lookupgrace < MIN_LOOKUPGRACE && kind == Kind::Jira {
            let line = self.text(&s, "lookupgrace").map(|x| x.1);
            self.err(
                &s,
                "lookupgrace",
                line,
                format!(
                    "{lookupgrace:.0} is below {MIN_LOOKUPGRACE:.0} s: Jira's search lags its \
                     writes by seconds to minutes, and a lookup trusted sooner after a lost \
                     answer makes a second issue"
                ),
            );
        }
        let codebase = word(self, "codebase", "v4_6_release");
        let clientid = word(self, "clientid", "");
        if kind == Kind::ConnectWise && clientid.is_empty() {
            self.err(
                &s,
                "clientid",
                Some(s.line),
                "is missing: ConnectWise wants its clientId header on every request".into(),
            );
        }
        let resolvestatus = word(
            self,
            "resolvestatus",
            if kind == Kind::Autotask {
                "5"
            } else {
                ">Closed"
            },
        );
        let newstatus = word(self, "newstatus", "1");
        let maxconcurrent = self.uint(
            &s,
            "maxconcurrent",
            if kind == Kind::Autotask { 3 } else { 0 },
        ) as u32;
        warn_unknown(self.file, &s, &kind.keys(), warnings);
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
            project,
            issuetype,
            api,
            resolvetransition,
            lookupgrace,
            codebase,
            clientid,
            resolvestatus,
            newstatus,
            maxconcurrent,
        })
    }

    /// Each system's credentials, as its API takes them.
    fn system_auth(&mut self, kind: Kind, s: &RawSection) -> SystemAuth {
        let user = self.text(s, "user").map(|x| x.0).filter(|u| !u.is_empty());
        let missing = |r: &mut Reader, key: &str, what: &str| {
            r.err(s, key, Some(s.line), format!("is missing: {what}"));
            SystemAuth::None
        };
        match kind {
            Kind::ServiceNow | Kind::Webhook => {
                let password = self.secret(s, "password");
                match (self.secret(s, "token"), user, password) {
                    (Some(t), _, _) => SystemAuth::Bearer(t),
                    (None, Some(user), Some(password)) => SystemAuth::Basic { user, password },
                    (None, Some(_), None) => missing(
                        self,
                        "password",
                        "give `password` or `passwordfile` with `user` (or a `token`)",
                    ),
                    _ if kind == Kind::ServiceNow => missing(
                        self,
                        "user",
                        "ServiceNow needs `user` and `password` (or `token`)",
                    ),
                    _ => SystemAuth::None,
                }
            }
            Kind::Jira => {
                let token = self.secret(s, "token");
                let bearer = self
                    .text(s, "auth")
                    .is_some_and(|(a, _)| a.trim().eq_ignore_ascii_case("bearer"));
                match (token, user, bearer) {
                    (Some(t), _, true) => SystemAuth::Bearer(t),
                    (Some(t), Some(user), false) => SystemAuth::Basic { user, password: t },
                    (Some(_), None, false) => missing(self, "user", "Jira Cloud takes the account's e-mail as `user` with its API `token` (or `auth: bearer` for a Data Center personal access token)"),
                    (None, _, _) => missing(self, "token", "Jira needs an API `token` (or `tokenfile`)"),
                }
            }
            Kind::ConnectWise => {
                let company = self.text(s, "company").map(|x| x.0);
                let public = self.text(s, "publickey").map(|x| x.0);
                match (company, public, self.secret(s, "privatekey")) {
                    (Some(c), Some(p), Some(k)) => SystemAuth::Basic {
                        user: format!("{c}+{p}"),
                        password: k,
                    },
                    _ => missing(self, "privatekey", "ConnectWise needs `company`, `publickey` and `privatekey` (or `privatekeyfile`)"),
                }
            }
            Kind::Autotask => {
                match (user, self.secret(s, "secret"), self.secret(s, "integrationcode")) {
                    (Some(u), Some(secret), Some(code)) => SystemAuth::Headers(vec![
                        ("UserName".into(), Secret(u)),
                        ("Secret".into(), secret),
                        ("ApiIntegrationCode".into(), code),
                    ]),
                    _ => missing(self, "secret", "Autotask needs `user`, `secret` and `integrationcode` (each also as a ...file)"),
                }
            }
        }
    }

    /// `key`, or `keyfile` (the file must be the owner's alone).
    fn secret(&mut self, s: &RawSection, key: &str) -> Option<Secret> {
        if let Some((v, line)) = self.text(s, key) {
            if let Err(why) = super::check_secret(&v) {
                self.err(s, key, Some(line), format!("holds {why}"));
                return None;
            }
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
