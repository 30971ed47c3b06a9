//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the directory
//! at compile time, and cargo would not notice a new file by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
