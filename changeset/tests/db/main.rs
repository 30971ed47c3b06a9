//! Database tests of the `changeset` crate, in one binary, against a real PostgreSQL
//! (the shared harness: `DATABASE_URL`, or a private cluster per test binary).
//!
//! The behavioural suite (`suite.rs`) is written once over [`harness::TestBackend`]
//! and instantiated for each backend below.

mod appointments;
#[path = "../../examples/appointments/domain.rs"]
mod domain;
mod harness;
mod specific;
mod suite;
mod types;

/// Instantiates every suite test for one backend.
macro_rules! suite_for {
    ($backend:ident, $handle:ty) => {
        mod $backend {
            suite_for!(@tests $handle;
                crate::suite::order_across_random_merge_trees,
                crate::suite::seed_merge_example,
                crate::suite::dedup_of_known_and_lazy_payloads,
                crate::suite::rollback_on_third_of_five,
                crate::suite::handler_failure_keeps_the_commit,
                crate::suite::serialization_failure_is_retried,
                crate::suite::serialization_failure_without_retry,
                crate::suite::outbox_is_written_in_the_transaction,
                crate::suite::failed_lazy_payload_rolls_back,
                crate::suite::commit_failure_is_reported,
                crate::suite::values_round_trip,
                crate::suite::insert_row_with_slots,
                crate::suite::isolation_is_applied,
                crate::types::typed_values_round_trip,
                crate::types::float_nan_round_trips,
                crate::types::unrepresentable_values_are_refused,
                crate::appointments::appointment_attended_end_to_end,
            );
        }
    };
    (@tests $handle:ty; $($($path:ident)::+),+ $(,)?) => {
        $(
            suite_for!(@one $handle; $($path)::+);
        )+
    };
    (@one $handle:ty; crate :: $module:ident :: $name:ident) => {
        #[tokio::test]
        async fn $name() {
            crate::$module::$name::<$handle>().await;
        }
    };
}

suite_for!(sqlx, crate::harness::SqlxDb);
suite_for!(sqlx_unprepared, crate::harness::SqlxUnpreparedDb);
suite_for!(tokio_postgres, crate::harness::TokioPostgresDb);
