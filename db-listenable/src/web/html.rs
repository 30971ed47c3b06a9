//! HTML written through one type that escapes by default: text from the database or the
//! request can only reach a page through [`Html::text`], and markup only comes from
//! `&'static str` literals in this crate, so a row holding `<script>` renders as text.

use std::fmt::{self, Display, Write};

/// A page being written.
#[derive(Debug, Default)]
pub(crate) struct Html {
    out: String,
}

impl Html {
    /// Markup from this crate. `'static` keeps runtime strings (rows, errors, names) out.
    pub(crate) fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    /// Text, escaped for element content and for double- or single-quoted attributes.
    pub(crate) fn text(&mut self, text: impl Display) -> &mut Self {
        // Writing into an `Escaper` over a `String` cannot fail.
        let _ = write!(Escaper(&mut self.out), "{text}");
        self
    }

    /// The finished page.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Escapes what is written through it into the wrapped string.
struct Escaper<'a>(&'a mut String);

impl Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// Percent-encodes `value` for a URL query (everything but unreserved characters), so a
/// subscriber name cannot add parameters or break out of the link.
pub(crate) fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_raw_is_not() {
        let mut html = Html::default();
        html.raw("<p title=\"").text("\"><script>alert('x')</script>&").raw("\">");
        assert_eq!(html.finish(), "<p title=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\">");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(query_value("outbox:x_y-1.2~"), "outbox%3Ax_y-1.2~");
    }
}
