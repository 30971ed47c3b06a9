//! Default table names: the Rails convention the seed used (`InvoiceItem` -> `invoice_items`).

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

#[cfg(test)]
mod tests {
    use super::default_table_name;

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
}
