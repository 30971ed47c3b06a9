//! The JSON HTTP API (axum), under `/api/v1`, with `GET /healthz` and the docs at
//! `/api-docs` (HTML) and `/api-docs/openapi.json`.
//!
//! | Route | |
//! |---|---|
//! | `POST /applications` | `{"name"}`: 201 `{token, name, chats_count}` |
//! | `GET`, `PATCH /applications/{token}` | show, rename |
//! | `POST`, `GET /applications/{token}/chats` | create (201 `{number, messages_count}`), list |
//! | `GET`, `DELETE .../chats/{number}` | show, delete |
//! | `POST .../chats/{number}/reindex` | rebuild this instance's index of the chat |
//! | `POST`, `GET .../chats/{number}/messages` | create (201 `{number, body}`), list |
//! | `GET .../chats/{number}/messages/search?q=` | partial-match search in the chat |
//! | `GET`, `PATCH`, `DELETE .../messages/{number}` | show, edit, delete |
//!
//! Lists take `?page=&per_page=`. Errors are `{"error": "..."}`: 404 for an unknown
//! token, number or route, 422 for an empty or oversized value or a bad page, 400 for
//! malformed JSON or query strings, 415 without a JSON content type.
//!
//! # Limits
//!
//! What one request may cost is bounded:
//!
//! - **Search query**: at most 200 characters ([`crate::search::query::MAX_QUERY_CHARS`];
//!   422 naming the limit), pages up to hit 10,000 ([`search::MAX_SEARCH_WINDOW`]).
//! - **Search work**: words of 2 to 10 characters are looked up in the index; shorter or
//!   longer ones are checked on the stored bodies of candidates, and a search stops after
//!   [`crate::search::MAX_CHECKED_MISSES`] (1000) candidates that fail the check: 400
//!   naming the words to replace (`ab ☃` in a chat where many messages contain `ab`).
//!   A search reads at most the hits up to its page plus those 1000 bodies.
//! - **Reindex**: per application and server instance, a burst of
//!   [`rate_limit::REINDEX_BURST`] (3), then one more every [`rate_limit::REINDEX_EVERY`]
//!   (10 s); past that, 429 with `Retry-After` (seconds). A reindex is all or nothing: one
//!   that fails or whose client goes away changes nothing.

pub mod applications;
pub mod chats;
pub mod docs;
pub mod error;
pub mod extract;
pub mod health;
pub mod lookup;
pub mod messages;
pub mod pagination;
pub mod rate_limit;
pub mod search;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use sqlx::PgPool;

use crate::search::SearchIndex;
use rate_limit::RateLimiter;

/// What the handlers share: the pool, this instance's search index, and its reindex
/// rate limit.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// This instance's index.
    pub index: Arc<SearchIndex>,
    /// Reindexes per application ([`RateLimiter::reindex`]).
    pub reindex_limit: Arc<RateLimiter>,
}

/// The API's routes on `state`. Unknown routes and methods answer JSON errors too, so a
/// client only ever has one error shape to read.
pub fn router(state: AppState) -> Router {
    let chat = "/api/v1/applications/{token}/chats/{number}";
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api-docs", get(docs::page))
        .route("/api-docs/openapi.json", get(docs::openapi_json))
        .route("/api/v1/applications", post(applications::create))
        .route("/api/v1/applications/{token}", get(applications::show).patch(applications::update))
        .route("/api/v1/applications/{token}/chats", get(chats::list).post(chats::create))
        .route(chat, get(chats::show).delete(chats::delete))
        .route(&format!("{chat}/reindex"), post(chats::reindex))
        .route(&format!("{chat}/messages"), get(messages::list).post(messages::create))
        .route(&format!("{chat}/messages/search"), get(search::search))
        .route(
            &format!("{chat}/messages/{{message}}"),
            get(messages::show).patch(messages::update).delete(messages::delete),
        )
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
