//! `rust_decimal::Decimal` as a `numeric` value (feature `rust_decimal`).

use rust_decimal::Decimal;

use crate::error::ValueError;
use crate::value::{Numeric, Value, element, from_value, into_value, unrepresentable};

into_value! {
    Decimal => Numeric, |v| decimal_to_numeric(v);
}

element! {
    Decimal => Numeric;
}

from_value! {
    Decimal, "numeric": Value::Numeric(n) => numeric_to_decimal(&n);
}

/// From the digits and the scale, which a `Decimal` keeps (`1.50`).
fn decimal_to_numeric(decimal: Decimal) -> Numeric {
    let digits = decimal.mantissa().unsigned_abs().to_string();
    Numeric::from_scaled(decimal.is_sign_negative(), digits, i64::from(decimal.scale()))
}

/// Exact or an error: `from_str_exact` refuses what would need rounding (more than 28
/// fraction digits, more than 96 bits of digits), and `NaN` and the infinities have no
/// `Decimal`.
fn numeric_to_decimal(numeric: &Numeric) -> Result<Decimal, ValueError> {
    let fail = || unrepresentable(numeric, "rust_decimal::Decimal");
    if !numeric.is_finite() {
        return Err(fail());
    }
    Decimal::from_str_exact(numeric.as_str()).map_err(|_| fail())
}
