//! The HTTP face of the daemon (warp 0.4, tera 2): the dashboard and other
//! pages, the JSON API under `/api`, live figures over Server-Sent Events,
//! `/health` for load balancers and Docker, `/metrics` for Prometheus.
//!
//! One file per concern: [`routes`] (the route table), [`pages`] (HTML),
//! [`api`] (JSON handlers) with [`predict`] and [`body`], [`sse`] and
//! [`feed`] (live figures), [`errors`], [`auth`], [`openapi`], [`assets`]
//! (embedded CSS/JS) and [`stats`] (the web's own metrics).

pub mod admin;
pub mod api;
pub mod assets;
pub mod auth;
pub mod body;
mod config;
pub mod deps;
pub mod devices;
pub mod errors;
pub mod feed;
pub mod ingest;
pub mod live_api;
pub mod model_view;
pub mod openapi;
pub mod page_views;
pub mod pages;
pub mod predict;
pub mod presets;
pub mod routes;
mod server;
pub mod shapes;
pub mod sse;
pub mod stats;
pub mod windows_view;

pub use config::{DEFAULT_INGEST_MAX_BODY_BYTES, WebConfig};
pub use deps::{Deps, Sections};

use crate::supervisor::{TaskContext, TaskReport, TaskResult};
use routes::Route;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

/// Everything a request handler reads: the handles the app gave it plus
/// the web layer's own state. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// Handles and config the app gave the web layer.
    pub deps: Deps,
    /// Request, prediction and SSE-client counters, updated by every request.
    pub stats: Arc<stats::WebStats>,
    /// The dashboard's live snapshots, served by `/api/stream`.
    pub feed: feed::Feed,
    pages: Arc<pages::Pages>,
    /// Cancelled at shutdown; ends open SSE streams.
    shutdown: CancellationToken,
}

impl App {
    /// Builds the web state; `shutdown` ends live streams when cancelled.
    pub fn new(deps: Deps, shutdown: CancellationToken) -> Result<App, pages::TemplateError> {
        Ok(App {
            deps,
            stats: Arc::default(),
            feed: feed::Feed::default(),
            pages: Arc::new(pages::Pages::load()?),
            shutdown,
        })
    }

    /// The sampler that feeds `/api/stream`; run it beside the server.
    pub fn sampler(&self) -> feed::Sampler {
        feed::Sampler::new(self.deps.clone(), self.stats.clone(), self.feed.clone())
    }
}

/// All routes of the server: every entry of the route table, then a JSON
/// 404/405 for anything else; each answer is counted in the web metrics.
pub fn routes(
    app: App,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let stats = app.stats.clone();
    let table = Route::all()
        .iter()
        .map(|&route| endpoint(route, &app))
        .fold(errors::unmatched(), |others, route| {
            route.or(others).unify().boxed()
        });
    table
        .recover(errors::recover)
        .unify()
        .with(warp::log::custom(move |info| {
            stats.record_request(
                info.method().as_str(),
                info.path(),
                info.status().as_u16(),
                info.elapsed(),
            );
        }))
}

/// The filter serving one route: its path and method, its input, its
/// handler. Exhaustive, so every route in the table has a handler.
fn endpoint(route: Route, app: &App) -> BoxedFilter<(Response,)> {
    let at = route.filter();
    let state = {
        let app = app.clone();
        warp::any().map(move || app.clone())
    };
    let admin = auth::admin(app.deps.config.admin_token.clone());
    let ingest_auth = auth::ingest(app.deps.config.ingest_token.clone());
    let ingest_limit = app.deps.config.ingest_max_body_bytes;
    match route {
        Route::Page(page) => at
            .and(state)
            .then(move |app: App| pages::render(app, page))
            .boxed(),
        Route::Asset => at
            .and(warp::path::full())
            .and(warp::header::optional::<String>("if-none-match"))
            .map(|path: warp::path::FullPath, tag: Option<String>| {
                assets::reply(path.as_str(), tag.as_deref())
            })
            .boxed(),
        Route::Health | Route::ApiHealth => at.and(state).map(|app: App| api::health(&app)).boxed(),
        Route::Metrics => at.and(state).map(|app: App| api::metrics(&app)).boxed(),
        Route::OpenApi => at
            .map(|| {
                use warp::Reply as _;
                warp::reply::json(&openapi::document()).into_response()
            })
            .boxed(),
        Route::SensorsSchema => at.map(api::sensors_schema).boxed(),
        Route::Predict => at
            .and(body::limited(body::BODY_LIMIT))
            .and(state)
            .then(api::predict)
            .boxed(),
        Route::PredictBatch => at
            .and(body::limited(api::BATCH_BODY_LIMIT))
            .and(state)
            .then(api::predict_batch)
            .boxed(),
        Route::Model => at.and(state).then(api::model).boxed(),
        Route::ModelReload => at
            .and(admin)
            .and(body::limited(body::BODY_LIMIT))
            .and(state)
            .then(|_body: bytes::Bytes, app: App| admin::model_reload(app))
            .boxed(),
        Route::BatchRun => at
            .and(admin)
            .and(body::limited(body::BODY_LIMIT))
            .and(state)
            .map(|_body: bytes::Bytes, app: App| admin::batch_run(app))
            .boxed(),
        Route::Alerts => at
            .and(warp::query::<live_api::Query>())
            .and(state)
            .map(live_api::alerts)
            .boxed(),
        Route::Windows => at
            .and(warp::query::<live_api::Query>())
            .and(state)
            .map(live_api::windows)
            .boxed(),
        Route::DeadLetters => at
            .and(warp::query::<live_api::Query>())
            .and(state)
            .map(live_api::dead_letters)
            .boxed(),
        Route::Devices => at.and(state).map(|app: App| devices::list(&app)).boxed(),
        Route::DevicesRegister => at
            .and(admin)
            .and(body::limited(body::BODY_LIMIT))
            .and(state)
            .then(devices::register)
            .boxed(),
        Route::IngestReadings | Route::IngestRoomEvents => {
            let kind = if route == Route::IngestReadings {
                ingest::RecordKind::Readings
            } else {
                ingest::RecordKind::RoomEvents
            };
            at.and(ingest_auth)
                .and(body::limited_records(ingest_limit))
                .and(state)
                .then(move |body: bytes::Bytes, app: App| ingest::ingest(kind, body, app))
                .boxed()
        }
        Route::Stream => at
            .and(warp::header::optional::<String>("last-event-id"))
            .and(state)
            .map(|last: Option<String>, app: App| sse::reply(&app, last))
            .boxed(),
    }
}

/// Service task: serves on an already bound listener (bound by the daemon
/// at start, so a busy port fails the start instead of a restart loop),
/// and runs the dashboard sampler beside it until shutdown.
pub async fn serve(
    ctx: TaskContext,
    listener: std::io::Result<std::net::TcpListener>,
    deps: Deps,
) -> TaskResult {
    let listener = tokio::net::TcpListener::from_std(listener?)?;
    let addr = listener.local_addr()?;
    let app = App::new(deps, ctx.shutdown.clone())?;
    // Exported from the start: no live dashboard open is a real 0.
    metrics::gauge!(crate::telemetry::names::HTTP_SSE_CLIENTS)
        .set(app.stats.counts().sse_clients as f64);
    let sampler = app.sampler().run(ctx.shutdown.clone());
    ctx.health.running();
    let server = server::serve(listener, app, ctx.shutdown.clone());
    // A graceful close waits for every connection, and a browser keeps
    // its connection alive for as long as it likes: give connections a
    // short grace, then drop them, so an open tab can never use up
    // `daemon.shutdown_timeout` (the pipeline's final checkpoint needs it).
    let grace = async {
        ctx.shutdown.cancelled().await;
        tokio::time::sleep(CONNECTION_CLOSE_GRACE).await;
    };
    let closed = async {
        tokio::select! {
            _ = server => "closed",
            _ = grace => "closed (connections still open after the grace were dropped)",
        }
    };
    let (closed, _) = tokio::join!(closed, sampler);
    Ok(TaskReport::new(format!("web server on {addr} {closed}")))
}

/// How long open connections may take to finish at shutdown.
const CONNECTION_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
