//! Port collisions: a cluster whose port is taken by someone else still starts.

use std::net::TcpListener;

use pg_harness::{Cluster, Settings};

use crate::connect;

fn settings() -> Settings {
    Settings { database_url: None, ..Settings::from_env() }
}

#[tokio::test]
async fn a_cluster_whose_port_was_taken_starts_and_answers_anyway() {
    let cluster = Cluster::start_temporary(&settings()).expect("start a cluster");
    cluster.stop().expect("stop");
    // Someone else takes the port between our stop and our start, as a concurrently
    // starting cluster or any other program can; a first start meets the same when the
    // port `free_port` returned is taken before the server binds it.
    let port = cluster.port().expect("embedded");
    let _squatter = TcpListener::bind(("127.0.0.1", port)).expect("occupy the cluster's port");
    cluster.start().expect("the cluster starts although its port is taken");
    let url = cluster.url("postgres");
    let client = connect(&url).await;
    let row = client.query_one("SELECT current_setting('data_directory')", &[]).await.expect("query");
    let data_dir: String = row.get(0);
    assert!(data_dir.starts_with(&cluster.root().expect("embedded").display().to_string()), "{data_dir}");
    assert_ne!(cluster.port(), Some(port), "moved to another port");
}
