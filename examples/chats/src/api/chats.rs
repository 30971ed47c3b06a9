//! `/api/v1/applications/{token}/chats`: create, list, show, delete, reindex.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use super::lookup;
use super::pagination::Pagination;
use super::rate_limit::{REINDEX_BURST, REINDEX_EVERY};
use crate::numbers;

/// A chat as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Chat {
    /// Its number in the application, from 1.
    pub number: i64,
    /// How many messages it has (kept up to date from captured changes, a moment after
    /// each change).
    pub messages_count: i64,
}

/// The answer of a reindex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reindexed {
    /// Messages written to this instance's index.
    pub indexed: u64,
}

/// Creates the application's next chat; its number is in the answer at once.
#[utoipa::path(
    post, path = "/api/v1/applications/{token}/chats", tag = "chats",
    params(("token" = String, Path, description = "The application's token")),
    responses(
        (status = 201, description = "Created", body = Chat),
        (status = 404, description = "Unknown token", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<(StatusCode, axum::Json<Chat>), ApiError> {
    if !crate::tokens::is_well_formed(&token) {
        return Err(lookup::no_application());
    }
    let number = numbers::create_chat(&state.pool, &token).await?.ok_or_else(lookup::no_application)?;
    Ok((StatusCode::CREATED, axum::Json(Chat { number, messages_count: 0 })))
}

/// Lists the application's chats by number.
#[utoipa::path(
    get, path = "/api/v1/applications/{token}/chats", tag = "chats",
    params(("token" = String, Path, description = "The application's token"), Pagination),
    responses(
        (status = 200, description = "One page of chats", body = [Chat]),
        (status = 404, description = "Unknown token", body = ErrorBody),
        (status = 422, description = "Bad page", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(page): Query<Pagination>,
) -> Result<axum::Json<Vec<Chat>>, ApiError> {
    let window = page.window()?;
    let application = lookup::application(&state.pool, &token).await?;
    let chats = sqlx::query_as(
        "SELECT number, messages_count FROM chats WHERE application_id = $1 ORDER BY number LIMIT $2 OFFSET $3",
    )
    .bind(application)
    .bind(window.limit)
    .bind(window.offset)
    .fetch_all(&state.pool)
    .await?;
    Ok(axum::Json(chats))
}

/// Shows a chat.
#[utoipa::path(
    get, path = "/api/v1/applications/{token}/chats/{number}", tag = "chats",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
    ),
    responses(
        (status = 200, description = "The chat", body = Chat),
        (status = 404, description = "Unknown token or number", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path((token, number)): Path<(String, String)>,
) -> Result<axum::Json<Chat>, ApiError> {
    let (token, number) = lookup::chat_names(&token, &number)?;
    sqlx::query_as(
        "SELECT c.number, c.messages_count FROM chats c JOIN applications a ON a.id = c.application_id
         WHERE a.token = $1 AND c.number = $2",
    )
    .bind(token)
    .bind(number)
    .fetch_optional(&state.pool)
    .await?
    .map(axum::Json)
    .ok_or_else(|| lookup::no_chat(number))
}

/// Deletes a chat and its messages. Its number is not given again.
#[utoipa::path(
    delete, path = "/api/v1/applications/{token}/chats/{number}", tag = "chats",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown token or number", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((token, number)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (token, number) = lookup::chat_names(&token, &number)?;
    let deleted = sqlx::query(
        "DELETE FROM chats c USING applications a WHERE a.id = c.application_id AND a.token = $1 AND c.number = $2",
    )
    .bind(token)
    .bind(number)
    .execute(&state.pool)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(lookup::no_chat(number));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Rebuilds this server instance's search index of the chat from the database (the
/// seed's reindex endpoint; changes are indexed without it, whoever writes them).
///
/// All or nothing: a reindex that fails, or whose client goes away before it ends,
/// changes nothing. Rate-limited per application and server instance: a burst of 3, then
/// one more every 10 seconds; past that, 429 with `Retry-After`.
#[utoipa::path(
    post, path = "/api/v1/applications/{token}/chats/{number}/reindex", tag = "search",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
    ),
    responses(
        (status = 200, description = "Reindexed", body = Reindexed),
        (status = 404, description = "Unknown token or number", body = ErrorBody),
        (status = 429, description = "The application's reindexes are used up: 3 at once, then one every 10 s",
         body = ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds until the application may reindex again"))),
    )
)]
pub async fn reindex(
    State(state): State<AppState>,
    Path((token, number)): Path<(String, String)>,
) -> Result<axum::Json<Reindexed>, ApiError> {
    let chat = lookup::chat(&state.pool, &token, &number).await?;
    state.reindex_limit.try_acquire(&token, Instant::now()).map_err(|retry| {
        ApiError::too_many_requests(
            format!(
                "reindex is limited to {REINDEX_BURST} per application, then one every {} s; retry in {} s",
                REINDEX_EVERY.as_secs(),
                retry.seconds()
            ),
            retry,
        )
    })?;
    let indexed = state.index.rebuild(&state.pool, Some(chat)).await?;
    Ok(axum::Json(Reindexed { indexed }))
}
