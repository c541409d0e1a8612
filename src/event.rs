//! One Zenoss event as the hook sees it: the fields the daemon used, with their text kept
//! as raw bytes so that it reaches the ticket script exactly as Zenoss had it.
//!
//! Fields arrive three ways (command line, `--event-json`, a fetched `detail`), in
//! Zenoss's notification shapes or its JSON API shapes; this module maps them all onto
//! the daemon's values.

use serde_json::{Map, Value};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Linux refuses one argument of this many bytes or more (MAX_ARG_STRLEN).
pub const MAX_ARG: usize = 128 * 1024;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub evid: String,
    pub count: Option<i64>,
    pub event_state: Option<i64>,
    pub severity: Option<i64>,
    pub prod_state: Option<i64>,
    pub device: Option<Vec<u8>>,
    pub ip_address: Option<Vec<u8>>,
    pub component: Option<Vec<u8>>,
    pub summary: Option<Vec<u8>>,
    pub message: Option<Vec<u8>>,
    pub event_class: Option<Vec<u8>>,
    pub device_class: Option<Vec<u8>>,
    pub device_groups: Option<Vec<u8>>,
    pub device_priority: Option<Vec<u8>>,
    /// As given; `-first`/`-last` get it in the notification's form.
    pub first_time: Option<String>,
    pub last_time: Option<String>,
}

pub fn state_name(n: i64) -> &'static str {
    match n {
        0 => "New",
        1 => "Acknowledged",
        2 => "Suppressed",
        3 => "Closed",
        4 => "Cleared",
        5 => "Dropped",
        6 => "Aged",
        _ => "unknown",
    }
}

fn state_number(name: &str) -> Option<i64> {
    (0..=6).find(|&n| state_name(n).eq_ignore_ascii_case(name))
}

fn prod_state_number(name: &str) -> Option<i64> {
    Some(match name.to_ascii_lowercase().as_str() {
        "production" => 1000,
        "pre-production" => 500,
        "test" => 400,
        "maintenance" => 300,
        "decommissioned" => -1,
        _ => return None,
    })
}

fn priority_number(name: &str) -> Option<i64> {
    Some(match name.to_ascii_lowercase().as_str() {
        "highest" => 5,
        "high" => 4,
        "normal" => 3,
        "low" => 2,
        "lowest" => 1,
        "trivial" => 0,
        _ => return None,
    })
}

fn severity_number(name: &str) -> Option<i64> {
    Some(match name.to_ascii_lowercase().as_str() {
        "clear" => 0,
        "debug" => 1,
        "info" => 2,
        "warning" => 3,
        "error" => 4,
        "critical" => 5,
        _ => return None,
    })
}

/// An evid is any non-empty text of at most 255 bytes without control characters.
pub fn check_evid(evid: &str) -> Result<(), String> {
    if evid.is_empty() {
        return Err("--evid is empty".into());
    }
    if evid.len() > 255 {
        return Err(format!("--evid is {} bytes long (at most 255)", evid.len()));
    }
    if evid.chars().any(char::is_control) {
        return Err(format!("--evid {evid:?} contains a control character"));
    }
    Ok(())
}

/// An integer option: a number, or `None` (what Zenoss renders for a missing value).
pub fn parse_int(name: &str, text: &str) -> Result<Option<i64>, String> {
    let t = text.trim();
    if t == "None" || t.is_empty() {
        return Ok(None);
    }
    t.parse::<i64>()
        .map(Some)
        .map_err(|_| format!("{name} {text:?} is not a whole number (or None)"))
}

impl Event {
    /// The numbers' ranges, whatever the source (options, `--event-json`, a fetched or a
    /// stored event), in the command line's words: a count of 1e19 stored as i64::MAX
    /// would leave its evid `unchanged` for good.
    pub fn check_numbers(&self) -> Result<(), String> {
        if self.count.is_some_and(|c| c < 0) {
            return Err("--count must be 0 or more".into());
        }
        if self.event_state.is_some_and(|s| !(0..=6).contains(&s)) {
            return Err("--event-state must be 0..6 (0 New, 1 Acknowledged, 2 Suppressed, 3 Closed, 4 Cleared, 5 Dropped, 6 Aged)".into());
        }
        if self.severity.is_some_and(|s| !(0..=5).contains(&s)) {
            return Err("--severity must be 0..5 (0 Clear .. 5 Critical)".into());
        }
        Ok(())
    }

    /// firstTime and lastTime are real times. Given on the command line or in
    /// `--event-json`, a bad one is a usage error; from Zenoss or the state DB it is logged
    /// and passed on as given (`bad_times`).
    pub fn check_times(&self) -> Result<(), String> {
        match self.bad_times().into_iter().next() {
            Some((name, m)) => Err(format!("{name}: {m}")),
            None => Ok(()),
        }
    }

    /// (option, why) of each time that is not a real time.
    pub fn bad_times(&self) -> Vec<(&'static str, String)> {
        [
            ("--first-time", &self.first_time),
            ("--last-time", &self.last_time),
        ]
        .into_iter()
        .filter_map(|(name, t)| {
            let t = t.as_deref()?;
            crate::time::parse(t).err().map(|m| (name, m))
        })
        .collect()
    }

    /// Whether the call carried any text field: without one the event is fetched.
    pub fn has_text(&self) -> bool {
        [
            &self.device,
            &self.ip_address,
            &self.component,
            &self.summary,
            &self.message,
            &self.event_class,
            &self.device_class,
            &self.device_groups,
        ]
        .iter()
        .any(|f| f.is_some())
            || self.first_time.is_some()
            || self.last_time.is_some()
    }

    /// Fills every field this event lacks from `other` (the given fields win).
    pub fn fill_from(&mut self, other: Event) {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = other.$f; } )* };
        }
        fill!(
            count,
            event_state,
            severity,
            prod_state,
            device,
            ip_address,
            component,
            summary,
            message,
            event_class,
            device_class,
            device_groups,
            device_priority,
            first_time,
            last_time
        );
        if self.evid.is_empty() {
            self.evid = other.evid;
        }
    }

    /// Reads one JSON object keyed by Zenoss attribute names, in the notification's shapes
    /// or the JSON API's (`query` rows and `detail` events).
    pub fn from_json(obj: &Map<String, Value>) -> Result<Event, String> {
        let mut e = Event::default();
        for (key, v) in obj {
            if v.is_null() || key == RAW {
                continue;
            }
            let bad = || format!("{key}: unexpected value {v}");
            match key.as_str() {
                "evid" => e.evid = as_text(v).ok_or_else(bad)?,
                "count" => e.count = json_int(key, v, |_| None)?,
                "eventState" => e.event_state = json_int(key, v, state_number)?,
                "severity" => e.severity = json_int(key, v, severity_number)?,
                "prodState" => e.prod_state = json_int(key, v, prod_state_number)?,
                "DevicePriority" => {
                    e.device_priority = json_int(key, v, priority_number)
                        .map(|n| n.map(|n| n.to_string().into_bytes()))
                        .or_else(|_| as_text(v).map(|s| Some(s.into_bytes())).ok_or_else(bad))?
                }
                "device" | "component" | "eventClass" => {
                    let text = match v {
                        // Query rows: {"text": title, "uid": path, ...}.
                        Value::Object(o) => o
                            .get("text")
                            .and_then(as_text)
                            .or_else(|| o.get("uid").and_then(as_text)),
                        other => as_text(other),
                    }
                    .map(String::into_bytes);
                    match key.as_str() {
                        "device" => e.device = text,
                        "component" => e.component = text,
                        _ => e.event_class = text,
                    }
                }
                "ipAddress" => {
                    e.ip_address = match v {
                        Value::Array(a) => Some(
                            a.iter()
                                .filter_map(as_text)
                                .collect::<Vec<_>>()
                                .join(",")
                                .into_bytes(),
                        ),
                        other => Some(as_text(other).ok_or_else(bad)?.into_bytes()),
                    }
                }
                "summary" => e.summary = Some(as_text(v).ok_or_else(bad)?.into_bytes()),
                "message" => e.message = Some(as_text(v).ok_or_else(bad)?.into_bytes()),
                "DeviceClass" => {
                    e.device_class = Some(
                        match v {
                            Value::Array(a) => {
                                organizer_names(a).first().cloned().unwrap_or_default()
                            }
                            other => as_text(other).ok_or_else(bad)?,
                        }
                        .into_bytes(),
                    )
                }
                "DeviceGroups" => {
                    e.device_groups = Some(
                        match v {
                            // The daemon's `|/A|/B`, rebuilt from [{uid, name}, ...].
                            Value::Array(a) => organizer_names(a)
                                .iter()
                                .map(|n| format!("|{n}"))
                                .collect::<String>(),
                            other => as_text(other).ok_or_else(bad)?,
                        }
                        .into_bytes(),
                    )
                }
                "firstTime" | "lastTime" => {
                    // Checked by `check_times`: strictly for what a user gave, leniently
                    // for what Zenoss sent.
                    let text = match v {
                        Value::Number(n) => n.to_string(),
                        other => as_text(other).ok_or_else(bad)?,
                    };
                    if key == "firstTime" {
                        e.first_time = Some(text);
                    } else {
                        e.last_time = Some(text);
                    }
                }
                _ => {}
            }
        }
        if let Some(Value::Object(raw)) = obj.get(RAW) {
            for (key, v) in raw {
                let bytes = v
                    .as_str()
                    .and_then(base64_decode)
                    .ok_or_else(|| format!("{RAW}.{key}: not base64"))?;
                let slot = match key.as_str() {
                    "device" => &mut e.device,
                    "ipAddress" => &mut e.ip_address,
                    "component" => &mut e.component,
                    "summary" => &mut e.summary,
                    "message" => &mut e.message,
                    "eventClass" => &mut e.event_class,
                    "DeviceClass" => &mut e.device_class,
                    "DeviceGroups" => &mut e.device_groups,
                    "DevicePriority" => &mut e.device_priority,
                    other => return Err(format!("{RAW}.{other}: not a text field")),
                };
                *slot = Some(bytes);
            }
        }
        Ok(e)
    }

    /// lastTime as epoch seconds, for autoclear.
    pub fn last_epoch(&self) -> Option<f64> {
        self.last_time
            .as_deref()
            .and_then(|t| crate::time::parse(t).ok())
    }

    /// The stored form of the event, for `sweep` to retry a ticket with exactly the
    /// fields the hook had: tagged length-prefixed bytes, since text need not be UTF-8.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1u8];
        let mut put = |tag: u8, v: &[u8]| {
            out.push(tag);
            out.extend((v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        };
        put(0, self.evid.as_bytes());
        let ints = [
            (1, self.count),
            (2, self.event_state),
            (3, self.severity),
            (4, self.prod_state),
        ];
        for (tag, v) in ints {
            if let Some(n) = v {
                put(tag, n.to_string().as_bytes());
            }
        }
        let texts = [
            (10, &self.device),
            (11, &self.ip_address),
            (12, &self.component),
            (13, &self.summary),
            (14, &self.message),
            (15, &self.event_class),
            (16, &self.device_class),
            (17, &self.device_groups),
            (18, &self.device_priority),
        ];
        for (tag, v) in texts {
            if let Some(v) = v {
                put(tag, v);
            }
        }
        if let Some(t) = &self.first_time {
            put(20, t.as_bytes());
        }
        if let Some(t) = &self.last_time {
            put(21, t.as_bytes());
        }
        out
    }

    pub fn decode(data: &[u8]) -> Result<Event, String> {
        let bad = || "stored event is damaged".to_string();
        if data.first() != Some(&1) {
            return Err(bad());
        }
        let mut e = Event::default();
        let mut i = 1;
        while i < data.len() {
            let tag = data[i];
            let len_bytes: [u8; 4] = data
                .get(i + 1..i + 5)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(bad)?;
            let len = u32::from_le_bytes(len_bytes) as usize;
            let v = data.get(i + 5..i + 5 + len).ok_or_else(bad)?.to_vec();
            i += 5 + len;
            let text = || String::from_utf8(v.clone()).map_err(|_| bad());
            let int =
                || -> Result<Option<i64>, String> { text()?.parse().map(Some).map_err(|_| bad()) };
            match tag {
                0 => e.evid = text()?,
                1 => e.count = int()?,
                2 => e.event_state = int()?,
                3 => e.severity = int()?,
                4 => e.prod_state = int()?,
                10 => e.device = Some(v),
                11 => e.ip_address = Some(v),
                12 => e.component = Some(v),
                13 => e.summary = Some(v),
                14 => e.message = Some(v),
                15 => e.event_class = Some(v),
                16 => e.device_class = Some(v),
                17 => e.device_groups = Some(v),
                18 => e.device_priority = Some(v),
                20 => e.first_time = Some(text()?),
                21 => e.last_time = Some(text()?),
                _ => {}
            }
        }
        Ok(e)
    }
}

/// The event's fields on the command line, each named after the Zenoss attribute it
/// carries. Text stays raw bytes; numbers and times are checked by
/// `to_event`.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    next_help_heading = "Event fields (one event per call, as the notification renders them)"
)]
pub struct Fields {
    /// evid (required)
    #[arg(long)]
    pub evid: Option<String>,
    /// count (integer, or None)
    #[arg(long, allow_hyphen_values = true)]
    pub count: Option<String>,
    /// eventState, 0..6 (0 New, 1 Acknowledged, ...)
    #[arg(long, allow_hyphen_values = true)]
    pub event_state: Option<String>,
    /// severity, 0..5
    #[arg(long, allow_hyphen_values = true)]
    pub severity: Option<String>,
    /// prodState (1000 Production, ...)
    #[arg(long, allow_hyphen_values = true)]
    pub prod_state: Option<String>,
    /// device: the device's id
    #[arg(long, allow_hyphen_values = true)]
    pub device: Option<OsString>,
    /// ipAddress: the device's management IP
    #[arg(long, allow_hyphen_values = true)]
    pub ip_address: Option<OsString>,
    /// component
    #[arg(long, allow_hyphen_values = true)]
    pub component: Option<OsString>,
    /// summary: the event's one-line text (raw bytes, passed as given)
    #[arg(long, allow_hyphen_values = true)]
    pub summary: Option<OsString>,
    /// message: the event's full text (raw bytes, passed as given)
    #[arg(long, allow_hyphen_values = true)]
    pub message: Option<OsString>,
    /// eventClass: /Status/Ping, ... (the filters and the tool's own events read it)
    #[arg(long, allow_hyphen_values = true)]
    pub event_class: Option<OsString>,
    /// DeviceClass: /Network/Router, ...
    #[arg(long, allow_hyphen_values = true)]
    pub device_class: Option<OsString>,
    /// DeviceGroups, pipe separated: |/Network|/Server
    #[arg(long, allow_hyphen_values = true)]
    pub device_groups: Option<OsString>,
    /// DevicePriority: the script's -impact, as given (3, or Normal)
    #[arg(long, allow_hyphen_values = true)]
    pub device_priority: Option<OsString>,
    /// firstTime: 2009/11/18 16:45:33.000, ISO 8601, or epoch seconds/milliseconds
    #[arg(long, allow_hyphen_values = true)]
    pub first_time: Option<String>,
    /// lastTime: as --first-time (autoclear reads it)
    #[arg(long, allow_hyphen_values = true)]
    pub last_time: Option<String>,
    /// This call is a notification's clear command
    #[arg(long)]
    pub clear: bool,
    /// Read the fields from one JSON object keyed by Zenoss attribute names (- = stdin)
    #[arg(long, value_name = "PATH")]
    pub event_json: Option<PathBuf>,
    /// Fetch the event from Zenoss (`detail`) even when text fields are given; they win
    #[arg(long)]
    pub fetch: bool,
}

fn bytes(v: &Option<OsString>) -> Option<Vec<u8>> {
    v.clone().map(OsStringExt::into_vec)
}

impl Fields {
    /// The event the options describe, `--event-json` filling what they leave out; an
    /// error is a usage error, in the words of the option at fault.
    pub fn to_event(&self) -> Result<Event, String> {
        let int = |name: &str, v: &Option<String>| match v {
            None => Ok(None),
            Some(s) => parse_int(name, s),
        };
        let time = |name: &str, v: &Option<String>| -> Result<Option<String>, String> {
            match v {
                None => Ok(None),
                Some(s) if s.trim() == "None" || s.trim().is_empty() => Ok(None),
                Some(s) => {
                    crate::time::parse(s).map_err(|m| format!("{name}: {m}"))?;
                    Ok(Some(s.clone()))
                }
            }
        };
        let count = int("--count", &self.count)?;
        let event_state = int("--event-state", &self.event_state)?;
        let severity = int("--severity", &self.severity)?;
        let mut ev = Event {
            evid: self.evid.clone().unwrap_or_default(),
            count,
            event_state,
            severity,
            prod_state: int("--prod-state", &self.prod_state)?,
            device: bytes(&self.device),
            ip_address: bytes(&self.ip_address),
            component: bytes(&self.component),
            summary: bytes(&self.summary),
            message: bytes(&self.message),
            event_class: bytes(&self.event_class),
            device_class: bytes(&self.device_class),
            device_groups: bytes(&self.device_groups),
            device_priority: bytes(&self.device_priority),
            first_time: time("--first-time", &self.first_time)?,
            last_time: time("--last-time", &self.last_time)?,
        };
        if let Some(p) = &self.event_json {
            ev.fill_from(read_json(p)?);
        }
        if ev.evid.is_empty() {
            return Err("--evid is required".into());
        }
        check_evid(&ev.evid)?;
        ev.check_numbers()?;
        ev.check_times()?;
        Ok(ev)
    }
}

/// The most `--event-json` reads: an event is a few KiB (a 1 MiB message is the most
/// Zenoss gives); more is a mistake, and must not cost the hook its memory.
pub const MAX_EVENT_JSON: u64 = 16 << 20;

/// The key under which the zenticket action (the pack's `actions.py`) passes, base64, the
/// bytes of text fields that are not valid UTF-8 and so cannot stand in a JSON string:
/// event text is data, byte for byte, whatever its encoding.
pub const RAW: &str = "zenticket_raw";

/// The Zenoss attribute names the hook reads, and all a console `query` asks for: `RAW`
/// is the pack's own key, which no Zenoss row carries. Any other key of `--event-json`
/// (these and `RAW` are kept) is skipped as it is parsed, never kept (a million keys cost
/// no memory).
pub const KEYS: &[&str] = &[
    "evid",
    "count",
    "eventState",
    "severity",
    "prodState",
    "DevicePriority",
    "device",
    "component",
    "eventClass",
    "ipAddress",
    "summary",
    "message",
    "DeviceClass",
    "DeviceGroups",
    "firstTime",
    "lastTime",
];

/// A JSON object of which only the keys in `KEYS` are kept.
struct Known(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for Known {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Known, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Known;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("one JSON object keyed by Zenoss attribute names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Known, A::Error> {
                let mut out = Map::new();
                while let Some(k) = m.next_key::<String>()? {
                    if k == RAW || KEYS.contains(&k.as_str()) {
                        out.insert(k, m.next_value::<Value>()?);
                    } else {
                        m.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Known(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Reads `--event-json PATH` (`-` = stdin): one JSON object keyed by Zenoss attribute
/// names, at most MAX_EVENT_JSON bytes.
pub fn read_json(path: &Path) -> Result<Event, String> {
    use std::io::Read;
    let name = path.display();
    let mut data = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_EVENT_JSON + 1)
            .read_to_end(&mut data)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_EVENT_JSON + 1).read_to_end(&mut data))
    };
    read.map_err(|e| format!("--event-json {name}: cannot read: {e}"))?;
    if data.len() as u64 > MAX_EVENT_JSON {
        return Err(format!(
            "--event-json {name}: larger than {} MiB; one event is a few KiB",
            MAX_EVENT_JSON >> 20
        ));
    }
    let Known(obj) = serde_json::from_slice(&data).map_err(|e| {
        format!("--event-json {name}: not one JSON object keyed by Zenoss attribute names: {e}")
    })?;
    Event::from_json(&obj).map_err(|m| format!("--event-json {name}: {m}"))
}

/// Standard base64 (RFC 4648, with padding) to bytes; None if it is not that.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (n, chunk) in b.chunks(4).enumerate() {
        let last = n == b.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut v = 0u32;
        for &c in &chunk[..4 - pad] {
            v = v << 6 | val(c)?;
        }
        v <<= 6 * pad as u32;
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_int(
    key: &str,
    v: &Value,
    by_name: impl Fn(&str) -> Option<i64>,
) -> Result<Option<i64>, String> {
    match v {
        // A float only when whole and within i64: `f as i64` would saturate 1e19 to
        // i64::MAX, a count no later occurrence could ever rise above.
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| format!("{key}: {n} is not a whole number in range")),
        Value::String(s) => match by_name(s) {
            Some(n) => Ok(Some(n)),
            None => parse_int(key, s),
        },
        _ => Err(format!("{key}: unexpected value {v}")),
    }
}

fn organizer_names(a: &[Value]) -> Vec<String> {
    a.iter()
        .filter_map(|o| match o {
            Value::Object(m) => m.get("name").and_then(as_text),
            other => as_text(other),
        })
        .collect()
}

/// Cuts a value that Linux would refuse as one argument to 131,071 bytes, at a character
/// boundary. Returns whether it was cut.
pub fn cut_to_arg_limit(v: &mut Vec<u8>) -> bool {
    if v.len() < MAX_ARG {
        return false;
    }
    let mut end = MAX_ARG - 1;
    // Step back over UTF-8 continuation bytes so no character is split.
    let mut back = 0;
    while back < 3 && end > 0 && (v[end] & 0xC0) == 0x80 {
        end -= 1;
        back += 1;
    }
    if (v[end] & 0xC0) == 0x80 {
        end = MAX_ARG - 1; // not UTF-8 here: bytes are bytes
    }
    v.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_reads_rfc4648_and_refuses_the_rest() {
        let table: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("Zg==", Some(b"f")),
            ("Zm8=", Some(b"fo")),
            ("Zm9v", Some(b"foo")),
            ("Y2Fm6SD/", Some(b"caf\xe9 \xff")),
            ("Zm9", None),
            ("Zg==Zg==", None),
            ("Z===", None),
            ("Zm9v!", None),
        ];
        for &(text, want) in table {
            assert_eq!(base64_decode(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn the_actions_raw_bytes_replace_the_lossy_text() {
        let obj: Map<String, Value> = serde_json::from_str(
            r#"{"evid": "e", "count": 1, "summary": "caf\ufffd",
                "zenticket_raw": {"summary": "Y2Fm6SD/"}}"#,
        )
        .unwrap();
        let e = Event::from_json(&obj).unwrap();
        assert_eq!(e.summary.as_deref(), Some(&b"caf\xe9 \xff"[..]));
        let bad: Map<String, Value> =
            serde_json::from_str(r#"{"evid": "e", "zenticket_raw": {"evid": "ZQ=="}}"#).unwrap();
        assert_eq!(
            Event::from_json(&bad).unwrap_err(),
            "zenticket_raw.evid: not a text field"
        );
    }
    use serde_json::json;

    #[test]
    fn api_shapes_map_to_daemon_values() {
        let v = json!({"evid":"e1","count":3,"eventState":"Acknowledged","severity":4,
            "prodState":"Production","DevicePriority":"Normal",
            "device":{"text":"router1","uid":"/zport/dmd/Devices/x/devices/router1"},
            "ipAddress":["10.0.0.1"],"eventClass":{"text":"/Net/Link","uid":"/zport/dmd/Events/Net/Link"},
            "DeviceClass":[{"uid":"/zport/dmd/Devices/Network/Router","name":"/Network/Router"}],
            "DeviceGroups":[{"uid":"/zport/dmd/Groups/Network","name":"/Network"},{"uid":"u","name":"/Lab"}],
            "component":null,"lastTime":1700000600.456,"firstTime":"2023-11-14 22:13:20"});
        let e = Event::from_json(v.as_object().unwrap()).unwrap();
        assert_eq!(e.event_state, Some(1));
        assert_eq!(e.prod_state, Some(1000));
        assert_eq!(e.device_priority.as_deref(), Some(&b"3"[..]));
        assert_eq!(e.device.as_deref(), Some(&b"router1"[..]));
        assert_eq!(e.ip_address.as_deref(), Some(&b"10.0.0.1"[..]));
        assert_eq!(e.device_class.as_deref(), Some(&b"/Network/Router"[..]));
        assert_eq!(e.device_groups.as_deref(), Some(&b"|/Network|/Lab"[..]));
        assert_eq!(e.component, None);
        assert_eq!(e.last_epoch(), Some(1700000600.456));
    }

    #[test]
    fn encode_round_trips_raw_bytes() {
        let e = Event {
            evid: "x".into(),
            count: Some(7),
            summary: Some(vec![0xff, b'$', b'(', 0x00, b'\n']),
            last_time: Some("1700000000".into()),
            ..Default::default()
        };
        assert_eq!(Event::decode(&e.encode()).unwrap(), e);
        assert!(Event::decode(&[1, 13, 9, 0, 0, 0]).is_err());
    }

    #[test]
    fn cut_keeps_characters_whole() {
        let mut v = vec![b'a'; MAX_ARG - 2];
        v.extend("é€".as_bytes());
        assert!(cut_to_arg_limit(&mut v));
        assert!(v.len() < MAX_ARG);
        assert!(std::str::from_utf8(&v).is_ok());
        let mut short = vec![b'a'; MAX_ARG - 1];
        assert!(!cut_to_arg_limit(&mut short));
    }

    #[test]
    fn evid_rules() {
        assert!(check_evid("0242ac11-0008-8a4b-11ee-5f1e2d7c9a10").is_ok());
        assert!(check_evid("").is_err());
        assert!(check_evid("a\nb").is_err());
        assert!(check_evid(&"a".repeat(256)).is_err());
        assert_eq!(parse_int("--count", "None"), Ok(None));
        assert!(parse_int("--count", "3x").is_err());
    }
}
