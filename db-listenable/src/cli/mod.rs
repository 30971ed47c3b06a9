//! Subcommands ready to mount in an application's `clap` command line (feature `cli`):
//! `triggers generate|print|uninstall|check|grants` ([`TriggersCommand`]) and `dead-letters list|requeue|discard`
//! ([`DeadLettersCommand`]).

mod dead_letters;
mod triggers;

pub use dead_letters::{DeadLettersCommand, dead_letters};
pub use triggers::{LockTimeout, TriggersCommand, check, generate, grants, print, uninstall};
