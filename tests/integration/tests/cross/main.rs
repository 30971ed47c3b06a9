//! Cross-crate tests (one binary, modules per topic).

mod backends;
mod external_app;
// The workspace has no HTTP client crate: the invoices tests' one is shared, not copied.
#[allow(dead_code)]
#[path = "../../../../examples/invoices/tests/support/http.rs"]
mod http;
