//! The one HTTP client every ticket system uses: its system's `timeout`, `verifytls`,
//! `cafile` and `proxy` (else HTTPS_PROXY/NO_PROXY), no redirect followed, and an answer
//! told apart as sent-and-answered, or not answered: refused before anything was sent
//! (nothing can have been made) or lost after (the request may have landed).

use crate::config::system::{SystemAuth, SystemConfig};
use crate::state::Store;
use fs2::FileExt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Not sent: `maxconcurrent` requests to this system are in flight already.
    Busy(String),
}

/// Whether this process waits for a free slot under `maxconcurrent` (sweep: it drains
/// what hooks left) or gives up at once (a hook: it must not hold zenactiond's slot).
static WAIT_FOR_SLOT: AtomicBool = AtomicBool::new(false);

/// Called by sweep: wait for a slot under `maxconcurrent`.
pub fn wait_for_slots() {
    WAIT_FOR_SLOT.store(true, Ordering::SeqCst);
}

/// How long sweep waits for a slot before leaving the ticket owed.
const SLOT_WAIT: Duration = Duration::from_secs(30);

/// At most `n` requests to one system at once across every process: `n` lock files beside
/// a SQLite state DB (`<statedb>.<system>.slotN`), one held (flock) per request in flight;
/// with a MariaDB/MySQL state DB, `n` named locks there, shared by every host.
struct Cap {
    store: Store,
    system: &'static str,
    n: u32,
}

/// A slot held: released when dropped (or when the process dies).
enum Slot {
    File(#[allow(dead_code)] File),
    Db(#[allow(dead_code)] mysql::Conn),
}

impl Cap {
    fn try_take(&self) -> Result<Option<Slot>, Lost> {
        match &self.store {
            Store::Sqlite(statedb) => {
                for i in 0..self.n {
                    let mut p = statedb.as_os_str().to_owned();
                    p.push(format!(".{}.slot{i}", self.system));
                    let f = crate::state::lock_file(Path::new(&p), "")
                        .map_err(|e| Lost::NotSent(format!("maxconcurrent slot: {e}")))?;
                    if f.try_lock_exclusive().is_ok() {
                        return Ok(Some(Slot::File(f)));
                    }
                }
                Ok(None)
            }
            Store::Mysql { target, .. } => {
                crate::state::mysql::take_slot(target, self.system, self.n)
                    .map(|c| c.map(Slot::Db))
                    .map_err(|e| Lost::NotSent(format!("maxconcurrent slot: {e}")))
            }
        }
    }

    fn take(&self) -> Result<Slot, Lost> {
        let started = Instant::now();
        loop {
            if let Some(slot) = self.try_take()? {
                return Ok(slot);
            }
            if !WAIT_FOR_SLOT.load(Ordering::SeqCst) || started.elapsed() > SLOT_WAIT {
                return Err(Lost::Busy(format!(
                    "{} requests to {} are in flight already (maxconcurrent)",
                    self.n, self.system
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

pub struct Http {
    agent: ureq::Agent,
    auth: SystemAuth,
    name: &'static str,
    cap: Option<Cap>,
}

/// Answers are bounded: no ticket system's answer to one request is larger.
const MAX_REPLY: u64 = 8 << 20;

impl Http {
    /// The client for one system; `store`: the state DB, where the `maxconcurrent` slots
    /// live.
    pub fn new(cfg: &SystemConfig, store: &Store) -> Result<Http, String> {
        let timeout = cfg.timeout;
        let mut b = ureq::AgentBuilder::new()
            .timeout(cfg.timeout)
            .resolver(move |netloc: &str| resolve_within(netloc, timeout, system_lookup))
            .redirects(0)
            .user_agent(concat!("zenticket-hook/", env!("CARGO_PKG_VERSION")));
        let env = |k: &str| {
            std::env::var(k)
                .or_else(|_| std::env::var(k.to_ascii_lowercase()))
                .ok()
        };
        let proxy = cfg.proxy.clone().or_else(|| {
            let scheme_var = if cfg.url.starts_with("https://") {
                "HTTPS_PROXY"
            } else {
                "HTTP_PROXY"
            };
            let from_env = env(scheme_var).or_else(|| env("ALL_PROXY"))?;
            let no_proxy = env("NO_PROXY").unwrap_or_default();
            (!bypass(host_of(&cfg.url), &no_proxy)).then_some(from_env)
        });
        if let Some(p) = proxy.filter(|p| !p.is_empty()) {
            b = b.proxy(ureq::Proxy::new(&p).map_err(|e| format!("proxy {p:?}: {e}"))?);
        }
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
        let cap = (cfg.maxconcurrent > 0).then(|| Cap {
            store: store.clone(),
            system: cfg.kind.name(),
            n: cfg.maxconcurrent,
        });
        Ok(Http {
            agent: b.build(),
            auth: cfg.auth.clone(),
            name: cfg.kind.name(),
            cap,
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
        // A value a header cannot carry is refused here, naming the header only: the HTTP
        // client's own error would quote the whole header line, secret and all.
        let set = |req: ureq::Request, k: &str, v: &str| {
            if v.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(Lost::NotSent(format!(
                    "the {k} header for {} holds a line break or control character a header \
                     cannot carry (its value is not shown); fix it in the config",
                    self.name
                )));
            }
            Ok(req.set(k, v))
        };
        match &self.auth {
            SystemAuth::Basic { user, password } => {
                let v = crate::zenoss::base64(format!("{user}:{}", password.0).as_bytes());
                req = set(req, "Authorization", &format!("Basic {v}"))?;
            }
            SystemAuth::Bearer(t) => req = set(req, "Authorization", &format!("Bearer {}", t.0))?,
            SystemAuth::Headers(hs) => {
                for (k, v) in hs {
                    req = set(req, k, &v.0)?;
                }
            }
            SystemAuth::None => {}
        }
        for (k, v) in headers {
            req = set(req, k, v)?;
        }
        // Held until the answer is read: the cap counts requests in flight.
        let _slot = match &self.cap {
            Some(cap) => Some(cap.take()?),
            None => None,
        };
        let sent = match body {
            Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
            None => req.call(),
        };
        let resp = match sent {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => return Err(self.scrubbed(lost(&t))),
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

impl Http {
    /// The words of a lost request with every secret of this system taken out: no error of
    /// the HTTP client may carry one into the log, `state` or the state DB.
    fn scrubbed(&self, l: Lost) -> Lost {
        let scrub = |m: String| {
            let mut m = m;
            for secret in self.auth.secrets() {
                if !secret.is_empty() {
                    m = m.replace(secret.as_str(), "<secret>");
                }
            }
            m
        };
        match l {
            Lost::NotSent(m) => Lost::NotSent(scrub(m)),
            Lost::Unanswered(m) => Lost::Unanswered(scrub(m)),
            Lost::Busy(m) => Lost::Busy(scrub(m)),
        }
    }
}

/// The host's addresses, by the system's resolver.
fn system_lookup(netloc: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs;
    netloc.to_socket_addrs().map(Iterator::collect)
}

/// Resolves `netloc` within `timeout`: a resolver that never answers must not hold a hook
/// past its system's `timeout` (getaddrinfo has no timeout of its own). The lookup runs in
/// a thread of its own, left behind if it hangs (the hook exits soon after).
fn resolve_within(
    netloc: &str,
    timeout: Duration,
    lookup: fn(&str) -> std::io::Result<Vec<std::net::SocketAddr>>,
) -> std::io::Result<Vec<std::net::SocketAddr>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = netloc.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(lookup(&name));
    });
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("resolving {netloc}: no answer within {timeout:?}"),
        ))
    })
}

/// The host of a URL (no port, no brackets).
fn host_of(url: &str) -> &str {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    }
}

/// Whether `host` goes direct: listed in NO_PROXY (`*`, a name, or a domain suffix, with or
/// without its leading dot), or this machine itself, which no proxy can reach for it.
pub fn bypass(host: &str, no_proxy: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if host == "localhost" || host == "::1" || host.starts_with("127.") {
        return true;
    }
    no_proxy
        .split(',')
        .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|e| e == "*" || host == e || host.ends_with(&format!(".{e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_resolution_that_never_answers_ends_at_the_timeout() {
        fn hangs(_: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
            std::thread::sleep(Duration::from_secs(30));
            Ok(Vec::new())
        }
        fn answers(_: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
            Ok(vec!["127.0.0.1:80".parse().expect("addr")])
        }
        let started = Instant::now();
        let e = resolve_within("slow.example:443", Duration::from_millis(200), hangs)
            .expect_err("timed out");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(
            resolve_within("h:80", Duration::from_secs(5), answers).expect("resolved"),
            vec!["127.0.0.1:80"
                .parse::<std::net::SocketAddr>()
                .expect("addr")]
        );
    }

    #[test]
    fn which_hosts_go_direct() {
        let table: &[(&str, &str, bool)] = &[
            ("https://acme.service-now.com/api", "", false),
            ("https://acme.service-now.com/api", "service-now.com", true),
            ("https://acme.service-now.com/api", ".service-now.com", true),
            (
                "https://acme.service-now.com",
                "other.com, acme.service-now.com",
                true,
            ),
            ("https://notservice-now.com", "service-now.com", false),
            ("https://x.example.com:8443/p", "*", true),
            ("http://127.0.0.1:4000/hooks", "", true),
            ("http://localhost:8080", "", true),
            ("http://[::1]:8080/", "", true),
            ("https://ACME.Service-Now.com", "service-now.COM", true),
        ];
        for &(url, no_proxy, want) in table {
            assert_eq!(bypass(host_of(url), no_proxy), want, "{url} {no_proxy:?}");
        }
    }
}
