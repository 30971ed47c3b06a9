//! `chrono`'s date and time types as `timestamptz`, `timestamp`, `date` and `time`
//! values (feature `chrono`).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use crate::error::ValueError;
use crate::value::datetime::{MICROS_PER_SECOND, UNIX_TO_PG_MICROS};
use crate::value::{Date, Time, Timestamp, Value, element, from_value, into_value, unrepresentable};

/// `num_days_from_ce` of 2000-01-01.
const CE_TO_PG_DAYS: i32 = 730_120;

into_value! {
    DateTime<Utc> => Timestamptz, |v| to_timestamp(v);
    NaiveDateTime => Timestamp, |v| to_timestamp(v.and_utc());
    NaiveDate => Date, |v| Date::from_days(v.num_days_from_ce() - CE_TO_PG_DAYS);
    NaiveTime => Time, |v| Time::new_unchecked(
        i64::from(v.num_seconds_from_midnight()) * MICROS_PER_SECOND + i64::from(v.nanosecond() / 1_000)
    );
}

element! {
    DateTime<Utc> => Timestamptz;
    NaiveDateTime => Timestamp;
    NaiveDate => Date;
    NaiveTime => Time;
}

from_value! {
    DateTime<Utc>, "timestamptz": Value::Timestamptz(t) => from_timestamp(t, "chrono::DateTime<Utc>");
    NaiveDateTime, "timestamp": Value::Timestamp(t) => from_timestamp(t, "chrono::NaiveDateTime").map(|t| t.naive_utc());
    NaiveDate, "date": Value::Date(d) => d
        .days()
        .checked_add(CE_TO_PG_DAYS)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| unrepresentable(&Value::Date(d), "chrono::NaiveDate"));
    NaiveTime, "time": Value::Time(t) => {
        let (seconds, micros) = (t.micros() / MICROS_PER_SECOND, t.micros() % MICROS_PER_SECOND);
        u32::try_from(seconds)
            .ok()
            .and_then(|s| NaiveTime::from_num_seconds_from_midnight_opt(s, u32::try_from(micros * 1_000).ok()?))
            .ok_or_else(|| unrepresentable(&Value::Time(t), "chrono::NaiveTime"))
    };
}

/// Nanoseconds are truncated: PostgreSQL keeps microseconds. chrono's range (about
/// 262,000 years) is well within PostgreSQL's count.
fn to_timestamp(instant: DateTime<Utc>) -> Timestamp {
    Timestamp::from_micros(instant.timestamp_micros().saturating_sub(UNIX_TO_PG_MICROS))
}

fn from_timestamp(timestamp: Timestamp, target: &'static str) -> Result<DateTime<Utc>, ValueError> {
    let fail = || unrepresentable(&Value::Timestamp(timestamp), target);
    if !timestamp.is_finite() {
        return Err(fail());
    }
    let micros = timestamp.micros().checked_add(UNIX_TO_PG_MICROS).ok_or_else(fail)?;
    DateTime::from_timestamp_micros(micros).ok_or_else(fail)
}
