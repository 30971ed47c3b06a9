//! The credential every dashboard request must present.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::Inner;

/// What a request must present to see the dashboard.
///
/// The dashboard shows row data and can requeue or discard changes, so it never runs
/// unauthenticated unless the application says so with
/// [`Dashboard::insecure_no_auth`](super::Dashboard::insecure_no_auth).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// `Authorization: Bearer <token>` (scripts, Prometheus). A browser can present it
    /// too: HTTP basic auth with any user name and the token as the password.
    Bearer(String),
    /// HTTP basic auth (browsers ask for it: unauthenticated requests get
    /// `WWW-Authenticate: Basic`).
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl Credential {
    /// Whether the secret is empty (refused: it would let anyone in).
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Credential::Bearer(token) => token.is_empty(),
            Credential::Basic { password, .. } => password.is_empty(),
        }
    }

    /// The key a dashboard's form token is derived from when it has no form secret
    /// (see `csrf.rs`): the kind and every part of the credential, each length-prefixed
    /// so that no two credentials share a key.
    pub(crate) fn token_key(&self) -> Vec<u8> {
        let parts: &[&str] = match self {
            Credential::Bearer(token) => &["bearer", token],
            Credential::Basic { user, password } => &["basic", user, password],
        };
        let mut key = Vec::new();
        for part in parts {
            key.extend_from_slice(&(part.len() as u64).to_be_bytes());
            key.extend_from_slice(part.as_bytes());
        }
        key
    }

    /// Whether `headers` carry this credential.
    pub(crate) fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        match (self, scheme.to_ascii_lowercase().as_str()) {
            (Credential::Bearer(token), "bearer") => constant_time_eq(token.as_bytes(), rest.as_bytes()),
            (Credential::Bearer(token), "basic") => {
                basic_pair(rest).is_some_and(|(_, password)| constant_time_eq(token.as_bytes(), password.as_bytes()))
            }
            (Credential::Basic { user, password }, "basic") => basic_pair(rest).is_some_and(|(u, p)| {
                // Both compared every time: the time taken does not say which one was wrong.
                constant_time_eq(user.as_bytes(), u.as_bytes()) & constant_time_eq(password.as_bytes(), p.as_bytes())
            }),
            _ => false,
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: a credential ends up in logs through the dashboard's Debug.
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(..)"),
            Credential::Basic { user, .. } => f.debug_struct("Basic").field("user", user).finish_non_exhaustive(),
        }
    }
}

/// `user:password` from a basic auth value.
fn basic_pair(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Compares secrets in time that depends on their lengths only, not on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: passes requests with the credential, answers 401 to the others.
pub(crate) async fn require(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    match &inner.credential {
        None => next.run(request).await,
        Some(credential) if credential.accepts(request.headers()) => next.run(request).await,
        Some(credential) => {
            let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
            let headers = response.headers_mut();
            if matches!(credential, Credential::Bearer(_)) {
                headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"db-listenable\""));
            }
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"db-listenable\", charset=\"UTF-8\""),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        headers
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn bearer_accepts_the_token_as_bearer_or_basic_password() {
        let credential = Credential::Bearer("s3cret".into());
        assert!(credential.accepts(&with("Bearer s3cret")));
        assert!(credential.accepts(&with(&basic("anyone", "s3cret"))));
        assert!(!credential.accepts(&with("Bearer s3cre")));
        assert!(!credential.accepts(&with(&basic("s3cret", ""))));
        assert!(!credential.accepts(&HeaderMap::new()));
    }

    #[test]
    fn basic_needs_user_and_password() {
        let credential = Credential::Basic { user: "ops".into(), password: "pw:with:colons".into() };
        assert!(credential.accepts(&with(&basic("ops", "pw:with:colons"))));
        assert!(!credential.accepts(&with(&basic("dev", "pw:with:colons"))));
        assert!(!credential.accepts(&with("Bearer pw:with:colons")));
        assert!(!credential.accepts(&with("Basic !!!")));
    }

    #[test]
    fn token_keys_differ_between_credentials() {
        let keys = [
            Credential::Bearer("ab".into()).token_key(),
            Credential::Basic { user: "a".into(), password: "b".into() }.token_key(),
            Credential::Basic { user: "ab".into(), password: String::new() }.token_key(),
            Credential::Basic { user: String::new(), password: "ab".into() }.token_key(),
        ];
        for (i, key) in keys.iter().enumerate() {
            assert!(keys[i + 1..].iter().all(|other| other != key), "key {i} is shared");
        }
        assert_eq!(keys[0], Credential::Bearer("ab".into()).token_key());
    }

    #[test]
    fn debug_hides_secrets() {
        let text = format!("{:?}", Credential::Basic { user: "ops".into(), password: "hunter2".into() });
        assert!(!text.contains("hunter2"));
        assert!(!format!("{:?}", Credential::Bearer("hunter2".into())).contains("hunter2"));
    }
}
