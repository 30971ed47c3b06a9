//! A processor is registered only where the runtime's application state is the state
//! it reads: another state, or none where the runtime has one (or the reverse), does
//! not compile, and the message says how to fix it.

use db_listenable::DbListenable;
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};

#[derive(DbListenable, serde::Deserialize, sqlx::FromRow)]
struct Item {
    id: i64,
}

struct AppState;

struct OtherState;

/// Reads `OtherState`.
struct NeedsOther;

impl Processor<Item, OtherState> for NeedsOther {
    async fn process(&self, _ctx: &Context<'_, OtherState>, _change: &Change<Item>) -> Result<(), ProcessError> {
        Ok(())
    }
}

/// Reads no state (`()`).
struct Stateless;

impl Processor<Item> for Stateless {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<Item>) -> Result<(), ProcessError> {
        Ok(())
    }
}

fn wrong_state(pool: sqlx::PgPool) {
    let _ = RuntimeBuilder::with_state(pool, AppState).processor::<Item, _>("other", NeedsOther);
}

fn state_for_a_stateless_processor(pool: sqlx::PgPool) {
    let _ = RuntimeBuilder::with_state(pool, AppState).processor::<Item, _>("stateless", Stateless);
}

fn no_state_for_a_processor_that_reads_one(pool: sqlx::PgPool) {
    let _ = RuntimeBuilder::new(pool).processor::<Item, _>("other", NeedsOther);
}

fn main() {}
