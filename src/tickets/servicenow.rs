//! ServiceNow's Table API: an incident per ticket, `correlation_id` = the key, looked up
//! by it after a lost answer (checking the key on every row that comes back: an invalid
//! query part is silently dropped and unrelated rows answer), `work_notes` on clear, or
//! the incident resolved with `resolvestate`, `closecode` and notes.

use super::http::{Http, Lost, Reply};
use super::{body_for, cut, Answer, Request, System, Ticket};
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

fn answer(r: Result<Reply, Lost>) -> Answer<Value> {
    super::answer(r, NAME)
}

impl ServiceNow<'_> {
    fn table_url(&self) -> String {
        format!("{}/api/now/table/{}", self.cfg.url, self.cfg.table)
    }

    fn body(&self, r: &Request) -> Result<Value, String> {
        let sev = r.ev.severity.unwrap_or(0);
        let level = impact(sev).to_string();
        let mut default = json!({
            "short_description": "{summary}",
            "description": super::DESCRIPTION,
            "correlation_id": "{key}",
            "correlation_display": "zenticket",
            "assignment_group": "{queue}",
            "company": "{customer}",
            "impact": level,
            "urgency": level,
        });
        let mut b = body_for(std::mem::take(&mut default), self.cfg, r)?;
        if let Some(Value::String(s)) = b.get_mut("short_description") {
            *s = cut(s, 160);
        }
        Ok(b)
    }

    fn ticket(&self, v: &Value) -> Option<Ticket> {
        let rec = v.get("result").unwrap_or(v);
        let rec = match rec {
            Value::Array(a) => a.first()?,
            other => other,
        };
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
            Err(e) => return Answer::Refused(format!("the body cannot be made: {e}")),
        };
        let url = format!("{}?sysparm_input_display_value=true", self.table_url());
        let sent = self
            .http
            .send("POST", &url, &[], Some(body.to_string().as_bytes()));
        match answer(sent) {
            Answer::Done(v) => match self.ticket(&v) {
                Some(t) => Answer::Done(t),
                None => Answer::Ambiguous(format!(
                    "{NAME} answered without result.number: {}",
                    crate::log::clip(&v.to_string(), 200)
                )),
            },
            other => other.map(|_| unreachable_ticket()),
        }
    }

    fn can_find(&self) -> bool {
        true
    }

    fn find(&self, r: &Request) -> Answer<Option<Ticket>> {
        let key = super::system_key(r.key);
        let url = format!(
            "{}?sysparm_query=correlation_id%3D{key}&sysparm_fields=sys_id%2Cnumber%2Ccorrelation_id%2Cstate&sysparm_limit=5",
            self.table_url()
        );
        let sent = self.http.send("GET", &url, &[], None);
        // API v1 answers 404 when nothing matches.
        if let Ok(Reply { status: 404, .. }) = &sent {
            return Answer::Done(None);
        }
        match answer(sent) {
            Answer::Done(v) => {
                let rows = v
                    .get("result")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                // Only a row that carries exactly the key: the rest is noise.
                let hit = rows
                    .iter()
                    .find(|row| row.get("correlation_id").and_then(Value::as_str) == Some(&key));
                Answer::Done(hit.and_then(|row| self.ticket(row)))
            }
            // A lookup changes nothing: a lost answer to it is only a failure.
            Answer::Ambiguous(m) => Answer::Failed(m),
            other => other.map(|_| None),
        }
    }

    fn clear(&self, t: &Ticket, r: &Request, text: &str) -> Answer<bool> {
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
        let _ = r;
        let Some(sys_id) = &t.reference else {
            return Answer::Refused(format!("ticket {} has no sys_id recorded", t.id));
        };
        let url = format!("{}/{sys_id}", self.table_url());
        match answer(
            self.http
                .send("PATCH", &url, &[], Some(body.to_string().as_bytes())),
        ) {
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
            .filter_map(|t| t.reference.as_deref())
            .collect();
        if ids.is_empty() {
            return Answer::Done(Vec::new());
        }
        let url = format!(
            "{}?sysparm_query={}&sysparm_fields=sys_id%2Cnumber%2Cstate&sysparm_limit={}",
            self.table_url(),
            super::encode(&format!("sys_idIN{}", ids.join(","))),
            ids.len()
        );
        // Resolved (6 on a default instance, or resolvestate), Closed (7), Canceled (8).
        let done = [self.cfg.resolvestate.as_str(), "6", "7", "8"];
        match answer(self.http.send("GET", &url, &[], None)) {
            Answer::Done(v) => Answer::Done(
                v.get("result")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        r.get("state")
                            .and_then(Value::as_str)
                            .is_some_and(|s| done.contains(&s))
                    })
                    .filter_map(|r| r.get("number").and_then(Value::as_str).map(String::from))
                    .collect(),
            ),
            Answer::Ambiguous(m) => Answer::Failed(m),
            other => other.map(|_| Vec::new()),
        }
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        let body = self.body(r)?;
        Ok(format!(
            "POST {}?sysparm_input_display_value=true\n{}",
            self.table_url(),
            serde_json::to_string_pretty(&body).unwrap_or_default()
        ))
    }
}

/// Only for `Answer::map` over answers that carry no value.
fn unreachable_ticket() -> Ticket {
    Ticket {
        id: String::new(),
        reference: None,
        link: None,
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
