//! Names the derive makes up: default table names, the Rails convention the seed used
//! (`InvoiceItem` -> `invoice_items`), and serde's `rename_all` rules, which decide the
//! name serde decodes a field by and so its column.

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

/// A `#[serde(rename_all = "...")]` rule, applied to a field name exactly as serde applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    /// The rule serde names `name`; `None` for a name serde rejects (serde reports it).
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return None,
        })
    }

    /// The name serde gives the field `field` (a snake_case Rust field name).
    pub(crate) fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_owned(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal => {
                let mut pascal = String::with_capacity(field.len());
                let mut capitalize = true;
                for c in field.chars() {
                    if c == '_' {
                        capitalize = true;
                    } else if capitalize {
                        pascal.push(c.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        pascal.push(c);
                    }
                }
                pascal
            }
            RenameRule::Camel => {
                let pascal = RenameRule::Pascal.apply_to_field(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => pascal,
                }
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RenameRule, default_table_name};

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
    fn rename_all_rules_match_serde() {
        for (rule, expected) in [
            ("lowercase", "invoice_id"),
            ("UPPERCASE", "INVOICE_ID"),
            ("PascalCase", "InvoiceId"),
            ("camelCase", "invoiceId"),
            ("snake_case", "invoice_id"),
            ("SCREAMING_SNAKE_CASE", "INVOICE_ID"),
            ("kebab-case", "invoice-id"),
            ("SCREAMING-KEBAB-CASE", "INVOICE-ID"),
        ] {
            let rule = RenameRule::from_name(rule).unwrap_or_else(|| panic!("{rule} is a serde rule"));
            assert_eq!(rule.apply_to_field("invoice_id"), expected, "{rule:?}");
        }
        assert_eq!(RenameRule::Camel.apply_to_field("id"), "id");
        assert_eq!(RenameRule::from_name("Title Case"), None);
    }
}
