//! Typed application state: what the builder is given is what every processor reads,
//! as the type the compiler checked at registration.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{
    BatchProcessor, Change, Context, ProcessError, Processor, RuntimeBuilder, SubscribeOptions,
};

use crate::{Item, fast, insert_items, items_db, wait_for};

/// The application's state: what its processors write down.
#[derive(Default)]
struct Ledger {
    /// (subscriber, item id) per change, from the processors that read the state.
    seen: Mutex<Vec<(String, i64)>>,
}

impl Ledger {
    fn ids_of(&self, subscriber: &str) -> Vec<i64> {
        let seen = self.seen.lock().expect("ledger");
        let mut ids: Vec<i64> = seen.iter().filter(|(s, _)| s == subscriber).map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids
    }
}

/// Reads the state, one change at a time.
struct OneByOne;

impl Processor<Item, Arc<Ledger>> for OneByOne {
    async fn process(&self, ctx: &Context<'_, Arc<Ledger>>, change: &Change<Item>) -> Result<(), ProcessError> {
        let id = change.row().ok_or("a change without a row")?.id;
        ctx.state().seen.lock().map_err(|_| "ledger poisoned")?.push((ctx.subscriber().to_owned(), id));
        Ok(())
    }
}

/// Reads the state, a batch at a time.
struct Batches;

impl BatchProcessor<Item, Arc<Ledger>> for Batches {
    async fn process_batch(
        &self,
        ctx: &Context<'_, Arc<Ledger>>,
        changes: &[Change<Item>],
    ) -> Result<(), ProcessError> {
        let mut seen = ctx.state().seen.lock().map_err(|_| "ledger poisoned")?;
        for change in changes {
            seen.push((ctx.subscriber().to_owned(), change.row().ok_or("a change without a row")?.id));
        }
        Ok(())
    }
}

/// Needs no state, so it runs under any: it keeps what it sees itself.
#[derive(Clone, Default)]
struct AnyState {
    ids: Arc<Mutex<Vec<i64>>>,
}

impl<S: Sync> Processor<Item, S> for AnyState {
    async fn process(&self, _ctx: &Context<'_, S>, change: &Change<Item>) -> Result<(), ProcessError> {
        self.ids.lock().map_err(|_| "ids poisoned")?.push(change.row().ok_or("a change without a row")?.id);
        Ok(())
    }
}

#[tokio::test]
async fn processors_read_the_state_the_builder_was_given() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let ledger = Arc::new(Ledger::default());
    let any_state = AnyState::default();
    let runtime = RuntimeBuilder::with_state(pool.clone(), Arc::clone(&ledger))
        .config(fast())
        .processor::<Item, _>("one_by_one", OneByOne)
        .batch_processor_with::<Item, _>("batches", Batches, SubscribeOptions::unordered())
        .processor::<Item, _>("any_state", any_state.clone())
        .start()
        .await
        .expect("start");
    insert_items(&pool, 1..=3).await;
    wait_for("every processor saw the three items", Duration::from_secs(10), || async {
        ledger.seen.lock().expect("ledger").len() == 6 && any_state.ids.lock().expect("ids").len() == 3
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(ledger.ids_of("one_by_one"), [1, 2, 3]);
    assert_eq!(ledger.ids_of("batches"), [1, 2, 3]);
    let mut ids = any_state.ids.lock().expect("ids").clone();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);
}

#[tokio::test]
async fn a_processor_generic_over_the_state_runs_without_one() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let any_state = AnyState::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("any_state", any_state.clone())
        .start()
        .await
        .expect("start");
    insert_items(&pool, 1..=2).await;
    wait_for("both items", Duration::from_secs(10), || async { any_state.ids.lock().expect("ids").len() == 2 }).await;
    runtime.shutdown().await;
}
