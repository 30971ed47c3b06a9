//! The API's one error shape: a status code and `{"error": "..."}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pg_changeset::PushError;

/// SQLSTATEs a request can cause with values the checks let through (a row deleted between
/// the check and the write, a product priced so high the total overflows): the client's
/// input, so 422 rather than 500.
const CLIENT_SQLSTATES: [&str; 3] = [
    "23503", // foreign_key_violation
    "23514", // check_violation
    "22003", // numeric_value_out_of_range
];

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    /// 404: the thing named in the path does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 422: a well-formed request that cannot be applied.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 503: the server is stopping.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 500: our failure. The detail goes to the server's log, not to the client, which
    /// cannot act on it and should not see the database's internals.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        eprintln!("invoices serve: internal error: {error:#}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server's log")
    }

    /// The status code (the server only renders it; tests read it).
    #[cfg(test)]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    #[cfg(test)]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

fn is_client_sqlstate(code: Option<&str>) -> bool {
    code.is_some_and(|code| CLIENT_SQLSTATES.contains(&code))
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error.as_database_error() {
            Some(db) if is_client_sqlstate(db.code().as_deref()) => ApiError::unprocessable(db.message().to_owned()),
            _ => ApiError::internal(&error),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        // `push_invoice` reports a failed push as a `PushError` carrying the SQLSTATE.
        if let Some(push) = error.downcast_ref::<PushError>()
            && is_client_sqlstate(push.sqlstate())
        {
            let detail = std::error::Error::source(push).map_or_else(|| push.to_string(), ToString::to_string);
            return ApiError::unprocessable(format!("the invoice could not be written: {detail}"));
        }
        match error.downcast::<sqlx::Error>() {
            Ok(sqlx) => ApiError::from(sqlx),
            Err(error) => ApiError::internal(&error),
        }
    }
}

impl From<db_listenable::Error> for ApiError {
    fn from(error: db_listenable::Error) -> Self {
        ApiError::internal(&error)
    }
}

impl From<JsonRejection> for ApiError {
    /// axum's own statuses: 400 for malformed JSON, 422 for JSON of the wrong shape, 415
    /// without `Content-Type: application/json`, 413 for a body over the limit.
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

/// The fallback for paths no route matches.
pub async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// The fallback for a known path with a method it does not serve.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_of_the_clients_making_are_422_and_others_500() {
        let not_found = ApiError::from(sqlx::Error::RowNotFound);
        assert_eq!(not_found.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!not_found.message().contains("RowNotFound"), "the detail stays in the log");
        assert!(is_client_sqlstate(Some("23503")));
        assert!(!is_client_sqlstate(Some("40001")) && !is_client_sqlstate(None));
    }

    #[test]
    fn errors_render_as_one_json_field() {
        let response = ApiError::unprocessable("unknown product 9").into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let content_type = response.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        assert_eq!(content_type, Some("application/json"));
    }
}
