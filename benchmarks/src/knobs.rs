//! Environment knobs shared by the benches.
//!
//! `BENCH_QUICK=1` shrinks every size and duration for a smoke run (figures are then
//! noisy); `BENCH_DURABILITY=ephemeral` runs the private cluster with the test settings
//! (`fsync=off`) instead of PostgreSQL's durable defaults. Each bench documents its own
//! knobs, read with [`number`].

/// Whether `BENCH_QUICK` asks for a smoke run.
pub fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `key` as a number (`_` separators allowed), or `full` / `quick` when unset or not a
/// number, depending on [`quick`].
pub fn number(key: &str, full: u64, quick_default: u64) -> u64 {
    std::env::var(key).ok().and_then(|value| value.trim().replace('_', "").parse().ok()).unwrap_or(if quick() {
        quick_default
    } else {
        full
    })
}

/// The cluster settings `BENCH_DURABILITY` asks for (durable unless `ephemeral`).
pub fn durability() -> pg_harness::Durability {
    match std::env::var("BENCH_DURABILITY").as_deref() {
        Ok("ephemeral") => pg_harness::Durability::Ephemeral,
        _ => pg_harness::Durability::Durable,
    }
}
