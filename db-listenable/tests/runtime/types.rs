//! Column types reach the processor exactly as the model's `sqlx::FromRow` reads the same
//! row with a `SELECT`: one round trip per type, written by a session whose settings
//! would make a text form lossy (`extra_float_digits = 0` rounds floats to 15 digits) or
//! unusual (another time zone, `sql_standard` intervals, `escape` bytea output).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::{CaptureConfig, Granularity};
use db_listenable::runtime::{Change, Context, Op, ProcessError, Processor, RuntimeBuilder};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::{fast, install, pool, wait_for};

/// A PostgreSQL enum as a Rust enum.
#[derive(Debug, Clone, PartialEq, sqlx::Type)]
#[sqlx(type_name = "mood", rename_all = "lowercase")]
enum Mood {
    Happy,
    Sad,
    #[sqlx(rename = "in between")]
    InBetween,
}

/// A typed `jsonb` document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Doc {
    title: String,
    tags: Vec<String>,
}

/// Every common column type, read with the crates sqlx decodes them into (both chrono
/// and time, both rust_decimal and bigdecimal). All optional, so the all-NULL row reads.
#[derive(Debug, Clone, DbListenable, sqlx::FromRow)]
#[db_listenable(table = "typed")]
#[allow(dead_code)] // Read through `Debug` only.
struct Typed {
    id: i64,
    exact: Option<rust_decimal::Decimal>,
    wide: Option<bigdecimal::BigDecimal>,
    bytes: Option<Vec<u8>>,
    at_chrono: Option<chrono::DateTime<chrono::Utc>>,
    at_time: Option<time::OffsetDateTime>,
    local_chrono: Option<chrono::NaiveDateTime>,
    local_time: Option<time::PrimitiveDateTime>,
    day_chrono: Option<chrono::NaiveDate>,
    day_time: Option<time::Date>,
    clock_chrono: Option<chrono::NaiveTime>,
    clock_time: Option<time::Time>,
    span: Option<sqlx::postgres::types::PgInterval>,
    ident: Option<uuid::Uuid>,
    address: Option<ipnetwork::IpNetwork>,
    mood: Option<Mood>,
    ints: Option<Vec<Option<i32>>>,
    texts: Option<Vec<String>>,
    moods: Option<Vec<Mood>>,
    doc: Option<serde_json::Value>,
    typed_doc: Option<sqlx::types::Json<Doc>>,
    name: Option<String>,
    f8: Option<f64>,
    f4: Option<f32>,
    positive: Option<i32>,
    flag: Option<bool>,
    small: Option<i16>,
}

const SCHEMA: [&str; 3] = [
    "CREATE TYPE mood AS ENUM ('happy', 'sad', 'in between')",
    "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)",
    "CREATE EXTENSION IF NOT EXISTS citext",
];

const TABLE: &str = "CREATE TABLE typed (
    id bigint PRIMARY KEY,
    exact numeric, wide numeric(60, 12), bytes bytea,
    at_chrono timestamptz, at_time timestamptz,
    local_chrono timestamp, local_time timestamp,
    day_chrono date, day_time date,
    clock_chrono time, clock_time time,
    span interval, ident uuid, address inet, mood mood,
    ints integer[], texts text[], moods mood[],
    doc json, typed_doc jsonb, name citext,
    f8 double precision, f4 real, positive positive, flag boolean, small smallint)";

/// Rows written with SQL: edge values of every type, and a row of NULLs.
const INSERT: &str = r#"INSERT INTO typed VALUES
    (1, 1234567890123456789.012345678, 12345678901234567890123456789012345678.123456789012,
     '\x00ff0a5c22', '2024-02-29 23:59:59.123456+05:45', '2024-02-29 23:59:59.123456+05:45',
     '1999-12-31 23:59:59.999999', '1999-12-31 23:59:59.999999', '0001-01-01', '0001-01-01',
     '23:59:59.999999', '23:59:59.999999', '-1 year +2 mons -3 days 04:05:06.789',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2001:db8::1/64', 'in between',
     '{1,NULL,-3}', '{"a b","\"q\"","","ü"}', '{happy,in between}',
     '{"a": [1, 2.5, "x"], "b": 1}', '{"title": "T", "tags": ["x", "y"]}', 'MiXeD Case',
     1.0000000000000002, 3.4028235e38, 7, true, -32768),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (3, -0.000000000000000000000000001, -1.5, '\x', '1970-01-01 00:00:00+00', '1970-01-01 00:00:00+00',
     '2262-04-11 23:47:16.854775', '2262-04-11 23:47:16.854775', '9999-12-31', '9999-12-31',
     '00:00:00', '00:00:00', '0', '00000000-0000-0000-0000-000000000000', '10.0.0.1', 'sad',
     '{}', '{}', '{}', '[]', '{"title": "", "tags": []}', '', 'NaN', '-Infinity', 2147483647, false, 0)"#;

/// The `Debug` text of a change's old and new rows.
type Shown = (String, String);

/// Debug text of each change, by (operation, id): `Debug` shows every value, NaN included.
#[derive(Clone, Default)]
struct Collect {
    seen: Arc<Mutex<BTreeMap<(String, i64), Shown>>>,
}

impl Collect {
    fn get(&self, op: Op, id: i64) -> Option<Shown> {
        self.seen.lock().expect("collect").get(&(op.to_string(), id)).cloned()
    }
}

impl Processor<Typed> for Collect {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Typed>) -> Result<(), ProcessError> {
        let id = change.row().map(|row| row.id).ok_or("a change without a row")?;
        let shown = (format!("{:?}", change.old), format!("{:?}", change.new));
        self.seen.lock().expect("collect").insert((change.op.to_string(), id), shown);
        Ok(())
    }
}

/// The row as the model reads it with a `SELECT`, shown like [`Collect`] shows changes.
async fn read(conn: &mut PgConnection, id: i64) -> Option<Typed> {
    sqlx::query_as::<_, Typed>("SELECT * FROM typed WHERE id = $1").bind(id).fetch_optional(conn).await.expect("select")
}

async fn round_trip(granularity: Granularity) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 8).await;
    for statement in SCHEMA {
        sqlx::raw_sql(statement).execute(&pool).await.expect("schema");
    }
    let capture = CaptureConfig { granularity, ..CaptureConfig::default() };
    install(&pool, TABLE, &Typed::MODEL, &capture).await;
    let collect = Collect::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast().capture(capture))
        .processor::<Typed, _>("typed", collect.clone())
        .start()
        .await
        .expect("start");

    let mut writer = PgConnection::connect(db.url()).await.expect("writer");
    sqlx::raw_sql(
        "SET extra_float_digits = 0; SET TimeZone = 'Asia/Kathmandu'; SET IntervalStyle = 'sql_standard'; \
         SET bytea_output = 'escape'; SET DateStyle = 'SQL, DMY'",
    )
    .execute(&mut writer)
    .await
    .expect("writer settings");
    let mut reader = PgConnection::connect(db.url()).await.expect("reader");

    sqlx::raw_sql(INSERT).execute(&mut writer).await.expect("insert");
    for id in [1, 2, 3] {
        wait_for("the inserts", Duration::from_secs(10), || async { collect.get(Op::Insert, id).is_some() }).await;
        let expected = (format!("{:?}", None::<Typed>), format!("{:?}", read(&mut reader, id).await));
        assert_eq!(collect.get(Op::Insert, id), Some(expected), "insert of row {id} ({granularity:?})");
    }

    let before = format!("{:?}", read(&mut reader, 1).await);
    let deleted = format!("{:?}", read(&mut reader, 3).await);
    sqlx::raw_sql(
        "UPDATE typed SET f8 = f8 + 1e-15, f4 = 'NaN', exact = exact * -1, span = '1 day -00:00:00.000001', \
         at_chrono = at_chrono + interval '1 microsecond', bytes = bytes || '\\x00'::bytea WHERE id = 1; \
         DELETE FROM typed WHERE id = 3",
    )
    .execute(&mut writer)
    .await
    .expect("update and delete");
    wait_for("the update", Duration::from_secs(10), || async { collect.get(Op::Update, 1).is_some() }).await;
    wait_for("the delete", Duration::from_secs(10), || async { collect.get(Op::Delete, 3).is_some() }).await;
    let after = format!("{:?}", read(&mut reader, 1).await);
    assert_ne!(before, after, "the update changed the row");
    assert_eq!(collect.get(Op::Update, 1), Some((before, after)), "update ({granularity:?})");
    assert_eq!(collect.get(Op::Delete, 3), Some((deleted, format!("{:?}", None::<Typed>))), "delete ({granularity:?})");
    runtime.shutdown().await;
}

#[tokio::test]
async fn every_common_type_reaches_the_processor_as_from_row_reads_it_statement_capture() {
    round_trip(Granularity::Statement).await;
}

#[tokio::test]
async fn every_common_type_reaches_the_processor_as_from_row_reads_it_row_capture() {
    round_trip(Granularity::Row).await;
}

/// The capture itself: a session that lowers `extra_float_digits` gets floats rounded to 15
/// digits by every text conversion, `to_jsonb` included, unless the capture pins it.
#[tokio::test]
async fn floats_written_by_a_rounding_session_are_journalled_exactly() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 2).await;
    for (granularity, name) in [(Granularity::Statement, "floats_statement"), (Granularity::Row, "floats_row")] {
        let table = format!("CREATE TABLE {name} (id bigint PRIMARY KEY, f8 float8, f4 real)");
        let model = db_listenable::Model { table: name, ..Floats::MODEL };
        install(&pool, &table, &model, &CaptureConfig { granularity, ..CaptureConfig::default() }).await;
        let mut writer = PgConnection::connect(db.url()).await.expect("writer");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET extra_float_digits = 0; INSERT INTO {name} VALUES (1, 1.0000000000000002, 1.0000001); \
             UPDATE {name} SET f8 = 1.0000000000000004"
        )))
        .execute(&mut writer)
        .await
        .expect("write");
        let exact: Vec<(String, bool)> = sqlx::query_as(
            "SELECT c.op::text,
                    (c.new_row ->> 'f8')::float8 = CASE c.op WHEN 'I' THEN 1.0000000000000002::float8 ELSE 1.0000000000000004::float8 END
                    AND (c.new_row ->> 'f4')::real = 1.0000001::real
             FROM db_listenable.changes c ORDER BY c.id"
        )
        .fetch_all(&pool)
        .await
        .expect("journal");
        assert_eq!(
            exact,
            vec![("I".to_owned(), true), ("U".to_owned(), true)],
            "{granularity:?}: the journal holds the exact floats"
        );
        sqlx::raw_sql("TRUNCATE db_listenable.changes").execute(&pool).await.expect("empty the journal");
    }
}

/// A table of floats (the name is replaced per granularity).
#[derive(Debug, DbListenable, sqlx::FromRow)]
#[db_listenable(table = "floats")]
#[allow(dead_code)]
struct Floats {
    id: i64,
    f8: f64,
    f4: f32,
}

/// `items`-like rows whose `v` is a domain that is tightened after the rows were captured.
#[derive(Debug, Clone, DbListenable, sqlx::FromRow)]
#[db_listenable(table = "bounded")]
struct Bounded {
    id: i64,
    v: i32,
}

#[derive(Clone, Default)]
struct Ids(Arc<Mutex<Vec<i64>>>);

impl Processor<Bounded> for Ids {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Bounded>) -> Result<(), ProcessError> {
        let row = change.row().ok_or("a change without a row")?;
        self.0.lock().expect("ids").push(row.id * 1000 + i64::from(row.v));
        Ok(())
    }
}

/// A captured value the table's type no longer accepts fails the fast claim as a whole;
/// the batch is then converted row by row, so only that row is dead-lettered, with
/// PostgreSQL's reason, and its neighbours are processed.
#[tokio::test]
async fn a_captured_row_that_no_longer_fits_its_table_is_dead_lettered_alone() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 8).await;
    sqlx::raw_sql("CREATE DOMAIN bounded_value AS integer CHECK (VALUE < 100)").execute(&pool).await.expect("domain");
    install(
        &pool,
        "CREATE TABLE bounded (id bigint PRIMARY KEY, v bounded_value NOT NULL)",
        &Bounded::MODEL,
        &CaptureConfig::default(),
    )
    .await;
    // Registered first, so the rows are routed to it rather than kept as unrouted.
    let ids = Ids::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Bounded, _>("bounded", ids.clone())
        .start()
        .await
        .expect("start");
    runtime.shutdown().await;
    sqlx::raw_sql(
        "INSERT INTO bounded VALUES (1, 5), (2, 50), (3, 7); \
         ALTER DOMAIN bounded_value ADD CONSTRAINT below_ten CHECK (VALUE < 10) NOT VALID",
    )
    .execute(&pool)
    .await
    .expect("rows, then a tighter domain");
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Bounded, _>("bounded", ids.clone())
        .start()
        .await
        .expect("restart");
    wait_for("the dead letter", Duration::from_secs(10), || async {
        !db_listenable::runtime::dead_letters::list(&pool, Some("bounded"), 10).await.expect("list").is_empty()
    })
    .await;
    wait_for("the rows that fit", Duration::from_secs(10), || async { ids.0.lock().expect("ids").len() == 2 }).await;
    runtime.shutdown().await;
    assert_eq!(*ids.0.lock().expect("ids"), vec![1005, 3007]);
    let dead = db_listenable::runtime::dead_letters::list(&pool, Some("bounded"), 10).await.expect("list");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].new_row, Some(serde_json::json!({"id": 2, "v": 50})));
    assert_eq!(dead[0].attempts, 1, "a row that does not fit is not retried");
    assert!(dead[0].last_error.contains("below_ten"), "{}", dead[0].last_error);
}

/// Reading rows as the table's row type locks the table (`ACCESS SHARE`, when the
/// statement naming the row type is planned). An idle claim must not: a runtime whose
/// table is held by a migration's `ALTER TABLE` or a `LOCK TABLE` still claims (nothing),
/// and stops when asked.
#[tokio::test]
async fn a_runtime_with_nothing_to_do_neither_waits_behind_a_lock_on_its_table_nor_keeps_from_stopping() {
    let (db, pool) = crate::items_db(&CaptureConfig::default()).await;
    let mut lock = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE items IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.expect("lock");
    // Fresh connections: none has the row type of items cached yet.
    let runtime_pool = crate::pool(db.url(), 8).await;
    let runtime = RuntimeBuilder::new(runtime_pool.clone())
        .config(fast())
        .processor::<crate::Item, _>("items", crate::Recorder::default())
        .start()
        .await
        .expect("start");
    wait_for("a claim that completed while items is locked", Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle'
                            AND query LIKE 'UPDATE db_listenable.deliveries d%SET attempts%')",
        )
        .fetch_one(&pool)
        .await
        .expect("activity")
    })
    .await;
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(&pool)
    .await
    .expect("waiting");
    assert_eq!(waiting, 0, "no runtime statement waits for the lock on items");
    tokio::time::timeout(Duration::from_secs(10), runtime.shutdown())
        .await
        .expect("the runtime stops while items is locked");
    lock.rollback().await.expect("unlock");
}
