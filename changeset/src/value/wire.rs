//! PostgreSQL's binary format for each [`Value`]: what both backends send as a parameter
//! and read from a returned column.
//!
//! One codec for both drivers keeps them byte-for-byte alike and exact: the drivers'
//! own codecs each cover another set of types (tokio-postgres has no `numeric` nor
//! `interval`, sqlx's `rust_decimal` stops at 28 digits). The layouts are PostgreSQL's
//! `*send`/`*recv` functions (`src/backend/utils/adt/` in its sources).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::ValueError;
use crate::value::{Array, Date, Inet, Interval, Kind, Numeric, Time, Timestamp, Value};

/// Each kind's type OID and its array type's OID, as fixed in `pg_type.dat`.
const OIDS: [(Kind, u32, u32); 15] = [
    (Kind::Bool, 16, 1000),
    (Kind::Int, 20, 1016),
    (Kind::Float, 701, 1022),
    (Kind::Text, 25, 1009),
    (Kind::Json, 3802, 3807),
    (Kind::Bytes, 17, 1001),
    (Kind::Numeric, 1700, 1231),
    (Kind::Uuid, 2950, 2951),
    (Kind::Timestamptz, 1184, 1185),
    (Kind::Timestamp, 1114, 1115),
    (Kind::Date, 1082, 1182),
    (Kind::Time, 1083, 1183),
    (Kind::Interval, 1186, 1187),
    (Kind::Inet, 869, 1041),
    (Kind::Cidr, 650, 651),
];

/// Types read into a variant of a wider one: (OID, array OID, kind, name).
const NARROW: [(u32, u32, Kind, &str); 7] = [
    (21, 1005, Kind::Int, "smallint"),
    (23, 1007, Kind::Int, "integer"),
    (700, 1021, Kind::Float, "real"),
    (1043, 1015, Kind::Text, "varchar"),
    (1042, 1014, Kind::Text, "char"),
    (19, 1003, Kind::Text, "name"),
    (114, 199, Kind::Json, "json"),
];

const NUMERIC_POSITIVE: u16 = 0x0000;
const NUMERIC_NEGATIVE: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// PostgreSQL's limit on a `numeric`'s display scale.
const NUMERIC_MAX_DSCALE: usize = 0x3FFF;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 3;
const JSONB_VERSION: u8 = 1;

/// The OID a value of `kind` is sent as.
pub(crate) fn type_oid(kind: Kind) -> u32 {
    let (scalar, array) = kind.innermost();
    let oids = OIDS.iter().find(|(k, _, _)| *k == scalar).map(|(_, oid, array_oid)| (*oid, *array_oid));
    match oids {
        Some((_, array_oid)) if array => array_oid,
        Some((oid, _)) => oid,
        // Every scalar kind is in the table; 0 lets the server infer the type.
        None => 0,
    }
}

/// Appends the binary form of `value`, which is not `NULL` (a `NULL` parameter has no
/// bytes: the drivers send its length as -1).
///
/// # Errors
/// [`ValueError::Unrepresentable`] for a `numeric` beyond PostgreSQL's binary limits.
pub(crate) fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), ValueError> {
    match value {
        // Callers send NULLs without bytes; an array item is handled in `encode_array`.
        Value::Null(_) => {}
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Int(i) => out.extend_from_slice(&i.to_be_bytes()),
        Value::Float(f) => out.extend_from_slice(&f.to_bits().to_be_bytes()),
        Value::Text(s) => out.extend_from_slice(s.as_bytes()),
        Value::Json(j) => {
            out.push(JSONB_VERSION);
            serde_json::to_writer(&mut *out, j)
                .map_err(|_| ValueError::Unrepresentable { value: "a JSON value".into(), target: "jsonb" })?;
        }
        Value::Bytes(b) => out.extend_from_slice(b),
        Value::Numeric(n) => encode_numeric(n, out)?,
        Value::Uuid(bytes) => out.extend_from_slice(bytes),
        Value::Timestamptz(t) | Value::Timestamp(t) => out.extend_from_slice(&t.micros().to_be_bytes()),
        Value::Date(d) => out.extend_from_slice(&d.days().to_be_bytes()),
        Value::Time(t) => out.extend_from_slice(&t.micros().to_be_bytes()),
        Value::Interval(i) => {
            out.extend_from_slice(&i.microseconds.to_be_bytes());
            out.extend_from_slice(&i.days.to_be_bytes());
            out.extend_from_slice(&i.months.to_be_bytes());
        }
        Value::Inet(n) => encode_inet(*n, false, out),
        Value::Cidr(n) => encode_inet(*n, true, out),
        Value::Array(array) => encode_array(array, out)?,
    }
    Ok(())
}

/// Reads a column of type `oid` (`type_name` for messages); `None` bytes is `NULL`.
///
/// # Errors
/// [`ValueError::UnsupportedColumn`] for a type with no variant, [`ValueError::Malformed`]
/// for bytes that are not a value of the type.
pub(crate) fn decode(oid: u32, type_name: &str, bytes: Option<&[u8]>) -> Result<Value, ValueError> {
    let unsupported = || ValueError::UnsupportedColumn { type_name: type_name.to_owned() };
    let (kind, array) = read_kind(oid).ok_or_else(unsupported)?;
    match bytes {
        None if array => Ok(Value::Null(Kind::Array(kind.as_static_scalar().ok_or_else(unsupported)?))),
        None => Ok(Value::Null(kind)),
        Some(bytes) if array => decode_array(bytes),
        Some(bytes) => decode_scalar(oid, bytes),
    }
}

/// The kind a column of type `oid` is read into, and whether it is an array of it.
fn read_kind(oid: u32) -> Option<(Kind, bool)> {
    let exact = OIDS.iter().find_map(|(kind, scalar, array)| {
        (oid == *scalar).then_some((*kind, false)).or((oid == *array).then_some((*kind, true)))
    });
    exact.or_else(|| {
        NARROW.iter().find_map(|(scalar, array, kind, _)| {
            (oid == *scalar).then_some((*kind, false)).or((oid == *array).then_some((*kind, true)))
        })
    })
}

/// The name of a scalar type `oid`, for messages.
fn scalar_name(oid: u32) -> &'static str {
    let exact = OIDS.iter().find(|(_, scalar, _)| *scalar == oid).map(|(kind, _, _)| kind.sql_type());
    exact.or_else(|| NARROW.iter().find(|(scalar, ..)| *scalar == oid).map(|(.., name)| *name)).unwrap_or("unknown")
}

fn decode_scalar(oid: u32, bytes: &[u8]) -> Result<Value, ValueError> {
    let mut reader = Reader { bytes, type_name: scalar_name(oid) };
    let value = match oid {
        16 => Value::Bool(reader.take::<1>()?[0] != 0),
        21 => Value::Int(i16::from_be_bytes(reader.take()?).into()),
        23 => Value::Int(i32::from_be_bytes(reader.take()?).into()),
        20 => Value::Int(i64::from_be_bytes(reader.take()?)),
        700 => Value::Float(f32::from_be_bytes(reader.take()?).into()),
        701 => Value::Float(f64::from_be_bytes(reader.take()?)),
        25 | 1043 | 1042 | 19 => Value::Text(reader.utf8()?.to_owned()),
        114 => Value::Json(reader.json()?),
        3802 => {
            if reader.take::<1>()?[0] != JSONB_VERSION {
                return Err(reader.malformed("unknown jsonb version"));
            }
            Value::Json(reader.json()?)
        }
        17 => Value::Bytes(reader.rest().to_vec()),
        1700 => Value::Numeric(decode_numeric(&mut reader)?),
        2950 => Value::Uuid(reader.take()?),
        1184 => Value::Timestamptz(Timestamp::from_micros(i64::from_be_bytes(reader.take()?))),
        1114 => Value::Timestamp(Timestamp::from_micros(i64::from_be_bytes(reader.take()?))),
        1082 => Value::Date(Date::from_days(i32::from_be_bytes(reader.take()?))),
        1083 => Value::Time(
            Time::from_micros(i64::from_be_bytes(reader.take()?)).map_err(|_| reader.malformed("time out of range"))?,
        ),
        1186 => {
            let microseconds = i64::from_be_bytes(reader.take()?);
            let days = i32::from_be_bytes(reader.take()?);
            let months = i32::from_be_bytes(reader.take()?);
            Value::Interval(Interval { months, days, microseconds })
        }
        869 => Value::Inet(decode_inet(&mut reader)?),
        650 => Value::Cidr(decode_inet(&mut reader)?),
        _ => return Err(ValueError::UnsupportedColumn { type_name: format!("oid {oid}") }),
    };
    if !reader.rest().is_empty() {
        return Err(reader.malformed("trailing bytes"));
    }
    Ok(value)
}

/// `numeric`: digit count, weight of the first digit, sign, display scale (all 16-bit),
/// then the digits in base 10000, the first one at 10000^weight.
fn encode_numeric(n: &Numeric, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let too_large = || ValueError::Unrepresentable { value: n.to_string(), target: "numeric" };
    let Some((negative, integer, fraction)) = n.parts() else {
        let sign = match n.as_str() {
            "NaN" => NUMERIC_NAN,
            "Infinity" => NUMERIC_PINF,
            _ => NUMERIC_NINF,
        };
        for part in [0_u16, 0, sign, 0] {
            out.extend_from_slice(&part.to_be_bytes());
        }
        return Ok(());
    };
    if fraction.len() > NUMERIC_MAX_DSCALE {
        return Err(too_large());
    }
    // Pad both parts to whole base-10000 digits around the decimal point.
    let mut padded = "0".repeat((4 - integer.len() % 4) % 4);
    padded.push_str(integer);
    let integer_groups = padded.len() / 4;
    padded.push_str(fraction);
    padded.push_str(&"0".repeat((4 - fraction.len() % 4) % 4));
    let mut digits: Vec<u16> = padded
        .as_bytes()
        .chunks(4)
        .map(|group| group.iter().fold(0_u16, |acc, b| acc * 10 + u16::from(b - b'0')))
        .collect();
    let mut weight = i64::try_from(integer_groups).map_err(|_| too_large())? - 1;
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= i64::try_from(leading).map_err(|_| too_large())?;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let ndigits = i16::try_from(digits.len()).map_err(|_| too_large())?;
    let weight = i16::try_from(weight).map_err(|_| too_large())?;
    let sign = if negative && !digits.is_empty() { NUMERIC_NEGATIVE } else { NUMERIC_POSITIVE };
    let dscale = u16::try_from(fraction.len()).map_err(|_| too_large())?;
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for digit in digits {
        out.extend_from_slice(&digit.to_be_bytes());
    }
    Ok(())
}

fn decode_numeric(reader: &mut Reader<'_>) -> Result<Numeric, ValueError> {
    let ndigits = i16::from_be_bytes(reader.take()?);
    let weight = i64::from(i16::from_be_bytes(reader.take()?));
    let sign = u16::from_be_bytes(reader.take()?);
    let dscale = usize::from(u16::from_be_bytes(reader.take()?));
    match sign {
        NUMERIC_NAN => return Ok(Numeric::nan()),
        NUMERIC_PINF => return Ok(Numeric::infinity(false)),
        NUMERIC_NINF => return Ok(Numeric::infinity(true)),
        NUMERIC_POSITIVE | NUMERIC_NEGATIVE => {}
        _ => return Err(reader.malformed("unknown numeric sign")),
    }
    let ndigits = usize::try_from(ndigits).map_err(|_| reader.malformed("negative digit count"))?;
    let mut digits = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        let digit = u16::from_be_bytes(reader.take()?);
        if digit >= 10_000 {
            return Err(reader.malformed("numeric digit out of range"));
        }
        digits.push(digit);
    }
    // The digit of weight `w` is at index `weight - w`; missing ones are zeros.
    let digit_at = |w: i64| usize::try_from(weight - w).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0);
    let mut integer = String::new();
    for w in (0..=weight).rev() {
        integer.push_str(&format!("{:04}", digit_at(w)));
    }
    let mut fraction = String::with_capacity(dscale + 4);
    let mut w = -1;
    while fraction.len() < dscale {
        fraction.push_str(&format!("{:04}", digit_at(w)));
        w -= 1;
    }
    fraction.truncate(dscale);
    Ok(Numeric::from_parts(sign == NUMERIC_NEGATIVE, &integer, &fraction))
}

/// `inet`/`cidr`: family, prefix length, whether it is a `cidr`, address length, address.
fn encode_inet(n: Inet, cidr: bool, out: &mut Vec<u8>) {
    match n.addr() {
        IpAddr::V4(addr) => {
            out.extend_from_slice(&[AF_INET, n.prefix(), u8::from(cidr), 4]);
            out.extend_from_slice(&addr.octets());
        }
        IpAddr::V6(addr) => {
            out.extend_from_slice(&[AF_INET6, n.prefix(), u8::from(cidr), 16]);
            out.extend_from_slice(&addr.octets());
        }
    }
}

fn decode_inet(reader: &mut Reader<'_>) -> Result<Inet, ValueError> {
    let [family, prefix, _cidr, length] = reader.take()?;
    let addr = match (family, length) {
        (AF_INET, 4) => IpAddr::V4(Ipv4Addr::from(reader.take::<4>()?)),
        (AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(reader.take::<16>()?)),
        _ => return Err(reader.malformed("unknown address family")),
    };
    Inet::new(addr, prefix).map_err(|_| reader.malformed("prefix longer than the address"))
}

/// Arrays: dimensions, whether any item is `NULL`, element OID, then per dimension its
/// length and lower bound, then each item as a length (-1 for `NULL`) and its bytes.
fn encode_array(array: &Array, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let too_long = || ValueError::Unrepresentable { value: "an array or item over 2 GiB".into(), target: "array" };
    let items = array.items();
    let dimensions: i32 = if items.is_empty() { 0 } else { 1 };
    let has_null = i32::from(items.iter().any(Value::is_null));
    out.extend_from_slice(&dimensions.to_be_bytes());
    out.extend_from_slice(&has_null.to_be_bytes());
    out.extend_from_slice(&type_oid(array.element()).to_be_bytes());
    if !items.is_empty() {
        out.extend_from_slice(&i32::try_from(items.len()).map_err(|_| too_long())?.to_be_bytes());
        out.extend_from_slice(&1_i32.to_be_bytes());
    }
    for item in items {
        if item.is_null() {
            out.extend_from_slice(&(-1_i32).to_be_bytes());
            continue;
        }
        let length_at = out.len();
        out.extend_from_slice(&0_i32.to_be_bytes());
        encode(item, out)?;
        let length = i32::try_from(out.len() - length_at - 4).map_err(|_| too_long())?;
        out[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
    }
    Ok(())
}

fn decode_array(bytes: &[u8]) -> Result<Value, ValueError> {
    let mut reader = Reader { bytes, type_name: "array" };
    let dimensions = i32::from_be_bytes(reader.take()?);
    let _has_null = i32::from_be_bytes(reader.take()?);
    let element_oid = u32::from_be_bytes(reader.take()?);
    let element = match read_kind(element_oid) {
        Some((kind, false)) => kind,
        _ => {
            return Err(ValueError::UnsupportedColumn { type_name: format!("array of oid {element_oid}") });
        }
    };
    let length = match dimensions {
        0 => 0,
        1 => {
            let length = i32::from_be_bytes(reader.take()?);
            if i32::from_be_bytes(reader.take()?) != 1 {
                return Err(ValueError::UnsupportedColumn { type_name: "array not numbered from 1".into() });
            }
            usize::try_from(length).map_err(|_| reader.malformed("negative array length"))?
        }
        _ => return Err(ValueError::UnsupportedColumn { type_name: "multi-dimensional array".into() }),
    };
    let mut items = Vec::with_capacity(length.min(reader.bytes.len() / 4));
    for _ in 0..length {
        let item_length = i32::from_be_bytes(reader.take()?);
        let item = match usize::try_from(item_length) {
            Err(_) => Value::Null(element),
            Ok(item_length) => decode_scalar(element_oid, reader.take_slice(item_length)?)?,
        };
        items.push(item);
    }
    if !reader.rest().is_empty() {
        return Err(reader.malformed("trailing bytes"));
    }
    Array::new(element, items).map(Value::Array)
}

/// Reads fixed-size parts off a value's bytes, failing with [`ValueError::Malformed`].
struct Reader<'a> {
    bytes: &'a [u8],
    type_name: &'static str,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ValueError> {
        let slice = self.take_slice(N)?;
        slice.try_into().map_err(|_| self.malformed("too short"))
    }

    fn take_slice(&mut self, n: usize) -> Result<&'a [u8], ValueError> {
        if self.bytes.len() < n {
            return Err(self.malformed("too short"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn utf8(&mut self) -> Result<&'a str, ValueError> {
        let bytes = self.rest();
        std::str::from_utf8(bytes).map_err(|_| self.malformed("invalid UTF-8"))
    }

    fn json(&mut self) -> Result<serde_json::Value, ValueError> {
        let text = self.utf8()?;
        serde_json::from_str(text).map_err(|_| self.malformed("invalid JSON"))
    }

    fn malformed(&self, reason: &'static str) -> ValueError {
        ValueError::Malformed { type_name: self.type_name, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Value) -> Value {
        let mut bytes = Vec::new();
        encode(value, &mut bytes).expect("encode");
        decode(type_oid(value.kind()), "test", Some(&bytes)).expect("decode")
    }

    #[test]
    fn numerics_keep_every_digit_and_the_scale() {
        for text in [
            "0",
            "0.00",
            "1.50",
            "-12345678901234567890123456789012345678",
            "0.00000000000000000000000000000000000001",
            "10000",
            "-0.0001",
            "123456789.123456789",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            let value = Value::Numeric(text.parse().expect("numeric"));
            assert_eq!(round_trip(&value), value, "{text}");
        }
    }

    #[test]
    fn numeric_digits_are_postgres_base_10000() {
        let mut bytes = Vec::new();
        encode(&Value::Numeric("-12345.6".parse().expect("numeric")), &mut bytes).expect("encode");
        // 3 digits, weight 1, negative, scale 1: 1 2345 6000.
        let expected: Vec<u8> =
            [3_u16, 1, 0x4000, 1, 1, 2345, 6000].iter().flat_map(|part| part.to_be_bytes()).collect();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn arrays_keep_nulls_and_element_kind() {
        let array = Array::new(Kind::Text, vec![Value::Text("a".into()), Value::Null(Kind::Text)]).expect("array");
        assert_eq!(round_trip(&Value::Array(array.clone())), Value::Array(array));
        let empty = Array::new(Kind::Uuid, Vec::new()).expect("array");
        assert_eq!(round_trip(&Value::Array(empty.clone())), Value::Array(empty));
        assert!(Array::new(Kind::Int, vec![Value::Bool(true)]).is_err());
    }

    #[test]
    fn truncated_bytes_are_malformed_not_a_panic() {
        assert_eq!(
            decode(1700, "numeric", Some(&[0, 1, 0])),
            Err(ValueError::Malformed { type_name: "numeric", reason: "too short" })
        );
        assert!(matches!(decode(1186, "interval", Some(&[0; 15])), Err(ValueError::Malformed { .. })));
        assert_eq!(decode(3614, "tsvector", None), Err(ValueError::UnsupportedColumn { type_name: "tsvector".into() }));
    }
}
