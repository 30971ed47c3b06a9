//! Every error a user can meet is a snapshot (`tests/ui/*.rs` + `.stderr`), and the
//! cases in `tests/ui/pass/` compile and run. Regenerate snapshots with
//! `TRYBUILD=overwrite`, then read the diff: the wording is part of the API.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    // `*.rs` matches only the files directly in `tests/ui`, not `tests/ui/pass`.
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
