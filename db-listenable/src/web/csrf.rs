//! Protection of the dashboard's actions against cross-site request forgery.
//!
//! Every form carries a random token that lives only in the dashboard's memory and in the
//! pages it serves behind authentication; another site can make a browser send a POST
//! but cannot read a page to learn the token (same-origin policy). Browsers that send
//! `Sec-Fetch-Site` are refused outright when the POST comes from another site.

use axum::http::HeaderMap;

use super::auth::constant_time_eq;

/// A dashboard's form token: 32 random bytes, hex.
#[derive(Clone)]
pub(crate) struct CsrfToken(String);

impl CsrfToken {
    /// A new token from the thread-local CSPRNG.
    pub(crate) fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        CsrfToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The value forms carry.
    pub(crate) fn value(&self) -> &str {
        &self.0
    }

    /// Whether a POST with `headers` and form token `sent` may act.
    pub(crate) fn allows(&self, headers: &HeaderMap, sent: &str) -> bool {
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
        !cross_site && !sent.is_empty() && constant_time_eq(self.0.as_bytes(), sent.as_bytes())
    }
}

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_from_the_same_site_passes() {
        let token = CsrfToken::generate();
        assert_eq!(token.value().len(), 64);
        let mut headers = HeaderMap::new();
        assert!(token.allows(&headers, token.value()));
        assert!(!token.allows(&headers, ""));
        assert!(!token.allows(&headers, &CsrfToken::generate().0));
        headers.insert("sec-fetch-site", axum::http::HeaderValue::from_static("cross-site"));
        assert!(!token.allows(&headers, token.value()));
    }
}
