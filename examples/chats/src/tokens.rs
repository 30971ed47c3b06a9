//! Application tokens: the public name of an application.

/// Random bytes in a token: 160 bits, beyond guessing.
const TOKEN_BYTES: usize = 20;

/// The length of a token: two hex digits per byte.
pub const TOKEN_LEN: usize = TOKEN_BYTES * 2;

/// A new token: [`TOKEN_LEN`] lower-case hex digits from the thread's cryptographically
/// secure generator (URL-safe as it is).
pub fn generate() -> String {
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `text` has the shape of a token. Anything else cannot name an application,
/// so it is answered without a query (and cannot carry a NUL byte into one).
pub fn is_well_formed(text: &str) -> bool {
    text.len() == TOKEN_LEN && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_well_formed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(is_well_formed(&a) && is_well_formed(&b), "{a} {b}");
        assert!(!is_well_formed("abc"));
        assert!(!is_well_formed(&a.to_uppercase()));
        assert!(!is_well_formed(&format!("{}\0", &a[1..])));
    }
}
