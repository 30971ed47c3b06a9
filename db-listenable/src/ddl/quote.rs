//! Quoting by PostgreSQL's rules, so no name or value can change the statement it is in.

/// Quotes an identifier: always double-quoted, inner `"` doubled. Quoting every name
/// (not only those that need it, as PostgreSQL's `quote_ident` does) keeps reserved
/// words and mixed case safe without a keyword list that drifts between versions.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal: single-quoted, inner `'` doubled. With
/// `standard_conforming_strings` on (the default since PostgreSQL 9.1) backslashes are
/// ordinary characters; an `E''` literal is used when one is present so the result is
/// the same whatever that setting is.
pub fn quote_literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if body.contains('\\') { format!("E'{}'", body.replace('\\', "\\\\")) } else { format!("'{body}'") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted_and_quotes_doubled() {
        assert_eq!(quote_ident("items"), r#""items""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_ident("select"), r#""select""#);
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
    }
}
