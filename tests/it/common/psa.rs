//! Test servers for Jira, ConnectWise Manage and Autotask, answering as their REST APIs do
//! (ZENOSS.md section 9): Jira's issues with the key in a label, ADF descriptions, JQL on
//! `/search/jql` (the old `/search` answers 410) lagging its writes, transitions found by
//! name and answered 204; ConnectWise's tickets with `externalXRef`, `conditions`, notes
//! and a JSON Patch; Autotask's `itemId`, `Tickets/query`, notes, and its limit of three
//! requests at once (recorded as the peak concurrency). The same faults for each.

use super::http::{Reply, Req, Server};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Jira,
    ConnectWise,
    Autotask,
}

pub const JIRA_USER: &str = "ops@example.com";
pub const JIRA_TOKEN: &str = "jira-T0ken-42";
pub const CW_AUTH: (&str, &str, &str) = ("acme", "pubKEY", "privKEY-99");
pub const CW_CLIENT: &str = "5d3b-client";
pub const AT_AUTH: (&str, &str, &str) = ("zenoss@acme.example", "at-Secret-7", "INTCODE123");

/// What the next create meets.
#[derive(Clone, Debug)]
pub enum Fault {
    DropAfterCreate,
    /// 429 with `Retry-After: N`.
    TooMany(u64),
    /// 429 with only `X-RateLimit-Reset`, an ISO 8601 time N seconds ahead (Jira Cloud).
    TooManyUntil(u64),
    BadRequest(&'static str),
    HtmlLogin,
}

/// One ticket as the system holds it.
#[derive(Clone, Debug)]
pub struct Rec {
    pub id: String,
    pub key: String,
    pub body: Value,
    pub created: Instant,
    pub closed: bool,
    pub status: String,
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Inner {
    recs: Vec<Rec>,
    faults: VecDeque<Fault>,
    /// Lookups answer with every ticket, whatever the key.
    noise: bool,
    /// Jira's search sees an issue only this long after it was made.
    lag: Duration,
    /// Each create takes this long (to see requests overlap).
    slow: Duration,
    active: usize,
    peak: usize,
}

#[derive(Clone)]
pub struct Psa {
    pub kind: Kind,
    pub server: Server,
    inner: Arc<Mutex<Inner>>,
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl Psa {
    pub fn start(kind: Kind) -> Psa {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let shared = inner.clone();
        let server = Server::start(Arc::new(move |req: &Req| {
            {
                let mut s = lock(&shared);
                s.active += 1;
                s.peak = s.peak.max(s.active);
            }
            let slow = lock(&shared).slow;
            if req.method == "POST" && !req.path.contains("query") && !slow.is_zero() {
                std::thread::sleep(slow);
            }
            let reply = {
                let mut s = lock(&shared);
                match kind {
                    Kind::Jira => jira(&mut s, req),
                    Kind::ConnectWise => connectwise(&mut s, req),
                    Kind::Autotask => autotask(&mut s, req),
                }
            };
            lock(&shared).active -= 1;
            reply
        }));
        Psa {
            kind,
            server,
            inner,
        }
    }

    pub fn fail_next(&self, faults: &[Fault]) -> &Psa {
        lock(&self.inner).faults.extend(faults.iter().cloned());
        self
    }

    pub fn noise(&self, on: bool) -> &Psa {
        lock(&self.inner).noise = on;
        self
    }

    pub fn lag(&self, d: Duration) -> &Psa {
        lock(&self.inner).lag = d;
        self
    }

    pub fn slow(&self, d: Duration) -> &Psa {
        lock(&self.inner).slow = d;
        self
    }

    pub fn peak(&self) -> usize {
        lock(&self.inner).peak
    }

    pub fn recs(&self) -> Vec<Rec> {
        lock(&self.inner).recs.clone()
    }

    /// Closes (resolves) a ticket in the system, as a technician would.
    pub fn close(&self, id: &str) {
        let mut s = lock(&self.inner);
        if let Some(r) = s.recs.iter_mut().find(|r| r.id == id) {
            r.closed = true;
            r.status = match self.kind {
                Kind::Jira => "Done".into(),
                Kind::ConnectWise => ">Closed".into(),
                Kind::Autotask => "5".into(),
            };
        }
    }

    /// A ticket made by someone else, for lookups to trip over.
    pub fn add_other(&self, key: &str) {
        let mut s = lock(&self.inner);
        let id = next_id(self.kind, s.recs.len());
        s.recs.push(Rec {
            id,
            key: key.into(),
            body: Value::Null,
            created: Instant::now() - Duration::from_secs(3600),
            closed: false,
            status: "New".into(),
            notes: Vec::new(),
        });
    }

    pub fn creates(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && (r.route().ends_with("/issue")
                        || r.route().ends_with("/service/tickets")
                        || r.route().ends_with("/v1.0/Tickets"))
            })
            .count()
    }

    pub fn section(&self) -> String {
        let url = &self.server.url;
        match self.kind {
            Kind::Jira => format!(
                "[JIRA]\nurl: {url}\nuser: {JIRA_USER}\ntoken: {JIRA_TOKEN}\nproject: OPS\ntimeout: 5\n"
            ),
            Kind::ConnectWise => format!(
                "[CONNECTWISE]\nurl: {url}\ncompany: {}\npublickey: {}\nprivatekey: {}\nclientid: {CW_CLIENT}\ntimeout: 5\n",
                CW_AUTH.0, CW_AUTH.1, CW_AUTH.2
            ),
            Kind::Autotask => format!(
                "[AUTOTASK]\nurl: {url}/atservicesrest\nuser: {}\nsecret: {}\nintegrationcode: {}\ntimeout: 5\n",
                AT_AUTH.0, AT_AUTH.1, AT_AUTH.2
            ),
        }
    }

    /// The name in `ticketsystem:`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Jira => "jira",
            Kind::ConnectWise => "connectwise",
            Kind::Autotask => "autotask",
        }
    }
}

fn next_id(kind: Kind, n: usize) -> String {
    match kind {
        Kind::Jira => format!("OPS-{}", n + 1),
        Kind::ConnectWise => format!("{}", 101 + n),
        Kind::Autotask => format!("{}", 7001 + n),
    }
}

/// The common part of a create: faults, then the record. Err: the reply instead.
fn make(s: &mut Inner, kind: Kind, key: &str, body: Value) -> Result<(Rec, bool), Reply> {
    let fault = s.faults.pop_front();
    match &fault {
        Some(Fault::TooMany(n)) => {
            return Err(
                Reply::json(429, json!({"errorMessages": ["Rate limit exceeded."]}))
                    .header("Retry-After", &n.to_string()),
            )
        }
        Some(Fault::TooManyUntil(n)) => {
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + n;
            // Atlassian documents the reset as `yyyy-MM-ddTHH:mmZ`: minutes, no seconds
            // (rounded up here, so the reset is never earlier than `n` seconds ahead).
            let minutes = iso(at + 59);
            return Err(
                Reply::json(429, json!({"errorMessages": ["Rate limit exceeded."]}))
                    .header("X-RateLimit-Reset", &format!("{}Z", &minutes[..16])),
            );
        }
        Some(Fault::BadRequest(m)) => {
            return Err(Reply::json(
                400,
                json!({"errorMessages": [m], "errors": {}, "message": m}),
            ))
        }
        Some(Fault::HtmlLogin) => {
            return Err(Reply::html(
                200,
                "<html><head><title>Log in</title></head><body>SSO</body></html>",
            ))
        }
        _ => {}
    }
    let rec = Rec {
        id: next_id(kind, s.recs.len()),
        key: key.to_string(),
        body,
        created: Instant::now(),
        closed: false,
        status: "New".into(),
        notes: Vec::new(),
    };
    s.recs.push(rec.clone());
    Ok((rec, matches!(fault, Some(Fault::DropAfterCreate))))
}

/// Unix seconds as ISO 8601 UTC.
fn iso(t: u64) -> String {
    let days = (t / 86400) as i64;
    let secs = t % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn unauthorized() -> Reply {
    Reply::json(
        401,
        json!({"errorMessages": ["Client must be authenticated to access this resource."]}),
    )
}

fn jira(s: &mut Inner, req: &Req) -> Reply {
    let want = format!(
        "Basic {}",
        super::zenoss::b64(format!("{JIRA_USER}:{JIRA_TOKEN}").as_bytes())
    );
    if req.header("authorization") != Some(want.as_str()) {
        return unauthorized();
    }
    let route = req.route().to_string();
    let Some(rest) = route.strip_prefix("/rest/api/3/") else {
        return Reply::json(404, json!({"errorMessages": ["no such API"]}));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["issue"]) => {
            let b = req.json();
            if !b
                .pointer("/fields/description")
                .is_some_and(Value::is_object)
            {
                return Reply::json(
                    400,
                    json!({"errorMessages": [], "errors": {"description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"}}),
                );
            }
            let key = b
                .pointer("/fields/labels")
                .and_then(Value::as_array)
                .and_then(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .find(|x| *x != "zenticket")
                })
                .unwrap_or("")
                .to_string();
            match make(s, Kind::Jira, &key, b) {
                Err(reply) => reply,
                Ok((_, true)) => Reply::dropped(),
                Ok((rec, false)) => Reply::json(
                    201,
                    json!({"id": "10001", "key": rec.id, "self": format!("/rest/api/3/issue/{}", rec.id)}),
                ),
            }
        }
        ("GET", ["search"]) => Reply::json(
            410,
            json!({"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."]}),
        ),
        ("GET", ["search", "jql"]) => {
            let jql = req.query("jql").unwrap_or_default();
            let issues: Vec<Value> = if let Some(label) = jql
                .strip_prefix("labels = \"")
                .and_then(|x| x.strip_suffix('"'))
            {
                let lag = s.lag;
                s.recs
                    .iter()
                    .filter(|r| r.created.elapsed() >= lag)
                    .filter(|r| s.noise || r.key == label)
                    .map(|r| json!({"key": r.id, "fields": {"labels": ["zenticket", r.key]}}))
                    .collect()
            } else if let Some(list) = jql
                .strip_prefix("key in (")
                .and_then(|x| x.strip_suffix(')'))
            {
                let keys: Vec<String> = list
                    .split(',')
                    .map(|k| k.trim().trim_matches('"').to_string())
                    .collect();
                s.recs
                    .iter()
                    .filter(|r| keys.contains(&r.id))
                    .map(|r| {
                        let cat = if r.closed { "done" } else { "new" };
                        json!({"key": r.id, "fields": {"status": {"name": r.status, "statusCategory": {"key": cat}}}})
                    })
                    .collect()
            } else {
                return Reply::json(
                    400,
                    json!({"errorMessages": [format!("Error in the JQL Query: {jql}")]}),
                );
            };
            Reply::json(200, json!({ "issues": issues }))
        }
        ("POST", ["issue", id, "comment"]) => match s.recs.iter_mut().find(|r| r.id == *id) {
            Some(r) => {
                let text = req
                    .json()
                    .pointer("/body/content/0/content/0/text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                r.notes.push(text);
                Reply::json(201, json!({"id": "20001"}))
            }
            None => Reply::json(
                404,
                json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}),
            ),
        },
        ("GET", ["issue", _, "transitions"]) => Reply::json(
            200,
            json!({"transitions": [{"id": "11", "name": "To Do"}, {"id": "31", "name": "Done"}]}),
        ),
        ("POST", ["issue", id, "transitions"]) => {
            let t = req
                .json()
                .pointer("/transition/id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match s.recs.iter_mut().find(|r| r.id == *id) {
                Some(r) if t == "31" => {
                    r.closed = true;
                    r.status = "Done".into();
                    Reply {
                        status: 204,
                        ..Reply::default()
                    }
                }
                _ => Reply::json(
                    400,
                    json!({"errorMessages": ["Transition id is not valid for this issue."]}),
                ),
            }
        }
        _ => Reply::json(404, json!({"errorMessages": ["no such resource"]})),
    }
}

fn connectwise(s: &mut Inner, req: &Req) -> Reply {
    let want = format!(
        "Basic {}",
        super::zenoss::b64(format!("{}+{}:{}", CW_AUTH.0, CW_AUTH.1, CW_AUTH.2).as_bytes())
    );
    if req.header("authorization") != Some(want.as_str()) {
        return Reply::json(
            401,
            json!({"code": "Unauthorized", "message": "Authentication failed"}),
        );
    }
    if req.header("clientid") != Some(CW_CLIENT) {
        return Reply::json(
            400,
            json!({"code": "InvalidClientId", "message": "clientId header is required"}),
        );
    }
    let route = req.route().to_string();
    let Some(rest) = route.strip_prefix("/v4_6_release/apis/3.0/service/tickets") else {
        return Reply::json(
            404,
            json!({"code": "NotFound", "message": "no such resource"}),
        );
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let view = |r: &Rec| {
        json!({"id": r.id.parse::<i64>().unwrap_or(0), "externalXRef": r.key,
        "closedFlag": r.closed, "status": {"name": r.status}, "summary": r.body["summary"]})
    };
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", []) => {
            let b = req.json();
            let summary = b["summary"].as_str().unwrap_or("");
            if summary.is_empty() || summary.chars().count() > 100 {
                return Reply::json(
                    400,
                    json!({"code": "InvalidObject", "message": "summary must be 1 to 100 characters"}),
                );
            }
            let key = b["externalXRef"].as_str().unwrap_or("").to_string();
            match make(s, Kind::ConnectWise, &key, b) {
                Err(reply) => reply,
                Ok((_, true)) => Reply::dropped(),
                Ok((rec, false)) => Reply::json(201, view(&rec)),
            }
        }
        ("GET", []) => {
            let cond = req.query("conditions").unwrap_or_default();
            let rows: Vec<Value> = if let Some(k) = cond
                .strip_prefix("externalXRef=\"")
                .and_then(|x| x.strip_suffix('"'))
            {
                s.recs
                    .iter()
                    .filter(|r| s.noise || r.key == k)
                    .map(view)
                    .collect()
            } else if let Some(list) = cond
                .strip_prefix("id in (")
                .and_then(|x| x.strip_suffix(')'))
            {
                let ids: Vec<&str> = list.split(',').map(str::trim).collect();
                s.recs
                    .iter()
                    .filter(|r| ids.contains(&r.id.as_str()))
                    .map(view)
                    .collect()
            } else {
                return Reply::json(400, json!({"code": "InvalidConditions", "message": cond}));
            };
            Reply::json(200, Value::Array(rows))
        }
        ("POST", [id, "notes"]) => match s.recs.iter_mut().find(|r| r.id == *id) {
            Some(r) => {
                r.notes
                    .push(req.json()["text"].as_str().unwrap_or("").to_string());
                Reply::json(201, json!({"id": 1, "ticketId": id}))
            }
            None => Reply::json(404, json!({"code": "NotFound", "message": "ticket"})),
        },
        ("PATCH", [id]) => {
            let patch = req.json();
            match s.recs.iter_mut().find(|r| r.id == *id) {
                Some(r) => {
                    if let Some(name) = patch.pointer("/0/value/name").and_then(Value::as_str) {
                        r.status = name.to_string();
                        r.closed = name == ">Closed";
                    }
                    let v = view(r);
                    Reply::json(200, v)
                }
                None => Reply::json(404, json!({"code": "NotFound", "message": "ticket"})),
            }
        }
        _ => Reply::json(
            404,
            json!({"code": "NotFound", "message": "no such resource"}),
        ),
    }
}

fn autotask(s: &mut Inner, req: &Req) -> Reply {
    let ok = req.header("username") == Some(AT_AUTH.0)
        && req.header("secret") == Some(AT_AUTH.1)
        && req.header("apiintegrationcode") == Some(AT_AUTH.2);
    if !ok {
        return Reply::json(401, json!({"errors": ["Unauthorized"]}));
    }
    let route = req.route().to_string();
    let Some(rest) = route.strip_prefix("/atservicesrest/v1.0/Tickets") else {
        return Reply::json(404, json!({"errors": ["no such entity"]}));
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let view = |r: &Rec| {
        json!({"id": r.id.parse::<i64>().unwrap_or(0), "externalID": r.key,
        "status": r.status.parse::<i64>().unwrap_or(1), "title": r.body["title"]})
    };
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", []) => {
            let b = req.json();
            for f in ["companyID", "queueID", "status", "priority"] {
                if !b[f].is_i64() {
                    return Reply::json(
                        400,
                        json!({"errors": [format!("{f}: an integer is required")]}),
                    );
                }
            }
            let key = b["externalID"].as_str().unwrap_or("").to_string();
            match make(s, Kind::Autotask, &key, b) {
                Err(reply) => reply,
                Ok((_, true)) => Reply::dropped(),
                Ok((rec, false)) => {
                    if let Some(r) = s.recs.iter_mut().find(|r| r.id == rec.id) {
                        r.status = "1".into();
                    }
                    Reply::json(200, json!({"itemId": rec.id.parse::<i64>().unwrap_or(0)}))
                }
            }
        }
        ("POST", ["query"]) => {
            let q = req.json();
            let f = &q["filter"][0];
            let items: Vec<Value> = match (f["field"].as_str(), f["op"].as_str()) {
                (Some("externalID"), Some("eq")) => {
                    let k = f["value"].as_str().unwrap_or("");
                    s.recs
                        .iter()
                        .filter(|r| s.noise || r.key == k)
                        .map(view)
                        .collect()
                }
                (Some("id"), Some("in")) => {
                    let ids: Vec<String> = f["value"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|v| v.to_string())
                        .collect();
                    s.recs
                        .iter()
                        .filter(|r| ids.contains(&r.id))
                        .map(view)
                        .collect()
                }
                _ => return Reply::json(400, json!({"errors": ["unsupported filter"]})),
            };
            Reply::json(
                200,
                json!({"items": items, "pageDetails": {"count": items.len()}}),
            )
        }
        ("POST", [id, "Notes"]) => match s.recs.iter_mut().find(|r| r.id == *id) {
            Some(r) => {
                r.notes
                    .push(req.json()["description"].as_str().unwrap_or("").to_string());
                Reply::json(200, json!({"itemId": 1}))
            }
            None => Reply::json(404, json!({"errors": ["ticket not found"]})),
        },
        ("PATCH", []) => {
            let b = req.json();
            let id = b["id"].to_string();
            match s.recs.iter_mut().find(|r| r.id == id) {
                Some(r) => {
                    let st = b["status"].as_i64().unwrap_or(0);
                    r.status = st.to_string();
                    r.closed = st == 5;
                    Reply::json(200, json!({"itemId": b["id"]}))
                }
                None => Reply::json(404, json!({"errors": ["ticket not found"]})),
            }
        }
        _ => Reply::json(404, json!({"errors": ["no such resource"]})),
    }
}
