//! A ticket's id as the ticket system gave it. Ids are text (ServiceNow's `INC0010001`,
//! Jira's `OPS-123`), and a ticket script's number is text too, of any length: a number
//! too long for 64 bits is still a ticket that exists, and refusing it would make it twice.

use serde_json::Value;

/// The ticket number a script printed: its stdout, trimmed of ASCII white space, a `+`
/// allowed, is a positive integer of any length (leading zeros dropped, as the daemon's
/// `int()` did).
pub fn from_script(stdout: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(stdout).ok()?;
    let s = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.trim_start_matches('0');
    (!n.is_empty()).then(|| n.to_string())
}

/// A ticket id in `--json`: a script's number stays a JSON number whatever its length;
/// every ticket system's id is a string, digits or not (SPEC section 8).
pub fn json(id: &str, by_script: bool) -> Value {
    if by_script && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = id.parse::<serde_json::Number>() {
            return Value::Number(n);
        }
    }
    Value::String(id.to_string())
}

/// Whether an id can stand in a journal line and a log line as it is: no tab, line end or
/// NUL, which would tear the line.
pub fn is_plain(id: &str) -> bool {
    !id.is_empty() && !id.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r' | 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_script_prints_is_a_ticket_or_not() {
        let table: &[(&[u8], Option<&str>)] = &[
            (b" 4711\n", Some("4711")),
            (b"+12", Some("12")),
            (b"007", Some("7")),
            (b"99999999999999999999", Some("99999999999999999999")),
            (
                b"123456789012345678901234567890123456789012345678901234567890\n",
                Some("123456789012345678901234567890123456789012345678901234567890"),
            ),
            (b"0", None),
            (b"000", None),
            (b"-3", None),
            (b"+", None),
            (b"", None),
            (b"ticket 5", None),
            (b"5\n6", None),
            (b"1e3", None),
            (b"12.0", None),
            (b"\xff12", None),
        ];
        for (out, want) in table {
            assert_eq!(
                from_script(out).as_deref(),
                *want,
                "{:?}",
                String::from_utf8_lossy(out)
            );
        }
    }

    #[test]
    fn a_scripts_number_is_a_json_number_whatever_its_length() {
        assert_eq!(json("4711", true).to_string(), "4711");
        assert_eq!(
            json("99999999999999999999", true).to_string(),
            "99999999999999999999"
        );
        assert_eq!(json("INC0010001", true).to_string(), "\"INC0010001\"");
        assert_eq!(json("4711", false).to_string(), "\"4711\"");
        assert_eq!(json("", true).to_string(), "\"\"");
    }

    #[test]
    fn plain_ids() {
        assert!(is_plain("INC0010001"));
        assert!(!is_plain("a\tb"));
        assert!(!is_plain("a\nb"));
        assert!(!is_plain(""));
    }
}
