//! Subcommands ready to mount in an application's `clap` command line (feature `cli`):
//! `triggers generate|print|uninstall|check|grants` ([`TriggersCommand`]), `dead-letters
//! list|requeue|discard` ([`DeadLettersCommand`]) and `subscribers list|remove`
//! ([`SubscribersCommand`]).

mod dead_letters;
mod subscribers;
mod triggers;

pub use dead_letters::{DeadLettersCommand, dead_letters};
pub use subscribers::{SubscribersCommand, subscribers};
pub use triggers::{LockTimeout, TriggersCommand, TriggersOutput, check, generate, grants, print, triggers, uninstall};
