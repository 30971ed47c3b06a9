//! A list of SQL statements, rendered for a migration file or executed one by one.

use std::fmt;

/// Ordered SQL statements that together install (or remove) something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    statements: Vec<String>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Script::default()
    }

    pub(crate) fn push(&mut self, statement: impl Into<String>) {
        self.statements.push(statement.into());
    }

    pub(crate) fn extend(&mut self, other: Script) {
        self.statements.extend(other.statements);
    }

    /// The statements, without trailing semicolons.
    pub fn statements(&self) -> &[String] {
        &self.statements
    }

    /// The fingerprint of the statements: equal scripts have equal fingerprints.
    pub fn fingerprint(&self) -> String {
        super::fingerprint::fingerprint(self.statements.iter().map(String::as_str))
    }
}

/// One statement per paragraph, each ending in `;`: a valid SQL file.
impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, statement) in self.statements.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            writeln!(f, "{statement};")?;
        }
        Ok(())
    }
}

/// Wraps a PL/pgSQL body in a dollar quote whose tag does not occur in the body, so
/// no column name or value in it can end the quote early.
pub(crate) fn dollar_quote(body: &str) -> String {
    let mut tag = String::from("$db_listenable$");
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$db_listenable_{n}$");
    }
    format!("{tag}{body}{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_quote_picks_a_tag_absent_from_the_body() {
        assert_eq!(dollar_quote("BEGIN END"), "$db_listenable$BEGIN END$db_listenable$");
        let hostile = "SELECT '$db_listenable$'";
        let quoted = dollar_quote(hostile);
        assert!(quoted.starts_with("$db_listenable_1$") && quoted.ends_with("$db_listenable_1$"), "{quoted}");
    }

    #[test]
    fn display_ends_every_statement() {
        let mut script = Script::new();
        script.push("SELECT 1");
        script.push("SELECT 2");
        assert_eq!(script.to_string(), "SELECT 1;\n\nSELECT 2;\n");
    }
}
