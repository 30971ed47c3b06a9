//! `invoices serve`: a small JSON HTTP API over the invoices, running next to the listener.
//!
//! The API is deliberately naive about totals, which is the point of the example:
//! `POST /invoices` goes through the invoicing changeset (the total is right at commit and
//! `invoice_created` leaves through the durable outbox), while `POST /invoices/{number}/items`
//! is a plain `INSERT` that leaves the total alone. The listener running in the same
//! process corrects it from the captured change, as it would after a `psql` edit.
//!
//! | Route | |
//! |---|---|
//! | `GET /invoices` | every invoice: number, customer, item count, stored total, items sum |
//! | `POST /invoices` | `{"user_id", "items": [{"product_id", "quantity"}]}`: 201 with the invoice |
//! | `GET /invoices/{number}` | the invoice with its items |
//! | `POST /invoices/{number}/items` | `{"product_id", "quantity"}`: 201 with the item |
//! | `GET /status` | the runtime's subscribers, unrouted changes and the first dead letters |
//! | `/admin/changes` | the db-listenable operations dashboard (HTML) and `/admin/changes/metrics` (Prometheus), behind a bearer token (`INVOICES_ADMIN_TOKEN`, else a random one printed at start; a browser asks for it as a basic auth password, any user name) |
//! | `GET /metrics` | the same Prometheus figures without the token, for a scraper (counts and names only, no row data, no actions); an application that faces the internet would serve it on an internal port instead |
//!
//! Errors are `{"error": "..."}`: 400 for malformed JSON, 422 for a request that cannot be
//! applied (no items, a quantity below 1, an unknown user or product), 404 for an unknown
//! invoice or route.

mod error;
mod extract;
mod invoices;
mod queries;
mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use db_listenable::runtime::{Runtime, Stats};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::invoicing::Notifications;
use error::ApiError;

/// Where the operations dashboard is mounted.
pub const ADMIN_PATH: &str = "/admin/changes";

/// The environment variable holding the dashboard's bearer token.
pub const ADMIN_TOKEN_VAR: &str = "INVOICES_ADMIN_TOKEN";

/// Where `invoices serve` listens unless `--addr` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// What the handlers share: the pool, the outbox catalog new invoices raise their event
/// on, and the running runtime (for `/status`).
#[derive(Clone)]
pub struct AppState {
    pool: PgPool,
    catalog: Arc<Notifications>,
    /// A clone of the runtime: `/status` reads it, [`serve`] shuts it down.
    runtime: Runtime,
    /// The operations dashboard, mounted at [`ADMIN_PATH`] when set.
    admin: Option<Router>,
    /// The unauthenticated `/metrics` router, merged at the root when set.
    metrics: Option<Router>,
}

impl AppState {
    /// State for a server on `pool` whose `/status` reports `runtime`.
    pub fn new(pool: PgPool, runtime: Runtime) -> Self {
        AppState { catalog: Arc::new(Notifications::new(pool.clone())), pool, runtime, admin: None, metrics: None }
    }

    /// Mounts `admin` (a [`db_listenable::web::Dashboard`] router) at [`ADMIN_PATH`].
    pub fn with_admin(mut self, admin: Router) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Serves `metrics` (a [`db_listenable::web::Dashboard::metrics_router`]) at the root:
    /// `GET /metrics` without the dashboard's token.
    pub fn with_metrics(mut self, metrics: Router) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The runtime's figures, with this process's rates; 503 once it is stopping.
    async fn stats(&self) -> Result<Stats, ApiError> {
        if self.runtime.health().stopping {
            return Err(ApiError::unavailable("the listener is stopping"));
        }
        Ok(self.runtime.stats().await?)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("pool", &self.pool).finish_non_exhaustive()
    }
}

/// The API's routes on `state`. Unknown routes and methods answer JSON errors too, so a
/// client only ever has one error shape to read.
pub fn router(state: AppState) -> Router {
    let (admin, metrics) = (state.admin.clone(), state.metrics.clone());
    let mut api = Router::new()
        .route("/invoices", get(invoices::list).post(invoices::create))
        .route("/invoices/{number}", get(invoices::show))
        .route("/invoices/{number}/items", post(invoices::add_item))
        .route("/status", get(status::show))
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state);
    if let Some(metrics) = metrics {
        api = api.merge(metrics);
    }
    match admin {
        Some(admin) => api.nest(ADMIN_PATH, admin),
        None => api,
    }
}

/// Serves [`router`] on `listener` until `shutdown` completes and the requests in flight
/// are answered, then shuts the runtime down (workers settle the batches in hand).
///
/// # Errors
/// The server's I/O error; the runtime is shut down in every case.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let served = axum::serve(listener, router(state.clone())).with_graceful_shutdown(shutdown).await;
    // After the HTTP side, so no request in flight meets a stopping runtime.
    state.runtime.shutdown().await;
    served
}

/// `invoices serve`: migrates, starts the listener, and serves the API on `addr` until
/// Ctrl-C or SIGTERM.
pub async fn run(addr: SocketAddr, data_dir: Option<&Path>) -> anyhow::Result<()> {
    let db = crate::database::open(data_dir, pg_harness::Lifetime::StopWhenDropped).await?;
    crate::migrate(&db.pool).await?;
    // The sample customers and products, so a new database can take invoices at once.
    crate::seed::ensure_catalog(&db.pool).await?;
    // Bind before starting the workers: a port in use fails at once, with nothing to stop.
    let socket = TcpListener::bind(addr).await.with_context(|| format!("could not listen on {addr}"))?;
    let local = socket.local_addr().context("could not read the listening address")?;
    let runtime = crate::listener::runtime(&db.pool, crate::listener::config()).start().await?;
    let (token, generated) = db_listenable::web::token_from_env_or_random(ADMIN_TOKEN_VAR);
    let dashboard = db_listenable::web::Dashboard::new(db.pool.clone())
        .credential(db_listenable::web::Credential::Bearer(token.clone()))
        .runtime(&runtime);
    let metrics = dashboard.metrics_router();
    let state = AppState::new(db.pool.clone(), runtime).with_admin(dashboard.router()?).with_metrics(metrics);
    // Handlers installed before the line below: whoever waits for it may send SIGTERM at once.
    let shutdown = db_listenable::runtime::shutdown_signal();
    if generated {
        println!(
            "dashboard: http://{local}{ADMIN_PATH} (token {token}: a browser asks for it as the password, any user name; \
             set {ADMIN_TOKEN_VAR} to choose it)"
        );
    } else {
        println!("dashboard: http://{local}{ADMIN_PATH} (token from {ADMIN_TOKEN_VAR})");
    }
    println!("listening on http://{local} (invoices API and listener; Ctrl-C to stop)");
    serve(socket, state, shutdown).await.context("the HTTP server failed")?;
    println!("stopped");
    db.pool.close().await;
    Ok(())
}
