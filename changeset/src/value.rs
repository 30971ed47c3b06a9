//! [`Value`]: a statement parameter or a returned column, the same for every backend.
//!
//! The ready-made operations ([`Statement`](crate::Statement),
//! [`InsertRow`](crate::InsertRow)) are plain data in the core, so domain code that
//! builds them does not depend on a database driver and a test can compare them. Each
//! backend sends a `Value` as a parameter of its PostgreSQL type and reads a returned
//! column back into one, both in PostgreSQL's binary format through this crate's own
//! codec: the two backends read and write the same bytes, and nothing goes through a
//! lossy intermediate (a float, a driver's fixed-size decimal).
//!
//! The table of types, with the features that convert each one, is on [`Value`].

use std::fmt;
use std::net::IpAddr;

use crate::error::ValueError;

mod array;
mod datetime;
mod inet;
mod numeric;
#[cfg(any(feature = "sqlx", feature = "tokio-postgres"))]
pub(crate) mod wire;
#[cfg(feature = "bigdecimal")]
mod with_bigdecimal;
#[cfg(feature = "chrono")]
mod with_chrono;
#[cfg(feature = "ipnetwork")]
mod with_ipnetwork;
#[cfg(feature = "rust_decimal")]
mod with_rust_decimal;
#[cfg(feature = "time")]
mod with_time;
#[cfg(feature = "uuid")]
mod with_uuid;

pub use self::array::{Array, Element};
pub use self::datetime::{Date, Interval, Time, Timestamp};
pub use self::inet::Inet;
pub use self::numeric::Numeric;

/// A parameter or column value. Each variant is sent with one PostgreSQL type (see
/// [`Kind`]); PostgreSQL converts it on assignment (a `bigint` into an `integer`
/// column), and SQL casts cover the rest (`$1::date`).
///
/// # The types
///
/// Each PostgreSQL type has one variant holding exactly what PostgreSQL stores; the
/// features only add conversions to the Rust types of other crates, so a `Value` is the
/// same whichever features are on. `Slot<T>` and [`Statement::bind`](crate::Statement::bind)
/// take any `T` of the third column (through `Into<Value>` and [`FromValue`]), `Vec<T>`
/// for arrays (see [`Element`]) and `Option<T>` for `NULL`.
///
/// | PostgreSQL type | [`Value`] variant | Rust types | feature |
/// |---|---|---|---|
/// | `boolean` | `Bool` | `bool` | |
/// | `smallint`, `integer`, `bigint` | `Int` (sent as `bigint`) | `i16`, `i32`, `i64`, `u32` (into only) | |
/// | `real`, `double precision` (`NaN`, `±Infinity` included) | `Float` (sent as `double precision`) | `f32`, `f64` | |
/// | `text`, `varchar`, `char`, `name` | `Text` (sent as `text`) | `String`, `&str` (into) | |
/// | `json`, `jsonb` | `Json` (sent as `jsonb`) | `serde_json::Value` | |
/// | `bytea` | `Bytes` | `Vec<u8>`, `&[u8]` (into) | |
/// | `numeric` (any digits, the scale, `NaN`, `±Infinity`) | `Numeric` | [`Numeric`] | |
/// | | | `rust_decimal::Decimal` (up to 28 digits of scale) | `rust_decimal` |
/// | | | `bigdecimal::BigDecimal` (finite values) | `bigdecimal` |
/// | `uuid` | `Uuid` | `[u8; 16]` in the variant | |
/// | | | `uuid::Uuid` | `uuid` |
/// | `timestamptz` | `Timestamptz` | [`Timestamp`] (UTC microseconds, `±infinity`) | |
/// | | | `chrono::DateTime<Utc>` | `chrono` |
/// | | | `time::OffsetDateTime` (read back in UTC) | `time` |
/// | `timestamp` | `Timestamp` | [`Timestamp`] | |
/// | | | `chrono::NaiveDateTime` | `chrono` |
/// | | | `time::PrimitiveDateTime` | `time` |
/// | `date` | `Date` | [`Date`] (`±infinity`) | |
/// | | | `chrono::NaiveDate` | `chrono` |
/// | | | `time::Date` | `time` |
/// | `time` | `Time` | [`Time`] (`24:00:00` included) | |
/// | | | `chrono::NaiveTime` | `chrono` |
/// | | | `time::Time` | `time` |
/// | `interval` | `Interval` | [`Interval`] (months, days, microseconds) | |
/// | `inet`, `cidr` | `Inet`, `Cidr` | [`Inet`], `std::net::IpAddr` (a host: full prefix) | |
/// | | | `ipnetwork::IpNetwork` (into: `inet`) | `ipnetwork` |
/// | one-dimensional arrays of the above | `Array` | [`Array`], `Vec<T>`, `Vec<Option<T>>` | |
/// | `NULL` of each | `Null(kind)` | `Option<T>` | |
///
/// Exactness: every read gives back what PostgreSQL holds. Conversions into a Rust
/// type that cannot hold the value fail with [`ValueError::Unrepresentable`] instead of
/// rounding (`infinity` into `chrono`, 38 digits into `rust_decimal`, `24:00:00` into
/// `NaiveTime`, `10.0.0.0/8` into `IpAddr`). The other way, PostgreSQL keeps
/// microseconds: the nanoseconds of a `chrono` or `time` value are truncated, as both
/// drivers do.
///
/// Other types (enums, domains over other types, ranges, `money`, multi-dimensional
/// arrays) are read with a cast in SQL (`RETURNING status::text`) and written as text
/// with a cast (`$1::text::mood`).
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
    /// `numeric`, exact.
    Numeric(Numeric),
    /// `uuid`, its 16 bytes in network order.
    Uuid([u8; 16]),
    /// `timestamptz`: an instant, in UTC.
    Timestamptz(Timestamp),
    /// `timestamp` (without time zone): a wall-clock reading.
    Timestamp(Timestamp),
    /// `date`.
    Date(Date),
    /// `time` (without time zone).
    Time(Time),
    /// `interval`.
    Interval(Interval),
    /// `inet`: an address, optionally with its network's prefix length.
    Inet(Inet),
    /// `cidr`: a network.
    Cidr(Inet),
    /// A one-dimensional array.
    Array(Array),
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
    /// `numeric`.
    Numeric,
    /// `uuid`.
    Uuid,
    /// `timestamptz`.
    Timestamptz,
    /// `timestamp`.
    Timestamp,
    /// `date`.
    Date,
    /// `time`.
    Time,
    /// `interval`.
    Interval,
    /// `inet`.
    Inet,
    /// `cidr`.
    Cidr,
    /// A one-dimensional array of the element kind (`&Kind::Int` is `bigint[]`). An
    /// array kind as the element means the same array type: PostgreSQL arrays of arrays
    /// are multi-dimensional arrays of the innermost type, which `Value` does not hold.
    Array(&'static Kind),
}

/// The scalar kinds, each with its PostgreSQL names (scalar, array).
const SCALARS: [(Kind, &str, &str); 15] = [
    (Kind::Bool, "boolean", "boolean[]"),
    (Kind::Int, "bigint", "bigint[]"),
    (Kind::Float, "double precision", "double precision[]"),
    (Kind::Text, "text", "text[]"),
    (Kind::Json, "jsonb", "jsonb[]"),
    (Kind::Bytes, "bytea", "bytea[]"),
    (Kind::Numeric, "numeric", "numeric[]"),
    (Kind::Uuid, "uuid", "uuid[]"),
    (Kind::Timestamptz, "timestamptz", "timestamptz[]"),
    (Kind::Timestamp, "timestamp", "timestamp[]"),
    (Kind::Date, "date", "date[]"),
    (Kind::Time, "time", "time[]"),
    (Kind::Interval, "interval", "interval[]"),
    (Kind::Inet, "inet", "inet[]"),
    (Kind::Cidr, "cidr", "cidr[]"),
];

impl Kind {
    /// The PostgreSQL type name.
    pub fn sql_type(self) -> &'static str {
        let (scalar, array) = self.innermost();
        let names =
            SCALARS.iter().find(|(kind, _, _)| *kind == scalar).map(|(_, name, array_name)| (*name, *array_name));
        match names {
            Some((name, array_name)) => {
                if array {
                    array_name
                } else {
                    name
                }
            }
            // `innermost` only returns scalars, which are all in the table.
            None => "unknown",
        }
    }

    /// The innermost scalar kind, and whether `self` is an array of it.
    pub(crate) fn innermost(self) -> (Kind, bool) {
        let mut kind = self;
        let mut array = false;
        while let Kind::Array(element) = kind {
            kind = *element;
            array = true;
        }
        (kind, array)
    }

    /// This scalar kind borrowed for `'static` (for [`Kind::Array`]); `None` for an
    /// array kind.
    pub(crate) fn as_static_scalar(self) -> Option<&'static Kind> {
        SCALARS.iter().map(|(kind, _, _)| kind).find(|kind| **kind == self)
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
            Value::Numeric(_) => Kind::Numeric,
            Value::Uuid(_) => Kind::Uuid,
            Value::Timestamptz(_) => Kind::Timestamptz,
            Value::Timestamp(_) => Kind::Timestamp,
            Value::Date(_) => Kind::Date,
            Value::Time(_) => Kind::Time,
            Value::Interval(_) => Kind::Interval,
            Value::Inet(_) => Kind::Inet,
            Value::Cidr(_) => Kind::Cidr,
            Value::Array(array) => array.kind(),
        }
    }

    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// The value as JSON, the way PostgreSQL's `jsonb_populate_record` reads it back into
    /// a column: bytes become PostgreSQL's hex text form (`\x0a0b`), numerics, dates,
    /// times, uuids and networks their text forms, arrays JSON arrays.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null(_) => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            // NaN and infinities have no JSON form; PostgreSQL's text forms do.
            Value::Float(f) if f.is_finite() => serde_json::Value::from(*f),
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
            Value::Array(array) => serde_json::Value::Array(array.items().iter().map(Value::to_json).collect()),
            // A JSON number would go through a float; the text is exact.
            other => serde_json::Value::String(other.to_string()),
        }
    }

    /// What the value is, for error messages: its type, and `NULL` when it is one.
    pub(crate) fn describe(&self) -> String {
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

/// PostgreSQL's input text for the value (what [`Value::to_json`] uses where JSON has
/// no exact form), except that text is shown quoted and bytes by their count.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null(_) => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_finite() => write!(f, "{x}"),
            Value::Float(x) => f.write_str(pg_float_text(*x)),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Json(j) => write!(f, "{j}"),
            // Blobs stay out of messages and logs.
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::Numeric(n) => write!(f, "{n}"),
            Value::Uuid(bytes) => write_uuid(f, bytes),
            Value::Timestamptz(t) => t.write(f, true),
            Value::Timestamp(t) => t.write(f, false),
            Value::Date(d) => write!(f, "{d}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Interval(i) => write!(f, "{i}"),
            Value::Inet(n) | Value::Cidr(n) => write!(f, "{n}"),
            Value::Array(array) => {
                f.write_str("[")?;
                for (i, item) in array.items().iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

fn write_uuid(f: &mut fmt::Formatter<'_>, bytes: &[u8; 16]) -> fmt::Result {
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_str("-")?;
        }
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

/// `From<T>` and `From<Option<T>>` for [`Value`], for each `T` that has one variant.
/// Used by the `with_*` modules too.
macro_rules! into_value {
    ($($ty:ty => $kind:ident, |$v:ident| $conv:expr;)*) => {$(
        impl From<$ty> for $crate::value::Value {
            fn from($v: $ty) -> Self {
                $crate::value::Value::$kind($conv)
            }
        }
        impl From<Option<$ty>> for $crate::value::Value {
            fn from(value: Option<$ty>) -> Self {
                match value {
                    Some($v) => $crate::value::Value::$kind($conv),
                    None => $crate::value::Value::Null($crate::value::Kind::$kind),
                }
            }
        }
    )*};
}
// Used by the `with_*` modules, none of which may be enabled.
#[allow(unused_imports)]
pub(crate) use into_value;

/// [`Element`] for types that convert both ways, so `Vec<T>` is an array of `$kind`.
macro_rules! element {
    ($($ty:ty => $kind:ident;)*) => {$(
        impl $crate::value::Element for $ty {
            const KIND: &'static $crate::value::Kind = &$crate::value::Kind::$kind;
        }
    )*};
}
// Used by the `with_*` modules, none of which may be enabled.
#[allow(unused_imports)]
pub(crate) use element;

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
    Numeric => Numeric, |v| v;
    Date => Date, |v| v;
    Time => Time, |v| v;
    Interval => Interval, |v| v;
    Inet => Inet, |v| v;
    IpAddr => Inet, |v| Inet::from(v);
}

element! {
    bool => Bool;
    i16 => Int;
    i32 => Int;
    i64 => Int;
    f32 => Float;
    f64 => Float;
    String => Text;
    serde_json::Value => Json;
    Vec<u8> => Bytes;
    Numeric => Numeric;
    Date => Date;
    Time => Time;
    Interval => Interval;
    Inet => Inet;
    IpAddr => Inet;
}

impl From<Array> for Value {
    fn from(array: Array) -> Self {
        Value::Array(array)
    }
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
    /// for an integer that does not fit; [`ValueError::Unrepresentable`] for a value the
    /// type cannot hold exactly.
    fn from_value(value: Value) -> Result<Self, ValueError>;
}

/// `value` does not fit `target` exactly.
pub(crate) fn unrepresentable(value: &dyn fmt::Display, target: &'static str) -> ValueError {
    ValueError::Unrepresentable { value: value.to_string(), target }
}

pub(crate) fn mismatch<T>(expected: &'static str, found: &Value) -> Result<T, ValueError> {
    Err(ValueError::Mismatch { expected, found: found.describe() })
}

/// `FromValue` for types read from one variant (`$pattern => $result`, where the
/// pattern binds the payload).
macro_rules! from_value {
    ($($ty:ty, $expected:literal: $($pattern:pat => $result:expr),+;)*) => {$(
        impl $crate::value::FromValue for $ty {
            fn from_value(value: $crate::value::Value) -> Result<Self, $crate::error::ValueError> {
                match value {
                    $($pattern => $result,)+
                    other => $crate::value::mismatch($expected, &other),
                }
            }
        }
    )*};
}
// Used by the `with_*` modules, none of which may be enabled.
#[allow(unused_imports)]
pub(crate) use from_value;

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        Ok(value)
    }
}

from_value! {
    bool, "boolean": Value::Bool(b) => Ok(b);
    i64, "bigint": Value::Int(i) => Ok(i);
    f64, "double precision": Value::Float(f) => Ok(f);
    String, "text": Value::Text(s) => Ok(s);
    serde_json::Value, "jsonb": Value::Json(j) => Ok(j);
    Vec<u8>, "bytea": Value::Bytes(b) => Ok(b);
    Numeric, "numeric": Value::Numeric(n) => Ok(n);
    Timestamp, "timestamptz or timestamp": Value::Timestamptz(t) | Value::Timestamp(t) => Ok(t);
    Date, "date": Value::Date(d) => Ok(d);
    Time, "time": Value::Time(t) => Ok(t);
    Interval, "interval": Value::Interval(i) => Ok(i);
    Inet, "inet or cidr": Value::Inet(n) | Value::Cidr(n) => Ok(n);
    Array, "array": Value::Array(a) => Ok(a);
    IpAddr, "inet": Value::Inet(n) | Value::Cidr(n) => if n.is_host() {
        Ok(n.addr())
    } else {
        Err(unrepresentable(&n, "IpAddr"))
    };
}

macro_rules! narrow_int {
    ($($ty:ty),*) => {$(
        impl FromValue for $ty {
            fn from_value(value: Value) -> Result<Self, ValueError> {
                let wide = i64::from_value(value)?;
                <$ty>::try_from(wide).map_err(|_| ValueError::OutOfRange { value: wide, target: stringify!($ty) })
            }
        }
    )*};
}

narrow_int!(i16, i32);

/// Exact only: a `real` column reads back exactly, a `double precision` one only when
/// it has no more precision than `f32` holds.
impl FromValue for f32 {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        let wide = f64::from_value(value)?;
        #[allow(clippy::cast_possible_truncation)]
        let narrow = wide as f32;
        if f64::from(narrow) == wide || wide.is_nan() { Ok(narrow) } else { Err(unrepresentable(&wide, "f32")) }
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

    #[test]
    fn json_forms_of_the_typed_values_are_exact_text() {
        let numeric: Numeric = "-12345678901234567890123456789012345678.90".parse().expect("numeric");
        assert_eq!(Value::Numeric(numeric).to_json(), serde_json::json!("-12345678901234567890123456789012345678.90"));
        let uuid = Value::Uuid([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0xff]);
        assert_eq!(uuid.to_json(), serde_json::json!("01234567-89ab-cdef-0000-0000000000ff"));
        assert_eq!(
            Value::Timestamptz(Timestamp::from_micros(1)).to_json(),
            serde_json::json!("2000-01-01 00:00:00.000001+00")
        );
        let network = Inet::new(IpAddr::from([10, 0, 0, 0]), 8).expect("prefix");
        assert_eq!(Value::Cidr(network).to_json(), serde_json::json!("10.0.0.0/8"));
        let array = Value::from(vec![Some(1_i64), None]);
        assert_eq!(array.to_json(), serde_json::json!([1, null]));
        assert_eq!(array.kind().sql_type(), "bigint[]");
    }

    #[test]
    fn array_conversions_check_the_element_kind() {
        assert_eq!(Value::from(None::<Vec<String>>), Value::Null(Kind::Array(&Kind::Text)));
        assert_eq!(Vec::<i32>::from_value(Value::from(vec![1_i64, 2])), Ok(vec![1, 2]));
        assert_eq!(
            Vec::<bool>::from_value(Value::from(vec![1_i64])).map_err(|e| e.to_string()),
            Err("expected a boolean value, found bigint".into())
        );
        assert_eq!(
            Vec::<i64>::from_value(Value::Int(1)).map_err(|e| e.to_string()),
            Err("expected a bigint[] value, found bigint".into())
        );
        assert!(Array::new(Kind::Array(&Kind::Int), Vec::new()).is_err());
    }

    #[test]
    fn narrowing_is_exact_or_an_error() {
        assert_eq!(f32::from_value(Value::Float(0.5)), Ok(0.5));
        assert_eq!(
            f32::from_value(Value::Float(0.1)),
            Err(ValueError::Unrepresentable { value: "0.1".into(), target: "f32" })
        );
        let network = Inet::new(IpAddr::from([10, 0, 0, 0]), 8).expect("prefix");
        assert!(IpAddr::from_value(Value::Inet(network)).is_err());
        assert!(Inet::new(IpAddr::from([10, 0, 0, 0]), 33).is_err());
    }

    #[cfg(all(feature = "uuid", feature = "chrono", feature = "rust_decimal"))]
    #[test]
    fn feature_types_convert_both_ways_with_typed_nulls() {
        let id = uuid::Uuid::from_u128(7);
        assert_eq!(uuid::Uuid::from_value(Value::from(id)), Ok(id));
        assert_eq!(Value::from(None::<uuid::Uuid>), Value::Null(Kind::Uuid));
        assert_eq!(Value::from(None::<chrono::DateTime<chrono::Utc>>), Value::Null(Kind::Timestamptz));
        let date = chrono::NaiveDate::from_ymd_opt(2000, 1, 2).expect("date");
        assert_eq!(Value::from(date), Value::Date(Date::from_days(1)));
        let decimal = rust_decimal::Decimal::new(-150, 2);
        assert_eq!(Value::from(decimal), Value::Numeric("-1.50".parse().expect("numeric")));
        assert!(rust_decimal::Decimal::from_value(Value::Numeric(Numeric::nan())).is_err());
    }
}
