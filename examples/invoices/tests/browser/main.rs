//! The operations dashboard in a real browser: headless Chromium, driven over WebDriver,
//! opens `invoices serve`'s dashboard, sees a dead letter, clicks requeue, and sees the
//! dead count drop to zero once the change is processed.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them).
//! Without them the test says so and passes, except under CI (`CI` set), where it fails.

mod webdriver;

use std::time::{Duration, Instant};

use db_listenable::web::{Credential, Dashboard};
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use invoices::serve::{ADMIN_PATH, AppState};
use pg_harness::TestDb;
use serde_json::json;
use sqlx::PgPool;
use tokio::net::TcpListener;

const TOKEN: &str = "browser-test-token";

async fn dead_letters(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM db_listenable.dead_letters").fetch_one(pool).await.expect("count")
}

/// The first element matching `css`, waiting up to 30 s for it (a click that submits a
/// form returns before the next page is there); panics with the page source when none
/// comes.
async fn element(browser: &Client, css: &str) -> Element {
    match browser.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(error) => panic!("no element {css} ({error}) on the page:\n{}", browser.source().await.unwrap_or_default()),
    }
}

async fn text(element: &Element) -> String {
    element.text().await.expect("an element's text")
}

async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_a_dead_letter_from_the_dashboard_in_chromium() {
    let programs = (
        webdriver::find_program(&["chromium", "chromium-browser"]),
        webdriver::find_program(&["chromedriver", "chromium-driver"]),
    );
    let (Some(chromium), Some(chromedriver)) = programs else {
        assert!(std::env::var_os("CI").is_none(), "CI must have chromium and chromedriver (see .ci/run)");
        eprintln!("skipped: install the Debian packages chromium and chromium-driver to run the browser test");
        return;
    };

    let db = TestDb::create().await.expect("test database");
    let pool = PgPool::connect(db.url()).await.expect("connect");
    invoices::migrate(&pool).await.expect("migrate");
    invoices::seed::ensure_catalog(&pool).await.expect("catalog");
    let config = invoices::listener::config().max_attempts(1).poll_interval(Duration::from_millis(50));
    let runtime = invoices::listener::runtime(&pool, config).start().await.expect("runtime");

    // Invoices refuse updates for a while, so the totals processor fails and gives up.
    let invoice: i64 = sqlx::query_scalar(
        "INSERT INTO invoices (number, user_id) VALUES ('INV-BROWSER', (SELECT min(id) FROM users)) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("invoice");
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_updates() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'invoices are in maintenance <b>now</b>'; END $$;
         CREATE TRIGGER maintenance BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION refuse_updates();",
    )
    .execute(&pool)
    .await
    .expect("maintenance trigger");
    sqlx::query(
        "INSERT INTO invoice_items (invoice_id, product_id, quantity, unit_price_cents)
         VALUES ($1, (SELECT min(id) FROM products), 2, 500)",
    )
    .bind(invoice)
    .execute(&pool)
    .await
    .expect("item");
    wait_for("a dead letter", || async { dead_letters(&pool).await == 1 }).await;
    sqlx::raw_sql("DROP TRIGGER maintenance ON invoices").execute(&pool).await.expect("end of maintenance");

    let admin = Dashboard::new(pool.clone())
        .credential(Credential::Bearer(TOKEN.into()))
        .runtime(&runtime)
        .router()
        .expect("dashboard");
    let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(pool.clone(), runtime).with_admin(admin);
    let server = tokio::spawn(invoices::serve::serve(socket, state, async {
        let _ = stopped.await;
    }));

    let profile = tempfile::tempdir().expect("profile dir");
    let _reaper = webdriver::Reaper(profile.path().to_owned());
    let driver = webdriver::Driver::start(&chromedriver);
    let browser = driver.session(&chromium, profile.path()).await;
    webdriver::extra_headers(&browser, json!({"Authorization": format!("Bearer {TOKEN}")})).await;
    let dashboard = format!("http://{addr}{ADMIN_PATH}");

    browser.goto(&dashboard).await.expect("open the dashboard");
    assert_eq!(text(&element(&browser, "#dead-total").await).await, "1");
    element(&browser, "#subscribers td.dead a").await.click().await.expect("follow the dead letters link");
    let row = element(&browser, "tr.dead-letter td pre.error").await;
    assert!(text(&row).await.contains("invoices are in maintenance <b>now</b>"), "the error, as text");
    element(&browser, "tr.dead-letter button.requeue").await.click().await.expect("click requeue");
    // Requeue asks first, saying what replaying an old change means for this row.
    let consequences = text(&element(&browser, "#requeue-consequences").await).await;
    assert!(consequences.contains("flagged as requeued"), "the confirmation explains the replay: {consequences}");
    element(&browser, "#confirm-requeue").await.click().await.expect("confirm the requeue");
    assert_eq!(text(&element(&browser, "#notice").await).await, "Requeued 1 dead letter(s).");

    // Processed: the total follows the item, and the dashboard counts no dead letter.
    wait_for("the requeued change processed", || async {
        let total: i64 = sqlx::query_scalar("SELECT total_price_cents FROM invoices WHERE id = $1")
            .bind(invoice)
            .fetch_one(&pool)
            .await
            .expect("total");
        total == 1000
    })
    .await;
    browser.goto(&dashboard).await.expect("open the dashboard again");
    assert_eq!(text(&element(&browser, "#dead-total").await).await, "0");
    browser.close().await.expect("end the session");
    webdriver::reap_browser(profile.path()).await;
    drop(driver);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .expect("the server task")
        .expect("the server");
    pool.close().await;
}
