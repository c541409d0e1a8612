//! ConnectWise Manage: `POST .../service/tickets` with the composite basic auth
//! (`company+publickey:privatekey`) and the `clientId` header on every request; the key in
//! `externalXRef` (looked up with `conditions=externalXRef="..."`); `summary` cut at 100
//! characters; notes on clear, and resolve by status name through a JSON Patch.

use super::http::Http;
use super::{body_for, cut, encode, made, show, unmakeable, Answer, Request, System, Ticket};
use crate::config::system::{OnClear, SystemConfig};
use serde_json::{json, Value};

pub struct ConnectWise<'a> {
    pub cfg: &'a SystemConfig,
    pub http: Http,
}

const NAME: &str = "connectwise";

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl ConnectWise<'_> {
    fn base(&self) -> String {
        format!(
            "{}/{}/apis/3.0/service/tickets",
            self.cfg.url, self.cfg.codebase
        )
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Answer<Value> {
        let bytes = body.map(|b| b.to_string());
        let headers = [("clientId", self.cfg.clientid.as_str())];
        let sent = self
            .http
            .send(method, url, &headers, bytes.as_deref().map(str::as_bytes));
        super::answer(sent, NAME)
    }

    /// The tickets matching a `conditions` clause.
    fn tickets(&self, conditions: &str, extra: &str) -> Answer<Vec<Value>> {
        let url = format!("{}?conditions={}{extra}", self.base(), encode(conditions));
        self.send("GET", &url, None)
            .lost_is_failure()
            .map(|v| v.as_array().cloned().unwrap_or_default())
    }

    fn body(&self, r: &Request) -> Result<Value, String> {
        let default = json!({
            "summary": "{summary}",
            "board": {"name": "{queue}"},
            "company": {"identifier": "{customer}"},
            "initialDescription": super::DESCRIPTION,
            "externalXRef": "{key}",
        });
        let mut b = body_for(default, self.cfg, r)?;
        if let Some(Value::String(s)) = b.get_mut("summary") {
            *s = cut(s, 100);
        }
        Ok(b)
    }
}

impl System for ConnectWise<'_> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let body = match self.body(r) {
            Ok(b) => b,
            Err(e) => return unmakeable(e),
        };
        let sent = self.send("POST", &self.base(), Some(&body));
        let key = super::system_key(r.key);
        let sent = super::key_checked(sent, NAME, "/externalXRef", &key);
        made(sent, NAME, "a ticket id", |v| id_of(v).map(Ticket::plain))
    }

    fn can_find(&self) -> bool {
        true
    }

    fn find(&self, r: &Request) -> Answer<Option<Ticket>> {
        let key = super::system_key(r.key);
        self.tickets(&format!("externalXRef=\"{key}\""), "")
            .map(|rows| {
                rows.iter()
                    .find(|t| t.get("externalXRef").and_then(Value::as_str) == Some(&key))
                    .and_then(id_of)
                    .map(Ticket::plain)
            })
    }

    fn clear(&self, t: &Ticket, _r: &Request, text: &str) -> Answer<bool> {
        if self.cfg.onclear == OnClear::Nothing {
            return Answer::Done(false);
        }
        let note = json!({"text": text, "internalAnalysisFlag": true});
        let noted = self
            .send(
                "POST",
                &format!("{}/{}/notes", self.base(), t.id),
                Some(&note),
            )
            .lost_is_failure();
        if self.cfg.onclear == OnClear::Comment || !matches!(noted, Answer::Done(_)) {
            return noted.map(|_| true);
        }
        let patch =
            json!([{"op": "replace", "path": "status", "value": {"name": self.cfg.resolvestatus}}]);
        self.send("PATCH", &format!("{}/{}", self.base(), t.id), Some(&patch))
            .lost_is_failure()
            .map(|_| true)
    }

    fn can_sync(&self) -> bool {
        true
    }

    fn closed(&self, batch: &[crate::state::Recorded]) -> Answer<Vec<String>> {
        let ids: Vec<&str> = batch
            .iter()
            .map(|t| t.id.as_str())
            .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        if ids.is_empty() {
            return Answer::Done(Vec::new());
        }
        let extra = format!("&fields=id%2CclosedFlag&pageSize={}", ids.len());
        self.tickets(&format!("id in ({})", ids.join(",")), &extra)
            .map(|rows| {
                rows.iter()
                    .filter(|t| t.get("closedFlag").and_then(Value::as_bool) == Some(true))
                    .filter_map(id_of)
                    .collect()
            })
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        let client = format!("clientId: {}", self.cfg.clientid);
        Ok(show("POST", &self.base(), &[client], &self.body(r)?))
    }
}
