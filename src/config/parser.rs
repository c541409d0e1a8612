//! Reads a zenticket.conf exactly as Python 2.7's `ConfigParser.ConfigParser` did.
//!
//! The daemon read its config with that class, so every existing zenticket.conf means
//! whatever that class made of it. rust-ini cannot reproduce it (it has no continuation
//! lines, no `rem` comments, no `%(name)s` interpolation, its own inline-comment rule and
//! UTF-8 only), so the reader lives here. Quirks reproduced on purpose, each one checked
//! against Python 2.7.18 by `tests/config_py2.rs`:
//!
//! - The file is bytes, split on `\n` only; a `\r` stays in the line until a strip.
//! - White space is ASCII space, tab, CR, LF, VT and FF (Python 2 `str.isspace`); keys are
//!   lowercased in ASCII only, section names keep their case.
//! - Skipped: blank lines, lines whose first byte is `#` or `;`, and lines whose first word
//!   is `rem` (any case) when the line starts with `r`/`R`.
//! - A line that starts with white space continues the previous key's value, even after
//!   blank or comment lines, and even when it looks like a comment, key or section; right
//!   after a section header (no key yet) it is a parse error.
//! - A section header is `[` + anything but `]` + `]`; what follows the `]` is ignored. A
//!   repeated section merges into the first; `[DEFAULT]` feeds every section.
//! - `key: value` / `key = value`: the key ends at the first `:` or `=`. A repeated key's
//!   last value wins. Only the value's first `;` is looked at: it starts a comment when the
//!   byte before it is white space, and when `;` is the value's first byte Python looked at
//!   the value's *last* byte instead (index -1). A value of exactly `""` becomes empty.
//! - Lines that are none of the above are collected and reported together (ParsingError);
//!   a key before any section is reported at once (MissingSectionHeaderError).
//! - Interpolation (`get`): while the value contains `%(`, at most 10 rounds: lowercase
//!   the names of `%(NAME)s`, then apply Python's `%` operator with the section (then
//!   `[DEFAULT]`, then `__name__`) as the mapping. So `%%` becomes `%` only in a value that
//!   also has `%(`, a lone `%` elsewhere is kept, and `%%(x)s` is expanded in the next round.

use std::fmt;

/// One `[section]` (or the defaults), keys in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct RawSection {
    pub name: Vec<u8>,
    /// (lowercased key, value lines, line number of the key)
    entries: Vec<(Vec<u8>, Vec<Vec<u8>>, usize)>,
    pub line: usize,
}

impl RawSection {
    pub fn named(name: &[u8]) -> RawSection {
        RawSection {
            name: name.to_vec(),
            ..Default::default()
        }
    }

    fn set(&mut self, key: Vec<u8>, value: Vec<u8>, line: usize) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == key) {
            e.1 = vec![value];
            e.2 = line;
        } else {
            self.entries.push((key, vec![value], line));
        }
    }

    fn get_raw(&self, key: &[u8]) -> Option<(Vec<u8>, usize)> {
        self.entries
            .iter()
            .find(|e| e.0 == key)
            .map(|e| (e.1.join(&b'\n'), e.2))
    }

    /// Keys defined in this section itself (not inherited), without `__name__`.
    pub fn own_keys(&self) -> impl Iterator<Item = (&[u8], usize)> {
        self.entries
            .iter()
            .filter(|e| e.0 != b"__name__")
            .map(|e| (e.0.as_slice(), e.2))
    }
}

/// A parsed file: what ConfigParser held after `read()`.
#[derive(Debug, Clone, Default)]
pub struct RawIni {
    pub defaults: RawSection,
    pub sections: Vec<RawSection>,
    /// Continuation lines that look like something else, for `check-config` to warn about.
    pub suspicious: Vec<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// An option line before any section header.
    MissingSectionHeader { line: usize, text: String },
    /// Lines that are neither comment, section, option nor continuation.
    Parsing { lines: Vec<(usize, String)> },
}

/// A line as an error may show it: a line whose first word names a secret (`password
/// S3cret`, with its colon forgotten) shows only that word. The error can end up as a
/// Zenoss event (`/Cmd/Failed`) that every operator sees.
fn shown(text: &str) -> String {
    let first = text
        .trim_start()
        .split(|c: char| c.is_ascii_whitespace() || c == ':' || c == '=')
        .next()
        .unwrap_or("");
    let lower = first.to_ascii_lowercase();
    let secret = ["password", "passwd", "apikey", "api_key", "secret", "token"]
        .iter()
        .any(|w| lower.contains(w));
    if secret && first.len() < text.trim().len() {
        format!("{first} ... (value hidden: it may be a secret)")
    } else {
        text.to_string()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MissingSectionHeader { line, text } => {
                let text = shown(text);
                write!(f, "line {line}: {text:?} comes before any [section] header")
            }
            ParseError::Parsing { lines } => {
                write!(f, "cannot parse ")?;
                for (i, (n, t)) in lines.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "line {n}: {:?}", shown(t))?;
                }
                write!(f, " (expected `key: value`, `key = value` or `[section]`)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpError {
    Missing(String),
    Depth,
    Format(String),
    /// The value grows past MAX_VALUE: `%(a)s%(a)s...` nested ten deep is exponential
    /// (found by fuzzing; Python 2 would exhaust memory the same way).
    TooLong,
}

/// No real value comes near this; an expansion that does is an error, not an OOM.
pub const MAX_VALUE: usize = 1 << 20;

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::Missing(name) => write!(
                f,
                "%({name})s refers to a key that is neither in this section nor in [DEFAULT]"
            ),
            InterpError::Depth => write!(
                f,
                "interpolation is nested more than 10 deep (a key refers to itself?)"
            ),
            InterpError::Format(m) => write!(f, "Python 2 cannot format this value: {m}"),
            InterpError::TooLong => write!(
                f,
                "interpolation expands this value past {} bytes (keys that refer to each other many times over?)",
                MAX_VALUE
            ),
        }
    }
}

pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

pub fn strip(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |p| p + 1);
    &s[start..end.max(start)]
}

fn rstrip(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| !is_space(b)).map_or(0, |p| p + 1);
    &s[..end]
}

fn show(line: &[u8]) -> String {
    String::from_utf8_lossy(rstrip(line)).into_owned()
}

impl RawIni {
    pub fn parse(data: &[u8]) -> Result<RawIni, ParseError> {
        let mut ini = RawIni {
            defaults: RawSection {
                name: b"DEFAULT".to_vec(),
                ..Default::default()
            },
            ..Default::default()
        };
        // Which section we are in: None before any header, Some(None) for DEFAULT.
        let mut cur: Option<Option<usize>> = None;
        let mut optname: Option<Vec<u8>> = None;
        let mut bad = Vec::new();
        // Section name -> place: a repeated header merges into the first (Python 2 did),
        // found without a scan, so an MSP's thousands of sections parse in linear time.
        let mut index: std::collections::HashMap<Vec<u8>, usize> = Default::default();

        for (idx, line) in lines(data).enumerate() {
            let lineno = idx + 1;
            if strip(line).is_empty() || line[0] == b'#' || line[0] == b';' {
                continue;
            }
            let first_word = line.split(|&b| is_space(b)).find(|w| !w.is_empty());
            if matches!(line[0], b'r' | b'R')
                && first_word.is_some_and(|w| w.eq_ignore_ascii_case(b"rem"))
            {
                continue;
            }
            if is_space(line[0]) && cur.is_some() && optname.is_some() {
                let value = strip(line);
                if !value.is_empty() {
                    let key = optname.clone().unwrap_or_default();
                    if looks_like_something_else(value) {
                        ini.suspicious.push((lineno, show(line)));
                    }
                    let sect = ini.section_mut(cur.flatten());
                    if let Some(e) = sect.entries.iter_mut().find(|e| e.0 == key) {
                        e.1.push(value.to_vec());
                    }
                }
                continue;
            }
            if let Some(name) = section_header(line) {
                if let Some(&i) = index.get(name) {
                    cur = Some(Some(i));
                } else if name == b"DEFAULT" {
                    cur = Some(None);
                } else {
                    let mut s = RawSection {
                        name: name.to_vec(),
                        line: lineno,
                        ..Default::default()
                    };
                    s.entries
                        .push((b"__name__".to_vec(), vec![name.to_vec()], lineno));
                    index.insert(name.to_vec(), ini.sections.len());
                    ini.sections.push(s);
                    cur = Some(Some(ini.sections.len() - 1));
                }
                optname = None;
                continue;
            }
            let Some(sect_idx) = cur else {
                return Err(ParseError::MissingSectionHeader {
                    line: lineno,
                    text: show(line),
                });
            };
            match option_line(line) {
                Some((key, value)) => {
                    ini.section_mut(sect_idx).set(key.clone(), value, lineno);
                    optname = Some(key);
                }
                None => bad.push((lineno, show(line))),
            }
        }
        if !bad.is_empty() {
            return Err(ParseError::Parsing { lines: bad });
        }
        Ok(ini)
    }

    /// As much of a broken file as can be read: a UTF-8 byte order mark is skipped and the
    /// lines Python 2 refused are left out. For finding `statedb` and `logfile` when the
    /// config does not load, so that an event is still recorded where `sweep` looks.
    pub fn parse_salvaging(data: &[u8]) -> Option<RawIni> {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        for _ in 0..8 {
            let joined = lines.join(&b'\n');
            let bad: Vec<usize> = match RawIni::parse(&joined) {
                Ok(ini) => return Some(ini),
                Err(ParseError::MissingSectionHeader { line, .. }) => vec![line],
                Err(ParseError::Parsing { lines }) => lines.iter().map(|(n, _)| *n).collect(),
            };
            for n in bad {
                if let Some(l) = lines.get_mut(n.wrapping_sub(1)) {
                    *l = b"";
                }
            }
        }
        None
    }

    fn section_mut(&mut self, idx: Option<usize>) -> &mut RawSection {
        match idx {
            Some(i) => &mut self.sections[i],
            None => &mut self.defaults,
        }
    }

    pub fn section(&self, name: &[u8]) -> Option<&RawSection> {
        if name == b"DEFAULT" {
            return Some(&self.defaults);
        }
        self.sections.iter().find(|s| s.name == name)
    }

    /// Every key a section sees: its own and those of `[DEFAULT]`, own first.
    pub fn keys(&self, section: &RawSection) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = section.own_keys().map(|(k, _)| k.to_vec()).collect();
        for (k, _) in self.defaults.own_keys() {
            if !keys.iter().any(|x| x == k) {
                keys.push(k.to_vec());
            }
        }
        keys
    }

    /// The raw value and its line, looked up as ConfigParser did: section, then defaults.
    pub fn raw(&self, section: &RawSection, key: &[u8]) -> Option<(Vec<u8>, usize)> {
        section.get_raw(key).or_else(|| self.defaults.get_raw(key))
    }

    /// `ConfigParser.get(section, key)`: the interpolated value, `None` if the key is absent.
    pub fn get(
        &self,
        section: &RawSection,
        key: &[u8],
    ) -> Option<(Result<Vec<u8>, InterpError>, usize)> {
        let key = key.to_ascii_lowercase();
        let (raw, line) = self.raw(section, &key)?;
        Some((self.interpolate(section, raw), line))
    }

    fn interpolate(&self, section: &RawSection, raw: Vec<u8>) -> Result<Vec<u8>, InterpError> {
        let mut value = raw;
        for _ in 0..10 {
            if !contains(&value, b"%(") {
                return Ok(value);
            }
            let lowered = lowercase_names(&value);
            value = py_format(&lowered, |name| self.raw(section, name).map(|(v, _)| v))?;
        }
        if contains(&value, b"%(") {
            Err(InterpError::Depth)
        } else {
            Ok(value)
        }
    }
}

fn looks_like_something_else(value: &[u8]) -> bool {
    matches!(value.first(), Some(b'#' | b';' | b'['))
        || option_line(value).is_some_and(|(k, _)| {
            k.iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        })
}

/// Lines as Python 2's `readline` gives them: split after each `\n`, the `\n` kept.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&b| b == b'\n')
}

/// `\[(?P<header>[^]]+)\]` matched at the start of the line.
fn section_header(line: &[u8]) -> Option<&[u8]> {
    if line.first() != Some(&b'[') {
        return None;
    }
    let end = line[1..].iter().position(|&b| b == b']')?;
    if end == 0 {
        return None;
    }
    Some(&line[1..1 + end])
}

/// `(?P<option>[^:=\s][^:=]*)\s*(?P<vi>[:=])\s*(?P<value>.*)$` plus the value clean-up
/// `_read` applies: inline `;` comment, strip, `""` to empty.
fn option_line(line: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let first = *line.first()?;
    if first == b':' || first == b'=' || is_space(first) {
        return None;
    }
    let sep = line.iter().position(|&b| b == b':' || b == b'=')?;
    let key = rstrip(&line[..sep]).to_ascii_lowercase();
    let rest = &line[sep + 1..];
    let start = rest
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(rest.len());
    let mut value = &rest[start..];
    // `.*$`: `.` stops at a newline; the line has at most one, at its end.
    if let Some(nl) = value.iter().position(|&b| b == b'\n') {
        value = &value[..nl];
    }
    if let Some(pos) = value.iter().position(|&b| b == b';') {
        let before = if pos == 0 {
            value.last()
        } else {
            value.get(pos - 1)
        };
        if before.is_some_and(|&b| is_space(b)) {
            value = &value[..pos];
        }
    }
    let value = strip(value);
    let value = if value == b"\"\"" { &b""[..] } else { value };
    Some((key, value.to_vec()))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `_KEYCRE.sub`: lowercase NAME in every `%(NAME)s`, left to right.
fn lowercase_names(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' && value.get(i + 1) == Some(&b'(') {
            if let Some(close) = value[i + 2..].iter().position(|&b| b == b')') {
                let name_end = i + 2 + close;
                if value.get(name_end + 1) == Some(&b's') {
                    out.extend_from_slice(b"%(");
                    out.extend(value[i + 2..name_end].to_ascii_lowercase());
                    out.extend_from_slice(b")s");
                    i = name_end + 2;
                    continue;
                }
            }
        }
        out.push(value[i]);
        i += 1;
    }
    out
}

/// Python 2's `str % mapping`, for the conversions a config value can meet.
fn py_format(
    fmt: &[u8],
    lookup: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, InterpError> {
    let mut out = Vec::with_capacity(fmt.len());
    let mut i = 0;
    let bad = |m: &str| Err(InterpError::Format(m.to_string()));
    while i < fmt.len() {
        if out.len() > MAX_VALUE {
            return Err(InterpError::TooLong);
        }
        if fmt[i] != b'%' {
            out.push(fmt[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut arg: Option<Vec<u8>> = None;
        if fmt.get(i) == Some(&b'(') {
            // The key runs to the matching parenthesis; nested ones are counted.
            let mut depth = 1;
            let start = i + 1;
            let mut j = start;
            while j < fmt.len() && depth > 0 {
                match fmt[j] {
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            if depth > 0 {
                return bad("incomplete format key");
            }
            let name = &fmt[start..j - 1];
            match lookup(name) {
                Some(v) => arg = Some(v),
                None => {
                    return Err(InterpError::Missing(
                        String::from_utf8_lossy(name).into_owned(),
                    ))
                }
            }
            i = j;
        }
        let mut left = false;
        while let Some(&c) = fmt.get(i) {
            match c {
                b'-' => left = true,
                b'+' | b' ' | b'#' | b'0' => {}
                _ => break,
            }
            i += 1;
        }
        let mut width = 0usize;
        if fmt.get(i) == Some(&b'*') {
            return bad("`*` width needs a tuple, not a mapping");
        }
        while let Some(d) = fmt.get(i).filter(|c| c.is_ascii_digit()) {
            width = width.saturating_mul(10).saturating_add((d - b'0') as usize);
            i += 1;
        }
        let mut precision: Option<usize> = None;
        if fmt.get(i) == Some(&b'.') {
            i += 1;
            if fmt.get(i) == Some(&b'*') {
                return bad("`*` precision needs a tuple, not a mapping");
            }
            let mut p = 0usize;
            while let Some(d) = fmt.get(i).filter(|c| c.is_ascii_digit()) {
                p = p.saturating_mul(10).saturating_add((d - b'0') as usize);
                i += 1;
            }
            precision = Some(p);
        }
        while matches!(fmt.get(i), Some(b'h' | b'l' | b'L')) {
            i += 1;
        }
        let Some(&conv) = fmt.get(i) else {
            return bad("incomplete format (a `%` at the end of the value)");
        };
        i += 1;
        let text = match conv {
            b'%' => {
                out.push(b'%');
                continue;
            }
            b's' | b'r' => {
                let Some(v) = arg.take() else {
                    return bad("a `%s` without a (name) would print the whole config's repr");
                };
                if conv == b'r' {
                    py_repr(&v)
                } else {
                    v
                }
            }
            b'd' | b'i' | b'u' | b'o' | b'x' | b'X' | b'e' | b'E' | b'f' | b'F' | b'g' | b'G'
            | b'c' => {
                return bad(&format!(
                    "`%{}` needs a number, and config values are text",
                    conv as char
                ))
            }
            other => {
                return bad(&format!(
                    "unsupported format character {:?} (0x{other:02x})",
                    other as char
                ))
            }
        };
        let text = match precision {
            Some(p) if p < text.len() => &text[..p],
            _ => &text[..],
        };
        // A width like `%(a)99999999999s` (found by fuzzing) is an error, not a panic.
        if width > MAX_VALUE {
            return Err(InterpError::TooLong);
        }
        let pad = width.saturating_sub(text.len());
        if !left {
            out.extend(std::iter::repeat_n(b' ', pad));
        }
        out.extend_from_slice(text);
        if left {
            out.extend(std::iter::repeat_n(b' ', pad));
        }
    }
    Ok(out)
}

/// Python 2 `repr()` of a byte string.
fn py_repr(v: &[u8]) -> Vec<u8> {
    let quote = if v.contains(&b'\'') && !v.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = vec![quote];
    for &b in v {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ if b == quote => {
                out.push(b'\\');
                out.push(b);
            }
            0x20..=0x7e => out.push(b),
            _ => out.extend(format!("\\x{b:02x}").into_bytes()),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str, sect: &str, key: &str) -> Option<Result<String, InterpError>> {
        let ini = RawIni::parse(text.as_bytes()).expect("parses");
        let s = ini.section(sect.as_bytes()).expect("section");
        ini.get(s, key.as_bytes())
            .map(|(r, _)| r.map(|v| String::from_utf8(v).expect("utf8")))
    }

    #[test]
    fn separators_and_case() {
        let t = "[S]\nKey: a\nother = b=c\nthird:x:y\n";
        assert_eq!(get(t, "S", "key"), Some(Ok("a".into())));
        assert_eq!(get(t, "S", "OTHER"), Some(Ok("b=c".into())));
        assert_eq!(get(t, "S", "third"), Some(Ok("x:y".into())));
    }

    #[test]
    fn inline_semicolon_rules() {
        let t = "[S]\na: Front;Line ; primary\nb: ;x \nc: ;x\nd: \"\"\ne: x ;y\n";
        // Only the first `;` is looked at: here it follows a letter, so all is kept.
        assert_eq!(get(t, "S", "a"), Some(Ok("Front;Line ; primary".into())));
        assert_eq!(get(t, "S", "e"), Some(Ok("x".into())));
        // `;` first: Python looked at the value's last byte, a space here.
        assert_eq!(get(t, "S", "b"), Some(Ok("".into())));
        assert_eq!(get(t, "S", "c"), Some(Ok(";x".into())));
        assert_eq!(get(t, "S", "d"), Some(Ok("".into())));
    }

    #[test]
    fn continuation_survives_blank_and_comment_lines() {
        let t = "[S]\na: one\n\n# c\n  two\n  # three\n";
        assert_eq!(get(t, "S", "a"), Some(Ok("one\ntwo\n# three".into())));
    }

    #[test]
    fn interpolation_and_percent_rules() {
        let t = "[DEFAULT]\nbase=/X\n[S]\nCustomer=Acme\ng: %(BASE)s/%(customer)s\nn: %(__name__)s\np: 50%\nq: %(customer)s 50%%\nr: %%(customer)s\n";
        assert_eq!(get(t, "S", "g"), Some(Ok("/X/Acme".into())));
        assert_eq!(get(t, "S", "n"), Some(Ok("S".into())));
        assert_eq!(get(t, "S", "p"), Some(Ok("50%".into())));
        assert_eq!(get(t, "S", "q"), Some(Ok("Acme 50%".into())));
        // `%%(x)s` becomes `%(x)s` in round one and is expanded in round two.
        assert_eq!(get(t, "S", "r"), Some(Ok("Acme".into())));
    }

    #[test]
    fn interpolation_errors() {
        let t = "[S]\na: %(nope)s\nb: %(b)s\nc: %(a)d\nd: %(x)s %\nx: 1\n";
        assert_eq!(
            get(t, "S", "a"),
            Some(Err(InterpError::Missing("nope".into())))
        );
        assert_eq!(get(t, "S", "b"), Some(Err(InterpError::Depth)));
        assert!(matches!(
            get(t, "S", "c"),
            Some(Err(InterpError::Format(_)))
        ));
        assert!(matches!(
            get(t, "S", "d"),
            Some(Err(InterpError::Format(_)))
        ));
    }

    #[test]
    fn exponential_interpolation_is_an_error_not_an_oom() {
        // Fuzzing found this shape: each round multiplies the value by eight.
        let t = format!("[S]\nb: {}\n", "%(b)s".repeat(8));
        assert_eq!(get(&t, "S", "b"), Some(Err(InterpError::TooLong)));
        let t = "[S]\na: x\nb: %(a)99999999999999999999999s\nc: %(a)2000000s\n";
        assert_eq!(get(t, "S", "b"), Some(Err(InterpError::TooLong)));
        assert_eq!(get(t, "S", "c"), Some(Err(InterpError::TooLong)));
        let t = format!("[S]\na: {}\nb: {}\n", "x".repeat(100), "%(a)s".repeat(50));
        assert_eq!(get(&t, "S", "b").unwrap().unwrap().len(), 5000);
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            RawIni::parse(b"a: 1\n[S]\n"),
            Err(ParseError::MissingSectionHeader { line: 1, .. })
        ));
        let e = RawIni::parse(b"[S]\n  indented\nnot an option\n").unwrap_err();
        assert_eq!(
            e,
            ParseError::Parsing {
                lines: vec![(2, "  indented".into()), (3, "not an option".into())]
            }
        );
    }

    #[test]
    fn sections_merge_and_ignore_trailing_text() {
        let t = "[A] trailing\nx: 1\n[B]\ny: 2\n[A]\nx: 3\nz: 4\n";
        let ini = RawIni::parse(t.as_bytes()).unwrap();
        let names: Vec<_> = ini.sections.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, vec![b"A".to_vec(), b"B".to_vec()]);
        assert_eq!(get(t, "A", "x"), Some(Ok("3".into())));
        assert_eq!(get(t, "A", "z"), Some(Ok("4".into())));
    }

    #[test]
    fn rem_lines_and_crlf() {
        let t = "[S]\r\nREM a comment\r\nremark: kept\r\na: v \r\n";
        assert_eq!(get(t, "S", "remark"), Some(Ok("kept".into())));
        assert_eq!(get(t, "S", "a"), Some(Ok("v".into())));
    }

    #[test]
    fn repr_and_width() {
        let t = "[S]\nv: it's\na: %(v)r|%(v)6s|%(v)-6s|%(v).2s\n";
        assert_eq!(
            get(t, "S", "a"),
            Some(Ok("\"it's\"|  it's|it's  |it".into()))
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// (section, [(key, value lines)])
    type Sections = Vec<(String, Vec<(String, Vec<String>)>)>;

    /// Writes sections back out as ConfigParser text: values of several lines become
    /// continuation lines.
    fn write(sections: &Sections) -> String {
        let mut out = String::new();
        for (name, keys) in sections {
            out.push_str(&format!("[{name}]\n"));
            for (key, lines) in keys {
                out.push_str(&format!("{key} = {}\n", lines[0]));
                for l in &lines[1..] {
                    out.push_str(&format!("\t{l}\n"));
                }
            }
            out.push('\n');
        }
        out
    }

    fn section_name() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9 _-]{0,10}[A-Za-z0-9]".prop_filter("not DEFAULT", |s| s != "DEFAULT")
    }

    fn value_line() -> impl Strategy<Value = String> {
        "[A-Za-z0-9/._|-]([A-Za-z0-9/._| -]{0,20}[A-Za-z0-9/._|-])?"
    }

    /// Inputs the coverage-guided fuzzer (scripts/fuzz.sh) found: each once ran out of
    /// memory or time; now each ends in an error.
    #[test]
    fn fuzz_regressions_end_in_errors() {
        for data in [
            &include_bytes!("../../tests/data/fuzz-regressions/config-oom-interpolation.conf")[..],
            &include_bytes!("../../tests/data/fuzz-regressions/config-slow-interpolation.conf")[..],
            &include_bytes!("../../tests/data/fuzz-regressions/config-huge-width.conf")[..],
        ] {
            let ini = RawIni::parse(data).expect("parses");
            let mut too_long = 0;
            for s in &ini.sections {
                for key in ini.keys(s) {
                    if let Some((Err(InterpError::TooLong), _)) = ini.get(s, &key) {
                        too_long += 1;
                    }
                }
            }
            assert!(too_long > 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_give_an_error_or_a_config(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(ini) = RawIni::parse(&data) {
                for s in &ini.sections {
                    for key in ini.keys(s) {
                        let _ = ini.get(s, &key);
                    }
                }
            }
        }

        #[test]
        fn config_like_text_never_panics(text in "([\\[\\]a-zA-Z0-9:=;#%() \t\r\n_-]|%\\(|\\)s){0,200}") {
            if let Ok(ini) = RawIni::parse(text.as_bytes()) {
                for s in &ini.sections {
                    for key in ini.keys(s) {
                        let _ = ini.get(s, &key);
                    }
                }
            }
        }

        #[test]
        fn a_written_config_parses_back_the_same(
            sections in proptest::collection::btree_map(
                section_name(),
                proptest::collection::btree_map(
                    "[a-z][a-z0-9_]{0,10}",
                    proptest::collection::vec(value_line(), 1..3),
                    1..5,
                ),
                1..4,
            )
        ) {
            let sections: Sections = sections
                .into_iter()
                .map(|(n, keys)| (n, keys.into_iter().collect()))
                .collect();
            let text = write(&sections);
            let ini = RawIni::parse(text.as_bytes()).expect("parses");
            prop_assert_eq!(ini.sections.len(), sections.len());
            for (name, keys) in &sections {
                let s = ini.section(name.as_bytes()).expect("section");
                for (key, lines) in keys {
                    let (v, _) = ini.get(s, key.as_bytes()).expect("key");
                    prop_assert_eq!(v.expect("no interpolation error"), lines.join("\n").into_bytes());
                }
            }
        }
    }
}
