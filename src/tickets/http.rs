//! The one HTTP client every ticket system uses: its system's `timeout`, `verifytls`,
//! `cafile` and `proxy` (else HTTPS_PROXY/NO_PROXY), no redirect followed, and an answer
//! told apart as sent-and-answered, or not answered: refused before anything was sent
//! (nothing can have been made) or lost after (the request may have landed).

use crate::config::system::{SystemAuth, SystemConfig};
use std::io::Read;
use std::sync::Arc;

/// An HTTP answer, read whole (bounded).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<String>,
    pub ratelimit_reset: Option<String>,
}

/// A request that got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// Nothing was sent (name not resolved, connection refused, TLS refused).
    NotSent(String),
    /// Sent, or perhaps sent, and no answer read (a timeout, a reset).
    Unanswered(String),
}

pub struct Http {
    agent: ureq::Agent,
    auth: SystemAuth,
}

/// Answers are bounded: no ticket system's answer to one request is larger.
const MAX_REPLY: u64 = 8 << 20;

impl Http {
    pub fn new(cfg: &SystemConfig) -> Result<Http, String> {
        let mut b = ureq::AgentBuilder::new()
            .timeout(cfg.timeout)
            .redirects(0)
            .user_agent(concat!("zenticket-hook/", env!("CARGO_PKG_VERSION")));
        b = match &cfg.proxy {
            Some(p) => b.proxy(ureq::Proxy::new(p).map_err(|e| format!("proxy {p:?}: {e}"))?),
            None => b.try_proxy_from_env(true),
        };
        if cfg.url.starts_with("https://")
            || cfg
                .clearurl
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        {
            b = b.tls_config(Arc::new(crate::zenoss::tls(
                cfg.verifytls,
                cfg.cafile.as_deref(),
            )?));
        }
        Ok(Http {
            agent: b.build(),
            auth: cfg.auth.clone(),
        })
    }

    /// Sends one request with the system's credentials and `headers`; `body` as JSON.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, Lost> {
        let mut req = self
            .agent
            .request(method, url)
            .set("Accept", "application/json");
        match &self.auth {
            SystemAuth::Basic { user, password } => {
                let v = crate::zenoss::base64(format!("{user}:{}", password.0).as_bytes());
                req = req.set("Authorization", &format!("Basic {v}"));
            }
            SystemAuth::Bearer(t) => req = req.set("Authorization", &format!("Bearer {}", t.0)),
            SystemAuth::None => {}
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let sent = match body {
            Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
            None => req.call(),
        };
        let resp = match sent {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => return Err(lost(&t)),
        };
        let status = resp.status();
        let retry_after = resp.header("Retry-After").map(String::from);
        let ratelimit_reset = resp.header("X-RateLimit-Reset").map(String::from);
        let mut raw = Vec::new();
        resp.into_reader()
            .take(MAX_REPLY)
            .read_to_end(&mut raw)
            .map_err(|e| Lost::Unanswered(format!("reading the answer: {e}")))?;
        Ok(Reply {
            status,
            body: raw,
            retry_after,
            ratelimit_reset,
        })
    }
}

/// Whether the request can have reached the system: only a failure to connect says no.
fn lost(t: &ureq::Transport) -> Lost {
    use ureq::ErrorKind::*;
    let msg = t.to_string();
    match t.kind() {
        Dns | ConnectionFailed | InvalidUrl | UnknownScheme | InvalidProxyUrl | ProxyConnect
        | ProxyUnauthorized => Lost::NotSent(msg),
        _ => Lost::Unanswered(msg),
    }
}
