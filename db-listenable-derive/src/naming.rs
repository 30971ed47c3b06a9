//! Names the derive makes up: default table names, the Rails convention the seed used
//! (`InvoiceItem` -> `invoice_items`), and sqlx's `rename_all` rules, which decide the
//! column `sqlx::FromRow` reads a field from.

use heck::{ToKebabCase, ToLowerCamelCase, ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

/// The snake_case plural of a struct name.
pub(crate) fn default_table_name(struct_name: &str) -> String {
    pluralize(&snake_case(struct_name))
}

/// `InvoiceItem` -> `invoice_item`, `HTTPRequest` -> `http_request`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// English plural of the last word, for the regular cases table names meet.
fn pluralize(word: &str) -> String {
    let consonant_y = word.ends_with('y') && !word.ends_with("ay") && !word.ends_with("ey") && !word.ends_with("oy");
    if consonant_y {
        format!("{}ies", &word[..word.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|end| word.ends_with(end)) {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// A `#[sqlx(rename_all = "...")]` rule, applied to a field name exactly as sqlx's
/// `FromRow` derive applies it: the same seven names, the same `heck` version
/// (sqlx-macros-core 0.9's `derives/attributes.rs` and `derives/mod.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameAll {
    Lower,
    Snake,
    Upper,
    ScreamingSnake,
    Kebab,
    Camel,
    Pascal,
}

impl RenameAll {
    /// The rule sqlx names `name`; `None` for a name sqlx rejects (sqlx reports it).
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => RenameAll::Lower,
            "snake_case" => RenameAll::Snake,
            "UPPERCASE" => RenameAll::Upper,
            "SCREAMING_SNAKE_CASE" => RenameAll::ScreamingSnake,
            "kebab-case" => RenameAll::Kebab,
            "camelCase" => RenameAll::Camel,
            "PascalCase" => RenameAll::Pascal,
            _ => return None,
        })
    }

    /// The column sqlx reads the field `field` (its name without `r#`) from.
    pub(crate) fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameAll::Lower => field.to_lowercase(),
            RenameAll::Snake => field.to_snake_case(),
            RenameAll::Upper => field.to_uppercase(),
            RenameAll::ScreamingSnake => field.to_shouty_snake_case(),
            RenameAll::Kebab => field.to_kebab_case(),
            RenameAll::Camel => field.to_lower_camel_case(),
            RenameAll::Pascal => field.to_upper_camel_case(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RenameAll, default_table_name};

    #[test]
    fn struct_names_become_snake_case_plural_tables() {
        for (name, table) in [
            ("Invoice", "invoices"),
            ("InvoiceItem", "invoice_items"),
            ("Category", "categories"),
            ("Day", "days"),
            ("Address", "addresses"),
            ("Box", "boxes"),
            ("Match", "matches"),
            ("HTTPRequest", "http_requests"),
            ("Message2", "message2s"),
            ("chat", "chats"),
        ] {
            assert_eq!(default_table_name(name), table, "{name}");
        }
    }

    #[test]
    fn rename_all_rules_match_sqlx() {
        for (rule, expected) in [
            ("lowercase", "invoice_id2"),
            ("snake_case", "invoice_id2"),
            ("UPPERCASE", "INVOICE_ID2"),
            ("SCREAMING_SNAKE_CASE", "INVOICE_ID2"),
            ("kebab-case", "invoice-id2"),
            ("camelCase", "invoiceId2"),
            ("PascalCase", "InvoiceId2"),
        ] {
            let rule = RenameAll::from_name(rule).unwrap_or_else(|| panic!("{rule} is a sqlx rule"));
            assert_eq!(rule.apply_to_field("invoice_id2"), expected, "{rule:?}");
        }
        // Unlike serde's rules, sqlx's go through heck, which re-splits words.
        assert_eq!(RenameAll::Snake.apply_to_field("totalPrice"), "total_price");
        assert_eq!(RenameAll::from_name("SCREAMING-KEBAB-CASE"), None);
    }
}
