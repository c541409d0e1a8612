//! One read of Zenoss's open event console (New, Acknowledged, Suppressed), paged with
//! `query` (1,000 a page, sorted by evid), that knows whether it is complete.
//!
//! Offset paging over a console that changes while it is read can skip rows (events closed
//! before the next page shift the offsets), repeat them, or end early; a server may answer
//! without `totalCount`, with an empty page in the middle, or with a row that has no evid.
//! `sweep` prunes the state of events it did not see and reconcile acts on what it sees,
//! so a partial read taken as whole would forget open events (a second ticket for a count
//! already ticketed, or none for a real increase). The checks (`Pages`, a pure fold over the
//! pages) are: every row has an evid; repeated rows are dropped and counted; each page is
//! full unless it is the last; `totalCount` is there, the same at the start and at the end,
//! and equal to the evids read. Any failure marks the read incomplete, with the reason.
//!
//! Row shapes differ by version (`Products/Zuul/infos/event.py`, `EventCompatInfo`):
//! lastTime is epoch seconds (5.0+) or `YYYY-MM-DD HH:MM:SS` (4.2).

use crate::zenoss::{Client, Page, ZenossError};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Rows a page asks for (ZEP caps it at 1,000).
pub const PAGE: u64 = 1000;

/// What a read gave: the open events by evid, and why it is not complete (None: it is).
#[derive(Debug, Default)]
pub struct Read {
    pub rows: BTreeMap<String, Map<String, Value>>,
    pub incomplete: Option<String>,
    /// When the read began: a state row written after it cannot be judged by it.
    pub started: f64,
    pub pages: u64,
}

impl Read {
    pub fn complete(&self) -> bool {
        self.incomplete.is_none()
    }

    /// An event's lastTime as Zenoss reports it in this read, in epoch seconds.
    pub fn last_time(&self, evid: &str) -> Option<f64> {
        last_time(self.rows.get(evid)?)
    }
}

/// lastTime of a `query` row: epoch seconds (5.0+; milliseconds told apart by size) or the
/// 4.2 text form.
pub fn last_time(row: &Map<String, Value>) -> Option<f64> {
    match row.get("lastTime")? {
        Value::Number(n) => n.as_f64().map(|f| if f > 1e11 { f / 1000.0 } else { f }),
        Value::String(s) => crate::time::parse(s).ok(),
        _ => None,
    }
}

/// The checks, page by page.
#[derive(Debug, Default)]
pub struct Pages {
    read: Read,
    first_total: Option<u64>,
    last_total: Option<u64>,
    rows_read: u64,
    repeated: u64,
    without_evid: u64,
}

impl Pages {
    pub fn new(started: f64) -> Pages {
        Pages {
            read: Read {
                started,
                ..Read::default()
            },
            ..Pages::default()
        }
    }

    fn stop(&mut self, why: String) -> bool {
        self.read.incomplete.get_or_insert(why);
        false
    }

    /// Takes the page asked for at `start`; returns whether to ask for the next.
    pub fn add(&mut self, start: u64, page: Page) -> bool {
        self.read.pages += 1;
        let n = page.events.len() as u64;
        for row in page.events {
            match row.get("evid").and_then(Value::as_str) {
                None => self.without_evid += 1,
                Some(evid) => {
                    let evid = evid.to_string();
                    if self.read.rows.insert(evid, row).is_some() {
                        self.repeated += 1;
                    }
                }
            }
        }
        self.rows_read += n;
        let Some(total) = page.total else {
            return self.stop("Zenoss's reply has no totalCount".into());
        };
        self.first_total.get_or_insert(total);
        self.last_total = Some(total);
        let next = start + n;
        if next >= total {
            return false;
        }
        if n == 0 {
            return self.stop(format!(
                "the page at {start} came back empty, short of totalCount {total}"
            ));
        }
        if n < PAGE {
            return self.stop(format!(
                "the page at {start} ended early ({n} of {PAGE} rows, totalCount {total})"
            ));
        }
        true
    }

    /// The read, with the checks that need all of it.
    pub fn finish(mut self) -> Read {
        let unique = self.read.rows.len() as u64;
        let mut problems = Vec::new();
        if self.without_evid > 0 {
            problems.push(format!("{} row(s) without an evid", self.without_evid));
        }
        if self.repeated > 0 {
            problems.push(format!("{} row(s) repeated across pages", self.repeated));
        }
        match (self.first_total, self.last_total) {
            (Some(a), Some(b)) if a != b => problems.push(format!(
                "totalCount changed during the read (from {a} to {b})"
            )),
            (Some(_), Some(t)) if t != unique => problems.push(format!(
                "{unique} distinct evids read, but totalCount is {t}"
            )),
            _ => {}
        }
        if let (None, false) = (&self.read.incomplete, problems.is_empty()) {
            self.read.incomplete = Some(problems.join("; "));
        }
        self.read
    }
}

/// Reads every open event with these `keys`. Err: Zenoss could not be read at all.
pub fn read(z: &Client, keys: &[&str]) -> Result<Read, ZenossError> {
    let mut pages = Pages::new(crate::time::now());
    let mut start = 0;
    loop {
        let page = z.query_open(start, PAGE, keys)?;
        let n = page.events.len() as u64;
        if !pages.add(start, page) {
            return Ok(pages.finish());
        }
        start += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(evids: &[Option<String>], total: Option<u64>) -> Page {
        Page {
            events: evids
                .iter()
                .map(|e| match e {
                    Some(e) => json!({"evid": e}).as_object().cloned().unwrap(),
                    None => json!({"count": 1}).as_object().cloned().unwrap(),
                })
                .collect(),
            total,
        }
    }

    fn ids(r: std::ops::Range<usize>) -> Vec<Option<String>> {
        r.map(|i| Some(format!("e{i:05}"))).collect()
    }

    /// Feeds pages (rows, totalCount) as the reader would ask for them.
    fn run(pages: Pages) -> Read {
        let mut p = super::Pages::new(0.0);
        let mut start = 0;
        for (rows, total) in pages {
            let n = rows.len() as u64;
            if !p.add(start, page(&rows, total)) {
                break;
            }
            start += n;
        }
        p.finish()
    }

    /// Pages as (rows, totalCount).
    type Pages = Vec<(Vec<Option<String>>, Option<u64>)>;

    #[test]
    fn reads_that_add_up_and_reads_that_do_not() {
        let t = |n| Some(n);
        // (case, pages, why the read is incomplete: None = complete)
        let table: Vec<(&str, Pages, Option<&str>)> = vec![
            ("one page", vec![(ids(0..10), t(10))], None),
            ("empty console", vec![(vec![], t(0))], None),
            (
                "three full pages",
                vec![
                    (ids(0..1000), t(2500)),
                    (ids(1000..2000), t(2500)),
                    (ids(2000..2500), t(2500)),
                ],
                None,
            ),
            (
                "300 closed between pages: the offsets shift",
                vec![(ids(0..1000), t(2500)), (ids(1300..2300), t(2200))],
                Some("totalCount changed during the read (from 2500 to 2200)"),
            ),
            (
                "totalCount smaller than the rows",
                vec![(ids(0..1000), t(500))],
                Some("1000 distinct evids read, but totalCount is 500"),
            ),
            (
                "an empty page in the middle",
                vec![(ids(0..1000), t(5000)), (vec![], t(5000))],
                Some("the page at 1000 came back empty, short of totalCount 5000"),
            ),
            (
                "a page that ends early",
                vec![(ids(0..1000), t(5000)), (ids(1000..1700), t(5000))],
                Some("the page at 1000 ended early (700 of 1000 rows, totalCount 5000)"),
            ),
            (
                "rows repeated across pages",
                vec![
                    (ids(0..1000), t(2000)),
                    ([ids(700..1000), ids(1000..1700)].concat(), t(2000)),
                ],
                Some("300 row(s) repeated across pages; 1700 distinct evids read, but totalCount is 2000"),
            ),
            (
                "no totalCount",
                vec![(ids(0..1000), None)],
                Some("Zenoss's reply has no totalCount"),
            ),
            (
                "a row without an evid",
                vec![([ids(0..4), vec![None]].concat(), t(5))],
                Some("1 row(s) without an evid; 4 distinct evids read, but totalCount is 5"),
            ),
        ];
        for (name, pages, reason) in table {
            let read = run(pages);
            assert_eq!(read.incomplete.as_deref(), reason, "{name}");
        }
    }

    #[test]
    fn last_time_in_each_versions_shape() {
        let row = |v: Value| json!({"lastTime": v}).as_object().cloned().unwrap();
        assert_eq!(last_time(&row(json!(1700000000.5))), Some(1700000000.5));
        assert_eq!(last_time(&row(json!(1700000000500u64))), Some(1700000000.5));
        assert!(last_time(&row(json!("2023-11-14 22:13:20"))).is_some());
        assert_eq!(last_time(&row(json!(null))), None);
    }
}
