//! Every type of `Value`'s table through each backend, against PostgreSQL: bound as a
//! parameter into a column of the type, returned by `RETURNING` into a `Slot<T>`,
//! written again through `InsertRow` (the JSON path) and compared with the value, and
//! with what the driver itself reads from the column.

use std::fmt::Debug;
use std::net::IpAddr;
use std::str::FromStr;

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use ipnetwork::IpNetwork;
use pg_changeset::{
    Changeset, Date, FromValue, Inet, InsertRow, Interval, Numeric, PushOptions, Slot, Statement, Timestamp, Value,
};
use rust_decimal::Decimal;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use sqlx::postgres::types::PgInterval;
use uuid::Uuid;

use crate::harness::{TestBackend, fresh};

/// A Rust type as each driver reads it from a column, with its own decoder.
pub trait Direct: Sized {
    /// SQL after the column in the sqlx query (a cast when sqlx has no decoder).
    const SQLX_CAST: &'static str = "";
    /// SQL after the column in the tokio-postgres query.
    const TOKIO_CAST: &'static str = "";
    /// The first column, `None` for `NULL`.
    fn sqlx(row: &PgRow) -> Option<Self>;
    /// The first column, `None` for `NULL`.
    fn tokio(row: &tokio_postgres::Row) -> Option<Self>;
}

/// Types both drivers decode.
macro_rules! direct {
    ($($ty:ty),* $(,)?) => {$(
        impl Direct for $ty {
            fn sqlx(row: &PgRow) -> Option<Self> {
                row.try_get::<Option<$ty>, _>(0).expect(concat!("sqlx reads ", stringify!($ty)))
            }
            fn tokio(row: &tokio_postgres::Row) -> Option<Self> {
                row.try_get::<_, Option<$ty>>(0).expect(concat!("tokio-postgres reads ", stringify!($ty)))
            }
        }
    )*};
}

direct!(
    bool,
    i16,
    i32,
    i64,
    f32,
    f64,
    String,
    Vec<u8>,
    serde_json::Value,
    Uuid,
    Decimal,
    DateTime<Utc>,
    NaiveDateTime,
    NaiveDate,
    NaiveTime,
    time::OffsetDateTime,
    time::PrimitiveDateTime,
    time::Date,
    time::Time,
    IpAddr,
    Vec<i64>,
    Vec<i32>,
    Vec<Option<String>>,
    Vec<Uuid>,
    Vec<DateTime<Utc>>,
);

/// A column read as text by sqlx, parsed.
fn sqlx_text<P: FromStr>(row: &PgRow) -> Option<P>
where
    P::Err: Debug,
{
    let text: Option<String> = row.try_get(0).expect("sqlx reads text");
    text.map(|t| t.parse().expect("PostgreSQL's text form"))
}

/// A column read as text by tokio-postgres, parsed.
fn tokio_text<P: FromStr>(row: &tokio_postgres::Row) -> Option<P>
where
    P::Err: Debug,
{
    let text: Option<String> = row.try_get(0).expect("tokio-postgres reads text");
    text.map(|t| t.parse().expect("PostgreSQL's text form"))
}

/// tokio-postgres has no `numeric` decoder for `BigDecimal`: it reads the text.
impl Direct for BigDecimal {
    const TOKIO_CAST: &'static str = "::text";
    fn sqlx(row: &PgRow) -> Option<Self> {
        row.try_get(0).expect("sqlx reads BigDecimal")
    }
    fn tokio(row: &tokio_postgres::Row) -> Option<Self> {
        tokio_text(row)
    }
}

/// The drivers have no decoder for `NaN`, the infinities or unbounded digits: both read
/// PostgreSQL's text.
impl Direct for Numeric {
    const SQLX_CAST: &'static str = "::text";
    const TOKIO_CAST: &'static str = "::text";
    fn sqlx(row: &PgRow) -> Option<Self> {
        sqlx_text(row)
    }
    fn tokio(row: &tokio_postgres::Row) -> Option<Self> {
        tokio_text(row)
    }
}

/// sqlx reads `inet`/`cidr` into `IpNetwork`; tokio-postgres has no decoder for it.
impl Direct for IpNetwork {
    const TOKIO_CAST: &'static str = "::text";
    fn sqlx(row: &PgRow) -> Option<Self> {
        row.try_get(0).expect("sqlx reads IpNetwork")
    }
    fn tokio(row: &tokio_postgres::Row) -> Option<Self> {
        tokio_text(row)
    }
}

/// sqlx's `PgInterval`; tokio-postgres has no interval type, so PostgreSQL splits it
/// into months, days and microseconds as text (`extract` gives each field as stored:
/// nothing justifies hours into days nor days into months).
impl Direct for Interval {
    const TOKIO_CAST: &'static str = ", ((extract(year FROM v) * 12 + extract(month FROM v))::bigint::text || ' ' \
        || extract(day FROM v)::bigint::text || ' ' \
        || ((extract(hour FROM v) * 3600 + extract(minute FROM v) * 60) * 1000000 + extract(microseconds FROM v))::bigint::text)";
    fn sqlx(row: &PgRow) -> Option<Self> {
        let interval: Option<PgInterval> = row.try_get(0).expect("sqlx reads PgInterval");
        interval.map(|i| Interval { months: i.months, days: i.days, microseconds: i.microseconds })
    }
    fn tokio(row: &tokio_postgres::Row) -> Option<Self> {
        let parts: Option<String> = row.try_get(1).expect("tokio-postgres reads the split interval");
        parts.map(|text| {
            let numbers: Vec<i64> = text.split(' ').map(|n| n.parse().expect("interval part")).collect();
            Interval {
                months: i32::try_from(numbers[0]).expect("months"),
                days: i32::try_from(numbers[1]).expect("days"),
                microseconds: numbers[2],
            }
        })
    }
}

/// Text forms of values no Rust date type holds (the infinities).
#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub String);

impl Direct for Text {
    const SQLX_CAST: &'static str = "::text";
    const TOKIO_CAST: &'static str = "::text";
    fn sqlx(row: &PgRow) -> Option<Self> {
        sqlx_text(row).map(Text)
    }
    fn tokio(row: &tokio_postgres::Row) -> Option<Self> {
        tokio_text(row).map(Text)
    }
}

/// One column type and one value of it, through one backend.
struct Case<'h, T> {
    handle: &'h mut T,
    count: usize,
}

#[derive(serde::Serialize)]
struct Id {
    id: i32,
}

impl<T: TestBackend> Case<'_, T> {
    /// Creates a table with a `sql_type` column and checks `value` through it (see the
    /// module docs); the driver reads `expected` (the value itself, but for [`Text`]).
    async fn check_as<V, D>(&mut self, sql_type: &str, value: V, expected: D)
    where
        V: Into<Value> + FromValue + Clone + PartialEq + Debug + Send + Sync + 'static,
        D: Direct + PartialEq + Debug + Send + 'static,
    {
        self.count += 1;
        let table = format!("t{}", self.count);
        let what = format!("{sql_type} {value:?}");
        self.handle.batch(&format!("CREATE TABLE {table} (id int PRIMARY KEY, v {sql_type})")).await;
        let returned: Slot<V> = Slot::new("returned");
        let as_value: Slot<Value> = Slot::new("as value");
        let null: Slot<Option<V>> = Slot::new("null");
        let source: Slot<V> = Slot::new("source");
        source.set(value.clone());
        let through_json: Slot<V> = Slot::new("through json");
        let typed_null = Value::Null(value.clone().into().kind());
        let insert = |id: i32| format!("INSERT INTO {table} (id, v) VALUES ({id}, $1) RETURNING v");
        let mut changeset = Changeset::new();
        changeset
            .add_db_operation(Statement::from_string(insert(1)).bind(value.clone()).returning_into(&returned))
            .add_db_operation(Statement::from_string(format!("SELECT v FROM {table}")).returning_into(&as_value))
            .add_db_operation(Statement::from_string(insert(2)).bind(typed_null).returning_into(&null))
            .add_db_operation(
                InsertRow::new(table.clone(), &Id { id: 3 })
                    .expect("row")
                    .set_from_slot("v", &source)
                    .returning_into("v", &through_json),
            );
        if let Err(error) = self.handle.push(changeset, &PushOptions::new()).await {
            panic!("{what}: {error}: {:?}", std::error::Error::source(&error).map(ToString::to_string));
        }
        assert_eq!(returned.get().as_ref(), Ok(&value), "{what}: RETURNING into a Slot");
        assert_eq!(as_value.get(), Ok(value.clone().into()), "{what}: the Value read back");
        assert_eq!(null.get(), Ok(None), "{what}: NULL");
        assert_eq!(through_json.get().as_ref(), Ok(&value), "{what}: InsertRow's JSON");
        let direct: Option<D> = self.handle.direct(&table, 1).await;
        assert_eq!(direct.as_ref(), Some(&expected), "{what}: what the driver reads");
        let direct_null: Option<D> = self.handle.direct(&table, 2).await;
        assert_eq!(direct_null, None, "{what}: what the driver reads for NULL");
    }

    async fn check<V>(&mut self, sql_type: &str, value: V)
    where
        V: Into<Value> + FromValue + Direct + Clone + PartialEq + Debug + Send + Sync + 'static,
    {
        self.check_as(sql_type, value.clone(), value).await;
    }
}

fn numeric<N: FromStr>(text: &str) -> N
where
    N::Err: Debug,
{
    text.parse().expect("a number")
}

/// Every row of the table in the module docs of `pg_changeset::value`.
pub async fn typed_values_round_trip<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    let mut case = Case { handle: &mut handle, count: 0 };

    // numeric: 38 digits and more, the scale, the special values.
    case.check::<BigDecimal>("numeric", numeric("12345678901234567890123456789012345678")).await;
    case.check::<BigDecimal>("numeric", numeric("-1234567890123456789012345678.9012345678")).await;
    case.check::<BigDecimal>("numeric(38,10)", numeric("0.0000000001")).await;
    case.check::<Decimal>("numeric", numeric("-79228162514264337593543950335")).await;
    case.check::<Decimal>("numeric", numeric("1.50")).await;
    case.check::<Decimal>("numeric", numeric("0.0000000000000000000000000001")).await;
    for text in ["NaN", "Infinity", "-Infinity", "123456789012345678901234567890123456789012345678901234567890.5"] {
        case.check::<Numeric>("numeric", numeric(text)).await;
    }

    // Floats, with the values JSON has no number for.
    case.check("double precision", f64::INFINITY).await;
    case.check("double precision", f64::NEG_INFINITY).await;
    case.check("double precision", 0.1_f64).await;
    case.check("real", f32::NEG_INFINITY).await;
    case.check("real", 0.1_f32).await;

    // The scalar types that were there before.
    case.check("boolean", true).await;
    case.check("smallint", i16::MIN).await;
    case.check("integer", i32::MAX).await;
    case.check("bigint", i64::MIN).await;
    case.check("text", "héllo \"quoted\" \\ back".to_owned()).await;
    case.check("bytea", vec![0_u8, 1, 255, b'\\', b'x']).await;
    case.check("jsonb", serde_json::json!({"a": [1, 2.5, null], "b": "\u{e9}"})).await;
    case.check("json", serde_json::json!({"z": 1, "a": [true]})).await;
    case.check("varchar(20)", "short".to_owned()).await;

    // Dates and times, both crates, before and after PostgreSQL's epoch.
    let instant = DateTime::parse_from_rfc3339("2024-02-29T23:59:59.123456Z").expect("rfc3339").to_utc();
    let old = DateTime::parse_from_rfc3339("1969-07-20T20:17:40.000001Z").expect("rfc3339").to_utc();
    case.check("timestamptz", instant).await;
    case.check("timestamptz", old).await;
    case.check("timestamp", instant.naive_utc()).await;
    case.check("timestamp", old.naive_utc()).await;
    case.check("date", NaiveDate::from_ymd_opt(2024, 2, 29).expect("date")).await;
    case.check("date", NaiveDate::from_ymd_opt(-44, 3, 15).expect("a date BC")).await;
    case.check("time", NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).expect("time")).await;
    let offset = time::OffsetDateTime::from_unix_timestamp_nanos(1_709_251_199_123_456_000).expect("instant");
    let offset = offset.to_offset(time::UtcOffset::from_hms(2, 0, 0).expect("offset"));
    case.check("timestamptz", offset).await;
    case.check("timestamp", time::PrimitiveDateTime::new(offset.date(), offset.time())).await;
    case.check("date", time::Date::from_calendar_date(1999, time::Month::December, 31).expect("date")).await;
    case.check("time", time::Time::from_hms_micro(0, 0, 0, 1).expect("time")).await;
    case.check_as("timestamptz", Value::Timestamptz(Timestamp::INFINITY), Text("infinity".into())).await;
    case.check_as("timestamp", Value::Timestamp(Timestamp::NEG_INFINITY), Text("-infinity".into())).await;
    case.check_as("date", Value::Date(Date::INFINITY), Text("infinity".into())).await;
    case.check("interval", Interval { months: 14, days: -3, microseconds: 3_723_000_001 }).await;
    case.check("interval", Interval { months: -1, days: 40, microseconds: -1 }).await;

    // uuid and networks.
    case.check("uuid", Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210)).await;
    case.check("inet", IpAddr::from([192, 0, 2, 1])).await;
    case.check("inet", IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])).await;
    case.check::<IpNetwork>("inet", numeric("10.1.2.3/24")).await;
    case.check::<IpNetwork>("inet", numeric("2001:db8::1/64")).await;
    let network = Inet::new(IpAddr::from([10, 1, 0, 0]), 16).expect("network");
    case.check_as("cidr", Value::Cidr(network), numeric::<IpNetwork>("10.1.0.0/16")).await;

    // Arrays, with NULL items and empty.
    case.check("bigint[]", vec![1_i64, -2, i64::MAX]).await;
    case.check("integer[]", vec![7_i32, 8]).await;
    case.check("text[]", vec![Some("a".to_owned()), None, Some("{c,\"d\"}".to_owned())]).await;
    case.check::<Vec<Option<String>>>("text[]", Vec::new()).await;
    case.check("uuid[]", vec![Uuid::nil(), Uuid::max()]).await;
    case.check("timestamptz[]", vec![instant, old]).await;
}

/// `NaN` is not equal to itself, so it gets its own comparison.
pub async fn float_nan_round_trips<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch("CREATE TABLE nan (d double precision, r real)").await;
    let double: Slot<f64> = Slot::new("double");
    let real: Slot<f32> = Slot::new("real");
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(
            Statement::new("INSERT INTO nan (d) VALUES ($1) RETURNING d").bind(f64::NAN).returning_into(&double),
        )
        .add_db_operation(Statement::new("UPDATE nan SET r = $1 RETURNING r").bind(f32::NAN).returning_into(&real));
    let _ = handle.push(changeset, &PushOptions::new()).await.expect("push");
    assert!(double.get().is_ok_and(f64::is_nan), "{double:?}");
    assert!(real.get().is_ok_and(f32::is_nan), "{real:?}");
    assert_eq!(handle.column("SELECT d FROM nan UNION ALL SELECT r FROM nan").await, ["NaN", "NaN"]);
}

/// A value the Rust type cannot hold is an error naming both, never a rounded value.
pub async fn unrepresentable_values_are_refused<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    let decimal = "SELECT 1234567890123456789012345678901234567.8::numeric";
    refused::<T, Decimal>(&mut handle, decimal, "rust_decimal::Decimal").await;
    refused::<T, BigDecimal>(&mut handle, "SELECT 'NaN'::numeric", "bigdecimal::BigDecimal").await;
    refused::<T, DateTime<Utc>>(&mut handle, "SELECT 'infinity'::timestamptz", "chrono::DateTime<Utc>").await;
    refused::<T, time::Date>(&mut handle, "SELECT '-infinity'::date", "time::Date").await;
    refused::<T, NaiveTime>(&mut handle, "SELECT '24:00:00'::time", "chrono::NaiveTime").await;
    refused::<T, IpAddr>(&mut handle, "SELECT '10.0.0.0/8'::inet", "IpAddr").await;
    refused::<T, f32>(&mut handle, "SELECT 0.1::double precision", "f32").await;
}

async fn refused<T: TestBackend, V: FromValue + Send + 'static>(handle: &mut T, sql: &'static str, target: &str) {
    let slot: Slot<V> = Slot::new("slot");
    let mut changeset = Changeset::new();
    changeset.add_db_operation(Statement::new(sql).returning_into(&slot));
    let err = handle.push(changeset, &PushOptions::new()).await.expect_err(target);
    let mut chain = Vec::new();
    let mut link = std::error::Error::source(&err);
    while let Some(current) = link {
        chain.push(current.to_string());
        link = current.source();
    }
    let chain = chain.join(": ");
    assert!(chain.contains(&format!("cannot be represented exactly as {target}")), "{sql}: {chain}");
    assert!(!slot.is_filled(), "{sql}: nothing was stored");
}
