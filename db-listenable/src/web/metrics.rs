//! `GET /metrics`: the dashboard's figures as Prometheus text (exposition format 0.0.4).

use std::fmt::Write;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Figures;
use crate::runtime::{LATENCY_BUCKETS, Stats, SubscriberStats};

/// The figures; 500 with the error when the database cannot be read.
pub(crate) async fn metrics(State(figures): State<Figures>) -> Response {
    let stats = match figures.stats().await {
        Ok(stats) => stats,
        Err(error) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response(),
    };
    let drift = crate::drift::check_sqlx(figures.db(), &figures.models, &figures.capture)
        .await
        .ok()
        .map(|report| report.drifts.len());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        render(&stats, figures.stats.is_some(), drift),
    )
        .into_response()
}

/// The exposition text. Process-local counters and histograms (`local`) only come with a
/// runtime: without one they would read zero and look like a stalled process.
pub(crate) fn render(stats: &Stats, local: bool, drift: Option<usize>) -> String {
    let mut out = String::new();
    family(&mut out, "db_listenable_unrouted", "gauge", "Committed journal entries of tables no subscriber consumes.");
    sample(&mut out, "db_listenable_unrouted", &[], stats.unrouted as f64);
    family(
        &mut out,
        "db_listenable_unconsumed",
        "gauge",
        "Journal entries kept because no subscriber consumes their table.",
    );
    for (table, count) in &stats.unconsumed {
        sample(&mut out, "db_listenable_unconsumed", &[("table", table)], *count as f64);
    }
    let gauges: [(&str, &str, Figure); 6] = [
        ("db_listenable_pending", "Deliveries ready to be claimed.", |s| s.pending as f64),
        ("db_listenable_in_flight", "Deliveries held by a worker under a live lease.", |s| s.in_flight as f64),
        ("db_listenable_retrying", "Deliveries waiting for their next attempt.", |s| s.retrying as f64),
        ("db_listenable_dead_letters", "Dead letters.", |s| s.dead as f64),
        (
            "db_listenable_oldest_pending_age_seconds",
            "Age of the oldest change not yet processed (0 when none).",
            |s| s.oldest_pending_age.map_or(0.0, |age| age.as_secs_f64()),
        ),
        (
            "db_listenable_subscriber_seen_age_seconds",
            "Time since a runtime last announced the subscriber (its heartbeat); large: no runtime serves it.",
            |s| s.seen_ago.as_secs_f64(),
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, "gauge", help);
        for s in &stats.subscribers {
            sample(&mut out, name, &labels(s), value(s));
        }
    }
    if let Some(drift) = drift {
        family(
            &mut out,
            "db_listenable_capture_drift",
            "gauge",
            "Differences between the installed capture triggers and the code.",
        );
        sample(&mut out, "db_listenable_capture_drift", &[], drift as f64);
    }
    if !local {
        return out;
    }
    family(&mut out, "db_listenable_processed_total", "counter", "Changes this process processed since it started.");
    for s in &stats.subscribers {
        sample(&mut out, "db_listenable_processed_total", &labels(s), s.processed_here as f64);
    }
    family(
        &mut out,
        "db_listenable_failed_attempts_total",
        "counter",
        "Failed processing attempts in this process since it started.",
    );
    for s in &stats.subscribers {
        sample(&mut out, "db_listenable_failed_attempts_total", &labels(s), s.failed_here as f64);
    }
    family(
        &mut out,
        "db_listenable_skipped_total",
        "counter",
        "Changes the processor skipped (runtime::Skip) in this process since it started.",
    );
    for s in &stats.subscribers {
        sample(&mut out, "db_listenable_skipped_total", &labels(s), s.skipped_here as f64);
    }
    let name = "db_listenable_processing_seconds";
    family(&mut out, name, "histogram", "Time to process one change (a batch's time shared among its changes).");
    for s in &stats.subscribers {
        let histogram = &s.processing_time;
        let mut cumulative = 0u64;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += histogram.counts.get(i).copied().unwrap_or(0);
            let le = bound.to_string();
            let mut with_le = labels(s);
            with_le.push(("le", &le));
            sample(&mut out, &format!("{name}_bucket"), &with_le, cumulative as f64);
        }
        let mut inf = labels(s);
        inf.push(("le", "+Inf"));
        sample(&mut out, &format!("{name}_bucket"), &inf, histogram.count() as f64);
        sample(&mut out, &format!("{name}_sum"), &labels(s), histogram.sum.as_secs_f64());
        sample(&mut out, &format!("{name}_count"), &labels(s), histogram.count() as f64);
    }
    out
}

/// Reads one subscriber figure as a sample value.
type Figure = fn(&SubscriberStats) -> f64;

fn labels(s: &SubscriberStats) -> Vec<(&'static str, &str)> {
    vec![("subscriber", s.name.as_str()), ("table", s.table.as_str())]
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", label_value(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value as the exposition format requires: backslash, quote, newline.
fn label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        let mut s = SubscriberStats {
            name: "a\"b\\c\nd".into(),
            table: "public.items".into(),
            pending: 2,
            ..Default::default()
        };
        s.processing_time.counts = vec![1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
        s.processing_time.sum = std::time::Duration::from_millis(1500);
        let stats = Stats { unrouted: 0, unconsumed: vec![], subscribers: vec![s] };
        let text = render(&stats, true, Some(0));
        let labels = "subscriber=\"a\\\"b\\\\c\\nd\",table=\"public.items\"";
        assert!(text.contains(&format!("db_listenable_pending{{{labels}}} 2\n")), "{text}");
        assert!(
            text.contains(&format!("db_listenable_processing_seconds_bucket{{{labels},le=\"0.01\"}} 3\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("db_listenable_processing_seconds_bucket{{{labels},le=\"+Inf\"}} 7\n")),
            "{text}"
        );
        assert!(text.contains(&format!("db_listenable_processing_seconds_count{{{labels}}} 7\n")), "{text}");
        assert!(text.contains("# TYPE db_listenable_processed_total counter\n"));
        assert!(!render(&stats, false, None).contains("processed_total"));
    }
}
