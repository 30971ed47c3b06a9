//! Protection of the dashboard's actions against cross-site request forgery.
//!
//! Every form carries a token that appears only in the pages the dashboard serves behind
//! authentication; another site can make a browser send a POST but cannot read a page to
//! learn the token (same-origin policy). Browsers that send `Sec-Fetch-Site` are refused
//! outright when the POST comes from another site.
//!
//! The token is derived, not drawn: HMAC-SHA256 keyed by the dashboard's form secret
//! ([`Dashboard::form_secret`](super::Dashboard::form_secret)) or else its credential, over
//! a fixed label. So every instance behind a load balancer, and an instance restarted
//! while a page was open, computes the same token and accepts the forms of the others,
//! with nothing shared but their configuration. A dashboard with neither (an
//! [`insecure_no_auth`](super::Dashboard::insecure_no_auth) one without a form secret)
//! has nothing to derive from and draws a random token: its forms work on the instance
//! that rendered them, until it restarts.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::auth::constant_time_eq;

/// What the token is a MAC of. A new label (a new format of the token) would make every
/// open form stale once, which is all a change of it costs.
const LABEL: &[u8] = b"db-listenable dashboard form token v1";

/// A dashboard's form token: 32 bytes, hex.
#[derive(Clone)]
pub(crate) struct CsrfToken(String);

impl CsrfToken {
    /// A token from the thread-local CSPRNG: valid on this dashboard only.
    pub(crate) fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        CsrfToken(hex(&bytes))
    }

    /// The token of every dashboard keyed by `key` (a form secret, or a credential's
    /// [`key`](super::Credential::token_key)).
    pub(crate) fn derived(key: &[u8]) -> Self {
        // `KeyInit` is shared with ciphers whose keys have a fixed size; HMAC hashes or
        // pads a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts a key of any length");
        mac.update(LABEL);
        CsrfToken(hex(&mac.finalize().into_bytes()))
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

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        let token = CsrfToken::random();
        assert_eq!(token.value().len(), 64);
        let mut headers = HeaderMap::new();
        assert!(token.allows(&headers, token.value()));
        assert!(!token.allows(&headers, ""));
        assert!(!token.allows(&headers, &CsrfToken::random().0));
        headers.insert("sec-fetch-site", axum::http::HeaderValue::from_static("cross-site"));
        assert!(!token.allows(&headers, token.value()));
    }

    #[test]
    fn derived_tokens_depend_on_the_key_only() {
        let token = CsrfToken::derived(b"key");
        assert_eq!(token.value(), CsrfToken::derived(b"key").value());
        assert_ne!(token.value(), CsrfToken::derived(b"other key").value());
        assert_eq!(token.value().len(), 64);
        // Computed independently (Python's `hmac.new(b"key", LABEL, sha256)`): the token is
        // HMAC-SHA256 of the label, and a change of the label or the MAC shows here.
        assert_eq!(token.value(), "629710d67dc96f46a2c260eb555ab1be3d6e5214e0071a9d641df558992146a5");
    }
}
