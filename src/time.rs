//! Zenoss's many ways of writing a time, and the one the ticket script has always seen.
//!
//! Notifications render `2009/11/18 16:45:33.000` in zenactiond's local time, the 4.2 API
//! sends `2009-11-18 16:45:33` (server-local), 5.0+ sends float epoch seconds, ZEP stores
//! epoch milliseconds, and people type ISO 8601. The daemon passed the first form to the
//! script, so that is what `-first`/`-last` carry whatever came in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How long ago `t` was, never negative: a time stamped while the clock was ahead (or by
/// another host's clock) is "just now", not "in -3588 s".
pub fn age(t: f64, now: f64) -> f64 {
    (now - t).max(0.0)
}

/// Whether `t` lies more than `limit` seconds from `now`, either way. A time that far
/// ahead was stamped by a clock that has since stepped back (or is another host's, ahead):
/// waiting for it to come due by itself could take as long as the clock was wrong, so it
/// counts as past the limit now.
pub fn beyond(t: f64, now: f64, limit: f64) -> bool {
    now - t > limit || t - now > limit
}

/// Epoch seconds above this are taken as milliseconds (1e11 s is in the year 5138).
const MS_THRESHOLD: f64 = 1e11;
/// 9999-12-31 23:59:59 UTC: no time Zenoss writes is later, and no later one formats.
const MAX_EPOCH: f64 = 253_402_300_799.0;

/// Parses every time form Zenoss and people use (notification, 4.2 API, ISO 8601, epoch
/// seconds or milliseconds) into epoch seconds.
pub fn parse(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty time".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().filter(|&b| b == b'.').count() <= 1
    {
        let n: f64 = t.parse().map_err(|_| format!("{t:?} is not a time"))?;
        let secs = if n > MS_THRESHOLD { n / 1000.0 } else { n };
        if !secs.is_finite() || secs > MAX_EPOCH {
            return Err(format!(
                "{t:?} is not a time (as epoch seconds or milliseconds it is after the year 9999)"
            ));
        }
        return Ok(secs);
    }
    parse_calendar(t).ok_or_else(|| {
        format!(
            "{t:?} is not a time (expected `2009/11/18 16:45:33.000`, ISO 8601, or epoch seconds or milliseconds)"
        )
    })
}

fn parse_calendar(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if b.len() < 19 {
        return None;
    }
    let sep = b[4];
    if !(sep == b'/' || sep == b'-') || b[7] != sep || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (h, mi, s) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut frac = 0.0;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        frac = format!("0.{}", std::str::from_utf8(&rest[1..1 + n]).ok()?)
            .parse()
            .ok()?;
        rest = &rest[1 + n..];
    }
    let offset: Option<i64> = match rest {
        [] => None,
        [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), hh1, hh2, tail @ ..] => {
            let hh = num(&[*hh1, *hh2])?;
            let mm = match tail {
                [] => 0,
                [b':', m1, m2] | [m1, m2] => num(&[*m1, *m2])?,
                _ => return None,
            };
            // Real offsets run from -12:00 to +14:00.
            if hh > 14 || mm > 59 {
                return None;
            }
            let off = hh * 3600 + mm * 60;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => return None,
    };
    let secs = match offset {
        Some(off) => days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off,
        None => local_to_epoch(y, mo, d, h, mi, s)?,
    };
    Some(secs as f64 + frac)
}

/// An HTTP date as `Retry-After` carries one, in the three forms RFC 9110 (5.6.7) says a
/// recipient must accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete
/// RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`, a two-digit year taken as the latest
/// one not more than 50 years ahead) and asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(text: &str) -> Option<f64> {
    let p: Vec<&str> = text.split_whitespace().collect();
    let (d, mon, y, hms) = match p.as_slice() {
        [_, d, mon, y, hms, "GMT"] => (*d, *mon, y.parse::<i64>().ok()?, *hms),
        [_, dmy, hms, "GMT"] => {
            let mut it = dmy.split('-');
            let (d, mon, yy) = (it.next()?, it.next()?, it.next()?);
            if it.next().is_some() || yy.len() != 2 {
                return None;
            }
            let yy: i64 = yy.parse().ok()?;
            // RFC 9110: more than 50 years in the future is the past century's.
            let this_year = 1970 + (now() / 31_556_952.0) as i64;
            let mut y = this_year / 100 * 100 + yy;
            if y > this_year + 50 {
                y -= 100;
            }
            (d, mon, y, *hms)
        }
        [_, mon, d, hms, y] => (*d, *mon, y.parse::<i64>().ok()?, *hms),
        _ => return None,
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = MONTHS.iter().position(|m| *m == mon)? as i64 + 1;
    let d: i64 = d.parse().ok()?;
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, s] = t.as_slice() else {
        return None;
    };
    if !(1..=days_in_month(y, mo)).contains(&d) || *h > 23 || *mi > 59 || *s > 60 {
        return None;
    }
    Some((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) as f64)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn local_to_epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    // SAFETY: tm is plain data, zeroed then filled; mktime only reads and normalises it.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = (y - 1900) as libc::c_int;
        tm.tm_mon = (mo - 1) as libc::c_int;
        tm.tm_mday = d as libc::c_int;
        tm.tm_hour = h as libc::c_int;
        tm.tm_min = mi as libc::c_int;
        tm.tm_sec = s as libc::c_int;
        tm.tm_isdst = -1;
        let t = libc::mktime(&mut tm);
        if t == -1 && !(y == 1969 && mo == 12 && d == 31) {
            return None;
        }
        Some(t as i64)
    }
}

/// Broken-down local time of an epoch second.
fn local(secs: i64) -> libc::tm {
    // SAFETY: localtime_r writes only into the tm we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t = secs as libc::time_t;
        libc::localtime_r(&t, &mut tm);
        tm
    }
}

/// `2009/11/18 16:45:33.000`, local time: what a notification renders and the script got.
pub fn zenoss_format(epoch: f64) -> String {
    let secs = epoch.floor() as i64;
    let ms = (((epoch - epoch.floor()) * 1000.0).round() as i64).min(999);
    let tm = local(secs);
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ms
    )
}

/// `2009-11-18 16:45:33`, local time: the daemon's log timestamp.
pub fn log_format(epoch: f64) -> String {
    let tm = local(epoch.floor() as i64);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Whether a text is already in the notification's form, so it is passed on untouched.
pub fn is_zenoss_format(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 19 && b[4] == b'/' && b[7] == b'/' && b[10] == b' ' && parse_calendar(t).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_never_negative_and_times_far_ahead_count_as_past() {
        // (t, now, limit) -> (age, beyond)
        let table: &[(f64, f64, f64, f64, bool)] = &[
            (1000.0, 1000.0, 60.0, 0.0, false),
            (900.0, 1000.0, 60.0, 100.0, true),
            (940.0, 1000.0, 60.0, 60.0, false),
            (1060.0, 1000.0, 60.0, 0.0, false),
            (1060.5, 1000.0, 60.0, 0.0, true),
            (1000.0 + 3600.0, 1000.0, 3600.0, 0.0, false),
            (1000.0 + 31_536_000.0, 1000.0, 3600.0, 0.0, true),
        ];
        for &(t, now, limit, want_age, want_beyond) in table {
            assert_eq!(age(t, now), want_age, "{t} {now}");
            assert_eq!(beyond(t, now, limit), want_beyond, "{t} {now} {limit}");
        }
    }

    #[test]
    fn epoch_forms() {
        assert_eq!(parse("1700000000").unwrap(), 1_700_000_000.0);
        assert_eq!(parse("1700000000.5").unwrap(), 1_700_000_000.5);
        assert_eq!(parse("1700000000123").unwrap(), 1_700_000_000.123);
    }

    #[test]
    fn iso_with_zone_is_absolute() {
        assert_eq!(parse("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000.0);
        assert_eq!(parse("2023-11-14T23:13:20+01:00").unwrap(), 1_700_000_000.0);
        assert_eq!(parse("2023-11-14T22:13:20.250Z").unwrap(), 1_700_000_000.25);
    }

    #[test]
    fn local_forms_round_trip() {
        let t = parse("2009/11/18 16:45:33.000").unwrap();
        assert_eq!(zenoss_format(t), "2009/11/18 16:45:33.000");
        assert_eq!(parse("2009-11-18 16:45:33").unwrap(), t);
        assert!(is_zenoss_format("2009/11/18 16:45:33.000"));
        assert!(!is_zenoss_format("2009-11-18 16:45:33"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "soon",
            "2009/13/18 16:45:33",
            "2009/11/18",
            "1.2.3",
            "None",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn impossible_times_are_not_times() {
        let nines = "9".repeat(400);
        // (text, is a real time)
        let table: &[(&str, bool)] = &[
            ("99999999999999999999", false),
            (&nines, false),
            ("253402300799", true),
            ("253402300799000", true),
            ("253402300800000", false),
            ("2024-02-30 10:00:00", false),
            ("2024-02-29 10:00:00", true),
            ("2023-02-29 10:00:00", false),
            ("1900-02-29 10:00:00", false),
            ("2000-02-29 10:00:00", true),
            ("2024-04-31T10:00:00Z", false),
            ("2024-04-30T10:00:00+99:99", false),
            ("2024-04-30T10:00:00+14:00", true),
            ("2024-04-30T10:00:00-12:00", true),
            ("2024-04-30T10:00:00+05:60", false),
        ];
        for (text, real) in table {
            assert_eq!(parse(text).is_ok(), *real, "{text}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_parses_or_errs(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn zenoss_format_round_trips(secs in 0i64..4_000_000_000, ms in 0u32..1000) {
            let t = secs as f64 + f64::from(ms) / 1000.0;
            let text = zenoss_format(t);
            let back = parse(&text).expect("own format parses");
            prop_assert!((back - t).abs() < 0.0011, "{} -> {} -> {}", t, text, back);
        }

        /// Milliseconds are told from seconds by size: any time after March 1973.
        #[test]
        fn epoch_seconds_and_milliseconds_agree(secs in 100_000_000i64..4_000_000_000) {
            prop_assert_eq!(parse(&secs.to_string()).unwrap(), secs as f64);
            prop_assert_eq!(parse(&(secs * 1000).to_string()).unwrap(), secs as f64);
        }
    }
}
