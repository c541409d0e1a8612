//! A webhook receiver as draft-ietf-httpapi-idempotency-key-header and Stripe describe it:
//! the first POST of a key makes the ticket; a repeat of the key with the same body gets
//! the first answer again; with another body, 422; while the first is in progress, 409.

use super::http::{Reply, Req, Server};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "hook-t0ken-XYZ";

#[derive(Clone, Debug)]
pub enum Fault {
    /// The ticket is made, then the connection closes with no answer.
    DropAfterCreate,
    /// 409: the first request of this key is still being worked on.
    InProgress,
    /// 429 with this `Retry-After`: nothing made.
    RateLimited(&'static str),
    /// 500, nothing made: the receiver is failing.
    Error500,
}

#[derive(Default)]
struct Inner {
    /// key -> (body, ticket)
    seen: BTreeMap<String, (Vec<u8>, String)>,
    faults: VecDeque<Fault>,
    clears: Vec<Value>,
    /// Evids whose ticket the receiver makes but answers `200 {"status":"accepted"}`
    /// for, with no ticket id (replayed so for the same key).
    unconfirmed: std::collections::BTreeSet<String>,
}

#[derive(Clone)]
pub struct Webhook {
    pub server: Server,
    inner: Arc<Mutex<Inner>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let shared = inner.clone();
        let server = Server::start(Arc::new(move |req: &Req| {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            answer(&mut s, req)
        }));
        Webhook { server, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ticket of `evid` is made but never confirmed (see `Inner::unconfirmed`).
    pub fn never_confirm(&self, evid: &str) -> &Webhook {
        self.lock().unconfirmed.insert(evid.to_string());
        self
    }

    pub fn fail_next(&self, faults: &[Fault]) -> &Webhook {
        self.lock().faults.extend(faults.iter().cloned());
        self
    }

    /// Tickets made, by key.
    pub fn tickets(&self) -> BTreeMap<String, String> {
        self.lock()
            .seen
            .iter()
            .map(|(k, (_, t))| (k.clone(), t.clone()))
            .collect()
    }

    pub fn clears(&self) -> Vec<Value> {
        self.lock().clears.clone()
    }

    pub fn requests(&self) -> Vec<Req> {
        self.server.requests()
    }

    pub fn section(&self) -> String {
        format!(
            "[WEBHOOK]\nurl: {}/hooks/zenoss\ntoken: {TOKEN}\nticketfield: data.ticket\ntimeout: 5\n",
            self.server.url
        )
    }
}

fn answer(s: &mut Inner, req: &Req) -> Reply {
    if req.header("authorization") != Some(format!("Bearer {TOKEN}").as_str()) {
        return Reply::json(401, json!({"error": "bad token"}));
    }
    let Some(key) = req
        .header("idempotency-key")
        .and_then(|k| k.strip_prefix('"'))
        .and_then(|k| k.strip_suffix('"'))
    else {
        return Reply::json(
            400,
            json!({"error": "Idempotency-Key is missing or not a quoted string"}),
        );
    };
    let body = req.json();
    if body["event"] == "clear" {
        s.clears.push(body);
        return Reply::json(200, json!({"data": {"ok": true}}));
    }
    if let Some((first, ticket)) = s.seen.get(key) {
        if *first != req.body {
            return Reply::json(
                422,
                json!({"error": "Idempotency-Key reused with a different payload"}),
            );
        }
        if s.unconfirmed.contains(body["evid"].as_str().unwrap_or("")) {
            return Reply::json(200, json!({"status": "accepted"}));
        }
        return Reply::json(201, json!({"data": {"ticket": ticket}}));
    }
    let fault = s.faults.pop_front();
    if let Some(Fault::Error500) = fault {
        return Reply::json(500, json!({"error": "internal error"}));
    }
    if let Some(Fault::InProgress) = fault {
        return Reply::json(
            409,
            json!({"error": "a request with this key is in progress"}),
        )
        .header("Retry-After", "0");
    }
    if let Some(Fault::RateLimited(after)) = fault {
        return Reply::json(429, json!({"error": "rate limited"})).header("Retry-After", after);
    }
    let ticket = format!("T-{}", 1001 + s.seen.len());
    s.seen
        .insert(key.to_string(), (req.body.clone(), ticket.clone()));
    if let Some(Fault::DropAfterCreate) = fault {
        return Reply::dropped();
    }
    if s.unconfirmed.contains(body["evid"].as_str().unwrap_or("")) {
        return Reply::json(200, json!({"status": "accepted"}));
    }
    Reply::json(201, json!({"data": {"ticket": ticket}}))
}
