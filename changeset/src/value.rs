//! [`Value`]: a statement parameter or a returned column, the same for every backend.
//!
//! The ready-made operations ([`Statement`](crate::Statement),
//! [`InsertRow`](crate::InsertRow)) are plain data in the core, so domain code that
//! builds them does not depend on a database driver and a test can compare them. Each
//! backend turns a `Value` into its driver's parameter and a returned column back into
//! a `Value`.

use std::fmt;

use crate::error::ValueError;

/// A parameter or column value. Each variant is sent with one PostgreSQL type (see
/// [`Kind`]); PostgreSQL converts it on assignment (a `bigint` into an `integer`
/// column), and SQL casts cover the rest (`$1::date`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`, sent with the type of its kind so PostgreSQL can infer the column.
    Null(Kind),
    /// `boolean`.
    Bool(bool),
    /// `bigint` (`smallint` and `integer` columns are read into it).
    Int(i64),
    /// `double precision` (`real` columns are read into it).
    Float(f64),
    /// `text` (`varchar`, `char` and `name` columns are read into it).
    Text(String),
    /// `jsonb` (`json` columns are read into it).
    Json(serde_json::Value),
    /// `bytea`.
    Bytes(Vec<u8>),
}

/// The PostgreSQL type a [`Value`] is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `boolean`.
    Bool,
    /// `bigint`.
    Int,
    /// `double precision`.
    Float,
    /// `text`.
    Text,
    /// `jsonb`.
    Json,
    /// `bytea`.
    Bytes,
}

impl Kind {
    /// The PostgreSQL type name.
    pub fn sql_type(self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Int => "bigint",
            Kind::Float => "double precision",
            Kind::Text => "text",
            Kind::Json => "jsonb",
            Kind::Bytes => "bytea",
        }
    }
}

impl Value {
    /// The kind this value is sent as.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Null(kind) => *kind,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::Float(_) => Kind::Float,
            Value::Text(_) => Kind::Text,
            Value::Json(_) => Kind::Json,
            Value::Bytes(_) => Kind::Bytes,
        }
    }

    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// The value as JSON, the way PostgreSQL's `jsonb_populate_record` reads it back into
    /// a column: bytes become PostgreSQL's hex text form (`\x0a0b`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null(_) => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            // NaN and infinities have no JSON form; PostgreSQL's text forms do.
            Value::Float(f) if f.is_finite() => serde_json::Value::from(*f),
            Value::Float(f) => serde_json::Value::String(pg_float_text(*f).to_owned()),
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Json(j) => j.clone(),
            Value::Bytes(b) => {
                let mut hex = String::with_capacity(2 + 2 * b.len());
                hex.push_str("\\x");
                for byte in b {
                    hex.push_str(&format!("{byte:02x}"));
                }
                serde_json::Value::String(hex)
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Value::Null(kind) => format!("NULL ({})", kind.sql_type()),
            other => other.kind().sql_type().to_owned(),
        }
    }
}

fn pg_float_text(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null(_) => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Json(j) => write!(f, "{j}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

macro_rules! into_value {
    ($($ty:ty => $kind:ident, |$v:ident| $conv:expr;)*) => {$(
        impl From<$ty> for Value {
            fn from($v: $ty) -> Self {
                Value::$kind($conv)
            }
        }
        impl From<Option<$ty>> for Value {
            fn from(value: Option<$ty>) -> Self {
                match value {
                    Some($v) => Value::$kind($conv),
                    None => Value::Null(Kind::$kind),
                }
            }
        }
    )*};
}

into_value! {
    bool => Bool, |v| v;
    i16 => Int, |v| i64::from(v);
    i32 => Int, |v| i64::from(v);
    i64 => Int, |v| v;
    u32 => Int, |v| i64::from(v);
    f32 => Float, |v| f64::from(v);
    f64 => Float, |v| v;
    String => Text, |v| v;
    &str => Text, |v| v.to_owned();
    serde_json::Value => Json, |v| v;
    Vec<u8> => Bytes, |v| v;
    &[u8] => Bytes, |v| v.to_vec();
}

/// Rust types a returned [`Value`] converts into (for
/// [`Statement::returning_into`](crate::Statement::returning_into)).
///
/// `Option<T>` accepts `NULL`; the plain types reject it.
pub trait FromValue: Sized {
    /// Converts, or says why not.
    ///
    /// # Errors
    /// [`ValueError::Mismatch`] for another type or `NULL`; [`ValueError::OutOfRange`]
    /// for an integer that does not fit.
    fn from_value(value: Value) -> Result<Self, ValueError>;
}

fn mismatch<T>(expected: &'static str, found: &Value) -> Result<T, ValueError> {
    Err(ValueError::Mismatch { expected, found: found.describe() })
}

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        Ok(value)
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Bool(b) => Ok(b),
            other => mismatch("boolean", &other),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Int(i) => Ok(i),
            other => mismatch("bigint", &other),
        }
    }
}

impl FromValue for i32 {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        let wide = i64::from_value(value)?;
        i32::try_from(wide).map_err(|_| ValueError::OutOfRange { value: wide, target: "i32" })
    }
}

impl FromValue for f64 {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Float(f) => Ok(f),
            other => mismatch("double precision", &other),
        }
    }
}

impl FromValue for String {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Text(s) => Ok(s),
            other => mismatch("text", &other),
        }
    }
}

impl FromValue for serde_json::Value {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Json(j) => Ok(j),
            other => mismatch("jsonb", &other),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Bytes(b) => Ok(b),
            other => mismatch("bytea", &other),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Null(_) => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_typed_nulls() {
        assert_eq!(Value::from(None::<i64>), Value::Null(Kind::Int));
        assert_eq!(Value::from(Some("a")), Value::Text("a".into()));
        assert_eq!(Value::from(None::<String>).kind(), Kind::Text);
    }

    #[test]
    fn conversions_check_type_and_range() {
        assert_eq!(i64::from_value(Value::Int(7)), Ok(7));
        assert_eq!(
            i32::from_value(Value::Int(i64::MAX)),
            Err(ValueError::OutOfRange { value: i64::MAX, target: "i32" })
        );
        assert_eq!(
            String::from_value(Value::Int(1)).map_err(|e| e.to_string()),
            Err("expected a text value, found bigint".into())
        );
        assert_eq!(
            i64::from_value(Value::Null(Kind::Int)).map_err(|e| e.to_string()),
            Err("expected a bigint value, found NULL (bigint)".into())
        );
        assert_eq!(Option::<i64>::from_value(Value::Null(Kind::Int)), Ok(None));
    }

    #[test]
    fn json_forms_match_postgres_text_input() {
        assert_eq!(Value::Bytes(vec![0x0a, 0xff]).to_json(), serde_json::json!("\\x0aff"));
        assert_eq!(Value::Float(f64::NAN).to_json(), serde_json::json!("NaN"));
        assert_eq!(Value::Null(Kind::Text).to_json(), serde_json::Value::Null);
    }
}
