//! The dashboard and metrics router over HTTP, against a real PostgreSQL (feature `web`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::runtime::{
    Change, Context, ProcessError, Processor, RetryAfter, Runtime, RuntimeBuilder, RuntimeConfig, Skip,
};
use db_listenable::web::{Credential, Dashboard, Error as WebError};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tower::ServiceExt;

/// The model under test.
#[derive(Debug, Clone, PartialEq, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "items")]
pub struct Item {
    /// Key.
    pub id: i64,
    /// Free text: the escaping test puts markup in it.
    pub name: String,
}

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL)";
mod excluded;
mod instances;
mod stale;

const TOKEN: &str = "test-token-0123456789";
const MOUNT: &str = "/admin/changes";

/// Fails every change whose name starts with `bad` while `healed` is unset; counts successes.
#[derive(Clone, Default)]
struct Picky {
    healed: Arc<AtomicBool>,
    succeeded: Arc<AtomicU32>,
}

impl Processor<Item> for Picky {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        let bad = change.row().is_some_and(|item| item.name.starts_with("bad"));
        if bad && !self.healed.load(Ordering::SeqCst) {
            return Err(format!("refused <b>{}</b>", change.row().map_or("", |item| item.name.as_str())).into());
        }
        self.succeeded.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A fresh database with the journal and capture on `items`.
async fn items_db() -> (pg_harness::TestDb, PgPool) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = PgPoolOptions::new().max_connections(8).connect(db.url()).await.expect("connect");
    let mut script = ddl::journal_script().statements().to_vec();
    script.push(ITEMS_TABLE.to_owned());
    script.extend(ddl::install_script(&Item::MODEL, &CaptureConfig::default()).statements().iter().cloned());
    for statement in script {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&pool).await.expect("install");
    }
    (db, pool)
}

/// One attempt, a short poll: failures become dead letters at once.
fn config() -> RuntimeConfig {
    RuntimeConfig::default()
        .poll_interval(Duration::from_millis(50))
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(50))
        .max_attempts(1)
}

async fn start(pool: &PgPool, picky: &Picky) -> Runtime {
    RuntimeBuilder::new(pool.clone())
        .config(config())
        .processor::<Item, _>("totals", picky.clone())
        .start()
        .await
        .expect("start runtime")
}

/// The dashboard nested where the examples mount it, with a bearer token.
fn app(pool: &PgPool, runtime: Option<&Runtime>) -> Router {
    let mut dashboard =
        Dashboard::new(pool.clone()).credential(Credential::Bearer(TOKEN.into())).models(vec![Item::MODEL]);
    if let Some(runtime) = runtime {
        dashboard = dashboard.runtime(runtime);
    }
    Router::new().nest(MOUNT, dashboard.router().expect("dashboard"))
}

async fn insert(pool: &PgPool, id: i64, name: &str) {
    sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name)
        .execute(pool)
        .await
        .expect("insert");
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM db_listenable.{table}")))
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !condition().await {
        assert!(started.elapsed() < Duration::from_secs(15), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response: Response<Body> = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20).await.expect("body");
    (status, headers, String::from_utf8(body.to_vec()).expect("utf-8 body"))
}

async fn get(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let request = Request::get(format!("{MOUNT}{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    send(app, request).await
}

async fn post(app: &Router, path: &str, form: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let request = Request::post(format!("{MOUNT}{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request");
    send(app, request).await
}

/// The form token in a served page.
fn csrf(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a form with a token") + marker.len();
    page[start..].split('"').next().expect("token").to_owned()
}

/// `name{labels} value` lines of a Prometheus text, checked for the format's grammar.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            typed.insert(parts.next().expect("name").to_owned());
            let kind = parts.next().expect("type");
            assert!(["gauge", "counter", "histogram"].contains(&kind), "{line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("sample line: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("numeric value: {line}"));
        let name = series.split('{').next().expect("name");
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name: {line}"
        );
        let family =
            ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| typed.contains(*f));
        assert!(typed.contains(name) || family.is_some(), "sample before its TYPE: {line}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')), "labels: {line}");
        }
        samples.push((series.to_owned(), value));
    }
    samples
}

fn metric(samples: &[(String, f64)], series: &str) -> f64 {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v).unwrap_or_else(|| panic!("no series {series}"))
}

#[tokio::test]
async fn figures_match_the_journal_after_known_changes() {
    let (_db, pool) = items_db().await;
    let picky = Picky::default();
    let runtime = start(&pool, &picky).await;
    let app = app(&pool, Some(&runtime));
    for (id, name) in [(1, "good 1"), (2, "bad 2"), (3, "good 3"), (4, "bad 4"), (5, "good 5")] {
        insert(&pool, id, name).await;
    }
    wait_for("3 processed, 2 dead", || async {
        picky.succeeded.load(Ordering::SeqCst) == 3 && count(&pool, "dead_letters").await == 2
    })
    .await;
    runtime.shutdown().await;
    // With the workers stopped, new changes wait in the journal, pending for `totals`
    // (its table has a subscriber: nothing is unrouted).
    for id in 6..10 {
        insert(&pool, id, "later").await;
    }
    assert_eq!((count(&pool, "changes").await, count(&pool, "deliveries").await), (9, 0));

    let (status, headers, page) = get(&app, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/html"));
    assert!(page.contains("id=\"dead-total\" class=\"bad\">2</strong>"), "{page}");
    assert!(page.contains("id=\"unrouted\">0</strong>"), "{page}");
    assert!(page.contains("id=\"drift\" class=\"ok\">current</strong>"), "{page}");
    assert!(
        page.contains("<tr data-subscriber=\"totals\"><td>totals</td><td>public.items</td><td class=\"n\">4</td>"),
        "{page}"
    );
    assert!(page.contains(&format!("href=\"{MOUNT}/dead-letters?subscriber=totals\">2</a>")), "{page}");

    let (status, headers, text) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/plain; version=0.0.4"));
    let samples = parse_metrics(&text);
    let labels = "{subscriber=\"totals\",table=\"public.items\"}";
    assert_eq!(metric(&samples, "db_listenable_unrouted"), 0.0);
    assert_eq!(metric(&samples, &format!("db_listenable_dead_letters{labels}")), 2.0);
    assert_eq!(metric(&samples, &format!("db_listenable_pending{labels}")), 4.0);
    assert_eq!(metric(&samples, &format!("db_listenable_processed_total{labels}")), 3.0);
    assert_eq!(metric(&samples, &format!("db_listenable_failed_attempts_total{labels}")), 2.0);
    assert_eq!(metric(&samples, &format!("db_listenable_processing_seconds_count{labels}")), 5.0);
    let inf = "{subscriber=\"totals\",table=\"public.items\",le=\"+Inf\"}";
    assert_eq!(metric(&samples, &format!("db_listenable_processing_seconds_bucket{inf}")), 5.0);
    assert_eq!(metric(&samples, "db_listenable_capture_drift"), 0.0);

    // Requeued with the workers stopped: the dead letters become pending deliveries, beside
    // the four journal entries.
    let (_, _, list) = get(&app, "/dead-letters?subscriber=totals").await;
    let token = csrf(&list);
    let form = format!("csrf={token}&subscriber=totals&confirm=yes");
    let (status, headers, _) = post(&app, "/dead-letters/requeue", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{MOUNT}/dead-letters?subscriber=totals&requeued=2").as_str());
    let samples = parse_metrics(&get(&app, "/metrics").await.2);
    assert_eq!(metric(&samples, &format!("db_listenable_dead_letters{labels}")), 0.0);
    assert_eq!(metric(&samples, &format!("db_listenable_pending{labels}")), 6.0);
    assert_eq!(count(&pool, "deliveries").await, 2);
    let (_, _, page) = get(&app, "").await;
    assert!(page.contains("id=\"dead-total\" class=\"ok\">0</strong>"), "{page}");
}

/// Skips rows named `skip`, asks to retry `wait` rows in a minute, processes the rest.
#[derive(Clone, Copy)]
struct Deciding;

impl Processor<Item> for Deciding {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        match change.row().map(|item| item.name.as_str()) {
            Some("skip") => Err(Skip::because("nothing to index").into()),
            Some("wait") => Err(RetryAfter::new(Duration::from_secs(60), "the <index> is rebuilding").into()),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn a_retry_after_shows_its_reason_and_skips_are_counted() {
    let (_db, pool) = items_db().await;
    let mut config = config();
    config = config.max_attempts(5);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("totals", Deciding)
        .start()
        .await
        .expect("start");
    let app = app(&pool, Some(&runtime));
    for (id, name) in [(1, "skip"), (2, "wait"), (3, "fine"), (4, "skip")] {
        insert(&pool, id, name).await;
    }
    wait_for("3 settled, 1 waiting", || async {
        count(&pool, "deliveries").await == 1
            && runtime
                .stats()
                .await
                .expect("stats")
                .subscribers
                .first()
                .is_some_and(|s| s.retrying == 1 && s.skipped_here == 2)
    })
    .await;
    let (_, _, page) = get(&app, "").await;
    let (_, _, text) = get(&app, "/metrics").await;
    runtime.shutdown().await;

    assert!(page.contains("<pre class=\"error\">retry after 60s: the &lt;index&gt; is rebuilding</pre>"), "{page}");
    let samples = parse_metrics(&text);
    let labels = "{subscriber=\"totals\",table=\"public.items\"}";
    assert_eq!(metric(&samples, &format!("db_listenable_skipped_total{labels}")), 2.0);
    assert_eq!(metric(&samples, &format!("db_listenable_processed_total{labels}")), 1.0);
    assert_eq!(metric(&samples, &format!("db_listenable_retrying{labels}")), 1.0);
}

#[tokio::test]
async fn a_requeued_dead_letter_is_processed() {
    let (_db, pool) = items_db().await;
    let picky = Picky::default();
    let runtime = start(&pool, &picky).await;
    let app = app(&pool, Some(&runtime));
    insert(&pool, 1, "bad one").await;
    wait_for("a dead letter", || async { count(&pool, "dead_letters").await == 1 }).await;
    let change: i64 = sqlx::query_scalar("SELECT change_id FROM db_listenable.dead_letters")
        .fetch_one(&pool)
        .await
        .expect("change id");

    let (status, _, list) = get(&app, "/dead-letters").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&format!("data-change=\"{change}\"")), "{list}");
    assert!(list.contains("<td>public.items</td><td>INSERT</td><td class=\"n\">1</td>"), "{list}");
    picky.healed.store(true, Ordering::SeqCst);
    let form = format!("csrf={}&subscriber=totals&change_id={change}&confirm=yes", csrf(&list));
    let (status, headers, _) = post(&app, "/dead-letters/requeue", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{MOUNT}/dead-letters?subscriber=totals&requeued=1").as_str());
    wait_for("the requeued change processed", || async {
        picky.succeeded.load(Ordering::SeqCst) == 1 && count(&pool, "deliveries").await == 0
    })
    .await;
    assert_eq!(count(&pool, "dead_letters").await, 0);
    let (_, _, list) = get(&app, "/dead-letters?subscriber=totals&requeued=1").await;
    assert!(list.contains("Requeued 1 dead letter(s)."), "{list}");
    assert!(list.contains("id=\"no-dead-letters\""), "{list}");
    runtime.shutdown().await;
}

#[tokio::test]
async fn requests_without_the_credential_are_refused() {
    let (_db, pool) = items_db().await;
    assert!(matches!(Dashboard::new(pool.clone()).router(), Err(WebError::NoCredential)));
    assert!(matches!(
        Dashboard::new(pool.clone()).credential(Credential::Bearer(String::new())).router(),
        Err(WebError::EmptyCredential)
    ));

    let app = app(&pool, None);
    for authorization in [None, Some("Bearer wrong"), Some("Basic dXNlcjp3cm9uZw==")] {
        let mut request = Request::get(MOUNT);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let (status, headers, _) = send(&app, request.body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        let challenges: Vec<_> = headers.get_all(header::WWW_AUTHENTICATE).iter().collect();
        assert!(challenges.iter().any(|v| v.to_str().is_ok_and(|v| v.starts_with("Basic "))), "{challenges:?}");
    }
    for path in ["/metrics", "/dead-letters"] {
        let request = Request::get(format!("{MOUNT}{path}")).body(Body::empty()).expect("request");
        assert_eq!(send(&app, request).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    let request = Request::post(format!("{MOUNT}/dead-letters/requeue"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("subscriber=totals"))
        .expect("request");
    assert_eq!(send(&app, request).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "").await.0, StatusCode::OK);
    // A browser presents the bearer token as a basic auth password ("user:<token>").
    let request = Request::get(MOUNT)
        .header(header::AUTHORIZATION, "Basic dXNlcjp0ZXN0LXRva2VuLTAxMjM0NTY3ODk=")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, request).await.0, StatusCode::OK);

    let basic = Dashboard::new(pool.clone())
        .credential(Credential::Basic { user: "ops".into(), password: "pw".into() })
        .models(vec![Item::MODEL])
        .router()
        .expect("dashboard");
    let request =
        |auth: &str| Request::get("/").header(header::AUTHORIZATION, auth).body(Body::empty()).expect("request");
    assert_eq!(send(&basic, request("Basic b3BzOnB3")).await.0, StatusCode::OK);
    assert_eq!(send(&basic, request("Basic b3BzOnB4")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&basic, request("Bearer pw")).await.0, StatusCode::UNAUTHORIZED);

    let open = Dashboard::new(pool.clone()).insecure_no_auth().models(vec![Item::MODEL]).router().expect("dashboard");
    assert_eq!(send(&open, Request::get("/").body(Body::empty()).expect("request")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn actions_need_the_form_token_and_discard_asks_first() {
    let (_db, pool) = items_db().await;
    let picky = Picky::default();
    let runtime = start(&pool, &picky).await;
    let app = app(&pool, Some(&runtime));
    insert(&pool, 1, "bad").await;
    wait_for("a dead letter", || async { count(&pool, "dead_letters").await == 1 }).await;
    runtime.shutdown().await;
    let token = csrf(&get(&app, "/dead-letters").await.2);

    for form in ["subscriber=totals", "csrf=&subscriber=totals", "csrf=0000&subscriber=totals"] {
        assert_eq!(post(&app, "/dead-letters/requeue", form).await.0, StatusCode::FORBIDDEN, "{form}");
        assert_eq!(post(&app, "/dead-letters/discard", &format!("{form}&confirm=yes")).await.0, StatusCode::FORBIDDEN);
    }
    let cross_site = Request::post(format!("{MOUNT}/dead-letters/requeue"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(format!("csrf={token}&subscriber=totals")))
        .expect("request");
    assert_eq!(send(&app, cross_site).await.0, StatusCode::FORBIDDEN);
    assert_eq!(count(&pool, "dead_letters").await, 1, "nothing moved");

    let (status, _, page) = post(&app, "/dead-letters/discard", &format!("csrf={token}&subscriber=totals")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"confirm-question\""), "{page}");
    assert!(page.contains("name=\"confirm\" value=\"yes\""), "{page}");
    assert_eq!(count(&pool, "dead_letters").await, 1, "not before the confirmation");
    let unknown = post(&app, "/dead-letters/requeue", &format!("csrf={token}&subscriber=nobody")).await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    let (status, headers, _) =
        post(&app, "/dead-letters/discard", &format!("csrf={token}&subscriber=totals&confirm=yes")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{MOUNT}/dead-letters?subscriber=totals&discarded=1").as_str());
    assert_eq!(count(&pool, "dead_letters").await, 0);
}

/// Requeue replays an old change: the dashboard asks first, saying how many newer
/// changes of the row ran since and that the processor will see the change flagged.
#[tokio::test]
async fn requeue_asks_first_and_says_how_many_newer_changes_of_the_row_ran() {
    let (_db, pool) = items_db().await;
    let picky = Picky::default();
    let runtime = start(&pool, &picky).await;
    let app = app(&pool, Some(&runtime));
    insert(&pool, 1, "bad one").await;
    insert(&pool, 2, "bad two").await;
    wait_for("two dead letters", || async { count(&pool, "dead_letters").await == 2 }).await;
    // Row 1 changes twice more, and both changes are processed; row 2 does not change.
    for name in ["fine", "fine again"] {
        sqlx::query("UPDATE items SET name = $1 WHERE id = 1").bind(name).execute(&pool).await.expect("update");
    }
    wait_for("the newer changes processed", || async {
        picky.succeeded.load(Ordering::SeqCst) == 2 && count(&pool, "deliveries").await == 0
    })
    .await;
    runtime.shutdown().await;
    let change: i64 = sqlx::query_scalar("SELECT min(change_id) FROM db_listenable.dead_letters")
        .fetch_one(&pool)
        .await
        .expect("change id");
    let token = csrf(&get(&app, "/dead-letters").await.2);

    let form = format!("csrf={token}&subscriber=totals&change_id={change}");
    let (status, _, page) = post(&app, "/dead-letters/requeue", &form).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("Requeue the dead letter of change {change} of subscriber")), "{page}");
    assert!(
        page.contains("2 newer changes of this row were processed since: this change is not the row's latest state."),
        "{page}"
    );
    assert!(page.contains("The processor will see it flagged as requeued"), "{page}");
    assert!(page.contains("name=\"confirm\" value=\"yes\""), "{page}");
    assert_eq!(count(&pool, "dead_letters").await, 2, "not before the confirmation");

    let (status, _, page) = post(&app, "/dead-letters/requeue", &format!("csrf={token}&subscriber=totals")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<strong>all 2</strong> dead letter(s)"), "{page}");
    assert!(page.contains("1 of them have newer changes of their row that were processed since (2 in all)"), "{page}");

    let (status, headers, _) = post(&app, "/dead-letters/requeue", &format!("{form}&confirm=yes")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{MOUNT}/dead-letters?subscriber=totals&requeued=1").as_str());
    assert_eq!((count(&pool, "dead_letters").await, count(&pool, "deliveries").await), (1, 1));
}

#[tokio::test]
async fn hostile_row_content_is_rendered_as_text() {
    let (_db, pool) = items_db().await;
    let picky = Picky::default();
    let runtime = start(&pool, &picky).await;
    let app = app(&pool, Some(&runtime));
    insert(&pool, 1, "bad<script>alert(1)</script>\"'&").await;
    wait_for("a dead letter", || async { count(&pool, "dead_letters").await == 1 }).await;
    runtime.shutdown().await;

    let (status, headers, page) = get(&app, "/dead-letters").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<b>"), "the error text is escaped too: {page}");
    assert!(page.contains("bad&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
    assert!(page.contains("refused &lt;b&gt;bad&lt;script&gt;"), "{page}");
    assert!(page.contains("\\&quot;&#39;&amp;"), "quotes and ampersands escaped: {page}");
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
    assert!(policy.starts_with("default-src 'none'; script-src 'self';"), "{policy}");
    assert!(page.contains(&format!("<script defer src=\"{MOUNT}/script.js\"></script>")), "{page}");
    let (status, headers, script) = get(&app, "/script.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/javascript"));
    assert!(script.contains("window.confirm"), "{script}");
}
