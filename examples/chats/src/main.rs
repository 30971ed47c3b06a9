//! `chats`: the chat API server and its operator commands (see the `chats` crate docs).

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr (RUST_LOG to tune), so stdout stays for the commands' output.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,chats=info")))
        .with_writer(std::io::stderr)
        .init();
    chats::cli::run(chats::cli::Cli::parse()).await
}
