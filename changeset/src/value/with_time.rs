//! The `time` crate's date and time types as `timestamptz`, `timestamp`, `date` and
//! `time` values (feature `time`).

use time::{Date as TimeDate, OffsetDateTime, PrimitiveDateTime, Time as TimeOfDay, UtcOffset};

use crate::error::ValueError;
use crate::value::datetime::{MICROS_PER_SECOND, UNIX_TO_PG_MICROS};
use crate::value::{Date, Time, Timestamp, Value, element, from_value, into_value, unrepresentable};

/// The Julian day number of 2000-01-01.
const JULIAN_TO_PG_DAYS: i32 = 2_451_545;

into_value! {
    OffsetDateTime => Timestamptz, |v| to_timestamp(v);
    PrimitiveDateTime => Timestamp, |v| to_timestamp(v.assume_utc());
    TimeDate => Date, |v| Date::from_days(v.to_julian_day() - JULIAN_TO_PG_DAYS);
    TimeOfDay => Time, |v| {
        let (hours, minutes, seconds, micros) = v.as_hms_micro();
        let seconds = i64::from(hours) * 3_600 + i64::from(minutes) * 60 + i64::from(seconds);
        Time::new_unchecked(seconds * MICROS_PER_SECOND + i64::from(micros))
    };
}

element! {
    OffsetDateTime => Timestamptz;
    PrimitiveDateTime => Timestamp;
    TimeDate => Date;
    TimeOfDay => Time;
}

from_value! {
    OffsetDateTime, "timestamptz": Value::Timestamptz(t) => from_timestamp(t, "time::OffsetDateTime");
    PrimitiveDateTime, "timestamp": Value::Timestamp(t) => from_timestamp(t, "time::PrimitiveDateTime")
        .map(|t| PrimitiveDateTime::new(t.date(), t.time()));
    TimeDate, "date": Value::Date(d) => d
        .days()
        .checked_add(JULIAN_TO_PG_DAYS)
        .and_then(|day| TimeDate::from_julian_day(day).ok())
        .ok_or_else(|| unrepresentable(&Value::Date(d), "time::Date"));
    TimeOfDay, "time": Value::Time(t) => {
        let micros = t.micros();
        let seconds = micros / MICROS_PER_SECOND;
        let parts = (seconds / 3_600, seconds / 60 % 60, seconds % 60, micros % MICROS_PER_SECOND);
        match (u8::try_from(parts.0), u8::try_from(parts.1), u8::try_from(parts.2), u32::try_from(parts.3)) {
            (Ok(h), Ok(m), Ok(s), Ok(us)) => TimeOfDay::from_hms_micro(h, m, s, us).ok(),
            _ => None,
        }
        .ok_or_else(|| unrepresentable(&Value::Time(t), "time::Time"))
    };
}

/// Nanoseconds are truncated (towards the past): PostgreSQL keeps microseconds. The
/// crate's range (years -9999 to 9999) is well within PostgreSQL's count.
fn to_timestamp(instant: OffsetDateTime) -> Timestamp {
    let micros = instant.unix_timestamp_nanos().div_euclid(1_000);
    let micros = i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX });
    Timestamp::from_micros(micros.saturating_sub(UNIX_TO_PG_MICROS))
}

/// In UTC, as PostgreSQL returns every `timestamptz`.
fn from_timestamp(timestamp: Timestamp, target: &'static str) -> Result<OffsetDateTime, ValueError> {
    let fail = || unrepresentable(&Value::Timestamp(timestamp), target);
    if !timestamp.is_finite() {
        return Err(fail());
    }
    let micros = timestamp.micros().checked_add(UNIX_TO_PG_MICROS).ok_or_else(fail)?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map(|t| t.to_offset(UtcOffset::UTC))
        .map_err(|_| fail())
}
