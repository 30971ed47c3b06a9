//! Dates and times in PostgreSQL's own units: [`Timestamp`], [`Date`], [`Time`],
//! [`Interval`].
//!
//! Each holds exactly what PostgreSQL stores (microseconds or days since
//! 2000-01-01, the infinities included), so a value read back is the value written,
//! whichever Rust date crate the application uses; the `chrono` and `time` features
//! convert at the edge.

use std::fmt;

use crate::error::ValueError;

pub(crate) const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;
/// Microseconds from 1970-01-01 to PostgreSQL's epoch, for the crates that count from
/// the Unix epoch.
#[cfg(any(feature = "chrono", feature = "time"))]
pub(crate) const UNIX_TO_PG_MICROS: i64 = UNIX_TO_PG_DAYS * MICROS_PER_DAY;

/// A `timestamptz` (microseconds since 2000-01-01 00:00:00 UTC) or `timestamp` (the same
/// count on a wall clock without zone), as PostgreSQL stores it; the extreme values are
/// `-infinity` and `infinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    /// `infinity`.
    pub const INFINITY: Timestamp = Timestamp { micros: i64::MAX };
    /// `-infinity`.
    pub const NEG_INFINITY: Timestamp = Timestamp { micros: i64::MIN };

    /// The timestamp `micros` microseconds after 2000-01-01 00:00:00.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp { micros }
    }

    /// Microseconds since 2000-01-01 00:00:00.
    pub const fn micros(self) -> i64 {
        self.micros
    }

    /// Whether this is neither infinity.
    pub const fn is_finite(self) -> bool {
        self.micros != i64::MAX && self.micros != i64::MIN
    }

    /// PostgreSQL's input text, with `+00` for a `timestamptz`.
    pub(crate) fn write(self, f: &mut impl fmt::Write, zoned: bool) -> fmt::Result {
        match self.micros {
            i64::MAX => f.write_str("infinity"),
            i64::MIN => f.write_str("-infinity"),
            micros => {
                let (date, era) = civil(micros.div_euclid(MICROS_PER_DAY));
                f.write_str(&date)?;
                f.write_char(' ')?;
                write_time_of_day(f, micros.rem_euclid(MICROS_PER_DAY))?;
                if zoned {
                    f.write_str("+00")?;
                }
                f.write_str(era)
            }
        }
    }
}

/// A `date`: days since 2000-01-01, as PostgreSQL stores it; the extreme values are
/// `-infinity` and `infinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i32,
}

impl Date {
    /// `infinity`.
    pub const INFINITY: Date = Date { days: i32::MAX };
    /// `-infinity`.
    pub const NEG_INFINITY: Date = Date { days: i32::MIN };

    /// The date `days` days after 2000-01-01.
    pub const fn from_days(days: i32) -> Self {
        Date { days }
    }

    /// Days since 2000-01-01.
    pub const fn days(self) -> i32 {
        self.days
    }

    /// Whether this is neither infinity.
    pub const fn is_finite(self) -> bool {
        self.days != i32::MAX && self.days != i32::MIN
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.days {
            i32::MAX => f.write_str("infinity"),
            i32::MIN => f.write_str("-infinity"),
            days => {
                let (date, era) = civil(i64::from(days));
                write!(f, "{date}{era}")
            }
        }
    }
}

/// A `time` (without zone): microseconds since midnight, `24:00:00` included, as
/// PostgreSQL stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    micros: i64,
}

impl Time {
    /// The time `micros` microseconds after midnight.
    ///
    /// # Errors
    /// [`ValueError::Unrepresentable`] outside `00:00:00` to `24:00:00`.
    pub fn from_micros(micros: i64) -> Result<Self, ValueError> {
        if (0..=MICROS_PER_DAY).contains(&micros) {
            Ok(Time { micros })
        } else {
            Err(ValueError::Unrepresentable { value: format!("{micros} microseconds"), target: "time" })
        }
    }

    /// A time whose range the caller does not check: a Rust leap second (`23:59:60`)
    /// goes to PostgreSQL, which refuses it, rather than being changed here.
    #[cfg(any(feature = "chrono", feature = "time"))]
    pub(crate) const fn new_unchecked(micros: i64) -> Self {
        Time { micros }
    }

    /// Microseconds since midnight.
    pub const fn micros(self) -> i64 {
        self.micros
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time_of_day(f, self.micros)
    }
}

/// An `interval` as PostgreSQL stores it: months, days and microseconds, kept apart
/// because a month has no fixed number of days nor a day a fixed number of hours (across
/// a daylight saving change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Months (a year is 12).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds.
    pub microseconds: i64,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.microseconds < 0 { "-" } else { "" };
        let micros = self.microseconds.unsigned_abs();
        let (seconds, fraction) = (micros / 1_000_000, micros % 1_000_000);
        write!(f, "{} mons {} days {sign}{seconds}.{fraction:06} secs", self.months, self.days)
    }
}

/// `HH:MM:SS` and, when there are any, the fraction's digits without trailing zeros.
fn write_time_of_day(f: &mut impl fmt::Write, micros: i64) -> fmt::Result {
    let seconds = micros / MICROS_PER_SECOND;
    let fraction = micros % MICROS_PER_SECOND;
    write!(f, "{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)?;
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        write!(f, ".{}", digits.trim_end_matches('0'))?;
    }
    Ok(())
}

/// The proleptic Gregorian date `days` after 2000-01-01, as `YYYY-MM-DD`, and the era
/// suffix PostgreSQL reads (`" BC"` for year 0 and before, which is 1 BC).
fn civil(days: i64) -> (String, &'static str) {
    // Howard Hinnant's `civil_from_days`, counted from 0000-03-01.
    let z = days + UNIX_TO_PG_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if year > 0 {
        (format!("{year:04}-{month:02}-{day:02}"), "")
    } else {
        (format!("{:04}-{month:02}-{day:02}", 1 - year), " BC")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(micros: i64, zoned: bool) -> String {
        let mut text = String::new();
        Timestamp::from_micros(micros).write(&mut text, zoned).expect("write to a String");
        text
    }

    #[test]
    fn text_forms_are_what_postgres_reads() {
        assert_eq!(timestamp(0, true), "2000-01-01 00:00:00+00");
        assert_eq!(timestamp(-1, false), "1999-12-31 23:59:59.999999");
        assert_eq!(timestamp(5_097_600_000_000 + 1_500_000, false), "2000-02-29 00:00:01.5");
        assert_eq!(timestamp(i64::MAX, true), "infinity");
        assert_eq!(Date::from_days(-730_119).to_string(), "0001-01-01");
        assert_eq!(Date::from_days(-730_120).to_string(), "0001-12-31 BC");
        assert_eq!(Date::NEG_INFINITY.to_string(), "-infinity");
        assert_eq!(Time::from_micros(MICROS_PER_DAY).map(|t| t.to_string()), Ok("24:00:00".into()));
        assert!(Time::from_micros(-1).is_err());
        let interval = Interval { months: 14, days: -3, microseconds: -1_500_000 };
        assert_eq!(interval.to_string(), "14 mons -3 days -1.500000 secs");
    }
}
