//! `invoices`: the demo and the operator's commands. See the crate docs of `invoices`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = invoices::cli::Cli::parse();
    invoices::cli::run(cli).await
}
