//! The one place SQL text is generated: identifiers are always quoted here.

/// Quotes an identifier for PostgreSQL: wraps it in double quotes and doubles any
/// double quote inside, so no name can end the identifier and inject SQL.
pub(crate) fn quote_ident(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Quotes a table name that may be schema-qualified: `billing.invoices` becomes
/// `"billing"."invoices"`. A name containing a dot that is not a schema separator must
/// be passed with an explicit schema.
pub(crate) fn quote_table(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(name),
    }
}

/// `INSERT INTO t ("a", "b") SELECT "a", "b" FROM jsonb_populate_record(NULL::t, $1)`.
///
/// `jsonb_populate_record` converts each JSON field to its column's type the way
/// PostgreSQL parses text input, so a serde row needs no per-type binding code. Only the
/// columns present in the row are listed: the others keep their defaults (`serial` ids).
pub(crate) fn insert_from_json(table: &str, columns: &[String], returning: Option<&str>) -> String {
    let table = quote_table(table);
    let mut sql = if columns.is_empty() {
        format!("INSERT INTO {table} DEFAULT VALUES")
    } else {
        let list = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
        format!("INSERT INTO {table} ({list}) SELECT {list} FROM jsonb_populate_record(NULL::{table}, $1)")
    };
    if let Some(column) = returning {
        sql.push_str(" RETURNING ");
        sql.push_str(&quote_ident(column));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_cannot_escape_their_quotes() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("a\"; DROP TABLE x; --"), "\"a\"\"; DROP TABLE x; --\"");
        assert_eq!(quote_table("billing.invoices"), "\"billing\".\"invoices\"");
    }

    #[test]
    fn insert_snapshot() {
        let columns = vec!["customer".to_owned(), "amount_cents".to_owned()];
        assert_eq!(
            insert_from_json("invoices", &columns, Some("id")),
            "INSERT INTO \"invoices\" (\"customer\", \"amount_cents\") SELECT \"customer\", \"amount_cents\" \
             FROM jsonb_populate_record(NULL::\"invoices\", $1) RETURNING \"id\""
        );
        assert_eq!(insert_from_json("t", &[], None), "INSERT INTO \"t\" DEFAULT VALUES");
    }
}
