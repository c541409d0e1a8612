//! ConnectWise Manage: `POST .../service/tickets` with the composite basic auth
//! (`company+publickey:privatekey`) and the `clientId` header on every request; the key in
//! `externalXRef` (looked up with `conditions=externalXRef="..."`); `summary` cut at 100
//! characters; notes on clear, and resolve by status name through a JSON Patch.

use super::http::{Http, Lost, Reply};
use super::{body_for, cut, encode, Answer, Request, System, Ticket};
use crate::config::system::{OnClear, SystemConfig};
use serde_json::{json, Value};

pub struct ConnectWise<'a> {
    pub cfg: &'a SystemConfig,
    pub http: Http,
}

const NAME: &str = "connectwise";

fn answer(r: Result<Reply, Lost>) -> Answer<Value> {
    super::answer(r, NAME)
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl ConnectWise<'_> {
    fn base(&self) -> String {
        format!("{}/{}/apis/3.0", self.cfg.url, self.cfg.codebase)
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Answer<Value> {
        let bytes = body.map(|b| b.to_string());
        let headers = [("clientId", self.cfg.clientid.as_str())];
        answer(
            self.http
                .send(method, url, &headers, bytes.as_deref().map(str::as_bytes)),
        )
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

    fn ticket(id: String) -> Ticket {
        Ticket {
            id,
            reference: None,
            link: None,
        }
    }
}

impl System for ConnectWise<'_> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let body = match self.body(r) {
            Ok(b) => b,
            Err(e) => return Answer::Refused(format!("the body cannot be made: {e}")),
        };
        let url = format!("{}/service/tickets", self.base());
        match self.send("POST", &url, Some(&body)) {
            Answer::Done(v) => match id_of(&v) {
                Some(id) => Answer::Done(Self::ticket(id)),
                None => Answer::Ambiguous(format!(
                    "{NAME} answered without a ticket id: {}",
                    crate::log::clip(&v.to_string(), 200)
                )),
            },
            other => other.map(|_| Self::ticket(String::new())),
        }
    }

    fn can_find(&self) -> bool {
        true
    }

    fn find(&self, r: &Request) -> Answer<Option<Ticket>> {
        let key = super::system_key(r.key);
        let cond = format!("externalXRef=\"{key}\"");
        let url = format!(
            "{}/service/tickets?conditions={}",
            self.base(),
            encode(&cond)
        );
        match self.send("GET", &url, None) {
            Answer::Done(v) => {
                let rows = v.as_array().cloned().unwrap_or_default();
                let hit = rows
                    .iter()
                    .find(|t| t.get("externalXRef").and_then(Value::as_str) == Some(&key));
                Answer::Done(hit.and_then(id_of).map(Self::ticket))
            }
            Answer::Ambiguous(m) => Answer::Failed(m),
            other => other.map(|_| None),
        }
    }

    fn clear(&self, t: &Ticket, _r: &Request, text: &str) -> Answer<bool> {
        if self.cfg.onclear == OnClear::Nothing {
            return Answer::Done(false);
        }
        let url = format!("{}/service/tickets/{}/notes", self.base(), t.id);
        let note = json!({"text": text, "internalAnalysisFlag": true});
        match self.send("POST", &url, Some(&note)) {
            Answer::Done(_) => {}
            Answer::Ambiguous(m) => return Answer::Failed(m),
            other => return other.map(|_| false),
        }
        if self.cfg.onclear == OnClear::Comment {
            return Answer::Done(true);
        }
        let url = format!("{}/service/tickets/{}", self.base(), t.id);
        let patch =
            json!([{"op": "replace", "path": "status", "value": {"name": self.cfg.resolvestatus}}]);
        match self.send("PATCH", &url, Some(&patch)) {
            Answer::Ambiguous(m) => Answer::Failed(m),
            other => other.map(|_| true),
        }
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
        let cond = format!("id in ({})", ids.join(","));
        let url = format!(
            "{}/service/tickets?conditions={}&fields=id%2CclosedFlag&pageSize={}",
            self.base(),
            encode(&cond),
            ids.len()
        );
        match self.send("GET", &url, None) {
            Answer::Done(v) => Answer::Done(
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t.get("closedFlag").and_then(Value::as_bool) == Some(true))
                    .filter_map(id_of)
                    .collect(),
            ),
            Answer::Ambiguous(m) => Answer::Failed(m),
            other => other.map(|_| Vec::new()),
        }
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        let body = self.body(r)?;
        Ok(format!(
            "POST {}/service/tickets\nclientId: {}\n{}",
            self.base(),
            self.cfg.clientid,
            serde_json::to_string_pretty(&body).unwrap_or_default()
        ))
    }
}
