//! An operations dashboard and a Prometheus endpoint for the journal (feature `web`).
//!
//! [`Dashboard`] builds an [`axum::Router`] an application mounts where it likes (for
//! example with `Router::nest("/admin/changes", ...)`):
//!
//! | route | |
//! |---|---|
//! | `GET /` | per table and per subscriber: pending, in flight, retrying, dead, oldest pending age, processed and skipped here, per second with a sparkline of the last minutes, the error holding the oldest failed change back (a failure's text or a retry-after's reason), when a runtime last announced the subscriber and whether it is stale; unrouted entries; the capture triggers' drift status |
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
//! calls [`Dashboard::insecure_no_auth`]. Actions are POSTs carrying a form token; a POST
//! without it, or sent from another site, is refused with 403.
//!
//! # Several instances, restarts, and Prometheus
//!
//! The form token is derived from the dashboard's configuration (HMAC-SHA256 keyed by
//! [`Dashboard::form_secret`], else by the credential), so every instance behind a load
//! balancer accepts the forms any of them rendered, and so does an instance restarted
//! while a page was open. A dashboard with neither a credential nor a form secret
//! (`insecure_no_auth` alone) draws a random token: its forms work only on the instance
//! that rendered them, until it restarts; give it a form secret when it runs on more
//! than one.
//!
//! The dashboard serves `/metrics` behind its credential (Prometheus can send a bearer
//! token). [`Dashboard::metrics_router`] gives the same endpoint without authentication,
//! for an internal port or a path the load balancer does not expose; it shows counts,
//! subscriber and table names, never row data, and cannot act.
//!
//! A subscriber that no runtime announced for [`Dashboard::stale_after`] (see
//! [`crate::runtime::RuntimeConfig::heartbeat_interval`]) is marked stale: an instance
//! gone for good, whose deliveries fill up with every change of its table until it is
//! removed (`subscribers remove` in the CLI, [`crate::runtime::remove_stale_subscriber`]).
//!
//! # Example
//!
//! ```no_run
//! use db_listenable::web::{Credential, Dashboard};
//!
//! # async fn run(pool: sqlx::PgPool, runtime: &db_listenable::runtime::Runtime, app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! let token = std::env::var("ADMIN_TOKEN")?;
//! let dashboard = Dashboard::new(pool).credential(Credential::Bearer(token)).runtime(runtime);
//! // Prometheus scrapes `/metrics` without the token; people sign in to the dashboard.
//! let app = app.merge(dashboard.metrics_router()).nest("/admin/changes", dashboard.router()?);
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
use axum::extract::FromRef;
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
    /// The form secret is empty: anyone could compute the form token.
    #[error("the db-listenable dashboard form secret is empty")]
    EmptyFormSecret,
}

/// A token for [`Credential::Bearer`]: the value of environment variable `var` when it is
/// set and not empty, otherwise a random one (32 bytes, hex). `true` when it was
/// generated: the application should print it, or nobody can sign in.
pub fn token_from_env_or_random(var: &str) -> (String, bool) {
    match std::env::var(var) {
        Ok(token) if !token.trim().is_empty() => (token.trim().to_owned(), false),
        _ => (CsrfToken::random().value().to_owned(), true),
    }
}

/// The key of the form token (see [`Dashboard::form_secret`]); never printed.
#[derive(Clone)]
struct FormSecret(String);

impl std::fmt::Debug for FormSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormSecret(..)")
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
    form_secret: Option<FormSecret>,
    stale_after: Duration,
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
            form_secret: None,
            stale_after: crate::runtime::RuntimeConfig::STALE_AFTER,
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

    /// The key of the form token every action carries (default: the credential). Every
    /// instance given the same secret accepts the forms the others rendered, also after a
    /// restart. Needed for that with [`insecure_no_auth`](Self::insecure_no_auth), which
    /// has no credential to derive the token from; with a credential, it lets the token
    /// outlive a change of the credential. Keep it as secret as the credential.
    pub fn form_secret(mut self, secret: impl Into<String>) -> Self {
        self.form_secret = Some(FormSecret(secret.into()));
        self
    }

    /// How long a subscriber may go unannounced by any runtime before the overview marks
    /// it stale (default [`RuntimeConfig::STALE_AFTER`](crate::runtime::RuntimeConfig::STALE_AFTER),
    /// 5 min; runtimes announce theirs every
    /// [`heartbeat_interval`](crate::runtime::RuntimeConfig::heartbeat_interval)).
    pub fn stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
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
    /// [`Error::EmptyCredential`] for an empty secret; [`Error::EmptyFormSecret`].
    pub fn router(self) -> Result<Router, Error> {
        let figures = self.figures();
        let credential = match self.access {
            Access::Unset => return Err(Error::NoCredential),
            Access::Credential(credential) if credential.is_empty() => return Err(Error::EmptyCredential),
            Access::Credential(credential) => Some(credential),
            Access::Open => None,
        };
        let csrf = match (&self.form_secret, &credential) {
            (Some(FormSecret(secret)), _) if secret.is_empty() => return Err(Error::EmptyFormSecret),
            (Some(FormSecret(secret)), _) => CsrfToken::derived(secret.as_bytes()),
            (None, Some(credential)) => CsrfToken::derived(&credential.token_key()),
            (None, None) => CsrfToken::random(),
        };
        let inner = Arc::new(Inner {
            figures,
            credential,
            csrf,
            samples: Mutex::new(Samples::new(self.samples_kept)),
            dead_letter_limit: self.dead_letter_limit,
            stale_after: self.stale_after,
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

    /// `GET /metrics` alone, **without authentication**: the figures the dashboard's own
    /// `/metrics` serves, for Prometheus on an internal port or path while the dashboard
    /// keeps its credential. It carries counts and the names of subscribers and tables,
    /// no row data, and no action; mount it where only the monitoring can reach it.
    /// Needs no credential, and starts no background task.
    pub fn metrics_router(&self) -> Router {
        Router::new().route("/metrics", get(metrics::metrics)).with_state(self.figures())
    }

    /// What both routers read, from the settings.
    fn figures(&self) -> Figures {
        let capture = self
            .capture
            .clone()
            .or_else(|| self.stats.as_ref().map(|s| s.capture_config().clone()))
            .unwrap_or_default();
        let prepared_statements = self
            .prepared_statements
            .or_else(|| self.stats.as_ref().map(StatsHandle::prepared_statements))
            .unwrap_or(true);
        Figures {
            pool: self.pool.clone(),
            prepared_statements,
            stats: self.stats.clone(),
            models: self.models.clone().unwrap_or_else(crate::registry::models).into(),
            capture: Arc::new(capture),
        }
    }
}

/// What the dashboard's handlers share.
pub(crate) struct Inner {
    figures: Figures,
    credential: Option<Credential>,
    csrf: CsrfToken,
    samples: Mutex<Samples>,
    dead_letter_limit: i64,
    stale_after: Duration,
}

/// Where the figures come from: what `/metrics` needs, in the dashboard and alone
/// (cheap to clone: the state of the metrics router).
#[derive(Clone)]
pub(crate) struct Figures {
    pool: PgPool,
    prepared_statements: bool,
    stats: Option<StatsHandle>,
    models: Arc<[Model]>,
    capture: Arc<CaptureConfig>,
}

impl FromRef<Arc<Inner>> for Figures {
    fn from_ref(inner: &Arc<Inner>) -> Self {
        inner.figures.clone()
    }
}

impl Figures {
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
