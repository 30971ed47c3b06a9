//! The dashboard's actions: requeue and discard dead letters (POST, CSRF-checked).

use std::sync::Arc;

use axum::extract::{Form, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Inner;
use super::html::{Html, query_value};
use super::pages::{base, failure, page};
use crate::runtime::dead_letters::{self, RequeuePreview};

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
    /// `yes` once the requeue or discard confirmation page was answered.
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

/// `POST /dead-letters/requeue`: one dead letter, or all of a subscriber's, back to work,
/// after a confirmation page that says what replaying old changes means here (see
/// [`dead_letters`]'s policy): how many newer changes of their rows were processed since,
/// how many wait behind them, and that the processor sees them flagged.
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
    let base = base(&original, &uri);
    if form.confirm.as_deref() != Some("yes") {
        match dead_letters::preview(inner.figures.db(), &form.subscriber, form.change_id).await {
            Ok(preview) if preview.letters > 0 => {
                return requeue_confirmation(&base, inner.csrf.value(), &form, &preview);
            }
            // Nothing to requeue: nothing to confirm either.
            Ok(_) => {}
            Err(error) => return unknown_subscriber(&error).unwrap_or_else(|| failure(&error)),
        }
    }
    match dead_letters::requeue(inner.figures.db(), &form.subscriber, form.change_id).await {
        Ok(count) => back(&base, &form.subscriber, "requeued", count),
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
    match dead_letters::discard(inner.figures.db(), &form.subscriber, form.change_id).await {
        Ok(count) => back(&base, &form.subscriber, "discarded", count),
        Err(error) => unknown_subscriber(&error).unwrap_or_else(|| failure(&error)),
    }
}

/// The hidden fields that repeat `form` with `confirm=yes`, and the buttons.
fn confirm_form(html: &mut Html, base: &str, csrf: &str, form: &ActionForm, action: &str, label: &str) {
    html.raw("<form method=\"post\" action=\"").text(base).raw("/dead-letters/").text(action).raw("\">");
    html.raw("<input type=\"hidden\" name=\"csrf\" value=\"").text(csrf).raw("\">");
    html.raw("<input type=\"hidden\" name=\"subscriber\" value=\"").text(&form.subscriber).raw("\">");
    if let Some(change) = form.change_id {
        html.raw("<input type=\"hidden\" name=\"change_id\" value=\"").text(change).raw("\">");
    }
    html.raw("<input type=\"hidden\" name=\"confirm\" value=\"yes\">");
    html.raw("<button type=\"submit\" id=\"confirm-")
        .text(action)
        .raw("\">")
        .text(label)
        .raw("</button></form> <a href=\"");
    html.text(base).raw("/dead-letters?subscriber=").text(query_value(&form.subscriber)).raw("\">Cancel</a>");
}

fn requeue_confirmation(base: &str, csrf: &str, form: &ActionForm, preview: &RequeuePreview) -> Response {
    page("Requeue dead letters?", base, false, |html: &mut Html| {
        let one = form.change_id.is_some();
        html.raw("<p id=\"confirm-question\">Requeue ");
        match form.change_id {
            Some(change) => html.raw("the dead letter of change ").text(change),
            None => html.raw("<strong>all ").text(preview.letters).raw("</strong> dead letter(s)"),
        };
        html.raw(" of subscriber <strong>").text(&form.subscriber).raw("</strong>?</p>");
        html.raw("<p id=\"requeue-consequences\">");
        if !preview.ordered {
            html.raw(
                "This subscriber does not order changes by row: newer changes of the same row may have been \
                      processed since, and may run at the same time. ",
            );
        } else if preview.newer_processed == 0 {
            html.raw(if one { "No newer change of this row" } else { "No newer change of their rows" });
            html.raw(" was processed since. ");
        } else if one {
            html.text(preview.newer_processed).raw(if preview.newer_processed == 1 {
                " newer change of this row was processed since: this change is not the row's latest state. "
            } else {
                " newer changes of this row were processed since: this change is not the row's latest state. "
            });
        } else {
            html.text(preview.superseded).raw(" of them have newer changes of their row that were processed since (");
            html.text(preview.newer_processed).raw(" in all): those are not their row's latest state. ");
        }
        if preview.ordered && preview.newer_pending > 0 {
            html.text(preview.newer_pending)
                .raw(" newer change(s) of the same row(s) still waiting will run after it. ");
        }
        html.raw(
            "The processor will see it flagged as requeued (<code>Change::requeued</code>), with its original \
                  change id and capture time.</p>",
        );
        confirm_form(html, base, csrf, form, "requeue", "Requeue");
    })
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
        confirm_form(html, base, csrf, form, "discard", "Discard");
    })
}
