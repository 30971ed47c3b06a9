//! Several instances behind a load balancer, and restarts: a form rendered by one
//! dashboard is accepted by every other built with the same configuration.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use db_listenable::DbListenable;
use db_listenable::web::{Credential, Dashboard};
use sqlx::PgPool;

use crate::{Item, MOUNT, Picky, TOKEN, count, csrf, get, insert, items_db, post, send, start, wait_for};

/// One dead letter of subscriber `totals`, with the workers stopped.
async fn one_dead_letter(pool: &PgPool) {
    let picky = Picky::default();
    let runtime = start(pool, &picky).await;
    insert(pool, 1, "bad").await;
    wait_for("a dead letter", || async { count(pool, "dead_letters").await == 1 }).await;
    runtime.shutdown().await;
}

/// A dashboard built from scratch, as each instance (or each restart) builds its own.
fn instance(pool: &PgPool, credential: Credential) -> Router {
    let dashboard = Dashboard::new(pool.clone()).credential(credential).models(vec![Item::MODEL]);
    Router::new().nest(MOUNT, dashboard.router().expect("dashboard"))
}

/// Requeue without the confirmation step (it answers 200 with a page), so the status
/// says whether the token was taken: 200 accepted, 403 refused.
fn requeue_form(token: &str) -> String {
    format!("csrf={token}&subscriber=totals")
}

#[tokio::test]
async fn a_form_token_from_one_instance_is_accepted_by_another_and_after_a_restart() {
    let (_db, pool) = items_db().await;
    one_dead_letter(&pool).await;
    let first = instance(&pool, Credential::Bearer(TOKEN.into()));
    let second = instance(&pool, Credential::Bearer(TOKEN.into()));
    let token = csrf(&get(&first, "/dead-letters").await.2);

    let (status, _, page) = post(&second, "/dead-letters/requeue", &requeue_form(&token)).await;
    assert_eq!(status, StatusCode::OK, "the other instance refused the form: {page}");
    assert!(page.contains("id=\"confirm-question\""), "{page}");

    // Both instances gone; the restarted one takes the form a browser still shows.
    drop((first, second));
    let restarted = instance(&pool, Credential::Bearer(TOKEN.into()));
    let (status, headers, _) =
        post(&restarted, "/dead-letters/discard", &format!("{}&confirm=yes", requeue_form(&token))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{MOUNT}/dead-letters?subscriber=totals&discarded=1").as_str());
    assert_eq!(count(&pool, "dead_letters").await, 0);
}

#[tokio::test]
async fn a_form_token_is_refused_under_another_credential_and_across_sites() {
    let (_db, pool) = items_db().await;
    one_dead_letter(&pool).await;
    let token = csrf(&get(&instance(&pool, Credential::Bearer(TOKEN.into())), "/dead-letters").await.2);

    // The same token value as a password of a basic credential is another credential.
    let other_password = Credential::Basic { user: "ops".into(), password: TOKEN.into() };
    let other = instance(&pool, other_password);
    let request = Request::post(format!("{MOUNT}/dead-letters/discard"))
        .header(header::AUTHORIZATION, "Basic b3BzOnRlc3QtdG9rZW4tMDEyMzQ1Njc4OQ==")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("{}&confirm=yes", requeue_form(&token))))
        .expect("request");
    assert_eq!(send(&other, request).await.0, StatusCode::FORBIDDEN);
    let (_, _, page) = send(
        &other,
        Request::get(format!("{MOUNT}/dead-letters"))
            .header(header::AUTHORIZATION, "Basic b3BzOnRlc3QtdG9rZW4tMDEyMzQ1Njc4OQ==")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_ne!(csrf(&page), token, "each credential has a token of its own");

    let same = instance(&pool, Credential::Bearer(TOKEN.into()));
    let cross_site = Request::post(format!("{MOUNT}/dead-letters/discard"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(format!("{}&confirm=yes", requeue_form(&token))))
        .expect("request");
    assert_eq!(send(&same, cross_site).await.0, StatusCode::FORBIDDEN);
    assert_eq!(count(&pool, "dead_letters").await, 1, "nothing discarded");
}

/// An open dashboard (behind the application's own authentication) has no credential to
/// derive its token from: instances given the same form secret accept each other's
/// forms; without one, each draws its own, and only the instance that rendered a form
/// accepts it (documented).
#[tokio::test]
async fn open_dashboards_share_forms_through_a_form_secret_only() {
    let (_db, pool) = items_db().await;
    one_dead_letter(&pool).await;
    let open = |secret: Option<&str>| {
        let mut dashboard = Dashboard::new(pool.clone()).insecure_no_auth().models(vec![Item::MODEL]);
        if let Some(secret) = secret {
            dashboard = dashboard.form_secret(secret);
        }
        dashboard.router().expect("dashboard")
    };
    let page = |app: Router| async move {
        let request = Request::get("/dead-letters").body(Body::empty()).expect("request");
        csrf(&send(&app, request).await.2)
    };
    let requeue = |app: Router, token: String| async move {
        let request = Request::post("/dead-letters/requeue")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(requeue_form(&token)))
            .expect("request");
        send(&app, request).await.0
    };

    let token = page(open(Some("shared secret"))).await;
    assert_eq!(requeue(open(Some("shared secret")), token.clone()).await, StatusCode::OK);
    assert_eq!(requeue(open(Some("another secret")), token).await, StatusCode::FORBIDDEN);

    let alone = open(None);
    let token = page(alone.clone()).await;
    assert_eq!(requeue(alone, token.clone()).await, StatusCode::OK, "the instance that rendered it");
    assert_eq!(requeue(open(None), token).await, StatusCode::FORBIDDEN, "a random token per instance");

    let empty = Dashboard::new(pool.clone()).credential(Credential::Bearer(TOKEN.into())).form_secret("");
    assert!(matches!(empty.router(), Err(db_listenable::web::Error::EmptyFormSecret)));
}

/// Prometheus scrapes the separate metrics router without credentials, while the
/// dashboard mounted beside it still refuses requests without them.
#[tokio::test]
async fn the_metrics_router_needs_no_credential_and_the_dashboard_still_does() {
    let (_db, pool) = items_db().await;
    one_dead_letter(&pool).await;
    let dashboard = Dashboard::new(pool.clone()).credential(Credential::Bearer(TOKEN.into())).models(vec![Item::MODEL]);
    let app =
        Router::new().nest("/internal", dashboard.metrics_router()).nest(MOUNT, dashboard.router().expect("dashboard"));

    let (status, headers, text) =
        send(&app, Request::get("/internal/metrics").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/plain; version=0.0.4"));
    let labels = "{subscriber=\"totals\",table=\"public.items\"}";
    assert!(text.contains(&format!("db_listenable_dead_letters{labels} 1\n")), "{text}");
    assert!(text.contains("db_listenable_capture_drift 0\n"), "{text}");
    // Only `/metrics`: the pages and actions are not reachable through it.
    for path in ["/internal", "/internal/dead-letters"] {
        let request = Request::get(path).body(Body::empty()).expect("request");
        assert_eq!(send(&app, request).await.0, StatusCode::NOT_FOUND, "{path}");
    }

    for path in ["", "/metrics", "/dead-letters"] {
        let request = Request::get(format!("{MOUNT}{path}")).body(Body::empty()).expect("request");
        assert_eq!(send(&app, request).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, _, text) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(&format!("db_listenable_dead_letters{labels} 1\n")), "{text}");
}
