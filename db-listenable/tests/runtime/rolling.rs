//! Rolling deploys: an old release keeps starting while a newer, compatible capture of
//! its table is installed, and refuses, naming what differs, once the capture no longer
//! provides what its model needs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::drift::Drift;
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};
use db_listenable::{Column, DbListenable, Error, Events, Model};
use serde::Deserialize;
use sqlx::PgPool;

use crate::{fast, install, pool, wait_for};

/// Release 1's view of `rolling`: reads `a` and `b`.
#[derive(Debug, Clone, PartialEq, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "rolling")]
struct RollingV1 {
    id: i64,
    a: String,
    b: String,
}

const ROLLING_TABLE: &str =
    "CREATE TABLE rolling (id bigint PRIMARY KEY, a text NOT NULL UNIQUE, b text NOT NULL, c text, secret text)";

const fn column(name: &'static str) -> Column {
    Column { name, field: name, optional: false }
}

/// Release 2: also reads `c`, which is quiet, and stops journalling `secret`.
/// A constant, not a derive: a second derived model of `rolling` would disagree with
/// release 1 in the registry every test of this binary shares.
const V2: Model = Model {
    rust_name: "RollingV2",
    schema: "public",
    table: "rolling",
    key: &["id"],
    columns: &[column("id"), column("a"), column("b"), column("c")],
    quiet: &["c"],
    exclude: &["secret"],
    events: Events::DEFAULT,
};

/// Records `(id, b)` of every row it is given.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(i64, String)>>>);

impl Processor<RollingV1> for Seen {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<RollingV1>) -> Result<(), ProcessError> {
        if let Some(row) = change.row() {
            self.0.lock().expect("seen").push((row.id, row.b.clone()));
        }
        Ok(())
    }
}

async fn start_v1(pool: &PgPool, seen: &Seen) -> db_listenable::Result<db_listenable::runtime::Runtime> {
    RuntimeBuilder::new(pool.clone()).config(fast()).processor::<RollingV1, _>("rolling_v1", seen.clone()).start().await
}

#[tokio::test]
async fn an_old_release_runs_beside_a_newer_compatible_capture_and_refuses_an_incompatible_one() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 8).await;
    install(&pool, ROLLING_TABLE, &V2, &CaptureConfig::default()).await;

    // `triggers check` still reports the difference, as its own kind.
    let report =
        db_listenable::drift::check_sqlx(&pool, &[RollingV1::MODEL], &CaptureConfig::default()).await.expect("check");
    assert!(
        matches!(&report.drifts[..], [Drift::Compatible { model: "RollingV1", reason, .. }] if reason.contains("quiet [\"c\"]")),
        "{report}"
    );
    assert!(!report.is_clean() && report.is_compatible(), "{report}");

    let seen = Seen::default();
    let runtime = start_v1(&pool, &seen).await.expect("release 1 starts beside release 2's capture");
    sqlx::query("INSERT INTO rolling (id, a, b, c, secret) VALUES (1, 'a1', 'b1', 'c1', 's1')")
        .execute(&pool)
        .await
        .expect("insert");
    sqlx::query("UPDATE rolling SET b = 'b2' WHERE id = 1").execute(&pool).await.expect("update");
    wait_for("release 1 processes both changes", Duration::from_secs(10), || async {
        seen.0.lock().expect("seen").len() == 2
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(*seen.0.lock().expect("seen"), [(1, "b1".to_owned()), (1, "b2".to_owned())]);

    // Release 3 excludes `b`, which release 1 reads: its changes would not decode.
    const V3_EXCLUDES_B: Model =
        Model { columns: &[column("id"), column("a"), column("c")], exclude: &["b", "secret"], ..V2 };
    install(&pool, "SELECT 1", &V3_EXCLUDES_B, &CaptureConfig::default()).await;
    let refused = start_v1(&pool, &seen).await.expect_err("an excluded column release 1 reads refuses");
    assert!(matches!(refused, Error::Drift { .. }), "{refused:?}");
    let message = refused.to_string();
    assert!(message.contains("RollingV1") && message.contains("\"b\"") && message.contains("excluded"), "{message}");

    // Release 3 keys the table by `a`: release 1's per-row order would be another one.
    const V3_KEYED_BY_A: Model = Model { key: &["a"], ..V2 };
    install(&pool, "SELECT 1", &V3_KEYED_BY_A, &CaptureConfig::default()).await;
    let refused = start_v1(&pool, &seen).await.expect_err("another key refuses");
    let message = refused.to_string();
    assert!(message.contains("key") && message.contains("[\"a\"]") && message.contains("[\"id\"]"), "{message}");
}
