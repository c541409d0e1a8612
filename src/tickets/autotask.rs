//! Autotask (Datto PSA) REST: the three auth headers, `POST /v1.0/Tickets` with the key in
//! `externalID` (looked up with `Tickets/query`), integer `companyID`/`queueID` from each
//! customer's `body`, notes on clear, resolve by status number. Autotask allows three
//! requests in flight per endpoint per integration: `maxconcurrent` (3) caps them across
//! every process (`http`).

use super::http::Http;
use super::{body_for, cut, made, show, unmakeable, Answer, Request, System, Ticket};
use crate::config::system::{OnClear, SystemConfig};
use serde_json::{json, Value};

pub struct Autotask<'a> {
    pub cfg: &'a SystemConfig,
    pub http: Http,
}

const NAME: &str = "autotask";

/// Autotask's default priority picklist (1 High, 2 Medium, 3 Low, 4 Critical) for a
/// Zenoss severity.
pub fn priority(severity: i64) -> i64 {
    match severity {
        5 => 4,
        4 => 1,
        3 => 2,
        _ => 3,
    }
}

fn int(s: &str, what: &str) -> Result<i64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{what} {s:?} is not a number"))
}

fn id_of(v: &Value, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Autotask<'_> {
    fn base(&self) -> String {
        format!("{}/v1.0", self.cfg.url)
    }

    fn send(&self, method: &str, path: &str, body: &Value) -> Answer<Value> {
        let url = format!("{}/{path}", self.base());
        let sent = self
            .http
            .send(method, &url, &[], Some(body.to_string().as_bytes()));
        super::answer(sent, NAME)
    }

    fn body(&self, r: &Request) -> Result<Value, String> {
        let default = json!({
            "title": "{summary}",
            "description": super::DESCRIPTION,
            "status": int(&self.cfg.newstatus, "newstatus")?,
            "priority": priority(r.ev.severity.unwrap_or(0)),
            "externalID": "{key}",
        });
        let mut b = body_for(default, self.cfg, r)?;
        if let Some(Value::String(s)) = b.get_mut("title") {
            *s = cut(s, 255);
        }
        for field in ["companyID", "queueID"] {
            if !b.get(field).is_some_and(Value::is_i64) {
                return Err(format!(
                    "[{}] needs an integer {field} in its body for autotask (e.g. body: {{\"companyID\": 0, \"queueID\": 0}})",
                    r.customer.section
                ));
            }
        }
        Ok(b)
    }

    /// Tickets whose `field` matches by `op` (eq, in).
    fn query(&self, field: &str, op: &str, value: Value) -> Answer<Vec<Value>> {
        let q = json!({"filter": [{"field": field, "op": op, "value": value}]});
        self.send("POST", "Tickets/query", &q)
            .lost_is_failure()
            .map(|v| {
                v.get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
    }
}

impl System for Autotask<'_> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let body = match self.body(r) {
            Ok(b) => b,
            Err(e) => return unmakeable(e),
        };
        made(self.send("POST", "Tickets", &body), NAME, "itemId", |v| {
            id_of(v, "itemId").map(Ticket::plain)
        })
    }

    fn can_find(&self) -> bool {
        true
    }

    fn find(&self, r: &Request) -> Answer<Option<Ticket>> {
        let key = super::system_key(r.key);
        self.query("externalID", "eq", json!(key)).map(|items| {
            items
                .iter()
                .find(|t| t.get("externalID").and_then(Value::as_str) == Some(&key))
                .and_then(|t| id_of(t, "id"))
                .map(Ticket::plain)
        })
    }

    fn clear(&self, t: &Ticket, _r: &Request, text: &str) -> Answer<bool> {
        if self.cfg.onclear == OnClear::Nothing {
            return Answer::Done(false);
        }
        let note = json!({"title": "zenticket", "description": text, "noteType": 1, "publish": 1});
        let noted = self
            .send("POST", &format!("Tickets/{}/Notes", t.id), &note)
            .lost_is_failure();
        if self.cfg.onclear == OnClear::Comment || !matches!(noted, Answer::Done(_)) {
            return noted.map(|_| true);
        }
        let (id, status) = match (
            int(&t.id, "ticket"),
            int(&self.cfg.resolvestatus, "resolvestatus"),
        ) {
            (Ok(i), Ok(s)) => (i, s),
            (Err(e), _) | (_, Err(e)) => return Answer::Refused(e),
        };
        self.send("PATCH", "Tickets", &json!({"id": id, "status": status}))
            .lost_is_failure()
            .map(|_| true)
    }

    fn can_sync(&self) -> bool {
        true
    }

    fn closed(&self, batch: &[crate::state::Recorded]) -> Answer<Vec<String>> {
        let ids: Vec<i64> = batch.iter().filter_map(|t| t.id.parse().ok()).collect();
        if ids.is_empty() {
            return Answer::Done(Vec::new());
        }
        let Ok(done) = int(&self.cfg.resolvestatus, "resolvestatus") else {
            return Answer::Refused(format!(
                "resolvestatus {:?} is not a number",
                self.cfg.resolvestatus
            ));
        };
        self.query("id", "in", json!(ids)).map(|items| {
            items
                .iter()
                .filter(|t| t.get("status").and_then(Value::as_i64) == Some(done))
                .filter_map(|t| id_of(t, "id"))
                .collect()
        })
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        Ok(show(
            "POST",
            &format!("{}/Tickets", self.base()),
            &[],
            &self.body(r)?,
        ))
    }
}
