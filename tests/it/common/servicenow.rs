//! A ServiceNow test server: the Table API as ZENOSS.md section 9 gives it (incidents by
//! POST with `result.number` and `result.sys_id`, lookups by `sysparm_query`, updates by
//! PATCH, JSON errors, 429 with Retry-After and X-RateLimit-Reset), and the faults a real
//! instance and network produce.

use super::http::{Reply, Req, Server};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub const USER: &str = "zenticket";
pub const PASSWORD: &str = "s3cr3t-Pw!";

/// What the next create meets.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The incident is made, then the connection closes with no answer.
    DropAfterCreate,
    /// 502 from a proxy: nothing made.
    BadGateway,
    /// 429 with `Retry-After: N`.
    TooMany(u64),
    /// 400 with ServiceNow's error object.
    BadRequest(&'static str),
    /// A login page with 200 (an SSO proxy in front of the instance).
    HtmlLogin,
    /// 403 `Operation Failed` / `Data Policy Exception`: a data policy refuses this one
    /// record (the credentials are fine).
    DataPolicy,
    /// The incident is made, then a `303 See Other` to the SSO login page (a session that
    /// expired at the proxy after the request went through).
    RedirectAfterCreate,
    /// The incident is made, and the answer is another record (its own correlation_id):
    /// a cache or a business rule in between.
    OtherRecordAnswered,
}

#[derive(Default)]
struct Inner {
    incidents: Vec<Value>,
    faults: VecDeque<Fault>,
    /// The instance drops a query part it does not understand: every lookup answers
    /// with the first rows of the table, whatever the key.
    noise: bool,
}

#[derive(Clone)]
pub struct ServiceNow {
    pub server: Server,
    inner: Arc<Mutex<Inner>>,
}

impl ServiceNow {
    pub fn start() -> ServiceNow {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let shared = inner.clone();
        let server = Server::start(Arc::new(move |req: &Req| {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            answer(&mut s, req)
        }));
        ServiceNow { server, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn fail_next(&self, faults: &[Fault]) -> &ServiceNow {
        self.lock().faults.extend(faults.iter().cloned());
        self
    }

    pub fn noise(&self, on: bool) -> &ServiceNow {
        self.lock().noise = on;
        self
    }

    /// An incident made by someone else (for lookups to trip over).
    pub fn add_other(&self, number: &str, correlation_id: &str) {
        let mut s = self.lock();
        let n = s.incidents.len();
        s.incidents.push(
            json!({"sys_id": format!("{:032x}", 0xabc0 + n), "number": number,
            "correlation_id": correlation_id, "state": "1", "short_description": "someone else's"}),
        );
    }

    /// Resolves an incident, as a technician would (state 6).
    pub fn resolve(&self, number: &str) {
        for i in self
            .lock()
            .incidents
            .iter_mut()
            .filter(|i| i["number"] == number)
        {
            i["state"] = json!("6");
        }
    }

    pub fn incidents(&self) -> Vec<Value> {
        self.lock().incidents.clone()
    }

    pub fn requests(&self) -> Vec<Req> {
        self.server.requests()
    }

    /// The creates it received.
    pub fn creates(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    }

    pub fn section(&self) -> String {
        format!(
            "[SERVICENOW]\nurl: {}\nuser: {USER}\npassword: {PASSWORD}\ntimeout: 5\n",
            self.server.url
        )
    }
}

fn error(status: u16, message: &str, detail: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

fn answer(s: &mut Inner, req: &Req) -> Reply {
    let want = format!(
        "Basic {}",
        super::zenoss::b64(format!("{USER}:{PASSWORD}").as_bytes())
    );
    if req.header("authorization") != Some(want.as_str()) {
        return error(
            401,
            "User Not Authenticated",
            "Required to provide Auth information",
        );
    }
    let route = req.route();
    let Some(rest) = route.strip_prefix("/api/now/table/incident") else {
        return error(400, "Invalid table", route);
    };
    match (req.method.as_str(), rest) {
        ("POST", "") => create(s, req),
        ("GET", "") => {
            let query = req.query("sysparm_query").unwrap_or_default();
            let limit: usize = req
                .query("sysparm_limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(10000);
            let rows: Vec<Value> = if let Some(ids) = query.strip_prefix("sys_idIN") {
                let ids: Vec<&str> = ids.split(',').collect();
                s.incidents
                    .iter()
                    .filter(|i| ids.contains(&i["sys_id"].as_str().unwrap_or("")))
                    .take(limit)
                    .cloned()
                    .collect()
            } else {
                let key = query.strip_prefix("correlation_id=").unwrap_or("");
                s.incidents
                    .iter()
                    .filter(|i| s.noise || i["correlation_id"] == key)
                    .take(limit)
                    .cloned()
                    .collect()
            };
            Reply::json(200, json!({ "result": rows }))
        }
        ("PATCH", id) => {
            let id = id.trim_start_matches('/');
            let body = req.json();
            match s.incidents.iter_mut().find(|i| i["sys_id"] == id) {
                Some(inc) => {
                    for (k, v) in body.as_object().cloned().unwrap_or_default() {
                        if k == "work_notes" {
                            let mut notes =
                                inc["work_notes"].as_array().cloned().unwrap_or_default();
                            notes.push(v);
                            inc["work_notes"] = Value::Array(notes);
                        } else {
                            inc[k.as_str()] = v;
                        }
                    }
                    Reply::json(200, json!({ "result": inc.clone() }))
                }
                None => error(
                    404,
                    "No Record found",
                    "Record doesn't exist or ACL restricts the record retrieval",
                ),
            }
        }
        _ => error(405, "Method not supported", &req.method),
    }
}

fn create(s: &mut Inner, req: &Req) -> Reply {
    let fault = s.faults.pop_front();
    match &fault {
        Some(Fault::TooMany(secs)) => {
            return error(429, "Too Many Requests", "rate limit rule")
                .header("Retry-After", &secs.to_string())
                .header("X-RateLimit-Limit", "100");
        }
        Some(Fault::BadRequest(detail)) => return error(400, "Invalid input", detail),
        Some(Fault::HtmlLogin) => {
            return Reply::html(
                200,
                "<!DOCTYPE html><html><head><title>Sign in - SSO</title></head><body>log in</body></html>",
            )
        }
        Some(Fault::BadGateway) => return Reply::html(502, "<html><head><title>502 Bad Gateway</title></head></html>"),
        Some(Fault::DataPolicy) => {
            return error(
                403,
                "Operation Failed",
                "Data Policy Exception: \n\tThe following fields are mandatory: Assignment group",
            )
        }
        _ => {}
    }
    if req.query("sysparm_input_display_value").as_deref() != Some("true") {
        return error(400, "Invalid reference", "assignment_group is not a sys_id");
    }
    let mut rec = req.json();
    if !rec.is_object() {
        return error(400, "Exception while reading request", "not a JSON object");
    }
    let n = s.incidents.len();
    rec["sys_id"] = json!(format!("{:032x}", 0x5e_0000 + n));
    rec["number"] = json!(format!("INC00100{:02}", n + 1));
    rec["state"] = json!("1");
    s.incidents.push(rec.clone());
    match fault {
        Some(Fault::DropAfterCreate) => return Reply::dropped(),
        Some(Fault::RedirectAfterCreate) => {
            return Reply::html(303, "").header("Location", "/login.do?sysparm_goto_url=incident")
        }
        Some(Fault::OtherRecordAnswered) => {
            let mut other = rec.clone();
            other["number"] = json!("INC0099999");
            other["sys_id"] = json!(format!("{:032x}", 0x99_9999));
            other["correlation_id"] = json!("zt-someone-elses-key");
            return Reply::json(201, json!({ "result": other }));
        }
        _ => {}
    }
    Reply::json(201, json!({ "result": rec }))
}
