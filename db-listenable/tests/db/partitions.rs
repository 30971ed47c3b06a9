//! Partitioned tables, partitions and inheritance: capture refuses them at install (it
//! cannot capture every write path of such a table, nor a row moving between partitions,
//! as one change), and the drift check reports a captured table that joins such a tree
//! later.

use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::drift::{self, Drift};
use db_listenable::{Events, Model};

use crate::{captured, col, journal_db};

const MEASURES: Model = Model {
    rust_name: "Measure",
    schema: "public",
    table: "measures",
    key: &["region", "id"],
    columns: &[col("region"), col("id"), col("v")],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

const TREES: &str = "CREATE TABLE measures (region int, id int, v text, PRIMARY KEY (region, id))
                         PARTITION BY LIST (region);
                     CREATE TABLE measures_1 PARTITION OF measures FOR VALUES IN (1);
                     CREATE TABLE animals (region int NOT NULL, id int PRIMARY KEY, v text);
                     CREATE TABLE dogs (breed text) INHERITS (animals);
                     ALTER TABLE dogs ADD PRIMARY KEY (id)";

/// How many of our triggers the table carries.
async fn our_triggers(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::text::regclass AND tgname LIKE 'db\\_listenable\\_%'",
            &[&table],
        )
        .await
        .expect("count triggers")
        .get(0)
}

for_each_granularity! {
async fn partitioned_tables_partitions_and_inheritance_trees_are_refused_at_install(config: CaptureConfig) {
    let (_db, client) = journal_db().await;
    client.batch_execute(TREES).await.expect("tables");
    for (table, what) in [
        ("measures", "partitioned"),
        ("measures_1", "partition of"),
        ("animals", "inherited by"),
        ("dogs", "inherits from"),
    ] {
        let model = Model { table, ..MEASURES };
        let err = client
            .batch_execute(&ddl::install_script(&model, &config).to_string())
            .await
            .expect_err(&format!("installing capture on {table} must fail"));
        let db_err = err.as_db_error().unwrap_or_else(|| panic!("{table}: {err}"));
        let message = db_err.message();
        assert!(message.contains(&format!("\"public\".\"{table}\"")) && message.contains(what), "{table}: {message}");
        assert!(db_err.hint().is_some_and(|hint| hint.contains("plain table")), "{table}: {:?}", db_err.hint());
        assert_eq!(our_triggers(&client, table).await, 0, "{table}: nothing installed");
    }
}

async fn a_captured_table_that_joins_a_partition_or_inheritance_tree_is_drift(config: CaptureConfig) {
    let (_db, client) = journal_db().await;
    const READINGS: Model = Model { table: "readings", ..MEASURES };
    const SAMPLES: Model = Model { table: "samples", ..MEASURES };
    for (model, sql) in [
        (&READINGS, "CREATE TABLE readings (region int, id int, v text, PRIMARY KEY (region, id))"),
        (&SAMPLES, "CREATE TABLE samples (region int, id int, v text, PRIMARY KEY (region, id))"),
    ] {
        captured(&client, sql, model, &config).await;
    }
    let check = || async {
        drift::check_tokio_postgres(&client, &[READINGS, SAMPLES], &config).await.expect("drift check")
    };
    assert!(check().await.is_clean(), "{}", check().await);
    client
        .batch_execute(
            "CREATE TABLE all_readings (region int, id int, v text, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
             ALTER TABLE all_readings ATTACH PARTITION readings FOR VALUES IN (1);
             CREATE TABLE special_samples () INHERITS (samples)",
        )
        .await
        .expect("attach and inherit");
    let report = check().await;
    match &report.drifts[..] {
        [Drift::Outdated { table: readings, reason: why_readings, .. }, Drift::Outdated { table: samples, reason: why_samples, .. }] =>
        {
            assert_eq!((readings.as_str(), samples.as_str()), ("public.readings", "public.samples"));
            assert!(why_readings.contains("partition of"), "{why_readings}");
            assert!(why_samples.contains("inherited by"), "{why_samples}");
        }
        other => panic!("expected two outdated tables, got {other:?}"),
    }
}
}
