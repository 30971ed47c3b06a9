//! Subcommands ready to mount in an application's `clap` command line (feature `cli`):
//! `triggers generate|check` ([`TriggersCommand`]) and `dead-letters list|requeue|discard`
//! ([`DeadLettersCommand`]).

mod dead_letters;
mod triggers;

pub use dead_letters::{DeadLettersCommand, dead_letters};
pub use triggers::{TriggersCommand, check, generate, grants};
