//! ServiceNow's Table API: an incident per ticket, `correlation_id` = the key, looked up
//! by it after a lost answer (checking the key on every row that comes back: an invalid
//! query part is silently dropped and unrelated rows answer), `work_notes` on clear, or
//! the incident resolved with `resolvestate`, `closecode` and notes.

use super::http::{Http, Reply};
use super::{body_for, cut, made, show, unmakeable, Answer, Request, System, Ticket};
use crate::config::system::{OnClear, SystemConfig};
use serde_json::{json, Value};

pub struct ServiceNow<'a> {
    pub cfg: &'a SystemConfig,
    pub http: Http,
}

const NAME: &str = "servicenow";

/// ServiceNow's impact and urgency (1 high .. 3 low) for a Zenoss severity.
pub fn impact(severity: i64) -> i64 {
    match severity {
        4 | 5 => 1,
        3 => 2,
        _ => 3,
    }
}

impl ServiceNow<'_> {
    fn table_url(&self) -> String {
        format!("{}/api/now/table/{}", self.cfg.url, self.cfg.table)
    }

    fn create_url(&self) -> String {
        format!("{}?sysparm_input_display_value=true", self.table_url())
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Answer<Value> {
        let bytes = body.map(|b| b.to_string());
        let sent = self
            .http
            .send(method, url, &[], bytes.as_deref().map(str::as_bytes));
        super::answer(sent, NAME)
    }

    /// The rows a `sysparm_query` gives, with `fields`; API v1 answers 404 for none.
    fn rows(&self, query: &str, fields: &str, limit: usize) -> Answer<Vec<Value>> {
        let url = format!(
            "{}?sysparm_query={}&sysparm_fields={}&sysparm_limit={limit}",
            self.table_url(),
            super::encode(query),
            super::encode(fields)
        );
        let sent = self.http.send("GET", &url, &[], None);
        if let Ok(Reply { status: 404, .. }) = &sent {
            return Answer::Done(Vec::new());
        }
        super::answer(sent, NAME).lost_is_failure().map(|v| {
            v.get("result")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
    }

    fn body(&self, r: &Request) -> Result<Value, String> {
        let level = impact(r.ev.severity.unwrap_or(0)).to_string();
        let default = json!({
            "short_description": "{summary}",
            "description": super::DESCRIPTION,
            "correlation_id": "{key}",
            "correlation_display": "zenticket",
            "assignment_group": "{queue}",
            "company": "{customer}",
            "impact": level,
            "urgency": level,
        });
        let mut b = body_for(default, self.cfg, r)?;
        if let Some(Value::String(s)) = b.get_mut("short_description") {
            *s = cut(s, 160);
        }
        Ok(b)
    }

    /// The incident a record (or `{"result": record}`) is.
    fn ticket(&self, v: &Value) -> Option<Ticket> {
        let rec = v.get("result").unwrap_or(v);
        let id = rec.get("number")?.as_str()?.to_string();
        let sys_id = rec.get("sys_id").and_then(Value::as_str).map(String::from);
        let link = sys_id.as_ref().map(|s| {
            format!(
                "{}/nav_to.do?uri={}.do?sys_id={s}",
                self.cfg.url, self.cfg.table
            )
        });
        Some(Ticket {
            id,
            reference: sys_id,
            link,
        })
    }
}

impl System for ServiceNow<'_> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let body = match self.body(r) {
            Ok(b) => b,
            Err(e) => return unmakeable(e),
        };
        let sent = self.send("POST", &self.create_url(), Some(&body));
        let key = super::system_key(r.key);
        let sent = super::key_checked(sent, NAME, "/result/correlation_id", &key);
        made(sent, NAME, "result.number", |v| self.ticket(v))
    }

    fn can_find(&self) -> bool {
        true
    }

    fn find(&self, r: &Request) -> Answer<Option<Ticket>> {
        let key = super::system_key(r.key);
        let query = format!("correlation_id={key}");
        self.rows(&query, "sys_id,number,correlation_id,state", 5)
            .map(|rows| {
                // Only a row that carries exactly the key: the rest is noise.
                rows.iter()
                    .find(|row| row.get("correlation_id").and_then(Value::as_str) == Some(&key))
                    .and_then(|row| self.ticket(row))
            })
    }

    fn clear(&self, t: &Ticket, _r: &Request, text: &str) -> Answer<bool> {
        let body = match self.cfg.onclear {
            OnClear::Nothing => return Answer::Done(false),
            OnClear::Comment => json!({ "work_notes": text }),
            OnClear::Resolve => json!({
                "state": self.cfg.resolvestate,
                "close_code": self.cfg.closecode,
                "close_notes": text,
                "work_notes": text,
            }),
        };
        let Some(sys_id) = &t.reference else {
            return Answer::Refused(format!("ticket {} has no sys_id recorded", t.id));
        };
        let url = format!("{}/{sys_id}", self.table_url());
        self.send("PATCH", &url, Some(&body))
            .lost_is_failure()
            .map(|_| true)
    }

    fn can_sync(&self) -> bool {
        true
    }

    fn closed(&self, batch: &[crate::state::Recorded]) -> Answer<Vec<String>> {
        let ids: Vec<&str> = batch
            .iter()
            .filter_map(|t| t.reference.as_deref())
            .collect();
        if ids.is_empty() {
            return Answer::Done(Vec::new());
        }
        // Resolved (6 on a default instance, or resolvestate), Closed (7), Canceled (8).
        let done = [self.cfg.resolvestate.as_str(), "6", "7", "8"];
        let query = format!("sys_idIN{}", ids.join(","));
        self.rows(&query, "sys_id,number,state", ids.len())
            .map(|rows| {
                rows.iter()
                    .filter(|r| {
                        r.get("state")
                            .and_then(Value::as_str)
                            .is_some_and(|s| done.contains(&s))
                    })
                    .filter_map(|r| r.get("number").and_then(Value::as_str).map(String::from))
                    .collect()
            })
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        Ok(show("POST", &self.create_url(), &[], &self.body(r)?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn impact_and_urgency_follow_severity() {
        let table = [(5, 1), (4, 1), (3, 2), (2, 3), (1, 3), (0, 3)];
        for (sev, want) in table {
            assert_eq!(super::impact(sev), want, "{sev}");
        }
    }
}
