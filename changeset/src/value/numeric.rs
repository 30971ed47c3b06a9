//! [`Numeric`]: a PostgreSQL `numeric`, exact, with its scale.

use std::fmt;
use std::str::FromStr;

use crate::error::ValueError;

/// A PostgreSQL `numeric` exactly as the database holds it: any number of digits, the
/// scale it was written with (`1.50` stays `1.50`), `NaN`, `Infinity` and `-Infinity`.
///
/// It is kept as its canonical decimal text: a fixed-size Rust decimal would cap the
/// digits (`rust_decimal` holds 28), and this type is what both the `rust_decimal` and the
/// `bigdecimal` conversions start from. Equality is textual, as PostgreSQL prints it:
/// `1.5` and `1.50` differ.
///
/// ```
/// use pg_changeset::Numeric;
///
/// let n: Numeric = "-00012345678901234567890123456789012345.670".parse()?;
/// assert_eq!(n.as_str(), "-12345678901234567890123456789012345.670");
/// assert!("1e5".parse::<Numeric>().is_err());
/// # Ok::<(), pg_changeset::ValueError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Numeric(String);

impl Numeric {
    /// `NaN`.
    pub fn nan() -> Self {
        Numeric("NaN".to_owned())
    }

    /// `Infinity` (`negative`: `-Infinity`).
    pub fn infinity(negative: bool) -> Self {
        Numeric(if negative { "-Infinity" } else { "Infinity" }.to_owned())
    }

    /// The canonical text: optional `-`, the integer digits without leading zeros, then
    /// `.` and the fraction digits when the scale is not zero; or a special value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a number (not `NaN` nor an infinity).
    pub fn is_finite(&self) -> bool {
        !matches!(self.0.as_str(), "NaN" | "Infinity" | "-Infinity")
    }

    /// The parts of a finite value: negative, integer digits, fraction digits.
    #[cfg(any(feature = "sqlx", feature = "tokio-postgres"))]
    pub(crate) fn parts(&self) -> Option<(bool, &str, &str)> {
        if !self.is_finite() {
            return None;
        }
        let (negative, digits) = match self.0.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, self.0.as_str()),
        };
        let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        Some((negative, integer, fraction))
    }

    /// The number `digits × 10^-scale` (`digits` are ASCII digits, checked by the callers):
    /// how decimal crates hold their values. A negative scale is trailing zeros.
    #[cfg(any(feature = "rust_decimal", feature = "bigdecimal"))]
    pub(crate) fn from_scaled(negative: bool, mut digits: String, scale: i64) -> Self {
        let Ok(scale) = usize::try_from(scale) else {
            let zeros = usize::try_from(scale.unsigned_abs()).unwrap_or(usize::MAX);
            digits.push_str(&"0".repeat(zeros));
            return Numeric::from_parts(negative, &digits, "");
        };
        if digits.len() <= scale {
            digits.insert_str(0, &"0".repeat(scale - digits.len() + 1));
        }
        let (integer, fraction) = digits.split_at(digits.len() - scale);
        Numeric::from_parts(negative, integer, fraction)
    }

    /// Builds the canonical form from parts whose digits are ASCII digits (checked by
    /// the callers).
    pub(crate) fn from_parts(negative: bool, integer: &str, fraction: &str) -> Self {
        let integer = integer.trim_start_matches('0');
        let integer = if integer.is_empty() { "0" } else { integer };
        // PostgreSQL has no negative zero.
        let zero = integer == "0" && fraction.bytes().all(|b| b == b'0');
        let mut text = String::with_capacity(integer.len() + fraction.len() + 2);
        if negative && !zero {
            text.push('-');
        }
        text.push_str(integer);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        Numeric(text)
    }
}

/// Parses plain decimal text (`-12.50`, `+3`, `NaN`, `Infinity`, `-Infinity`, case
/// insensitive for the special values). Exponents are refused: the scale they imply is
/// ambiguous.
impl FromStr for Numeric {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let invalid = || ValueError::InvalidNumeric { text: text.to_owned() };
        match text.to_ascii_lowercase().as_str() {
            "nan" => return Ok(Numeric::nan()),
            "infinity" | "+infinity" | "inf" | "+inf" => return Ok(Numeric::infinity(false)),
            "-infinity" | "-inf" => return Ok(Numeric::infinity(true)),
            _ => {}
        }
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) || digits.ends_with('.') {
            return Err(invalid());
        }
        Ok(Numeric::from_parts(negative, integer, fraction))
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_keeps_scale_and_drops_leading_zeros() {
        let parse = |s: &str| s.parse::<Numeric>().map(|n| n.to_string());
        assert_eq!(parse("007.50"), Ok("7.50".into()));
        assert_eq!(parse("+0.000"), Ok("0.000".into()));
        assert_eq!(parse("-0.00"), Ok("0.00".into()));
        assert_eq!(parse("-1"), Ok("-1".into()));
        assert_eq!(parse("nan"), Ok("NaN".into()));
        assert_eq!(parse("-Infinity"), Ok("-Infinity".into()));
        for bad in ["", "-", ".5", "5.", "1e3", "1.2.3", "--1", " 1"] {
            assert_eq!(parse(bad), Err(ValueError::InvalidNumeric { text: bad.into() }), "{bad:?}");
        }
    }
}
