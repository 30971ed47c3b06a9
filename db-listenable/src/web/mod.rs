//! An operations dashboard and a Prometheus endpoint for the journal (feature `web`).
//!
//! [`Dashboard`] builds an [`axum::Router`] an application mounts where it likes (for
//! example with `Router::nest("/admin/changes", ...)`):
//!
//! | route | |
//! |---|---|
//! | `GET /` | per table and per subscriber: pending, in flight, retrying, dead, oldest pending age, processed and skipped here, per second with a sparkline of the last minutes, the error holding the oldest failed change back (a failure's text or a retry-after's reason); unrouted entries; the capture triggers' drift status |
//! | `GET /dead-letters[?subscriber=]` | dead letters: table, operation, attempts, last error, the rows as JSON; requeue one or all (after a confirmation page that says how many newer changes of the row were processed since: see [`crate::runtime::dead_letters`]), discard (after a confirmation page) |
//! | `POST /dead-letters/requeue`, `POST /dead-letters/discard` | the actions (form posts with a CSRF token; 303 back to the list) |
//! | `GET /metrics` | the same figures as Prometheus text |
//! | `GET /script.js` | the progressive enhancement: a confirmation dialog before a discard |
//!
//! The pages are server-rendered HTML with inline styles and SVG, and reload themselves
//! (the overview, every 10 s). One small script served by the router itself adds a
//! confirmation dialog; nothing is fetched from the network, and everything works with
//! JavaScript disabled (a discard then confirms on a page of its own). Every value from
//! the database is escaped.
//!
//! # Security
//!
//! The dashboard shows row data and can requeue or discard changes. It exists only where
//! an application mounts it, and building it requires a [`Credential`] (bearer token or
//! basic auth; browsers are asked for basic auth) unless the application explicitly
//! calls [`Dashboard::insecure_no_auth`]. Actions are POSTs carrying a per-dashboard
//! random token (see `csrf.rs`); a POST without it is refused with 403.
//!
//! # Example
//!
//! ```no_run
//! use db_listenable::web::{Credential, Dashboard};
//!
//! # async fn run(pool: sqlx::PgPool, runtime: &db_listenable::runtime::Runtime, app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! let token = std::env::var("ADMIN_TOKEN")?;
//! let admin = Dashboard::new(pool).credential(Credential::Bearer(token)).runtime(runtime).router()?;
//! let app = app.nest("/admin/changes", admin);
//! # let _ = app; Ok(()) }
//! ```

mod actions;
mod auth;
mod csrf;
mod html;
mod metrics;
mod pages;
mod sparkline;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use sqlx::PgPool;

pub use auth::Credential;

use crate::Model;
use crate::ddl::CaptureConfig;
use crate::runtime::{Runtime, StatsHandle};
use csrf::CsrfToken;
use sparkline::Samples;

/// Why a dashboard could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither a credential nor the explicit opt-out was given.
    #[error(
        "the db-listenable dashboard needs a credential (Dashboard::credential) or an explicit \
         Dashboard::insecure_no_auth(): it shows row data and can requeue changes"
    )]
    NoCredential,
    /// The credential's secret is empty, which would let anyone in.
    #[error("the db-listenable dashboard credential has an empty secret")]
    EmptyCredential,
}

/// A token for [`Credential::Bearer`]: the value of environment variable `var` when it is
/// set and not empty, otherwise a random one (32 bytes, hex). `true` when it was
/// generated: the application should print it, or nobody can sign in.
pub fn token_from_env_or_random(var: &str) -> (String, bool) {
    match std::env::var(var) {
        Ok(token) if !token.trim().is_empty() => (token.trim().to_owned(), false),
        _ => (CsrfToken::generate().value().to_owned(), true),
    }
}

/// How the dashboard authenticates: chosen explicitly, or not at all (an error).
#[derive(Debug, Clone)]
enum Access {
    Unset,
    Credential(Credential),
    Open,
}

/// Builds the dashboard's router: see the [module documentation](self).
#[derive(Debug, Clone)]
#[must_use = "a dashboard does nothing until its router is built and mounted"]
pub struct Dashboard {
    pool: PgPool,
    prepared_statements: Option<bool>,
    access: Access,
    stats: Option<StatsHandle>,
    models: Option<Vec<Model>>,
    capture: Option<CaptureConfig>,
    sample_every: Duration,
    samples_kept: usize,
    dead_letter_limit: i64,
}

impl Dashboard {
    /// A dashboard over the journal in `pool`'s database. It still needs a
    /// [`credential`](Self::credential) (or [`insecure_no_auth`](Self::insecure_no_auth)).
    pub fn new(pool: PgPool) -> Self {
        Dashboard {
            pool,
            prepared_statements: None,
            access: Access::Unset,
            stats: None,
            models: None,
            capture: None,
            sample_every: Duration::from_secs(10),
            samples_kept: 60,
            dead_letter_limit: 200,
        }
    }

    /// Requires `credential` on every request.
    pub fn credential(mut self, credential: Credential) -> Self {
        self.access = Access::Credential(credential);
        self
    }

    /// Serves the dashboard to anyone who can reach it. Only for a router that is
    /// already behind the application's own authentication: the dashboard shows row data
    /// and can requeue or discard changes.
    pub fn insecure_no_auth(mut self) -> Self {
        self.access = Access::Open;
        self
    }

    /// Adds this process's figures from `runtime`: processed counts, processed per second
    /// (and its sparkline), processing-time histograms; and checks drift against the
    /// runtime's capture configuration.
    pub fn runtime(self, runtime: &Runtime) -> Self {
        self.stats_handle(runtime.stats_handle())
    }

    /// Whether the dashboard's statements are prepared (see
    /// [`RuntimeConfig::prepared_statements`](crate::runtime::RuntimeConfig::prepared_statements)):
    /// off behind a pooler in transaction mode that does not track prepared statements.
    /// Default: the runtime's choice when one was given ([`runtime`](Self::runtime)),
    /// else on.
    pub fn prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared_statements = Some(prepared);
        self
    }

    /// As [`runtime`](Self::runtime), from a handle already taken.
    pub fn stats_handle(mut self, stats: StatsHandle) -> Self {
        self.stats = Some(stats);
        self
    }

    /// The models whose triggers the drift status checks (default: every model of the
    /// program, [`crate::registry::models`]).
    pub fn models(mut self, models: Vec<Model>) -> Self {
        self.models = Some(models);
        self
    }

    /// The capture configuration the triggers were generated with (default: the
    /// runtime's, else [`CaptureConfig::default`]).
    pub fn capture_config(mut self, capture: CaptureConfig) -> Self {
        self.capture = Some(capture);
        self
    }

    /// How often the processed-per-second sparkline takes a sample (default 10 s) and how
    /// many it keeps (default 60: ten minutes).
    pub fn sparkline(mut self, every: Duration, kept: usize) -> Self {
        self.sample_every = every.max(Duration::from_millis(100));
        self.samples_kept = kept.max(2);
        self
    }

    /// The most dead letters one page lists (default 200).
    pub fn dead_letter_limit(mut self, limit: i64) -> Self {
        self.dead_letter_limit = limit.max(1);
        self
    }

    /// The router to mount. With a runtime and inside a Tokio runtime, a background task
    /// samples the processed counts for the sparkline; it ends when the router is dropped.
    ///
    /// # Errors
    /// [`Error::NoCredential`] without a credential or the explicit opt-out;
    /// [`Error::EmptyCredential`] for an empty secret.
    pub fn router(self) -> Result<Router, Error> {
        let credential = match self.access {
            Access::Unset => return Err(Error::NoCredential),
            Access::Credential(credential) if credential.is_empty() => return Err(Error::EmptyCredential),
            Access::Credential(credential) => Some(credential),
            Access::Open => None,
        };
        let capture =
            self.capture.or_else(|| self.stats.as_ref().map(|s| s.capture_config().clone())).unwrap_or_default();
        let prepared_statements = self
            .prepared_statements
            .or_else(|| self.stats.as_ref().map(StatsHandle::prepared_statements))
            .unwrap_or(true);
        let inner = Arc::new(Inner {
            pool: self.pool,
            prepared_statements,
            credential,
            csrf: CsrfToken::generate(),
            samples: Mutex::new(Samples::new(self.samples_kept)),
            stats: self.stats,
            models: self.models.unwrap_or_else(crate::registry::models),
            capture,
            dead_letter_limit: self.dead_letter_limit,
        });
        sparkline::start_sampling(&inner, self.sample_every);
        Ok(Router::new()
            .route("/", get(pages::overview))
            .route("/dead-letters", get(pages::dead_letters))
            .route("/dead-letters/requeue", post(actions::requeue))
            .route("/dead-letters/discard", post(actions::discard))
            .route("/metrics", get(metrics::metrics))
            .route("/script.js", get(pages::script))
            .layer(axum::middleware::from_fn_with_state(Arc::clone(&inner), auth::require))
            .with_state(inner))
    }
}

/// What the handlers share.
pub(crate) struct Inner {
    pool: PgPool,
    prepared_statements: bool,
    credential: Option<Credential>,
    csrf: CsrfToken,
    stats: Option<StatsHandle>,
    samples: Mutex<Samples>,
    models: Vec<Model>,
    capture: CaptureConfig,
    dead_letter_limit: i64,
}

impl Inner {
    /// The pool, with the dashboard's choice of prepared statements.
    fn db(&self) -> crate::DbPool<'_> {
        crate::DbPool::with_prepared_statements(&self.pool, self.prepared_statements)
    }

    /// The journal's figures, with this process's when a runtime was given.
    async fn stats(&self) -> crate::Result<crate::runtime::Stats> {
        match &self.stats {
            Some(handle) => handle.stats().await,
            None => crate::runtime::load_stats(self.db()).await,
        }
    }
}
