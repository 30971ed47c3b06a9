//! The dashboard's actions: requeue and discard dead letters (POST, CSRF-checked).

use std::sync::Arc;

use axum::extract::{Form, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Inner;
use super::html::{Html, query_value};
use super::pages::{base, failure, page};
use crate::runtime::dead_letters;

/// What an action form posts. Every field has a default so that a post without the
/// token is answered 403 by the CSRF check, not 422 by the form parser.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subscriber: String,
    /// One dead letter; absent: all of the subscriber's.
    change_id: Option<i64>,
    /// `yes` once the discard confirmation page was answered.
    confirm: Option<String>,
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "missing or invalid form token (CSRF)\n").into_response()
}

fn unknown_subscriber(error: &crate::Error) -> Option<Response> {
    matches!(error, crate::Error::UnknownSubscriber { .. })
        .then(|| (StatusCode::NOT_FOUND, format!("{error}\n")).into_response())
}

/// Back to the subscriber's dead letters, saying what was done (303: the browser GETs it,
/// so a reload does not post again).
fn back(base: &str, subscriber: &str, done: &str, count: u64) -> Response {
    let location = format!("{base}/dead-letters?subscriber={}&{done}={count}", query_value(subscriber));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// `POST /dead-letters/requeue`: one dead letter, or all of a subscriber's, back to work.
pub(crate) async fn requeue(
    State(inner): State<Arc<Inner>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if !inner.csrf.allows(&headers, &form.csrf) {
        return forbidden();
    }
    match dead_letters::requeue(&inner.pool, &form.subscriber, form.change_id).await {
        Ok(count) => back(&base(&original, &uri), &form.subscriber, "requeued", count),
        Err(error) => unknown_subscriber(&error).unwrap_or_else(|| failure(&error)),
    }
}

/// `POST /dead-letters/discard`: first a confirmation page, then (with `confirm=yes`) the
/// deletion. The confirmation is a server-side step, so it holds without JavaScript.
pub(crate) async fn discard(
    State(inner): State<Arc<Inner>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if !inner.csrf.allows(&headers, &form.csrf) {
        return forbidden();
    }
    let base = base(&original, &uri);
    if form.confirm.as_deref() != Some("yes") {
        return confirmation(&base, inner.csrf.value(), &form);
    }
    match dead_letters::discard(&inner.pool, &form.subscriber, form.change_id).await {
        Ok(count) => back(&base, &form.subscriber, "discarded", count),
        Err(error) => unknown_subscriber(&error).unwrap_or_else(|| failure(&error)),
    }
}

fn confirmation(base: &str, csrf: &str, form: &ActionForm) -> Response {
    page("Discard dead letters?", base, false, |html: &mut Html| {
        html.raw("<p id=\"confirm-question\">Discard ");
        match form.change_id {
            Some(change) => html.raw("the dead letter of change ").text(change),
            None => html.raw("<strong>every</strong> dead letter"),
        };
        html.raw(" of subscriber <strong>").text(&form.subscriber);
        html.raw("</strong>? The changes will not be processed by it; this cannot be undone.</p>");
        html.raw("<form method=\"post\" action=\"").text(base).raw("/dead-letters/discard\">");
        html.raw("<input type=\"hidden\" name=\"csrf\" value=\"").text(csrf).raw("\">");
        html.raw("<input type=\"hidden\" name=\"subscriber\" value=\"").text(&form.subscriber).raw("\">");
        if let Some(change) = form.change_id {
            html.raw("<input type=\"hidden\" name=\"change_id\" value=\"").text(change).raw("\">");
        }
        html.raw("<input type=\"hidden\" name=\"confirm\" value=\"yes\">");
        html.raw("<button type=\"submit\" id=\"confirm-discard\">Discard</button></form> <a href=\"");
        html.text(base).raw("/dead-letters?subscriber=").text(query_value(&form.subscriber)).raw("\">Cancel</a>");
    })
}
