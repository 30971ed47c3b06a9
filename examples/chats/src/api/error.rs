//! The API's one error shape: a status code and `{"error": "..."}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::rate_limit::RetryAfter;
use crate::search::{QueryError, SearchError};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), retry_after: None }
    }

    /// 400: a request the server will not answer as asked (too costly), though well-formed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 429 with `Retry-After`: over a rate limit.
    pub fn too_many_requests(message: impl Into<String>, retry_after: RetryAfter) -> Self {
        ApiError { retry_after: Some(retry_after.seconds()), ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, message) }
    }

    /// 404: the thing named in the path does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 422: a well-formed request that cannot be applied.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 500: our failure. The detail goes to the server's log, not to the client, which
    /// cannot act on it and should not see the database's internals.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server's log")
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` seconds, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorBody { error: self.message })).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let code = error.as_database_error().and_then(|db| db.code()).map(|code| code.into_owned());
        match code.as_deref() {
            // Data exceptions (a value PostgreSQL cannot store): the input's fault, though
            // validation should have caught it first.
            Some(code) if code.starts_with("22") => ApiError::unprocessable("a value of the request cannot be stored"),
            // A parent deleted between lookup and write.
            Some("23503") => ApiError::not_found("the parent was deleted meanwhile"),
            _ => ApiError::internal(&error),
        }
    }
}

impl From<SearchError> for ApiError {
    /// 400 for a search too broad to answer (the client's to narrow), 500 otherwise.
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::TooBroad { .. } => ApiError::bad_request(error.to_string()),
            error => ApiError::internal(&error),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        ApiError::unprocessable(error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    /// axum's own statuses (400 for malformed JSON, 422 for JSON of the wrong shape, 415
    /// without `Content-Type: application/json`), except that a body over the size limit
    /// is 422 like an oversized message.
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::unprocessable(rejection.body_text()),
            status => ApiError::new(status, rejection.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
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
    fn unexpected_database_errors_are_500_without_detail() {
        let error = ApiError::from(sqlx::Error::RowNotFound);
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.message().contains("RowNotFound"));
    }

    #[test]
    fn query_errors_are_422() {
        assert_eq!(ApiError::from(QueryError::Empty).status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn too_broad_searches_are_400_naming_the_words_and_the_limit() {
        let error = ApiError::from(SearchError::TooBroad { checked: vec!["☃".into()] });
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.message().contains("`☃`") && error.message().contains("1000 messages"), "{}", error.message());
    }

    #[test]
    fn rate_limited_answers_say_when_to_retry() {
        let error = ApiError::too_many_requests("slow down", RetryAfter(std::time::Duration::from_millis(1_500)));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
