//! `/api/v1/applications`: create, show, rename.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use super::lookup;
use crate::tokens;

/// The longest application name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// An application as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Application {
    /// Its public identifier: use it in every path below the application.
    pub token: String,
    /// Its name.
    pub name: String,
    /// How many chats it has (kept up to date from captured changes, a moment after
    /// each change).
    pub chats_count: i64,
}

/// The body of `POST /applications` and `PATCH /applications/{token}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
pub struct ApplicationInput {
    /// A non-empty name, at most 200 characters.
    pub name: String,
}

/// Checks a name: non-empty, bounded, storable.
fn valid_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::unprocessable("name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::unprocessable(format!("name is over {MAX_NAME_CHARS} characters")));
    }
    if name.contains('\0') {
        return Err(ApiError::unprocessable("name must not contain NUL characters"));
    }
    Ok(name)
}

/// Creates an application.
#[utoipa::path(
    post, path = "/api/v1/applications", tag = "applications",
    request_body = ApplicationInput,
    responses(
        (status = 201, description = "Created", body = Application),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Empty or overlong name", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Json(input): Json<ApplicationInput>,
) -> Result<(StatusCode, axum::Json<Application>), ApiError> {
    let name = valid_name(&input.name)?;
    let application =
        sqlx::query_as("INSERT INTO applications (token, name) VALUES ($1, $2) RETURNING token, name, chats_count")
            .bind(tokens::generate())
            .bind(name)
            .fetch_one(&state.pool)
            .await?;
    Ok((StatusCode::CREATED, axum::Json(application)))
}

/// Shows an application.
#[utoipa::path(
    get, path = "/api/v1/applications/{token}", tag = "applications",
    params(("token" = String, Path, description = "The application's token")),
    responses(
        (status = 200, description = "The application", body = Application),
        (status = 404, description = "Unknown token", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<axum::Json<Application>, ApiError> {
    if !tokens::is_well_formed(&token) {
        return Err(lookup::no_application());
    }
    sqlx::query_as("SELECT token, name, chats_count FROM applications WHERE token = $1")
        .bind(&token)
        .fetch_optional(&state.pool)
        .await?
        .map(axum::Json)
        .ok_or_else(lookup::no_application)
}

/// Renames an application.
#[utoipa::path(
    patch, path = "/api/v1/applications/{token}", tag = "applications",
    params(("token" = String, Path, description = "The application's token")),
    request_body = ApplicationInput,
    responses(
        (status = 200, description = "The application", body = Application),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "Unknown token", body = ErrorBody),
        (status = 422, description = "Empty or overlong name", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(input): Json<ApplicationInput>,
) -> Result<axum::Json<Application>, ApiError> {
    if !tokens::is_well_formed(&token) {
        return Err(lookup::no_application());
    }
    let name = valid_name(&input.name)?;
    sqlx::query_as("UPDATE applications SET name = $2 WHERE token = $1 RETURNING token, name, chats_count")
        .bind(&token)
        .bind(name)
        .fetch_optional(&state.pool)
        .await?
        .map(axum::Json)
        .ok_or_else(lookup::no_application)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(valid_name("  Support ").expect("valid"), "Support");
        assert!(valid_name("   ").is_err());
        assert!(valid_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(valid_name("a\0b").is_err());
    }
}
