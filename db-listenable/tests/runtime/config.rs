//! Settings and registrations that cannot work are refused by `start()`, each with its
//! own `ConfigError` naming the setting; the defaults start.

use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{RuntimeBuilder, RuntimeConfig};
use db_listenable::{ConfigError, Error};

use crate::{Item, Recorder, fast, items_db};

#[tokio::test]
async fn each_setting_that_cannot_work_is_refused_at_start_by_name() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let year = RuntimeConfig::LONGEST;
    let cases: Vec<(RuntimeConfig, ConfigError, &str)> = vec![
        (fast().workers(0), ConfigError::ZeroWorkers, "RuntimeConfig::workers is 0"),
        (fast().batch_size(0), ConfigError::ZeroBatchSize, "RuntimeConfig::batch_size is 0"),
        (fast().claim_bytes(0), ConfigError::ZeroClaimBytes, "RuntimeConfig::claim_bytes is 0"),
        (fast().route_batch_size(0), ConfigError::ZeroRouteBatchSize, "RuntimeConfig::route_batch_size is 0"),
        (fast().poll_interval(Duration::ZERO), ConfigError::ZeroPollInterval, "RuntimeConfig::poll_interval is 0"),
        (
            fast().lease(Duration::ZERO),
            ConfigError::LeaseTooShort { lease: Duration::ZERO },
            "RuntimeConfig::lease is 0ns, under 1 ms",
        ),
        (
            fast().lease(Duration::from_micros(999)),
            ConfigError::LeaseTooShort { lease: Duration::from_micros(999) },
            "RuntimeConfig::lease is 999µs",
        ),
        (
            fast().lease(Duration::MAX),
            ConfigError::TooLong { setting: "lease", value: Duration::MAX, max: year },
            "RuntimeConfig::lease is",
        ),
        (
            fast().processing_timeout(Duration::ZERO),
            ConfigError::ZeroProcessingTimeout,
            "RuntimeConfig::processing_timeout is 0",
        ),
        (fast().max_attempts(0), ConfigError::ZeroMaxAttempts, "RuntimeConfig::max_attempts is 0"),
        (
            fast().initial_backoff(Duration::from_secs(2)).max_backoff(Duration::from_secs(1)),
            ConfigError::BackoffRange { initial: Duration::from_secs(2), max: Duration::from_secs(1) },
            "RuntimeConfig::initial_backoff (2s) is longer than RuntimeConfig::max_backoff (1s)",
        ),
        (
            fast().max_backoff(year + Duration::from_secs(1)),
            ConfigError::TooLong { setting: "max_backoff", value: year + Duration::from_secs(1), max: year },
            "RuntimeConfig::max_backoff is",
        ),
        (
            fast().reconnect_backoff(Duration::ZERO),
            ConfigError::ZeroReconnectBackoff,
            "RuntimeConfig::reconnect_backoff is 0",
        ),
    ];
    for (config, expected, message) in cases {
        assert_eq!(config.validate(), Err(expected.clone()));
        let started = RuntimeBuilder::new(pool.clone())
            .config(config)
            .processor::<Item, _>("r", Recorder::default())
            .start()
            .await;
        let Err(error) = started else { panic!("{expected:?}: the runtime started") };
        assert!(error.to_string().contains(message), "{expected:?}: {error}");
        match error {
            Error::Config(error) => assert_eq!(error, expected),
            other => panic!("{expected:?}: got {other:?}"),
        }
    }
}

#[tokio::test]
async fn registrations_that_cannot_work_are_refused_at_start_by_name() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let none = RuntimeBuilder::new(pool.clone()).config(fast()).start().await.expect_err("no subscribers");
    assert!(matches!(none, Error::Config(ConfigError::NoSubscriber)), "{none:?}");
    assert!(none.to_string().contains("no processor or outbox catalog"), "{none}");
    let twice = RuntimeBuilder::new(pool)
        .config(fast())
        .processor::<Item, _>("same", Recorder::default())
        .processor::<Item, _>("same", Recorder::default())
        .start()
        .await
        .expect_err("duplicate");
    assert_eq!(
        twice.to_string(),
        "invalid db-listenable runtime configuration: the subscriber name `same` is registered twice"
    );
    assert!(matches!(twice, Error::Config(ConfigError::DuplicateSubscriber { name }) if name == "same"));
}

#[tokio::test]
async fn the_defaults_and_the_boundaries_start() {
    assert_eq!(RuntimeConfig::default().validate(), Ok(()));
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let edges = [
        RuntimeConfig::default(),
        RuntimeConfig::new().lease(Duration::from_millis(1)).workers(1).batch_size(1).claim_bytes(1),
        RuntimeConfig::new().lease(RuntimeConfig::LONGEST).max_backoff(RuntimeConfig::LONGEST),
        RuntimeConfig::new().initial_backoff(Duration::ZERO).max_backoff(Duration::from_secs(1)),
    ];
    for config in edges {
        let runtime = RuntimeBuilder::new(pool.clone())
            .config(config.clone())
            .processor::<Item, _>("r", Recorder::default())
            .start()
            .await
            .unwrap_or_else(|error| panic!("{config:?}: {error}"));
        runtime.shutdown().await;
    }
}
