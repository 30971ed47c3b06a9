//! The identity of one server instance, kept in its data directory.
//!
//! Each instance keeps its own search index, so each must see every message change: its
//! index subscriber is named after this id. Persisting it lets a restarted instance
//! resume the same subscriber (and the changes that arrived while it was down).

use std::path::Path;

use anyhow::Context;

/// The file in the data directory that holds the instance id.
pub const FILE: &str = "instance-id";

/// Reads the instance id from `data_dir`, creating the directory and a new random id
/// on first use.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("could not create {}", data_dir.display()))?;
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if is_valid(text.trim()) => return Ok(text.trim().to_owned()),
        Ok(text) => anyhow::bail!("{} does not hold an instance id: {text:?}", path.display()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("could not read {}", path.display())),
    }
    let id = crate::tokens::generate()[..16].to_owned();
    // Written aside and renamed, so a crash never leaves a half-written id behind.
    let temporary = data_dir.join(format!("{FILE}.tmp"));
    std::fs::write(&temporary, format!("{id}\n"))
        .with_context(|| format!("could not write {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("could not write {}", path.display()))?;
    Ok(id)
}

/// The prefix of the subscriber names of instances' search indexes.
pub const SEARCH_PREFIX: &str = "search_index:";

/// The subscriber name of the search index of instance `id`.
pub fn search_subscriber(id: &str) -> String {
    format!("{SEARCH_PREFIX}{id}")
}

fn is_valid(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let first = load_or_create(&dir.path().join("nested")).expect("created");
        let again = load_or_create(&dir.path().join("nested")).expect("read back");
        assert_eq!(first, again);
        assert_eq!(first.len(), 16);
        assert_eq!(search_subscriber(&first), format!("search_index:{first}"));
        std::fs::write(dir.path().join("nested").join(FILE), "not valid!").expect("overwrite");
        assert!(load_or_create(&dir.path().join("nested")).is_err());
    }
}
