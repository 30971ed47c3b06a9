//! `GET .../chats/{number}/messages/search?q=`: partial-match search in one chat.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use super::lookup;
use super::messages::Message;
use super::pagination::Pagination;
use crate::search::SearchQuery;

/// The deepest hit a search pages to (Elasticsearch's `max_result_window`): each page
/// is collected from the first hit on, so deeper pages cost more and more.
pub const MAX_SEARCH_WINDOW: i64 = 10_000;

/// The query parameters of a search.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words to find: a message matches when it contains each of them, ignoring
    /// case, anywhere (`hel` finds `hello world`). At most 200 characters (422 past
    /// that). Words of 2 to 10 characters are looked up in the index; shorter or longer
    /// ones are checked on candidate messages, and a search that finds 1000 candidates
    /// failing the check before its page is full is refused (400): add a word of 2 to 10
    /// characters.
    pub q: Option<String>,
    /// The page, from 1 (default 1).
    pub page: Option<u32>,
    /// Hits per page, 1 to 100 (default 20).
    pub per_page: Option<u32>,
}

/// Finds the chat's messages containing every word of `q`, by number, from this server
/// instance's index (which follows every change, whoever writes it, a moment later).
///
/// The work of one search is bounded: the hits up to its page, plus at most 1000
/// candidate messages that turn out not to match (400 past that).
#[utoipa::path(
    get, path = "/api/v1/applications/{token}/chats/{number}/messages/search", tag = "search",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
        SearchParams,
    ),
    responses(
        (status = 200, description = "One page of matching messages", body = [Message]),
        (status = 400, description = "Too broad: the words the index cannot look up (1 character, or over 10) \
                                      would be checked on over 1000 messages that lack them; add a word of 2 to \
                                      10 characters", body = ErrorBody),
        (status = 404, description = "Unknown token or chat", body = ErrorBody),
        (status = 422, description = "Missing, empty or overlong (over 200 characters) query; bad page or past \
                                      hit 10000", body = ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    Path((token, chat)): Path<(String, String)>,
    Query(params): Query<SearchParams>,
) -> Result<axum::Json<Vec<Message>>, ApiError> {
    let window = Pagination { page: params.page, per_page: params.per_page }.window()?;
    if window.offset + window.limit > MAX_SEARCH_WINDOW {
        return Err(ApiError::unprocessable(format!("search pages end at hit {MAX_SEARCH_WINDOW}")));
    }
    let query = SearchQuery::parse(params.q.as_deref().unwrap_or_default())?;
    let chat = lookup::chat(&state.pool, &token, &chat).await?;
    let index = state.index.clone();
    // Reading stored bodies is file I/O: off the async workers.
    let hits = tokio::task::spawn_blocking(move || {
        // Window values come from u32s: they fit a usize.
        let offset = usize::try_from(window.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(window.limit).unwrap_or_default();
        index.search(chat, &query, offset, limit)
    })
    .await
    .map_err(|error| ApiError::internal(&error))??;
    Ok(axum::Json(hits.into_iter().map(|(number, body)| Message { number, body }).collect()))
}
