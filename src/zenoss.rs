//! The Zenoss JSON API (Ext.Direct `EventsRouter` at `/zport/dmd/evconsole_router`):
//! acknowledge, close (move to history), detail (fetch one event), query (open events).
//!
//! The rules that matter, from Zenoss's own source (`Products/Zuul/routers/zep.py`,
//! `Products/ZenUtils/extdirect/router.py`):
//! - success is `result.success == true` and nothing else: exceptions come back as HTTP
//!   200 with `success: false`, protocol errors as HTTP 500 HTML, a bad login as a 302 to
//!   the login form (so redirects are never followed), and `result` may be null;
//! - `acknowledge`/`close` with an empty or missing evid list act on EVERY event, so the
//!   only way to name evids here is `Evids`, which cannot be empty and holds at most 500;
//! - no `timeout` argument is ever sent (Zenoss 4.2 rejects it).

use crate::config::{Auth, ZenossConfig};
use serde_json::{json, Map, Value};
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Zenoss's Lucene clause limit is 1024 per query; stay well below it.
pub const MAX_BATCH: usize = 500;

/// A non-empty list of at most MAX_BATCH evids: the only thing `acknowledge` and `close`
/// accept, so that an empty list (= every event in Zenoss) cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evids(Vec<String>);

impl Evids {
    pub fn one(evid: &str) -> Evids {
        Evids(vec![evid.to_string()])
    }

    /// Splits any list into batches; an empty list gives no batch at all.
    pub fn batches(evids: &[String]) -> Vec<Evids> {
        evids
            .chunks(MAX_BATCH)
            .filter(|c| !c.is_empty())
            .map(|c| Evids(c.to_vec()))
            .collect()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// What setting an event's details came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    Set,
    /// This Zenoss has no `updateDetails` (4.2.0 to 4.2.4): its words.
    Unsupported(String),
}

/// Why a call failed, each kind told apart so the log says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZenossError {
    Connect(String),
    Timeout(String),
    Tls(String),
    Status(u16, String),
    /// 3xx to the login form: wrong user/password or API key.
    Login,
    NotJson(String),
    /// An exception inside the router method (`type: exception`).
    Exception(String),
    /// `success: false` without an exception.
    Failed(String),
    NullResult,
    /// `detail` of an evid Zenoss does not know.
    NotFound(String),
    Config(String),
}

impl fmt::Display for ZenossError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZenossError::Connect(m) => write!(f, "cannot connect to Zenoss: {m}"),
            ZenossError::Timeout(m) => write!(f, "Zenoss did not answer in time: {m}"),
            ZenossError::Tls(m) => write!(f, "TLS error talking to Zenoss: {m} (see [ZENOSS] verifytls and cafile)"),
            ZenossError::Status(code, m) => write!(f, "Zenoss answered HTTP {code}: {m}"),
            ZenossError::Login => write!(f, "Zenoss refused the login (it redirected to its login form): check [ZENOSS] user and password, or apikey"),
            ZenossError::NotJson(m) => write!(f, "Zenoss answered something that is not JSON: {m}"),
            ZenossError::Exception(m) => write!(f, "Zenoss raised an exception: {m}"),
            ZenossError::Failed(m) => write!(f, "Zenoss answered success: false: {m}"),
            ZenossError::NullResult => write!(f, "Zenoss answered with a null result (its event server may be down)"),
            ZenossError::NotFound(evid) => write!(f, "Zenoss does not know evid {evid}"),
            ZenossError::Config(m) => write!(f, "[ZENOSS]: {m}"),
        }
    }
}

pub struct Client {
    agent: ureq::Agent,
    endpoint: String,
    auth: Auth,
    tid: AtomicU64,
}

/// An event about the tool itself (`add_event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnEvent {
    pub summary: String,
    pub device: String,
    pub component: String,
    /// `Critical`, `Error`, `Warning`, `Info`, `Debug` or `Clear`.
    pub severity: String,
    pub evclasskey: String,
    pub evclass: String,
}

/// One page of open events, as `query` gives them.
pub struct Page {
    pub events: Vec<Map<String, Value>>,
    /// `totalCount`, when the reply has one.
    pub total: Option<u64>,
}

impl Client {
    pub fn new(cfg: &ZenossConfig) -> Result<Client, ZenossError> {
        let mut builder = ureq::AgentBuilder::new()
            .timeout(cfg.timeout)
            .redirects(0)
            .user_agent(concat!("zenticket-hook/", env!("CARGO_PKG_VERSION")));
        if cfg.url.starts_with("https://") {
            builder = builder.tls_config(Arc::new(tls_config(cfg)?));
        }
        Ok(Client {
            agent: builder.build(),
            endpoint: format!("{}/zport/dmd/evconsole_router", cfg.url),
            auth: cfg.auth.clone(),
            tid: AtomicU64::new(1),
        })
    }

    /// One router call; returns `result` when `result.success` is true.
    fn call(&self, method: &str, data: Value) -> Result<Map<String, Value>, ZenossError> {
        let tid = self.tid.fetch_add(1, Ordering::Relaxed);
        let body = json!({"action": "EventsRouter", "method": method, "data": [data], "type": "rpc", "tid": tid});
        let mut req = self
            .agent
            .post(&self.endpoint)
            .set("Content-Type", "application/json");
        match &self.auth {
            Auth::Basic { user, password } => {
                req = req.set(
                    "Authorization",
                    &format!(
                        "Basic {}",
                        base64(format!("{user}:{}", password.0).as_bytes())
                    ),
                )
            }
            Auth::ApiKey(key) => req = req.set("z-api-key", &key.0),
            Auth::None => {}
        }
        let resp = match req.send_string(&body.to_string()) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let text = snippet(r);
                return Err(if code == 401 || code == 403 {
                    ZenossError::Login
                } else {
                    ZenossError::Status(code, text)
                });
            }
            Err(ureq::Error::Transport(t)) => return Err(transport(t)),
        };
        let status = resp.status();
        if (300..400).contains(&status) {
            let to = resp.header("Location").unwrap_or("").to_string();
            return Err(if to.contains("login_form") || to.contains("login") {
                ZenossError::Login
            } else {
                ZenossError::Status(status, format!("redirect to {to}"))
            });
        }
        let mut raw = Vec::new();
        resp.into_reader()
            .take(64 << 20)
            .read_to_end(&mut raw)
            .map_err(|e| {
                // A Zenoss that answers too slowly mid-reply is a timeout, not a refusal.
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) {
                    ZenossError::Timeout(format!("reading the reply: {e}"))
                } else {
                    ZenossError::Connect(format!("reading the reply: {e}"))
                }
            })?;
        decode_reply(&raw)
    }

    pub fn acknowledge(&self, evids: &Evids) -> Result<u64, ZenossError> {
        self.change("acknowledge", evids)
    }

    pub fn close(&self, evids: &Evids) -> Result<u64, ZenossError> {
        self.change("close", evids)
    }

    fn change(&self, method: &str, evids: &Evids) -> Result<u64, ZenossError> {
        let result = self.call(method, json!({"evids": evids.as_slice()}))?;
        Ok(result
            .get("data")
            .and_then(|d| d.get("updated"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// The event's fields (`detail` shape), or NotFound.
    pub fn detail(&self, evid: &str) -> Result<Map<String, Value>, ZenossError> {
        let result = self
            .call("detail", json!({"evid": evid}))
            .map_err(|e| match e {
                ZenossError::Exception(m)
                    if m.contains("Not Found") || m.contains("Could not find") =>
                {
                    ZenossError::NotFound(evid.to_string())
                }
                other => other,
            })?;
        match result.get("event") {
            Some(Value::Array(a)) => match a.first() {
                Some(Value::Object(o)) => Ok(o.clone()),
                _ => Err(ZenossError::NotFound(evid.to_string())),
            },
            Some(Value::Object(o)) => Ok(o.clone()),
            _ => Err(ZenossError::Failed("detail reply has no event".into())),
        }
    }

    /// Adds a note to an event's log (`write_log`; Zenoss passes it through clean_html).
    pub fn write_log(&self, evid: &str, message: &str) -> Result<(), ZenossError> {
        self.call("write_log", json!({"evid": evid, "message": message}))
            .map(|_| ())
    }

    /// Sets details on an event (`updateDetails`, 5.0 on): each value one string. Zenoss
    /// 4.2.5 stores them and then answers a TypeError (its bug, fixed in 5.0): taken as
    /// set. A Zenoss without the method (4.2.0 to 4.2.4) says so: `Unsupported`.
    pub fn update_details(
        &self,
        evid: &str,
        details: &Map<String, Value>,
    ) -> Result<Details, ZenossError> {
        let mut data = details.clone();
        data.insert("evid".into(), Value::String(evid.into()));
        match self.call("updateDetails", Value::Object(data)) {
            Ok(_) => Ok(Details::Set),
            Err(ZenossError::Exception(m) | ZenossError::Status(500, m))
                if m.contains("updateDetails") && m.contains("not the name of a method") =>
            {
                Ok(Details::Unsupported(m))
            }
            Err(ZenossError::Exception(m)) if m.contains("TypeError") => Ok(Details::Set),
            Err(ZenossError::Failed(m)) if m.trim() == "Not Found" => {
                Err(ZenossError::NotFound(evid.into()))
            }
            Err(e) => Err(e),
        }
    }

    /// Raises (or, with severity `Clear`, clears) an event in Zenoss: all six arguments,
    /// since 4.2 requires `evclass`; severity by name. Zenoss deduplicates on device,
    /// component, event class, severity and summary, so a summary that stays the same per
    /// condition counts repeats instead of adding events.
    pub fn add_event(&self, e: &OwnEvent) -> Result<(), ZenossError> {
        self.call(
            "add_event",
            json!({"summary": e.summary, "device": e.device, "component": e.component,
                   "severity": e.severity, "evclasskey": e.evclasskey, "evclass": e.evclass}),
        )
        .map(|_| ())
    }

    /// One page of open events (New, Acknowledged, Suppressed), by evid, with `keys`.
    pub fn query_open(&self, start: u64, limit: u64, keys: &[&str]) -> Result<Page, ZenossError> {
        self.query(
            json!({"limit": limit.clamp(1, 1000), "start": start, "sort": "evid", "dir": "asc",
                   "params": {"eventState": [0, 1, 2]}, "keys": keys}),
        )
    }

    /// One page of events, newest lastTime first: open ones, or with `archive` the
    /// history (closed, cleared and aged events once zeneventd archived them).
    pub fn query_recent(
        &self,
        start: u64,
        limit: u64,
        keys: &[&str],
        archive: bool,
    ) -> Result<Page, ZenossError> {
        let mut data = json!({"limit": limit.clamp(1, 1000), "start": start, "sort": "lastTime",
                              "dir": "desc", "keys": keys});
        if archive {
            data["archive"] = json!(true);
        } else {
            data["params"] = json!({"eventState": [0, 1, 2]});
        }
        self.query(data)
    }

    fn query(&self, data: Value) -> Result<Page, ZenossError> {
        let mut result = self.call("query", data)?;
        let events = match result.remove("events") {
            Some(Value::Array(a)) => a
                .into_iter()
                .filter_map(|e| match e {
                    Value::Object(o) => Some(o),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let total = result.get("totalCount").and_then(Value::as_u64);
        Ok(Page { events, total })
    }
}

/// Reads an Ext.Direct reply: `result.success == true` or an error that says why.
pub fn decode_reply(raw: &[u8]) -> Result<Map<String, Value>, ZenossError> {
    let text = String::from_utf8_lossy(raw);
    let value: Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(_) => {
            return Err(
                if text.contains("login_form") || text.contains("Zenoss Login") {
                    ZenossError::Login
                } else {
                    ZenossError::NotJson(clip(&text))
                },
            )
        }
    };
    // A batch of one is answered with a bare object; a list is still possible.
    let value = match value {
        Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
        v => v,
    };
    let Value::Object(mut top) = value else {
        return Err(ZenossError::NotJson(clip(&text)));
    };
    if top.get("type").and_then(Value::as_str) == Some("exception") {
        let msg = top
            .get("message")
            .or_else(|| top.get("msg"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(ZenossError::Exception(unescape(msg)));
    }
    match top.remove("result") {
        None | Some(Value::Null) => Err(ZenossError::NullResult),
        Some(Value::Object(result)) => {
            if result.get("success") == Some(&Value::Bool(true)) {
                return Ok(result);
            }
            let msg = unescape(result.get("msg").and_then(Value::as_str).unwrap_or(""));
            if result.get("type").and_then(Value::as_str) == Some("exception") {
                Err(ZenossError::Exception(msg))
            } else {
                Err(ZenossError::Failed(if msg.is_empty() {
                    clip(&text)
                } else {
                    msg
                }))
            }
        }
        Some(other) => Err(ZenossError::Failed(format!(
            "unexpected result {}",
            clip(&other.to_string())
        ))),
    }
}

/// Zenoss 5+ `cgi.escape`s exception messages.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn clip(s: &str) -> String {
    crate::log::clip(s.trim(), 200)
}

fn snippet(r: ureq::Response) -> String {
    let mut raw = Vec::new();
    let _ = r.into_reader().take(4096).read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    // An HTML error page: its <title> says most; a method the router does not have
    // (extdirect/router.py raises DirectException, which Zope turns into its error page)
    // is named too.
    if let (Some(a), Some(b)) = (text.find("<title>"), text.find("</title>")) {
        if a + 7 <= b {
            let title = text[a + 7..b].trim().to_string();
            return match no_such_method(&text) {
                Some(m) => format!("{title}: {m}"),
                None => title,
            };
        }
    }
    clip(&text)
}

/// `'X' is not the name of a method on EventsRouter`, from an error page's text.
fn no_such_method(text: &str) -> Option<String> {
    let text = text.replace("&#39;", "'").replace("&#x27;", "'");
    let at = text.find(" is not the name of a method on ")?;
    let start = text[..at].rfind(['>', '\n']).map_or(0, |i| i + 1);
    let end = text[at..].find(['<', '\n']).map_or(text.len(), |i| at + i);
    Some(text[start..end].trim().to_string())
}

/// Tells a timeout and a TLS failure from a refused or broken connection by the error's
/// kind and its sources (an `io::Error` of kind TimedOut/WouldBlock, a `rustls::Error`),
/// never by its wording.
fn transport(t: ureq::Transport) -> ZenossError {
    use std::error::Error;
    let msg = t.to_string();
    // ureq names the failed step in `message()`, a fixed string of its own: a handshake
    // that fails before rustls has an error to give is "tls connection init failed".
    let tls_step = t.message().is_some_and(|m| m.starts_with("tls"));
    if t.kind() == ureq::ErrorKind::ConnectionFailed && tls_step {
        return ZenossError::Tls(msg);
    }
    let mut source: Option<&(dyn Error + 'static)> = t.source();
    while let Some(e) = source {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return ZenossError::Tls(msg);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return ZenossError::Timeout(msg);
            }
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return ZenossError::Tls(msg);
            }
        }
        source = e.source();
    }
    ZenossError::Connect(msg)
}

fn tls_config(cfg: &ZenossConfig) -> Result<rustls::ClientConfig, ZenossError> {
    tls(cfg.verifytls, cfg.cafile.as_deref()).map_err(ZenossError::Config)
}

/// The TLS settings every HTTP client of the tool uses: the web's roots plus `cafile`, or
/// with `verifytls: false` any certificate.
pub(crate) fn tls(
    verifytls: bool,
    cafile: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    if !verifytls {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = cafile {
        for cert in ca_certs(ca)? {
            roots
                .add(cert)
                .map_err(|e| format!("cafile {}: {e}", ca.display()))?;
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The certificates of a `cafile`: a file that is missing, unreadable, or holds no PEM
/// certificate (empty, DER, a key) is an error naming it, so that `check-config` says so
/// rather than every request failing its handshake.
pub(crate) fn ca_certs(
    ca: &std::path::Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let bad = |e: &dyn std::fmt::Display| format!("cafile {}: {e}", ca.display());
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(ca)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(
            &"holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

/// `verifytls: false`: accepts any certificate (still checks handshake signatures).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Standard base64, for the Basic auth header (one small function beats a crate).
pub(crate) fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_never_empty_and_at_most_500() {
        assert!(Evids::batches(&[]).is_empty());
        let many: Vec<String> = (0..1201).map(|i| format!("e{i}")).collect();
        let b = Evids::batches(&many);
        assert_eq!(
            b.iter().map(|e| e.as_slice().len()).collect::<Vec<_>>(),
            vec![500, 500, 201]
        );
    }

    #[test]
    fn reply_kinds_are_told_apart() {
        let ok = br#"{"tid":1,"type":"rpc","action":"EventsRouter","method":"close","result":{"success":true,"data":{"total":1,"updated":1}}}"#;
        assert!(decode_reply(ok).is_ok());
        let exc = br#"{"tid":1,"type":"rpc","result":{"success":false,"type":"exception","msg":"ServiceResponseError: Not Found &lt;x&gt;"}}"#;
        assert_eq!(
            decode_reply(exc),
            Err(ZenossError::Exception(
                "ServiceResponseError: Not Found <x>".into()
            ))
        );
        let fail = br#"{"tid":1,"type":"rpc","result":{"success":false,"msg":"Connection refused","sticky":true}}"#;
        assert_eq!(
            decode_reply(fail),
            Err(ZenossError::Failed("Connection refused".into()))
        );
        assert_eq!(
            decode_reply(br#"{"tid":1,"type":"rpc","result":null}"#),
            Err(ZenossError::NullResult)
        );
        assert!(matches!(
            decode_reply(b"<html>oops</html>"),
            Err(ZenossError::NotJson(_))
        ));
        assert_eq!(
            decode_reply(b"<html><title>Zenoss Login</title></html>"),
            Err(ZenossError::Login)
        );
        let list = br#"[{"tid":1,"type":"rpc","result":{"success":true}}]"#;
        assert!(decode_reply(list).is_ok());
        assert!(decode_reply(br#"{"result":{"success":"true"}}"#).is_err());
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"admin:zenoss"), "YWRtaW46emVub3Nz");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("result".to_string()),
                        Just("success".to_string()),
                        Just("type".to_string()),
                        Just("msg".to_string()),
                        "[a-z]{1,6}"
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_decode_to_ok_or_a_named_error(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_reply(&data);
        }

        #[test]
        fn any_json_decodes_and_only_success_true_is_ok(v in json_value()) {
            let text = v.to_string();
            let ok = decode_reply(text.as_bytes()).is_ok();
            let success = match &v {
                Value::Array(a) => a.first().and_then(|x| x.get("result")).and_then(|r| r.get("success")) == Some(&Value::Bool(true))
                    && a.first().and_then(|x| x.get("type")) != Some(&json!("exception")),
                other => other.get("result").and_then(|r| r.get("success")) == Some(&Value::Bool(true))
                    && other.get("type") != Some(&json!("exception")),
            };
            prop_assert_eq!(ok, success, "{}", text);
        }
    }
}
