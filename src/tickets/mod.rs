//! Ticket systems behind one interface: the ticket script (`ticketsystem: script`, the
//! default) and the systems the tool talks to itself (ServiceNow, any webhook). Owed
//! work, retries, the breaker, give-up, requeue, reconcile and replay see only this
//! interface; each system is a file of its own.
//!
//! Exactly once through lost answers (SPEC section 8): every answer is classified here,
//! once, as made, ambiguous (the request may have landed), wait (429/503/409), refused
//! (400/422: the body, which retrying cannot fix), credentials refused (401/403) or failed
//! (nothing was made). After an ambiguous create, the next attempt looks the ticket up by
//! its key before creating again.

pub mod autotask;
pub mod connectwise;
pub mod http;
pub mod jira;
pub mod script;
pub mod servicenow;
pub mod webhook;

use crate::config::system::{Kind, SystemConfig};
use crate::config::{Config, Customer};
use crate::event::Event;
use serde_json::{Map, Value};

/// A ticket as a system gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The id people see: INC0010001, OPS-123, 4711.
    pub id: String,
    /// The system's internal id for later calls (ServiceNow's sys_id).
    pub reference: Option<String>,
    /// Its page, where the system has one.
    pub link: Option<String>,
}

impl Ticket {
    /// A ticket known by its id alone.
    pub fn plain(id: String) -> Ticket {
        Ticket {
            id,
            reference: None,
            link: None,
        }
    }
}

/// What one call to a ticket system came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    Done(T),
    /// The request may have landed, but no usable answer came back.
    Ambiguous(String),
    /// Asked to wait this many seconds (429, 503, 409); `ambiguous` for a 503/409 to a
    /// create. Never counts towards the breaker.
    Wait {
        secs: f64,
        why: String,
        ambiguous: bool,
    },
    /// The system refused the request itself (400/422): retrying cannot help.
    Refused(String),
    /// The credentials or rights were refused (401/403).
    Credentials(String),
    /// Nothing was made (connection refused, 404, ...); retried.
    Failed(String),
    /// The system answered, so it is up, but did not confirm the record (a 2xx without a
    /// ticket id, which a receiver replays for the same key): it may have been made, so
    /// the next attempt looks it up first where the system can; one record's trouble,
    /// never counted towards the breaker.
    Unconfirmed(String),
    /// Not sent: `maxconcurrent` requests are in flight; left owed for sweep.
    Busy(String),
}

impl<T> Answer<T> {
    /// The next step with what a call gave; every other answer passes through as it is.
    pub fn then<U>(self, f: impl FnOnce(T) -> Answer<U>) -> Answer<U> {
        match self {
            Answer::Done(t) => f(t),
            Answer::Ambiguous(m) => Answer::Ambiguous(m),
            Answer::Wait {
                secs,
                why,
                ambiguous,
            } => Answer::Wait {
                secs,
                why,
                ambiguous,
            },
            Answer::Refused(m) => Answer::Refused(m),
            Answer::Credentials(m) => Answer::Credentials(m),
            Answer::Failed(m) => Answer::Failed(m),
            Answer::Unconfirmed(m) => Answer::Unconfirmed(m),
            Answer::Busy(m) => Answer::Busy(m),
        }
    }

    /// For a call that makes nothing (a lookup, a note, a state query): an answer lost on
    /// the way is a plain failure, with nothing to look up afterwards.
    pub fn lost_is_failure(self) -> Answer<T> {
        match self {
            Answer::Ambiguous(m) | Answer::Unconfirmed(m) => Answer::Failed(m),
            other => other,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        self.then(|t| Answer::Done(f(t)))
    }
}

/// One ticket to make: the event, where it is routed, and its keys.
pub struct Request<'a> {
    pub ev: &'a Event,
    pub customer: &'a Customer,
    pub collector: &'a [u8],
    pub note_title: &'a [u8],
    /// The idempotency key, in full (the script's ZENTICKET_IDEMPOTENCY_KEY).
    pub key: &'a str,
    /// The event's page in Zenoss, when `[ZENOSS] url` is set.
    pub event_url: String,
}

/// A ticket system.
pub trait System {
    /// Its name in `ticketsystem:` (script, servicenow, webhook, ...).
    fn name(&self) -> &'static str;
    /// Makes the ticket.
    fn create(&self, r: &Request) -> Answer<Ticket>;
    /// Whether `find` can answer: after an ambiguous create the ticket is looked up first.
    fn can_find(&self) -> bool {
        false
    }
    /// Seconds after a lost create during which a lookup that finds nothing is not
    /// trusted (a search that lags its writes: Jira).
    fn lookup_grace(&self) -> f64 {
        0.0
    }
    /// The ticket made for this key, if any (the record must carry exactly the key).
    fn find(&self, _r: &Request) -> Answer<Option<Ticket>> {
        Answer::Done(None)
    }
    /// Every ticket carrying this key, oldest first: more than one when a create was sent
    /// again after a lookup that lagged (Jira). Systems whose lookup cannot lag give `find`.
    fn find_all(&self, r: &Request) -> Answer<Vec<Ticket>> {
        self.find(r).map(|t| t.into_iter().collect())
    }
    /// A note on the ticket that its event cleared, or the ticket resolved, as `onclear`
    /// says; `Done(false)` when nothing is to be done.
    fn clear(&self, t: &Ticket, r: &Request, text: &str) -> Answer<bool>;
    /// Whether `closed` can answer (every built-in system but the webhook).
    fn can_sync(&self) -> bool {
        false
    }
    /// Of these tickets (at most SYNC_BATCH), the ids of those resolved or closed in the
    /// system, in one request.
    fn closed(&self, _batch: &[crate::state::Recorded]) -> Answer<Vec<String>> {
        Answer::Done(Vec::new())
    }
    /// The request `create` would send (method, URL, body), secrets masked: `--dry-run`.
    fn preview(&self, r: &Request) -> Result<String, String>;
}

/// The configured system: the script unless `ticketsystem` names another.
pub fn for_config(cfg: &Config) -> Result<Box<dyn System + '_>, String> {
    let Some(sc) = &cfg.system else {
        return Ok(Box::new(script::Script::new(cfg)));
    };
    let http = http::Http::new(sc, &cfg.store())?;
    Ok(match sc.kind {
        Kind::ServiceNow => Box::new(servicenow::ServiceNow { cfg: sc, http }),
        Kind::Webhook => Box::new(webhook::Webhook { cfg: sc, http }),
        Kind::Jira => Box::new(jira::Jira { cfg: sc, http }),
        Kind::ConnectWise => Box::new(connectwise::ConnectWise { cfg: sc, http }),
        Kind::Autotask => Box::new(autotask::Autotask { cfg: sc, http }),
    })
}

/// The system that clears a recorded ticket: the one that made it. None when a clear has
/// nothing to do (no clearscript, `onclear: nothing`, or a system no longer configured).
pub fn for_ticket<'c>(
    cfg: &'c Config,
    t: &crate::state::Recorded,
) -> Result<Option<Box<dyn System + 'c>>, String> {
    match (&t.system, &cfg.system) {
        (None, _) if cfg.clearscript.is_none() => Ok(None),
        (None, _) => Ok(Some(Box::new(script::Script::new(cfg)))),
        (Some(made_by), Some(sc)) if made_by == sc.kind.name() => {
            if sc.onclear == crate::config::system::OnClear::Nothing {
                return Ok(None);
            }
            for_config(cfg).map(Some)
        }
        (Some(made_by), _) => {
            log::warn!(
                "ticket {} was made by {made_by}, which this config no longer names: its clear is skipped",
                t.id
            );
            Ok(None)
        }
    }
}

/// The event's page in Zenoss (the `eventurl` placeholder), when `[ZENOSS] url` is set.
pub fn event_url(cfg: &Config, evid: &str) -> String {
    cfg.zenoss.as_ref().map_or(String::new(), |z| {
        format!("{}/zport/dmd/Events/viewDetail?evid={evid}", z.url)
    })
}

/// The key as a ticket system sees it: every character outside `A-Za-z0-9._-` made `_`,
/// cut to 100 characters (the hash at its start keeps it unique), safe in every query
/// language (ServiceNow's `^`, JQL, ConnectWise strings) and in a structured header.
pub fn system_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
}

/// What a call came to, from the HTTP answer or its loss; `system` names it in words.
pub fn answer(r: Result<http::Reply, http::Lost>, system: &str) -> Answer<Value> {
    match r {
        Ok(reply) => {
            let wait = retry_after(
                reply.retry_after.as_deref(),
                reply.ratelimit_reset.as_deref(),
                crate::time::now(),
            );
            classify(reply.status, wait, &reply.body, system)
        }
        Err(http::Lost::NotSent(m)) => Answer::Failed(format!("cannot reach {system}: {m}")),
        Err(http::Lost::Unanswered(m)) => {
            Answer::Ambiguous(format!("no answer from {system}: {m}"))
        }
        Err(http::Lost::Busy(m)) => Answer::Busy(m),
    }
}

/// Classifies an HTTP answer to a create (or any call): the status decides, then the
/// body must be JSON (an HTML page with 200 is a login or proxy page, never a ticket).
pub fn classify(status: u16, retry: Option<f64>, body: &[u8], system: &str) -> Answer<Value> {
    let text = String::from_utf8_lossy(body);
    // Bytes that are not text (a gzip body nobody asked for) are described, not quoted.
    let said = || match std::str::from_utf8(body) {
        Ok(_) => crate::log::clip(&error_text(&text), 300),
        Err(_) if body.starts_with(&[0x1f, 0x8b]) => {
            format!(
                "{} bytes of gzip (not asked for: no text to show)",
                body.len()
            )
        }
        Err(_) => format!("{} bytes that are not text", body.len()),
    };
    let wait = |ambiguous: bool, what: &str| Answer::Wait {
        secs: retry.unwrap_or(0.0),
        why: format!(
            "{system} answered {status} ({what}){}",
            said_suffix(&said())
        ),
        ambiguous,
    };
    match status {
        // 204 No Content (a Jira transition): done, with nothing to read.
        200..=299 if body.iter().all(u8::is_ascii_whitespace) && status != 200 && status != 201 => {
            Answer::Done(Value::Null)
        }
        200..=299 => match serde_json::from_slice::<Value>(body) {
            Ok(v) => Answer::Done(v),
            Err(_) if looks_html(&text) => Answer::Ambiguous(format!(
                "{system} answered {status} with an HTML page ({}), not a ticket: a login or proxy page?",
                html_title(&text).unwrap_or_else(|| "no title".into())
            )),
            Err(_) => Answer::Ambiguous(format!(
                "{system} answered {status} with something that is not JSON: {}",
                crate::log::clip(text.trim(), 200)
            )),
        },
        // Not followed; and a create may have landed before the redirect (to a login page,
        // say): the next attempt looks first.
        300..=399 => Answer::Ambiguous(format!(
            "{system} answered {status}, a redirect, which is not followed (check url)"
        )),
        // A data policy or business rule refused this one record (ServiceNow's
        // `Operation Failed: Data Policy Exception`, a rule that aborts the insert): the
        // system is up, retrying cannot fix it, and it must not hold the breaker open.
        403 | 500 if names_a_rule(&text) => Answer::Refused(format!(
            "{system} refused this record by a rule ({status}){}",
            said_suffix(&said())
        )),
        401 | 403 => Answer::Credentials(format!(
            "{system} refused the credentials or rights ({status}){}",
            said_suffix(&said())
        )),
        400 | 422 => Answer::Refused(format!(
            "{system} refused the request ({status}){}",
            said_suffix(&said())
        )),
        409 => wait(true, "still in progress"),
        429 => wait(false, "too many requests"),
        503 => wait(true, "unavailable"),
        500..=599 => Answer::Ambiguous(format!("{system} answered {status}{}", said_suffix(&said()))),
        _ => Answer::Failed(format!("{system} answered {status}{}", said_suffix(&said()))),
    }
}

/// Whether an error body says a rule of the system refused the record (a data policy, a
/// business rule), rather than the credentials or the system failing.
fn names_a_rule(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["data policy", "business rule", "businessrule"]
        .iter()
        .any(|w| t.contains(w))
}

fn said_suffix(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

fn looks_html(text: &str) -> bool {
    let t = text.trim_start().to_ascii_lowercase();
    t.starts_with("<!doctype html") || t.starts_with("<html") || t.contains("<body")
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let a = lower.find("<title>")? + 7;
    let b = lower[a..].find("</title>")? + a;
    Some(text[a..b].trim().to_string())
}

/// The system's own error words from a JSON error body (ServiceNow's `error.message` and
/// `error.detail`, Jira's `errorMessages`/`errors`, a webhook's `error`), else the text.
fn error_text(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return match html_title(text) {
            Some(t) => t,
            None => text.trim().to_string(),
        };
    };
    let text_at = |x: Option<&Value>| {
        x.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let mut parts: Vec<String> = [
        v.pointer("/error/message"),
        v.pointer("/error/detail"),
        v.get("error"),
        v.get("message"),
    ]
    .into_iter()
    .filter_map(text_at)
    .collect();
    if let Some(Value::Array(a)) = v.get("errorMessages") {
        parts.extend(a.iter().filter_map(Value::as_str).map(String::from));
    }
    if parts.is_empty() {
        text.trim().to_string()
    } else {
        parts.join("; ")
    }
}

/// Seconds to wait, from `Retry-After` (seconds or an HTTP date), else
/// `X-RateLimit-Reset` (Unix seconds, or ISO 8601: Jira Cloud sends `yyyy-MM-ddTHH:mmZ`,
/// without seconds). Never negative.
pub fn retry_after(retry: Option<&str>, reset: Option<&str>, now: f64) -> Option<f64> {
    if let Some(r) = retry.map(str::trim).filter(|r| !r.is_empty()) {
        if let Ok(n) = r.parse::<f64>() {
            return Some(n.max(0.0));
        }
        if let Some(t) = crate::time::parse_http_date(r) {
            return Some((t - now).max(0.0));
        }
    }
    let r = reset.map(str::trim).filter(|r| !r.is_empty())?;
    if let Ok(n) = r.parse::<f64>() {
        return Some((n - now).max(0.0));
    }
    let b = r.as_bytes();
    let minutes_only = b.len() == 17 && b[10] == b'T' && b[13] == b':' && b[16] == b'Z';
    let r = if minutes_only {
        format!("{}:00Z", &r[..16])
    } else {
        r.to_string()
    };
    crate::time::parse(&r).ok().map(|t| (t - now).max(0.0))
}

/// The placeholders whose values the config fixes, not the event.
pub const FIXED: &[&str] = &["customer", "queue", "section", "collector", "notetitle"];

/// The values a `body` template's placeholders take for one ticket.
pub fn placeholders(r: &Request) -> Map<String, Value> {
    let text =
        |v: &Option<Vec<u8>>| String::from_utf8_lossy(v.as_deref().unwrap_or(b"")).into_owned();
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let ev = r.ev;
    let time = |t: &Option<String>| match t {
        Some(s) => crate::time::parse(s)
            .map(crate::time::zenoss_format)
            .unwrap_or_else(|_| s.clone()),
        None => String::new(),
    };
    let severity = ev.severity.unwrap_or(0);
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), Value::String(v));
    };
    put("customer", lossy(&r.customer.id));
    put("queue", lossy(&r.customer.queue));
    put("section", r.customer.section.clone());
    put("device", text(&ev.device));
    put("ip", text(&ev.ip_address));
    put("component", text(&ev.component));
    put("summary", text(&ev.summary));
    put("message", text(&ev.message));
    put("severity", severity.to_string());
    put("severityname", severity_name(severity).into());
    put("count", ev.count.unwrap_or(0).to_string());
    put("first", time(&ev.first_time));
    put("last", time(&ev.last_time));
    put("collector", lossy(r.collector));
    put("notetitle", lossy(r.note_title));
    put("groups", text(&ev.device_groups));
    put("impact", text(&ev.device_priority));
    put("eventclass", text(&ev.event_class));
    put("evid", ev.evid.clone());
    put("key", system_key(r.key));
    put("eventurl", r.event_url.clone());
    m
}

pub fn severity_name(s: i64) -> &'static str {
    match s {
        0 => "Clear",
        1 => "Debug",
        2 => "Info",
        3 => "Warning",
        4 => "Error",
        _ => "Critical",
    }
}

/// A body template with its placeholders replaced: `{name}` in a string, JSON-escaped by
/// construction; a string that is exactly `{name:int}` becomes a JSON integer.
pub fn render(template: &Value, vars: &Map<String, Value>) -> Result<Value, String> {
    Ok(match template {
        Value::String(s) => render_str(s, vars)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| render(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                out.insert(k.clone(), render(v, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn render_str(s: &str, vars: &Map<String, Value>) -> Result<Value, String> {
    if let Some(name) = s.strip_prefix('{').and_then(|x| x.strip_suffix(":int}")) {
        if vars.contains_key(name) || !name.contains(['{', '}']) {
            let v = vars.get(name).and_then(Value::as_str).unwrap_or("");
            return v
                .trim()
                .parse::<i64>()
                .map(|n| Value::Number(n.into()))
                .map_err(|_| format!("{{{name}:int}}: {v:?} is not an integer"));
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('}') {
            Some(j) if vars.contains_key(&after[..j]) => {
                out.push_str(vars[&after[..j]].as_str().unwrap_or(""));
                rest = &after[j + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// `over` merged into `base`: objects key by key, anything else replaced.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The body a system sends: its built-in default, the system section's `body`, then the
/// customer's, rendered for this ticket.
pub fn body_for(default: Value, sc: &SystemConfig, r: &Request) -> Result<Value, String> {
    let mut t = default;
    if let Some(b) = &sc.body {
        merge(&mut t, b);
    }
    if let Some(b) = &r.customer.body {
        merge(&mut t, b);
    }
    render(&t, &placeholders(r))
}

/// Tickets asked about in one request by the closed-ticket sync: 20,000 open events cost
/// a sweep at most 200 requests.
pub const SYNC_BATCH: usize = 100;

/// The description every system's default body carries (placeholders replaced).
pub const DESCRIPTION: &str = "{message}\n\nDevice: {device} ({ip})\nComponent: {component}\n\
    Event class: {eventclass}\nSeverity: {severityname}\nCount: {count}\n\
    First: {first}\nLast: {last}\nDevice groups: {groups}\nEvent: {evid} {eventurl}";

/// A URL query value, percent-encoded (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A request as `--dry-run` and `check-config` show it: the method and URL, any headers
/// that are no secret, and the body.
pub fn show(method: &str, url: &str, headers: &[String], body: &Value) -> String {
    let mut out = format!("{method} {url}\n");
    for h in headers {
        out.push_str(h);
        out.push('\n');
    }
    out.push_str(&serde_json::to_string_pretty(body).unwrap_or_default());
    out
}

/// A body that cannot be made for this event: nothing to send, and no retry makes one.
pub fn unmakeable<T>(e: String) -> Answer<T> {
    Answer::Refused(format!("the body cannot be made: {e}"))
}

/// A create's answer turned into its ticket; an answer without one may hide a ticket made.
pub fn made(
    a: Answer<Value>,
    system: &str,
    what: &str,
    ticket: impl FnOnce(&Value) -> Option<Ticket>,
) -> Answer<Ticket> {
    a.then(|v| match ticket(&v) {
        Some(t) => Answer::Done(t),
        None => Answer::Unconfirmed(format!(
            "{system} answered without {what}: {}",
            crate::log::clip(&v.to_string(), 200)
        )),
    })
}

/// A create's answer that carries the key (at the JSON `pointer`) must carry this one:
/// a record with another key is not this event's ticket (as a lookup checks too); the
/// create may have landed all the same, so the next attempt looks it up by its key.
pub fn key_checked(a: Answer<Value>, system: &str, pointer: &str, key: &str) -> Answer<Value> {
    a.then(|v| match v.pointer(pointer).and_then(Value::as_str) {
        Some(k) if k != key => Answer::Unconfirmed(format!(
            "{system} answered the create with a record whose {} is {:?}, not this event's \
             key: not taken as its ticket",
            pointer.rsplit('/').next().unwrap_or(pointer),
            crate::log::clip(k, 120)
        )),
        _ => Answer::Done(v),
    })
}

/// The first `n` characters of a text (never inside a character).
pub fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_answer_is_classified_once() {
        // (status, body) -> kind
        let table: &[(u16, &str, &str)] = &[
            (201, r#"{"result":{"number":"INC1"}}"#, "done"),
            (204, "", "done"),
            (200, "", "ambiguous"),
            (
                200,
                "<html><head><title>Log in</title></head><body></body></html>",
                "ambiguous",
            ),
            (200, "ok", "ambiguous"),
            (302, "", "ambiguous"),
            (303, "", "ambiguous"),
            (
                400,
                r#"{"error":{"message":"Invalid field","detail":"no such group"}}"#,
                "refused",
            ),
            (
                422,
                r#"{"error":"key reused with another body"}"#,
                "refused",
            ),
            (
                401,
                r#"{"error":{"message":"User Not Authenticated"}}"#,
                "credentials",
            ),
            (403, "", "credentials"),
            (
                403,
                r#"{"error":{"message":"Operation Failed","detail":"Data Policy Exception: Assignment group is mandatory"},"status":"failure"}"#,
                "refused",
            ),
            (
                500,
                r#"{"error":{"message":"Operation against file 'incident' was aborted by Business Rule 'Block P1::x'"}}"#,
                "refused",
            ),
            (404, "", "failed"),
            (408, "", "failed"),
            (409, "", "wait-ambiguous"),
            (429, "", "wait"),
            (503, "", "wait-ambiguous"),
            (500, "", "ambiguous"),
            (502, "", "ambiguous"),
        ];
        let Answer::Ambiguous(why) = classify(502, None, b"\x1f\x8b\x08\x00\xff\xfe", "jira")
        else {
            panic!("a 502 is ambiguous")
        };
        assert_eq!(
            why,
            "jira answered 502: 6 bytes of gzip (not asked for: no text to show)"
        );
        for &(status, body, want) in table {
            let got = match classify(status, Some(7.0), body.as_bytes(), "servicenow") {
                Answer::Done(_) => "done",
                Answer::Ambiguous(_) => "ambiguous",
                Answer::Unconfirmed(_) => "unconfirmed",
                Answer::Wait {
                    ambiguous: true,
                    secs: 7.0,
                    ..
                } => "wait-ambiguous",
                Answer::Wait {
                    ambiguous: false,
                    secs: 7.0,
                    ..
                } => "wait",
                Answer::Wait { .. } => "wait-wrong-secs",
                Answer::Refused(_) => "refused",
                Answer::Credentials(_) => "credentials",
                Answer::Failed(_) => "failed",
                Answer::Busy(_) => "busy",
            };
            assert_eq!(got, want, "{status} {body}");
        }
        let Answer::Refused(m) = classify(
            400,
            None,
            br#"{"error":{"message":"Invalid field","detail":"no such group"}}"#,
            "servicenow",
        ) else {
            panic!()
        };
        assert_eq!(
            m,
            "servicenow refused the request (400): Invalid field; no such group"
        );
        let Answer::Ambiguous(m) = classify(
            200,
            None,
            b"<html><head><title>Log in</title></head></html>",
            "servicenow",
        ) else {
            panic!()
        };
        assert_eq!(m, "servicenow answered 200 with an HTML page (Log in), not a ticket: a login or proxy page?");
    }

    #[test]
    fn how_long_to_wait() {
        let now = 1_000_000.0;
        let table: &[(Option<&str>, Option<&str>, Option<f64>)] = &[
            (Some("30"), None, Some(30.0)),
            (Some("  5 "), Some("1000100"), Some(5.0)),
            (Some("Mon, 12 Jan 1970 13:46:50 GMT"), None, Some(10.0)),
            (Some("Thu, 01 Jan 1970 00:00:10 GMT"), None, Some(0.0)),
            (None, Some("1000060"), Some(60.0)),
            (None, Some("1970-01-12T13:48:20Z"), Some(100.0)),
            (None, None, None),
            (Some("soon"), None, None),
            (Some("-3"), None, Some(0.0)),
            // Jira Cloud's own form, minutes only.
            (None, Some("1970-01-12T13:48Z"), Some(80.0)),
            // RFC 850 and asctime, which HTTP recipients must accept.
            (Some("Mon Jan 12 13:46:50 1970"), None, Some(10.0)),
            (Some("Mon Jan  2 00:00:00 1970"), None, Some(0.0)),
        ];
        for &(retry, reset, want) in table {
            assert_eq!(retry_after(retry, reset, now), want, "{retry:?} {reset:?}");
        }
        // RFC 850's two-digit year: this century's, unless that is over 50 years ahead.
        let jan_2026 = 1_767_225_600.0;
        let rfc850 = Some("Thursday, 01-Jan-26 00:00:10 GMT");
        assert_eq!(retry_after(rfc850, None, jan_2026), Some(10.0));
    }

    #[test]
    fn the_key_as_a_system_sees_it() {
        assert_eq!(
            system_key("zt-0123456789abcdef-2-ev/1 \"x\"^y"),
            "zt-0123456789abcdef-2-ev_1__x__y"
        );
        let long = format!("zt-0123456789abcdef-1-{}", "é".repeat(200));
        assert_eq!(system_key(&long).chars().count(), 100);
        assert!(system_key(&long).is_ascii());
    }

    #[test]
    fn placeholders_are_replaced_and_escaped_and_ints_typed() {
        let mut vars = Map::new();
        vars.insert("summary".into(), json!("disk \"full\" {x}\n"));
        vars.insert("id".into(), json!(" 42 "));
        vars.insert("name".into(), json!("acme"));
        let t = json!({"a": "{summary}", "b": "{id:int}", "c": ["x{name}y", "{unknown}", "{"],
                       "d": 5, "e": {"f": "{name}-{name}"}});
        assert_eq!(
            render(&t, &vars).unwrap(),
            json!({"a": "disk \"full\" {x}\n", "b": 42, "c": ["xacmey", "{unknown}", "{"],
                   "d": 5, "e": {"f": "acme-acme"}})
        );
        assert_eq!(
            render(&json!({"b": "{name:int}"}), &vars).unwrap_err(),
            "{name:int}: \"acme\" is not an integer"
        );
    }

    #[test]
    fn bodies_merge_deep_and_replace_the_rest() {
        let mut base = json!({"a": 1, "o": {"x": 1, "y": 2}, "l": [1, 2]});
        merge(
            &mut base,
            &json!({"o": {"y": 3, "z": 4}, "l": [9], "n": null}),
        );
        assert_eq!(
            base,
            json!({"a": 1, "o": {"x": 1, "y": 3, "z": 4}, "l": [9], "n": null})
        );
    }
}
