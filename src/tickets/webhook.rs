//! Any webhook: `POST {url}` with `Idempotency-Key: "{key}"` (a structured-field string,
//! as draft-ietf-httpapi-idempotency-key-header says), the receiver deduplicating by it;
//! every retry resends the same key and the byte-identical body (the body is rendered from
//! the event as recorded, keys sorted). 409 (the first still in progress) waits; 422 (the
//! key reused with another body) gives up with the reason.

use super::http::Http;
use super::{body_for, made, show, unmakeable, Answer, Request, System, Ticket};
use crate::config::system::{OnClear, SystemConfig};
use serde_json::{Map, Value};

pub struct Webhook<'a> {
    pub cfg: &'a SystemConfig,
    pub http: Http,
}

const NAME: &str = "webhook";

/// The value at a dotted path (`ticket`, `data.id`) as text: a string, or a number.
pub fn field(v: &Value, path: &str) -> Option<String> {
    let mut at = v;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    match at {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Webhook<'_> {
    fn body(&self, r: &Request) -> Result<Value, String> {
        let default: Map<String, Value> = super::placeholders(r)
            .keys()
            .map(|k| (k.clone(), Value::String(format!("{{{k}}}"))))
            .collect();
        body_for(Value::Object(default), self.cfg, r)
    }

    fn post(&self, url: &str, key: &str, body: &Value) -> Answer<Value> {
        let header = format!("\"{}\"", super::system_key(key));
        let bytes = body.to_string();
        let sent = self.http.send(
            "POST",
            url,
            &[("Idempotency-Key", &header)],
            Some(bytes.as_bytes()),
        );
        super::answer(sent, NAME)
    }
}

impl System for Webhook<'_> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let body = match self.body(r) {
            Ok(b) => b,
            Err(e) => return unmakeable(e),
        };
        let what = format!("a ticket in `{}`", self.cfg.ticketfield);
        made(self.post(&self.cfg.url, r.key, &body), NAME, &what, |v| {
            field(v, &self.cfg.ticketfield).map(Ticket::plain)
        })
    }

    fn clear(&self, t: &Ticket, r: &Request, text: &str) -> Answer<bool> {
        if self.cfg.onclear == OnClear::Nothing {
            return Answer::Done(false);
        }
        let mut body = match self.body(r) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(e) => return unmakeable(e),
        };
        body.insert("event".into(), Value::String("clear".into()));
        body.insert("ticket".into(), Value::String(t.id.clone()));
        body.insert("note".into(), Value::String(text.to_string()));
        if self.cfg.onclear == OnClear::Resolve {
            body.insert("resolve".into(), Value::Bool(true));
        }
        let url = self.cfg.clearurl.as_deref().unwrap_or(&self.cfg.url);
        let key = format!("{}-clear", r.key);
        self.post(url, &key, &Value::Object(body))
            .lost_is_failure()
            .map(|_| true)
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        let key = format!("Idempotency-Key: \"{}\"", super::system_key(r.key));
        Ok(show("POST", &self.cfg.url, &[key], &self.body(r)?))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_ticket_field() {
        let v = json!({"ticket": "T-1", "data": {"id": 42, "empty": " "}});
        let table = [
            ("ticket", Some("T-1")),
            ("data.id", Some("42")),
            ("data.empty", None),
            ("nope", None),
        ];
        for (path, want) in table {
            assert_eq!(super::field(&v, path).as_deref(), want, "{path}");
        }
    }
}
