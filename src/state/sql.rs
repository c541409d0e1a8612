//! The one seam between the state DB's typed functions (claims, records, owed work,
//! tickets, the breaker, meta) and a backend: a statement with its values in, rows of
//! values out. SQLite and MariaDB/MySQL each implement it; the few statements whose
//! dialects differ ask `dialect()`.

use std::fmt;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Which SQL a backend speaks, for the statements that differ (an upsert, a scalar min).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Mysql,
}

/// A backend's failure. The backend's own error is kept whole (SQLite's code tells a full
/// disk from a lock held too long; MySQL's a deadlock from a lost connection); `Value` is a
/// column that does not hold what the code reads from it.
#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    /// The server's words, and what the failure means for the transaction it struck.
    Mysql(String, super::mysql::Fault),
    Value(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => e.fmt(f),
            DbError::Mysql(m, _) | DbError::Value(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError::Sqlite(e)
    }
}

pub type Result<T> = std::result::Result<T, DbError>;

/// A connection, or a transaction on one: what every function of the state module runs on.
pub trait Sql {
    /// Runs a statement; how many rows it changed.
    fn exec(&self, sql: &str, params: &[Value]) -> Result<usize>;
    /// Runs a query; its rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    fn dialect(&self) -> Dialect;
}

impl dyn Sql + '_ {
    /// The first row, if any.
    pub fn one(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first column of the first row (a query that always answers one: `count(*)`).
    pub fn scalar<T: FromValue>(&self, sql: &str, params: &[Value]) -> Result<T> {
        match self.one(sql, params)? {
            Some(r) => r.get(0),
            None => Err(DbError::Value(format!("no row from {sql}"))),
        }
    }
}

/// One row read.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| {
            DbError::Value(format!(
                "column {i} holds {v:?}, not {}",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// A Rust value read from a column. Backends differ in what they hand back (MySQL gives
/// text as bytes, a DECIMAL as text, SQLite an old integer ticket id as an integer), so
/// each reading takes every form that means the same thing.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            Value::Real(f) if f.fract() == 0.0 => Some(*f as i64),
            Value::Text(s) => s.trim().parse().ok(),
            Value::Blob(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    fn from_value(v: &Value) -> Option<u32> {
        i64::from_value(v).and_then(|i| u32::try_from(i).ok())
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> Option<f64> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::Text(s) => s.trim().parse().ok(),
            Value::Blob(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            Value::Null => None,
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<bool> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            Value::Blob(b) => String::from_utf8(b.clone()).ok(),
            // A ticket number of schema 3, stored as an integer.
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            Value::Text(s) => Some(s.clone().into_bytes()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The values of one statement: `vals![evid, count, None::<f64>]`.
#[macro_export]
macro_rules! vals {
    ($($v:expr),* $(,)?) => {
        &[$($crate::state::sql::Value::from($v)),*]
    };
}

/// A statement's `?N` placeholders as plain `?` (MySQL knows only those), with the
/// values in the order they now appear. SQLite's numbered form lets one value be used
/// twice; this keeps every statement written once for both.
pub fn positional(sql: &str, params: &[Value]) -> (String, Vec<Value>) {
    let b = sql.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut order = Vec::new();
    let (mut i, mut quoted) = (0, false);
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c == b'\'' {
            quoted = !quoted;
        }
        if c != b'?' || quoted {
            out.push(c);
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = match sql[start..i].parse::<usize>() {
            Ok(n) => n,
            Err(_) => order.len() + 1,
        };
        order.push(
            params
                .get(n.wrapping_sub(1))
                .cloned()
                .unwrap_or(Value::Null),
        );
        out.push(b'?');
    }
    // Only ASCII digits were dropped: the text is still UTF-8.
    (String::from_utf8_lossy(&out).into_owned(), order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_positional_with_values_reordered() {
        let p = [Value::Int(1), Value::Text("e".into()), Value::Null];
        let table: &[(&str, &str, Vec<Value>)] = &[
            ("a = ?1", "a = ?", vec![Value::Int(1)]),
            (
                "?2 IS NULL OR evid = ?2 AND n > ?1",
                "? IS NULL OR evid = ? AND n > ?",
                vec![
                    Value::Text("e".into()),
                    Value::Text("e".into()),
                    Value::Int(1),
                ],
            ),
            (
                "x = '?1' AND y = ?3",
                "x = '?1' AND y = ?",
                vec![Value::Null],
            ),
            (
                "VALUES (?, ?)",
                "VALUES (?, ?)",
                vec![Value::Int(1), Value::Text("e".into())],
            ),
            ("é = ?10", "é = ?", vec![Value::Null]),
        ];
        for (sql, want, vals) in table {
            assert_eq!(
                positional(sql, &p),
                (want.to_string(), vals.clone()),
                "{sql}"
            );
        }
    }

    #[test]
    fn readings_take_each_form_a_backend_hands_back() {
        assert_eq!(String::from_value(&Value::Int(4711)), Some("4711".into()));
        assert_eq!(
            String::from_value(&Value::Blob(b"INC1".to_vec())),
            Some("INC1".into())
        );
        assert_eq!(i64::from_value(&Value::Blob(b"3".to_vec())), Some(3));
        assert_eq!(f64::from_value(&Value::Int(2)), Some(2.0));
        assert_eq!(Option::<f64>::from_value(&Value::Null), Some(None));
        assert_eq!(i64::from_value(&Value::Null), None);
        assert_eq!(bool::from_value(&Value::Int(1)), Some(true));
    }
}
