//! The derive through a crate that re-exports db-listenable: `fixtures/reexport` is a
//! project of its own whose `app` depends only on `facade`, and uses
//! `#[db_listenable(crate = "facade::db_listenable")]`. Its `main` asserts the model.

use std::path::Path;
use std::process::Command;

#[test]
fn derive_works_through_a_reexporting_crate() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/reexport/Cargo.toml");
    // `<target>/fixtures`, shared by every fixture project: each resolves its dependencies
    // separately, and what they have in common is built once.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("a target directory").join("fixtures");
    let output = Command::new(env!("CARGO"))
        .args(["run", "--offline", "--quiet", "--package", "app", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap_or_else(|err| panic!("run cargo: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the fixture failed ({}):\n{stderr}\n{stdout}", output.status);
    assert_eq!(stdout.trim(), "facade.invoices (Invoice)", "stderr:\n{stderr}");
}
