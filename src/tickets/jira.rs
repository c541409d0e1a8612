//! Jira (Cloud with an e-mail and API token, Data Center with a personal access token as
//! bearer; REST API 3, where text is Atlassian Document Format, or 2). The key goes into
//! a label; a lost create is looked up with JQL through `/search/jql` (Cloud's old
//! `/search` answers 410), but Jira's search lags its writes, so a lookup that finds
//! nothing is not trusted until `lookupgrace` has passed (`lookup_grace`). Clear: a
//! comment, or the transition named `resolvetransition`, looked up per issue.

use super::http::{Http, Lost, Reply};
use super::{body_for, cut, encode, Answer, Request, System, Ticket};
use crate::config::system::{OnClear, SystemConfig};
use serde_json::{json, Value};

pub struct Jira<'a> {
    pub cfg: &'a SystemConfig,
    pub http: Http,
}

const NAME: &str = "jira";

fn answer(r: Result<Reply, Lost>) -> Answer<Value> {
    super::answer(r, NAME)
}

impl Jira<'_> {
    fn base(&self) -> String {
        format!("{}/rest/api/{}", self.cfg.url, self.cfg.api)
    }

    /// Text as the API version wants it: a string (2), or a document (3).
    fn text(&self, t: &str) -> Value {
        if self.cfg.api == 2 {
            return Value::String(t.to_string());
        }
        let paragraphs: Vec<Value> = t
            .split("\n\n")
            .map(|p| {
                let content: Vec<Value> = (!p.is_empty())
                    .then(|| json!({"type": "text", "text": p}))
                    .into_iter()
                    .collect();
                json!({"type": "paragraph", "content": content})
            })
            .collect();
        json!({"type": "doc", "version": 1, "content": paragraphs})
    }

    fn body(&self, r: &Request) -> Result<Value, String> {
        let default = json!({"fields": {
            "project": {"key": self.cfg.project},
            "issuetype": {"name": self.cfg.issuetype},
            "summary": "{summary}",
            "description": self.text(super::DESCRIPTION),
            "labels": ["zenticket", "{key}"],
        }});
        let mut b = body_for(default, self.cfg, r)?;
        if let Some(Value::String(s)) = b.pointer_mut("/fields/summary") {
            // Jira refuses a summary with a line break or over 255 characters.
            *s = cut(&s.replace(['\n', '\r'], " "), 255);
        }
        Ok(b)
    }

    fn ticket(&self, key: &str) -> Ticket {
        Ticket {
            id: key.to_string(),
            reference: None,
            link: Some(format!("{}/browse/{key}", self.cfg.url)),
        }
    }

    fn comment(&self, key: &str, text: &str) -> Answer<()> {
        let url = format!("{}/issue/{key}/comment", self.base());
        let body = json!({ "body": self.text(text) });
        done(answer(self.http.send(
            "POST",
            &url,
            &[],
            Some(body.to_string().as_bytes()),
        )))
    }
}

/// A call whose answer carries nothing to keep; a lost answer to it is only a failure.
fn done(a: Answer<Value>) -> Answer<()> {
    match a {
        Answer::Ambiguous(m) => Answer::Failed(m),
        other => other.map(|_| ()),
    }
}

impl System for Jira<'_> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let body = match self.body(r) {
            Ok(b) => b,
            Err(e) => return Answer::Refused(format!("the body cannot be made: {e}")),
        };
        let url = format!("{}/issue", self.base());
        match answer(
            self.http
                .send("POST", &url, &[], Some(body.to_string().as_bytes())),
        ) {
            Answer::Done(v) => match v.get("key").and_then(Value::as_str) {
                Some(key) => Answer::Done(self.ticket(key)),
                None => Answer::Ambiguous(format!(
                    "{NAME} answered without an issue key: {}",
                    crate::log::clip(&v.to_string(), 200)
                )),
            },
            other => other.map(|_| self.ticket("")),
        }
    }

    fn can_find(&self) -> bool {
        true
    }

    fn lookup_grace(&self) -> f64 {
        self.cfg.lookupgrace
    }

    fn find(&self, r: &Request) -> Answer<Option<Ticket>> {
        let key = super::system_key(r.key);
        let jql = format!("labels = \"{key}\"");
        let path = if self.cfg.api == 3 {
            "search/jql"
        } else {
            "search"
        };
        let url = format!("{}/{path}?jql={}&fields=labels", self.base(), encode(&jql));
        match answer(self.http.send("GET", &url, &[], None)) {
            Answer::Done(v) => {
                let issues = v
                    .get("issues")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                // Only an issue that carries exactly the key's label.
                let hit = issues.iter().find(|i| {
                    i.pointer("/fields/labels")
                        .and_then(Value::as_array)
                        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(&key)))
                });
                Answer::Done(
                    hit.and_then(|i| i.get("key").and_then(Value::as_str))
                        .map(|k| self.ticket(k)),
                )
            }
            Answer::Ambiguous(m) => Answer::Failed(m),
            other => other.map(|_| None),
        }
    }

    fn clear(&self, t: &Ticket, _r: &Request, text: &str) -> Answer<bool> {
        if self.cfg.onclear == OnClear::Nothing {
            return Answer::Done(false);
        }
        if let a @ (Answer::Ambiguous(_)
        | Answer::Wait { .. }
        | Answer::Refused(_)
        | Answer::Credentials(_)
        | Answer::Failed(_)
        | Answer::Busy(_)) = self.comment(&t.id, text)
        {
            return a.map(|_| false);
        }
        if self.cfg.onclear == OnClear::Comment {
            return Answer::Done(true);
        }
        let url = format!("{}/issue/{}/transitions", self.base(), t.id);
        let v = match answer(self.http.send("GET", &url, &[], None)) {
            Answer::Done(v) => v,
            other => return done(other).map(|_| false),
        };
        let transitions = v
            .get("transitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let want = &self.cfg.resolvetransition;
        let Some(id) = transitions
            .iter()
            .find(|tr| {
                tr.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(want))
            })
            .and_then(|tr| tr.get("id").and_then(Value::as_str))
        else {
            let names: Vec<&str> = transitions
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .collect();
            return Answer::Refused(format!(
                "{} has no transition named {want:?} from its status (it has: {}); set resolvetransition",
                t.id,
                names.join(", ")
            ));
        };
        let body = json!({"transition": {"id": id}});
        done(answer(self.http.send(
            "POST",
            &url,
            &[],
            Some(body.to_string().as_bytes()),
        )))
        .map(|_| true)
    }

    fn can_sync(&self) -> bool {
        true
    }

    fn closed(&self, batch: &[crate::state::Recorded]) -> Answer<Vec<String>> {
        if batch.is_empty() {
            return Answer::Done(Vec::new());
        }
        let keys: Vec<String> = batch.iter().map(|t| format!("\"{}\"", t.id)).collect();
        let jql = format!("key in ({})", keys.join(","));
        let path = if self.cfg.api == 3 {
            "search/jql"
        } else {
            "search"
        };
        let url = format!(
            "{}/{path}?jql={}&fields=status&maxResults={}",
            self.base(),
            encode(&jql),
            batch.len()
        );
        match answer(self.http.send("GET", &url, &[], None)) {
            Answer::Done(v) => Answer::Done(
                v.get("issues")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|i| {
                        i.pointer("/fields/status/statusCategory/key")
                            .and_then(Value::as_str)
                            == Some("done")
                    })
                    .filter_map(|i| i.get("key").and_then(Value::as_str).map(String::from))
                    .collect(),
            ),
            Answer::Ambiguous(m) => Answer::Failed(m),
            other => other.map(|_| Vec::new()),
        }
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        let body = self.body(r)?;
        Ok(format!(
            "POST {}/issue\n{}",
            self.base(),
            serde_json::to_string_pretty(&body).unwrap_or_default()
        ))
    }
}
