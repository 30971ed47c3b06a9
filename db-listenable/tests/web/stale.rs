//! A subscriber that no runtime announces any more is shown stale, with when it was
//! last seen, on the overview and in the metrics.

use axum::http::StatusCode;
use db_listenable::runtime::RuntimeBuilder;

use crate::{Item, Picky, app, config, get, insert, items_db, wait_for};

#[tokio::test]
async fn the_overview_shows_when_subscribers_were_seen_and_marks_stale_ones() {
    let (_db, pool) = items_db().await;
    let picky = Picky::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config())
        .processor::<Item, _>("totals", picky.clone())
        .processor::<Item, _>("gone", picky.clone())
        .start()
        .await
        .expect("start");
    insert(&pool, 1, "good").await;
    wait_for("both processed", || async { picky.succeeded.load(std::sync::atomic::Ordering::SeqCst) == 2 }).await;
    runtime.shutdown().await;
    let app = app(&pool, None);

    let (status, _, page) = get(&app, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("stale"), "{page}");
    assert!(page.contains("<td class=\"seen\">"), "{page}");

    sqlx::query("UPDATE db_listenable.subscribers SET seen_at = now() - interval '2 hours' WHERE name = 'gone'")
        .execute(&pool)
        .await
        .expect("age gone");
    let (_, _, page) = get(&app, "").await;
    let row = |name: &str| {
        let start = page.find(&format!("<tr data-subscriber=\"{name}\">")).unwrap_or_else(|| panic!("{page}"));
        page[start..].split("</tr>").next().expect("row").to_owned()
    };
    assert!(
        row("gone").ends_with("<td class=\"seen bad\">2 h 0 min ago <strong class=\"stale\">stale</strong></td>"),
        "{page}"
    );
    // Seen at its registration, seconds ago (how many depends on the machine's speed).
    let totals = row("totals");
    let seen = totals.rsplit_once("<td class=\"seen\">").unwrap_or_else(|| panic!("{totals}")).1;
    assert!(seen.ends_with(" s ago</td>") && !seen.contains("stale"), "{totals}");
    assert!(
        page.contains(
            "<p class=\"bad\" id=\"stale-note\">1 subscriber(s) not announced by any runtime for over 5 min 0 s"
        ),
        "{page}"
    );

    let (_, _, text) = get(&app, "/metrics").await;
    let line = text
        .lines()
        .find(|line| line.starts_with("db_listenable_subscriber_seen_age_seconds{subscriber=\"gone\""))
        .unwrap_or_else(|| panic!("{text}"));
    let seconds: f64 = line.rsplit_once(' ').expect("value").1.parse().expect("number");
    assert!((7200.0..7300.0).contains(&seconds), "{line}");
}
