//! `/api/v1/applications/{token}/chats/{number}/messages`: create, list, show, edit, delete.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path, Query};
use super::lookup;
use super::pagination::Pagination;
use crate::numbers;

/// The longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 4_000;

/// A message as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Message {
    /// Its number in the chat, from 1.
    pub number: i64,
    /// The text.
    pub body: String,
}

/// The body of `POST .../messages` and `PATCH .../messages/{number}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
pub struct MessageInput {
    /// The text: not blank, at most 4000 characters.
    pub body: String,
}

/// Checks a body: not blank, bounded, storable.
pub fn valid_body(body: &str) -> Result<&str, ApiError> {
    if body.trim().is_empty() {
        return Err(ApiError::unprocessable("body must not be empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::unprocessable(format!("body is over {MAX_BODY_CHARS} characters")));
    }
    if body.contains('\0') {
        return Err(ApiError::unprocessable("body must not contain NUL characters"));
    }
    Ok(body)
}

/// Creates the chat's next message; its number is in the answer at once.
#[utoipa::path(
    post, path = "/api/v1/applications/{token}/chats/{number}/messages", tag = "messages",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
    ),
    request_body = MessageInput,
    responses(
        (status = 201, description = "Created", body = Message),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "Unknown token or chat", body = ErrorBody),
        (status = 422, description = "Empty or oversized body", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Path((token, chat)): Path<(String, String)>,
    Json(input): Json<MessageInput>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    let (token, chat) = lookup::chat_names(&token, &chat)?;
    let body = valid_body(&input.body)?;
    let number = numbers::create_message(&state.pool, token, chat, body).await?.ok_or_else(|| lookup::no_chat(chat))?;
    Ok((StatusCode::CREATED, axum::Json(Message { number, body: body.to_owned() })))
}

/// Lists the chat's messages by number.
#[utoipa::path(
    get, path = "/api/v1/applications/{token}/chats/{number}/messages", tag = "messages",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
        Pagination,
    ),
    responses(
        (status = 200, description = "One page of messages", body = [Message]),
        (status = 404, description = "Unknown token or chat", body = ErrorBody),
        (status = 422, description = "Bad page", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Path((token, chat)): Path<(String, String)>,
    Query(page): Query<Pagination>,
) -> Result<axum::Json<Vec<Message>>, ApiError> {
    let window = page.window()?;
    let chat = lookup::chat(&state.pool, &token, &chat).await?;
    let messages =
        sqlx::query_as("SELECT number, body FROM messages WHERE chat_id = $1 ORDER BY number LIMIT $2 OFFSET $3")
            .bind(chat)
            .bind(window.limit)
            .bind(window.offset)
            .fetch_all(&state.pool)
            .await?;
    Ok(axum::Json(messages))
}

/// Shows a message.
#[utoipa::path(
    get, path = "/api/v1/applications/{token}/chats/{number}/messages/{message_number}", tag = "messages",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
        ("message_number" = i64, Path, description = "The message's number"),
    ),
    responses(
        (status = 200, description = "The message", body = Message),
        (status = 404, description = "Unknown token, chat or message", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path((token, chat, number)): Path<(String, String, String)>,
) -> Result<axum::Json<Message>, ApiError> {
    let chat = lookup::chat(&state.pool, &token, &chat).await?;
    let parsed = lookup::parse_number(&number).ok_or_else(|| lookup::no_message(&number))?;
    sqlx::query_as("SELECT number, body FROM messages WHERE chat_id = $1 AND number = $2")
        .bind(chat)
        .bind(parsed)
        .fetch_optional(&state.pool)
        .await?
        .map(axum::Json)
        .ok_or_else(|| lookup::no_message(&number))
}

/// Replaces a message's body.
#[utoipa::path(
    patch, path = "/api/v1/applications/{token}/chats/{number}/messages/{message_number}", tag = "messages",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
        ("message_number" = i64, Path, description = "The message's number"),
    ),
    request_body = MessageInput,
    responses(
        (status = 200, description = "The message", body = Message),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "Unknown token, chat or message", body = ErrorBody),
        (status = 422, description = "Empty or oversized body", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path((token, chat, number)): Path<(String, String, String)>,
    Json(input): Json<MessageInput>,
) -> Result<axum::Json<Message>, ApiError> {
    let chat = lookup::chat(&state.pool, &token, &chat).await?;
    let parsed = lookup::parse_number(&number).ok_or_else(|| lookup::no_message(&number))?;
    let body = valid_body(&input.body)?;
    sqlx::query_as(
        "UPDATE messages SET body = $3, updated_at = now() WHERE chat_id = $1 AND number = $2 RETURNING number, body",
    )
    .bind(chat)
    .bind(parsed)
    .bind(body)
    .fetch_optional(&state.pool)
    .await?
    .map(axum::Json)
    .ok_or_else(|| lookup::no_message(&number))
}

/// Deletes a message. Its number is not given again.
#[utoipa::path(
    delete, path = "/api/v1/applications/{token}/chats/{number}/messages/{message_number}", tag = "messages",
    params(
        ("token" = String, Path, description = "The application's token"),
        ("number" = i64, Path, description = "The chat's number"),
        ("message_number" = i64, Path, description = "The message's number"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown token, chat or message", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((token, chat, number)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let chat = lookup::chat(&state.pool, &token, &chat).await?;
    let parsed = lookup::parse_number(&number).ok_or_else(|| lookup::no_message(&number))?;
    let deleted = sqlx::query("DELETE FROM messages WHERE chat_id = $1 AND number = $2")
        .bind(chat)
        .bind(parsed)
        .execute(&state.pool)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(lookup::no_message(&number));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_present_bounded_and_storable() {
        assert!(valid_body("hello").is_ok());
        assert!(valid_body(" \n ").is_err());
        assert!(valid_body(&"é".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(valid_body(&"é".repeat(MAX_BODY_CHARS + 1)).is_err());
        assert!(valid_body("a\0").is_err());
    }
}
