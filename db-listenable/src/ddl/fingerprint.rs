//! Content fingerprints: installed objects carry the fingerprint of the SQL that made
//! them, so the drift check compares fingerprints instead of parsing SQL back.

/// A 64-bit FNV-1a digest of the parts (each followed by a 0 byte, so `("ab", "c")` and
/// `("a", "bc")` differ), as 16 lowercase hex digits. Stable across builds and
/// platforms; not a security hash, which drift detection does not need.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprints_are_stable_and_separate_parts() {
        // The value is part of every installed comment: changing the function would
        // report every installation as outdated.
        assert_eq!(fingerprint(["abc"]), "fc17bb83ee075471");
        assert_ne!(fingerprint(["ab", "c"]), fingerprint(["a", "bc"]));
    }
}
