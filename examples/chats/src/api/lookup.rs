//! Turning the public names in a path (token, numbers) into database ids. A name of the
//! wrong shape names nothing: 404, without a query.

use sqlx::PgPool;

use super::error::ApiError;
use crate::tokens;

/// The application named by `token`.
///
/// # Errors
/// 404 when there is none.
pub async fn application(pool: &PgPool, token: &str) -> Result<i64, ApiError> {
    if !tokens::is_well_formed(token) {
        return Err(no_application());
    }
    sqlx::query_scalar("SELECT id FROM applications WHERE token = $1")
        .bind(token)
        .fetch_optional(pool)
        .await?
        .ok_or_else(no_application)
}

/// The chat numbered `number` of the application named by `token`.
///
/// # Errors
/// 404 when there is none.
pub async fn chat(pool: &PgPool, token: &str, number: &str) -> Result<i64, ApiError> {
    let (token, number) = chat_names(token, number)?;
    sqlx::query_scalar(
        "SELECT c.id FROM chats c JOIN applications a ON a.id = c.application_id
         WHERE a.token = $1 AND c.number = $2",
    )
    .bind(token)
    .bind(number)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| no_chat(number))
}

/// Checks the shape of a chat's names: the token, and the number parsed.
///
/// # Errors
/// 404 when they cannot name a chat.
pub fn chat_names<'a>(token: &'a str, number: &str) -> Result<(&'a str, i64), ApiError> {
    if !tokens::is_well_formed(token) {
        return Err(no_application());
    }
    let number = parse_number(number).ok_or_else(|| ApiError::not_found(format!("no chat {number}")))?;
    Ok((token, number))
}

/// A chat or message number from the path: a positive integer, or nothing.
pub fn parse_number(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|number| *number > 0)
}

/// 404 for an unknown application.
pub fn no_application() -> ApiError {
    ApiError::not_found("no application with this token")
}

/// 404 for an unknown chat.
pub fn no_chat(number: i64) -> ApiError {
    ApiError::not_found(format!("no chat {number} in this application"))
}

/// 404 for an unknown message.
pub fn no_message(number: &str) -> ApiError {
    ApiError::not_found(format!("no message {number} in this chat"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_integers_are_numbers() {
        assert_eq!(parse_number("7"), Some(7));
        assert_eq!(parse_number("0"), None);
        assert_eq!(parse_number("-1"), None);
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number("99999999999999999999"), None);
    }
}
