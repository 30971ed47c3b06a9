//! `bigdecimal::BigDecimal` as a `numeric` value (feature `bigdecimal`).

use std::str::FromStr;

use bigdecimal::BigDecimal;

use crate::error::ValueError;
use crate::value::{Numeric, Value, element, from_value, into_value, unrepresentable};

into_value! {
    BigDecimal => Numeric, |v| bigdecimal_to_numeric(&v);
}

element! {
    BigDecimal => Numeric;
}

from_value! {
    BigDecimal, "numeric": Value::Numeric(n) => numeric_to_bigdecimal(&n);
}

/// From the digits and the scale rather than `Display`, which switches to an exponent
/// for some values (`1E+5`) that [`Numeric`] does not read.
fn bigdecimal_to_numeric(decimal: &BigDecimal) -> Numeric {
    let (digits, scale) = decimal.as_bigint_and_exponent();
    let negative = digits.sign() == bigdecimal::num_bigint::Sign::Minus;
    Numeric::from_scaled(negative, digits.magnitude().to_string(), scale)
}

/// Exact: a `BigDecimal` holds any finite `numeric`, with its scale.
fn numeric_to_bigdecimal(numeric: &Numeric) -> Result<BigDecimal, ValueError> {
    let fail = || unrepresentable(numeric, "bigdecimal::BigDecimal");
    if !numeric.is_finite() {
        return Err(fail());
    }
    BigDecimal::from_str(numeric.as_str()).map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scale_becomes_plain_digits() {
        let cases = [("1E+5", "100000"), ("-0.00012", "-0.00012"), ("12.340", "12.340"), ("0", "0")];
        for (input, expected) in cases {
            let decimal = BigDecimal::from_str(input).expect("bigdecimal");
            assert_eq!(bigdecimal_to_numeric(&decimal).as_str(), expected, "{input}");
        }
    }
}
