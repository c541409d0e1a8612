//! Jira (Cloud with an e-mail and API token, Data Center with a personal access token as
//! bearer; REST API 3, where text is Atlassian Document Format, or 2). The key goes into
//! a label; a lost create is looked up with JQL through `/search/jql` (Cloud's old
//! `/search` answers 410), but Jira's search lags its writes, so a lookup that finds
//! nothing is not trusted until `lookupgrace` has passed (`lookup_grace`). Clear: a
//! comment, or the transition named `resolvetransition`, looked up per issue.

use super::http::Http;
use super::{body_for, cut, encode, made, show, unmakeable, Answer, Request, System, Ticket};
use crate::config::system::{OnClear, SystemConfig};
use serde_json::{json, Value};

pub struct Jira<'a> {
    pub cfg: &'a SystemConfig,
    pub http: Http,
}

const NAME: &str = "jira";

impl Jira<'_> {
    fn base(&self) -> String {
        format!("{}/rest/api/{}", self.cfg.url, self.cfg.api)
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Answer<Value> {
        let url = format!("{}/{path}", self.base());
        let bytes = body.map(|b| b.to_string());
        let sent = self
            .http
            .send(method, &url, &[], bytes.as_deref().map(str::as_bytes));
        super::answer(sent, NAME)
    }

    /// Issues found by JQL, with `fields`.
    fn search(&self, jql: &str, fields: &str, max: usize) -> Answer<Vec<Value>> {
        let path = if self.cfg.api == 3 {
            "search/jql"
        } else {
            "search"
        };
        let q = format!(
            "{path}?jql={}&fields={fields}&maxResults={max}",
            encode(jql)
        );
        self.send("GET", &q, None).lost_is_failure().map(|v| {
            v.get("issues")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
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

    /// The id of the issue's transition named `resolvetransition`.
    fn resolve(&self, key: &str) -> Answer<()> {
        let path = format!("issue/{key}/transitions");
        self.send("GET", &path, None).lost_is_failure().then(|v| {
            let all = v.get("transitions").and_then(Value::as_array).cloned().unwrap_or_default();
            let want = &self.cfg.resolvetransition;
            let named = |tr: &&Value| {
                tr.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(want))
            };
            let Some(id) = all.iter().find(named).and_then(|tr| tr.get("id")) else {
                let names: Vec<&str> = all.iter().filter_map(|t| t.get("name")?.as_str()).collect();
                return Answer::Refused(format!(
                    "{key} has no transition named {want:?} from its status (it has: {}); set resolvetransition",
                    names.join(", ")
                ));
            };
            let body = json!({"transition": {"id": id}});
            self.send("POST", &path, Some(&body)).lost_is_failure().map(|_| ())
        })
    }
}

impl System for Jira<'_> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let body = match self.body(r) {
            Ok(b) => b,
            Err(e) => return unmakeable(e),
        };
        made(
            self.send("POST", "issue", Some(&body)),
            NAME,
            "an issue key",
            |v| v.get("key").and_then(Value::as_str).map(|k| self.ticket(k)),
        )
    }

    fn can_find(&self) -> bool {
        true
    }

    fn lookup_grace(&self) -> f64 {
        self.cfg.lookupgrace
    }

    fn find(&self, r: &Request) -> Answer<Option<Ticket>> {
        self.find_all(r).map(|all| all.into_iter().next())
    }

    fn find_all(&self, r: &Request) -> Answer<Vec<Ticket>> {
        let key = super::system_key(r.key);
        self.search(&format!("labels = \"{key}\""), "labels", 10)
            .map(|issues| {
                // Only issues that carry exactly the key's label, oldest (lowest issue
                // number: Jira numbers a project's issues as it makes them) first.
                let mut keys: Vec<&str> = issues
                    .iter()
                    .filter(|i| {
                        i.pointer("/fields/labels")
                            .and_then(Value::as_array)
                            .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(&key)))
                    })
                    .filter_map(|i| i.get("key").and_then(Value::as_str))
                    .collect();
                let number = |k: &&str| {
                    k.rsplit('-')
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(u64::MAX)
                };
                keys.sort_by_key(|k| (number(k), k.to_string()));
                keys.dedup();
                keys.into_iter().map(|k| self.ticket(k)).collect()
            })
    }

    fn clear(&self, t: &Ticket, _r: &Request, text: &str) -> Answer<bool> {
        if self.cfg.onclear == OnClear::Nothing {
            return Answer::Done(false);
        }
        let comment = json!({ "body": self.text(text) });
        let noted = self
            .send("POST", &format!("issue/{}/comment", t.id), Some(&comment))
            .lost_is_failure();
        if self.cfg.onclear == OnClear::Comment || !matches!(noted, Answer::Done(_)) {
            return noted.map(|_| true);
        }
        self.resolve(&t.id).map(|_| true)
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
        self.search(&jql, "status", batch.len()).map(|issues| {
            issues
                .iter()
                .filter(|i| {
                    i.pointer("/fields/status/statusCategory/key")
                        .and_then(Value::as_str)
                        == Some("done")
                })
                .filter_map(|i| i.get("key").and_then(Value::as_str).map(String::from))
                .collect()
        })
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        Ok(show(
            "POST",
            &format!("{}/issue", self.base()),
            &[],
            &self.body(r)?,
        ))
    }
}
