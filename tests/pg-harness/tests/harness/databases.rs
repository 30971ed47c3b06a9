//! A fresh database per test, isolated, dropped afterwards.

use std::sync::Arc;

use pg_harness::{Cluster, TestDb};

use crate::connect;

#[tokio::test]
async fn each_test_database_is_fresh_and_named_uniquely() {
    let db = TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    let row = client
        .query_one("SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')", &[])
        .await
        .expect("query");
    assert_eq!(row.get::<_, String>(0), db.name());
    assert_eq!(row.get::<_, i64>(1), 0, "a fresh database has no tables");
    assert!(db.name().starts_with("pgh_"), "{}", db.name());
}

#[tokio::test]
async fn two_databases_used_at_once_do_not_see_each_other() {
    async fn fill(marker: i32) -> (TestDb, Vec<i32>) {
        let db = TestDb::create().await.expect("test database");
        let client = connect(db.url()).await;
        // The same table name in both: a shared database would make one CREATE fail.
        client.batch_execute("CREATE TABLE shared_name (v int)").await.expect("create table");
        client.execute("INSERT INTO shared_name VALUES ($1)", &[&marker]).await.expect("insert");
        tokio::task::yield_now().await;
        let rows = client.query("SELECT v FROM shared_name", &[]).await.expect("select");
        let values = rows.iter().map(|row| row.get(0)).collect();
        (db, values)
    }
    let ((first, first_values), (second, second_values)) = tokio::join!(fill(1), fill(2));
    assert_ne!(first.name(), second.name());
    assert_eq!(first_values, vec![1]);
    assert_eq!(second_values, vec![2]);
}

#[tokio::test]
async fn dropping_a_test_database_removes_it_even_with_open_connections() {
    let db = TestDb::create().await.expect("test database");
    let cluster = Arc::clone(db.cluster());
    let name = db.name().to_owned();
    let leaked = connect(db.url()).await;
    assert!(cluster.database_exists(&name).await.expect("lookup"));
    drop(db);
    assert!(!cluster.database_exists(&name).await.expect("lookup"), "{name} still exists");
    assert!(leaked.simple_query("SELECT 1").await.is_err(), "the leaked session was ended");
}

#[tokio::test]
async fn a_panicking_test_still_drops_its_database() {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let db = TestDb::create().await.expect("test database");
        sender.send((Arc::clone(db.cluster()), db.name().to_owned())).expect("send name");
        panic!("the test body fails while holding {}", db.name());
    });
    let outcome = task.await;
    assert!(outcome.expect_err("the task panicked").is_panic());
    let (cluster, name) = receiver.await.expect("name before the panic");
    assert!(!cluster.database_exists(&name).await.expect("lookup"), "{name} survived the panic");
}

#[test]
fn one_cluster_serves_the_whole_test_binary() {
    let first = Cluster::shared().expect("shared cluster");
    let second = Cluster::shared().expect("shared cluster");
    assert!(Arc::ptr_eq(&first, &second));
}
