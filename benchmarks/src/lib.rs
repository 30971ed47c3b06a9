//! Shared pieces of the project's benchmarks (`benches/`): summary statistics, number
//! formatting and the environment knobs every bench reads.
//!
//! The benches themselves live in `benches/` (and in `db-listenable/benches`,
//! `changeset/benches`); `benchmarks/run.sh` runs all of them in one go and
//! `BENCHMARKS.md` explains the figures. Nothing here is a test: figures are printed.
//!
//! ```
//! use benchmarks::stats::{median, percentile};
//! let samples = [3.0, 1.0, 2.0];
//! assert_eq!(median(&samples), 2.0);
//! assert_eq!(percentile(&samples, 100.0), 3.0);
//! ```

pub mod knobs;
pub mod stats;
