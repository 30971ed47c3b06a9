//! The long transaction of issue 18's measurements: a `REPEATABLE READ` transaction held
//! open on a connection of its own for a whole drain, which holds back the xmin horizon
//! (nothing deleted or updated meanwhile can be vacuumed away), optionally with an xid
//! of its own. Shared by `drain.rs` and `benchmarks/benches/drain_peers.rs` (included
//! there by path), so both benches hold the same transaction.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The environment variable both benches read.
pub const KNOB: &str = "DRAIN_BENCH_LONG_TXN";

/// Which long transaction is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongTxn {
    /// `BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM items;`: a snapshot.
    RepeatableRead,
    /// The same, then `SELECT pg_current_xact_id()`: a snapshot and an xid.
    RepeatableReadXid,
}

impl LongTxn {
    /// The variants [`KNOB`] asks for, comma-separated (`rr`, `rr-xid`, `rr,rr-xid`);
    /// none when unset, empty or `off`. Panics on any other value: a misspelt knob would
    /// otherwise measure nothing without saying so.
    pub fn from_env() -> Vec<LongTxn> {
        let value = std::env::var(KNOB).unwrap_or_default();
        let mut variants = Vec::new();
        for name in value.split(',').map(str::trim).filter(|name| !name.is_empty() && *name != "off") {
            let variant = match name {
                "rr" => LongTxn::RepeatableRead,
                "rr-xid" => LongTxn::RepeatableReadXid,
                other => panic!("{KNOB}: unknown variant {other:?} (rr, rr-xid, or both comma-separated)"),
            };
            if !variants.contains(&variant) {
                variants.push(variant);
            }
        }
        variants
    }

    /// As [`KNOB`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            LongTxn::RepeatableRead => "rr",
            LongTxn::RepeatableReadXid => "rr-xid",
        }
    }
}

/// A long transaction while it is open; [`LongTransaction::end`] rolls it back.
pub struct LongTransaction {
    conn: PgConnection,
}

impl LongTransaction {
    /// Opens `variant` on a new connection to `url`, reading `items` (which must exist),
    /// and checks that the server sees it holding the horizon (and the xid).
    pub async fn open(url: &str, variant: LongTxn) -> Self {
        let mut conn = PgConnection::connect(url).await.expect("connect the long transaction");
        let mut begin = "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM items;".to_owned();
        if variant == LongTxn::RepeatableReadXid {
            begin.push_str(" SELECT pg_current_xact_id();");
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(begin)).execute(&mut conn).await.expect("open the long transaction");
        let (xmin, xid): (bool, bool) = sqlx::query_as(
            "SELECT backend_xmin IS NOT NULL, backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        .fetch_one(&mut conn)
        .await
        .expect("look at the long transaction");
        assert!(xmin, "the long transaction holds a snapshot (backend_xmin)");
        assert_eq!(xid, variant == LongTxn::RepeatableReadXid, "the long transaction holds an xid only for rr-xid");
        LongTransaction { conn }
    }

    /// Rolls the transaction back and closes its connection.
    pub async fn end(mut self) {
        sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await.expect("end the long transaction");
        self.conn.close().await.expect("close the long transaction's connection");
    }
}
