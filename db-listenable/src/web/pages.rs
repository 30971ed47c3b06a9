//! The dashboard's pages: overview and dead letters, and the pieces they share.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{OriginalUri, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Inner;
use super::html::{Html, query_value};
use super::sparkline;
use crate::runtime::{DeadLetter, SubscriberStats, dead_letters};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}\
pre{max-width:60em;white-space:pre-wrap;word-break:break-all;margin:.3em 0}form{display:inline}\
button{margin:0 .2em}nav a{margin-right:1em}.spark{vertical-align:middle;color:#1565c0}.note{background:#e8f5e9;padding:.5em}";

/// Where the router is mounted (`/admin/changes`), from the full and the nested path, so
/// links work wherever the application nests the router.
pub(crate) fn base(original: &Uri, inner: &Uri) -> String {
    let full = original.path().trim_end_matches('/');
    let own = inner.path().trim_end_matches('/');
    full.strip_suffix(own).unwrap_or("").to_owned()
}

/// A full page around `body`, with headers that keep it private and script-free.
pub(crate) fn page(title: &'static str, base: &str, refresh: bool, body: impl FnOnce(&mut Html)) -> Response {
    let mut html = Html::default();
    html.raw("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    html.raw(title).raw(" · db-listenable</title>");
    if refresh {
        // Without script, a periodic reload is how the figures stay current.
        html.raw("<meta http-equiv=\"refresh\" content=\"10\">");
    }
    html.raw("<style>").raw(STYLE).raw("</style><script defer src=\"").text(base).raw("/script.js\"></script>");
    html.raw("</head><body><nav><a href=\"");
    // Nested routers answer their root without the trailing slash only (`/admin/changes`).
    html.text(if base.is_empty() { "/" } else { base })
        .raw("\">Overview</a><a href=\"")
        .text(base)
        .raw("/dead-letters\">Dead letters</a><a href=\"");
    html.text(base).raw("/metrics\">Metrics</a></nav><h1>").raw(title).raw("</h1>");
    body(&mut html);
    html.raw("</body></html>");
    html_response(StatusCode::OK, html.finish())
}

/// An HTML response with the dashboard's security headers.
pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// A 500 page naming what failed (the viewer is authenticated: the error helps them).
pub(crate) fn failure(error: &crate::Error) -> Response {
    let mut html = Html::default();
    html.raw("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head><body><h1>Error</h1><pre>");
    html.text(error).raw("</pre></body></html>");
    html_response(StatusCode::INTERNAL_SERVER_ERROR, html.finish())
}

/// The progressive enhancement (a discard confirmation dialog), served by the router
/// itself: nothing is fetched from elsewhere.
const SCRIPT: &str = include_str!("script.js");

/// `GET /script.js`.
pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// `GET /`: figures per table and per subscriber, and the drift status.
pub(crate) async fn overview(
    State(inner): State<Arc<Inner>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
) -> Response {
    let base = base(&original, &uri);
    let stats = match inner.figures.stats().await {
        Ok(stats) => stats,
        Err(error) => return failure(&error),
    };
    let drift = crate::drift::check_sqlx(inner.figures.db(), &inner.figures.models, &inner.figures.capture).await;
    let rates: BTreeMap<String, Vec<f64>> = {
        let samples = inner.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        stats.subscribers.iter().map(|s| (s.name.clone(), samples.rates(&s.name))).collect()
    };
    let dead_total: i64 = stats.subscribers.iter().map(|s| s.dead).sum();
    let stale_after = inner.stale_after;
    let stale = stats.subscribers.iter().filter(|s| s.is_stale(stale_after)).count();
    let local = inner.figures.stats.is_some();
    page("Changes", &base, true, |html| {
        html.raw("<p>Dead letters: <strong id=\"dead-total\" class=\"");
        html.raw(if dead_total > 0 { "bad" } else { "ok" }).raw("\">").text(dead_total).raw("</strong>");
        html.raw(" · Unrouted journal entries: <strong id=\"unrouted\">").text(stats.unrouted).raw("</strong>");
        html.raw(" · Capture triggers: ");
        match &drift {
            Ok(report) if report.is_clean() => {
                html.raw("<strong id=\"drift\" class=\"ok\">current</strong></p>");
            }
            Ok(report) => {
                html.raw("<strong id=\"drift\" class=\"bad\">drift</strong></p><ul>");
                for item in &report.drifts {
                    html.raw("<li>").text(item).raw("</li>");
                }
                html.raw("</ul>");
            }
            Err(error) => {
                html.raw("<strong id=\"drift\" class=\"bad\">unknown</strong>: ").text(error).raw("</p>");
            }
        }
        if stale > 0 {
            html.raw("<p class=\"bad\" id=\"stale-note\">").text(stale);
            html.raw(" subscriber(s) not announced by any runtime for over ").text(age(Some(stale_after)));
            html.raw(": their deliveries keep filling up. Remove one that is gone for good with ");
            html.raw("<code>subscribers remove &lt;name&gt;</code> in the application's command line.</p>");
        }
        for (table, count) in &stats.unconsumed {
            html.raw("<p class=\"bad\">").text(count).raw(" entries of ").text(table);
            html.raw(" are kept: no subscriber consumes the table.</p>");
        }

        html.raw("<h2>Per table</h2><table id=\"tables\"><tr><th>table</th><th class=\"n\">subscribers</th>");
        html.raw("<th class=\"n\">pending</th><th class=\"n\">in flight</th><th class=\"n\">retrying</th><th class=\"n\">dead</th><th>oldest pending</th></tr>");
        for (table, group) in by_table(&stats.subscribers) {
            html.raw("<tr><td>").text(table).raw("</td><td class=\"n\">").text(group.len());
            let sum = |f: fn(&SubscriberStats) -> i64| group.iter().map(|s| f(s)).sum::<i64>();
            html.raw("</td><td class=\"n\">").text(sum(|s| s.pending));
            html.raw("</td><td class=\"n\">").text(sum(|s| s.in_flight));
            html.raw("</td><td class=\"n\">").text(sum(|s| s.retrying));
            html.raw("</td><td class=\"n\">").text(sum(|s| s.dead)).raw("</td><td>");
            html.text(age(group.iter().filter_map(|s| s.oldest_pending_age).max())).raw("</td></tr>");
        }
        html.raw("</table>");

        html.raw("<h2>Per subscriber</h2><table id=\"subscribers\"><tr><th>subscriber</th><th>table</th>");
        html.raw("<th class=\"n\">pending</th><th class=\"n\">in flight</th><th class=\"n\">retrying</th><th class=\"n\">dead</th>");
        html.raw("<th>oldest pending</th><th class=\"n\">processed here</th><th class=\"n\">skipped here</th>");
        html.raw("<th class=\"n\">per second</th><th>last minutes</th><th>oldest error</th><th>last seen</th></tr>");
        for s in &stats.subscribers {
            html.raw("<tr data-subscriber=\"").text(&s.name).raw("\"><td>").text(&s.name);
            html.raw("</td><td>").text(&s.table).raw("</td><td class=\"n\">").text(s.pending);
            html.raw("</td><td class=\"n\">").text(s.in_flight).raw("</td><td class=\"n\">").text(s.retrying);
            html.raw("</td><td class=\"n dead\">");
            if s.dead > 0 {
                html.raw("<a class=\"bad\" href=\"").text(&base).raw("/dead-letters?subscriber=");
                html.text(query_value(&s.name)).raw("\">").text(s.dead).raw("</a>");
            } else {
                html.text(s.dead);
            }
            html.raw("</td><td>").text(age(s.oldest_pending_age)).raw("</td><td class=\"n\">");
            if local {
                html.text(s.processed_here).raw("</td><td class=\"n\">").text(s.skipped_here);
                html.raw("</td><td class=\"n\">").text(format!("{:.1}", s.per_second));
            } else {
                html.raw("–</td><td class=\"n\">–</td><td class=\"n\">–");
            }
            html.raw("</td><td>");
            sparkline::svg(html, rates.get(&s.name).map_or(&[][..], Vec::as_slice));
            html.raw("</td><td class=\"oldest-error\">");
            if let Some(error) = &s.oldest_error {
                html.raw("<pre class=\"error\">").text(error).raw("</pre>");
            }
            // When a runtime last announced it; past the threshold, nobody serves it.
            if s.is_stale(stale_after) {
                html.raw("</td><td class=\"seen bad\">").text(age(Some(s.seen_ago)));
                html.raw(" ago <strong class=\"stale\">stale</strong></td></tr>");
            } else {
                html.raw("</td><td class=\"seen\">").text(age(Some(s.seen_ago))).raw(" ago</td></tr>");
            }
        }
        html.raw("</table>");
        if !local {
            html.raw("<p>Processed counts and rates are those of a runtime; this dashboard was built without one.</p>");
        }
    })
}

/// Subscribers grouped by table, in table order.
fn by_table(subscribers: &[SubscriberStats]) -> BTreeMap<&str, Vec<&SubscriberStats>> {
    let mut tables: BTreeMap<&str, Vec<&SubscriberStats>> = BTreeMap::new();
    for s in subscribers {
        tables.entry(s.table.as_str()).or_default().push(s);
    }
    tables
}

/// `3 s`, `4 min 2 s`, `1 h 5 min`, or `–` when nothing waits.
fn age(age: Option<Duration>) -> String {
    let Some(age) = age else {
        return "–".to_owned();
    };
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// The dead-letter page's query: a subscriber filter, and what the last action did.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeadLetterQuery {
    subscriber: Option<String>,
    requeued: Option<u64>,
    discarded: Option<u64>,
}

/// `GET /dead-letters`: the list, with its actions.
pub(crate) async fn dead_letters(
    State(inner): State<Arc<Inner>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Query(query): Query<DeadLetterQuery>,
) -> Response {
    let base = base(&original, &uri);
    let subscriber = query.subscriber.filter(|s| !s.is_empty());
    let letters = match dead_letters::list(inner.figures.db(), subscriber.as_deref(), inner.dead_letter_limit).await {
        Ok(letters) => letters,
        Err(error) => return failure(&error),
    };
    let stats = match crate::runtime::load_stats(inner.figures.db()).await {
        Ok(stats) => stats,
        Err(error) => return failure(&error),
    };
    let csrf = inner.csrf.value();
    page("Dead letters", &base, false, |html| {
        if let Some(n) = query.requeued {
            html.raw("<p class=\"note\" id=\"notice\">Requeued ").text(n).raw(" dead letter(s).</p>");
        }
        if let Some(n) = query.discarded {
            html.raw("<p class=\"note\" id=\"notice\">Discarded ").text(n).raw(" dead letter(s).</p>");
        }
        html.raw("<p>Subscribers: <a href=\"").text(&base).raw("/dead-letters\">all</a>");
        for s in stats.subscribers.iter().filter(|s| s.dead > 0) {
            html.raw(" · <a href=\"").text(&base).raw("/dead-letters?subscriber=").text(query_value(&s.name));
            html.raw("\">").text(&s.name).raw("</a> (").text(s.dead).raw(")");
        }
        html.raw("</p>");
        if let Some(name) = &subscriber {
            html.raw("<p>All of <strong>").text(name).raw("</strong>: ");
            action_form(html, &base, "requeue", csrf, name, None, "Requeue all");
            action_form(html, &base, "discard", csrf, name, None, "Discard all…");
            html.raw("</p>");
        }
        if letters.is_empty() {
            html.raw("<p id=\"no-dead-letters\">No dead letters.</p>");
            return;
        }
        html.raw("<table id=\"dead-letters\"><tr><th class=\"n\">change</th><th>subscriber</th><th>table</th><th>operation</th>");
        html.raw("<th class=\"n\">attempts</th><th>dead since</th><th>last error</th><th>rows</th><th></th></tr>");
        for letter in &letters {
            dead_letter_row(html, &base, csrf, letter);
        }
        html.raw("</table>");
        if letters.len() as i64 >= inner.dead_letter_limit {
            html.raw("<p>Only the oldest ").text(inner.dead_letter_limit).raw(" are listed.</p>");
        }
    })
}

fn dead_letter_row(html: &mut Html, base: &str, csrf: &str, letter: &DeadLetter) {
    html.raw("<tr class=\"dead-letter\" data-change=\"").text(letter.change_id).raw("\"><td class=\"n\">");
    html.text(letter.change_id).raw("</td><td>").text(&letter.subscriber).raw("</td><td>").text(&letter.table);
    html.raw("</td><td>").text(&letter.op).raw("</td><td class=\"n\">").text(letter.attempts).raw("</td><td>");
    let since = SystemTime::now().duration_since(letter.dead_at).ok();
    html.text(age(since)).raw(" ago</td><td><pre class=\"error\">").text(&letter.last_error).raw("</pre></td><td>");
    for (label, row) in [("old", &letter.old_row), ("new", &letter.new_row)] {
        if let Some(row) = row {
            let pretty = serde_json::to_string_pretty(row).unwrap_or_else(|_| row.to_string());
            html.raw("<details><summary>").raw(label).raw(" row</summary><pre class=\"row\">");
            html.text(pretty).raw("</pre></details>");
        }
    }
    html.raw("</td><td>");
    let change = Some(letter.change_id);
    action_form(html, base, "requeue", csrf, &letter.subscriber, change, "Requeue");
    action_form(html, base, "discard", csrf, &letter.subscriber, change, "Discard…");
    html.raw("</td></tr>");
}

/// A one-button form posting `action` for `subscriber` (and one change, or all).
pub(crate) fn action_form(
    html: &mut Html,
    base: &str,
    action: &'static str,
    csrf: &str,
    subscriber: &str,
    change: Option<i64>,
    label: &'static str,
) {
    html.raw("<form method=\"post\" action=\"").text(base).raw("/dead-letters/").raw(action).raw("\">");
    html.raw("<input type=\"hidden\" name=\"csrf\" value=\"").text(csrf).raw("\">");
    html.raw("<input type=\"hidden\" name=\"subscriber\" value=\"").text(subscriber).raw("\">");
    if let Some(change) = change {
        html.raw("<input type=\"hidden\" name=\"change_id\" value=\"").text(change).raw("\">");
    }
    html.raw("<button type=\"submit\" class=\"").raw(action).raw("\">").raw(label).raw("</button></form>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_the_mount_point() {
        let uri = |s: &str| s.parse::<Uri>().expect("uri");
        assert_eq!(base(&uri("/admin/changes"), &uri("/")), "/admin/changes");
        assert_eq!(base(&uri("/admin/changes/"), &uri("/")), "/admin/changes");
        assert_eq!(base(&uri("/admin/changes/dead-letters?x=1"), &uri("/dead-letters?x=1")), "/admin/changes");
        assert_eq!(base(&uri("/dead-letters"), &uri("/dead-letters")), "");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(None), "–");
        assert_eq!(age(Some(Duration::from_secs(3))), "3 s");
        assert_eq!(age(Some(Duration::from_secs(242))), "4 min 2 s");
        assert_eq!(age(Some(Duration::from_secs(3900))), "1 h 5 min");
    }
}
