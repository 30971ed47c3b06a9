//! Cross-crate tests (one binary, modules per topic).

mod backends;
