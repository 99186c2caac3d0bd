//! The route table: every URL the server answers, with its method, in one
//! list. The server is assembled from [`Route::all`] (see `web::routes`) and
//! so is the OpenAPI document (`web::openapi`), so the two cannot disagree:
//! a route added here without a handler does not compile (the dispatch is
//! an exhaustive `match`), and a route without documentation fails the
//! OpenAPI test.

use warp::Filter;
use warp::filters::BoxedFilter;

/// HTTP methods the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// The HTML pages, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    Dashboard,
    Windows,
    Predict,
    Alerts,
    Model,
    Batch,
    Health,
}

impl Page {
    pub const ALL: [Page; 7] = [
        Page::Dashboard,
        Page::Windows,
        Page::Predict,
        Page::Alerts,
        Page::Model,
        Page::Batch,
        Page::Health,
    ];

    /// URL path. The Health page lives at `/status` because `/health` is
    /// the JSON probe load balancers and Docker's HEALTHCHECK call.
    pub const fn path(self) -> &'static str {
        match self {
            Page::Dashboard => "/",
            Page::Windows => "/windows",
            Page::Predict => "/predict",
            Page::Alerts => "/alerts",
            Page::Model => "/model",
            Page::Batch => "/batch",
            Page::Health => "/status",
        }
    }

    /// Navigation label and page title.
    pub const fn title(self) -> &'static str {
        match self {
            Page::Dashboard => "Dashboard",
            Page::Windows => "Windows",
            Page::Predict => "Predict",
            Page::Alerts => "Alerts",
            Page::Model => "Model",
            Page::Batch => "Batch",
            Page::Health => "Health",
        }
    }

    /// Stable identifier used for the template name and in the HTML.
    pub const fn id(self) -> &'static str {
        match self {
            Page::Dashboard => "dashboard",
            Page::Windows => "windows",
            Page::Predict => "predict",
            Page::Alerts => "alerts",
            Page::Model => "model",
            Page::Batch => "batch",
            Page::Health => "health",
        }
    }
}

/// Every route of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// An HTML page.
    Page(Page),
    /// A CSS/JS/vendor file embedded in the binary.
    Asset,
    /// Liveness/readiness probe (Docker HEALTHCHECK, load balancers).
    Health,
    /// The same report under the API prefix.
    ApiHealth,
    /// Prometheus exposition.
    Metrics,
    /// This API's OpenAPI 3 description.
    OpenApi,
    /// Channels, units and physical ranges.
    SensorsSchema,
    /// Fire prediction for one reading.
    Predict,
    /// Fire predictions for up to [`crate::web::api::MAX_BATCH`] readings.
    PredictBatch,
    /// The model currently served.
    Model,
    /// Admin: reload the model from the registry.
    ModelReload,
    /// Admin: run the batch job now.
    BatchRun,
    /// Server-Sent Events with the dashboard's live figures.
    Stream,
    /// The stream's recent alerts, filtered.
    Alerts,
    /// The stream's recent window results, filtered.
    Windows,
    /// The stream's recently refused records (without payloads), filtered.
    DeadLetters,
    /// Every known device.
    Devices,
    /// Admin: register devices.
    DevicesRegister,
    /// Ingest readings (`web.ingest_token`).
    IngestReadings,
    /// Ingest room events (`web.ingest_token`).
    IngestRoomEvents,
}

impl Route {
    /// Every route, pages first.
    pub const ALL: [Route; 26] = [
        Route::Page(Page::Dashboard),
        Route::Page(Page::Windows),
        Route::Page(Page::Predict),
        Route::Page(Page::Alerts),
        Route::Page(Page::Model),
        Route::Page(Page::Batch),
        Route::Page(Page::Health),
        Route::Asset,
        Route::Health,
        Route::ApiHealth,
        Route::Metrics,
        Route::OpenApi,
        Route::SensorsSchema,
        Route::Predict,
        Route::PredictBatch,
        Route::Model,
        Route::ModelReload,
        Route::BatchRun,
        Route::Stream,
        Route::Alerts,
        Route::Windows,
        Route::DeadLetters,
        Route::Devices,
        Route::DevicesRegister,
        Route::IngestReadings,
        Route::IngestRoomEvents,
    ];

    /// Every route, pages first.
    pub fn all() -> &'static [Route] {
        &Route::ALL
    }

    pub const fn method(self) -> HttpMethod {
        match self {
            Route::Predict
            | Route::PredictBatch
            | Route::ModelReload
            | Route::BatchRun
            | Route::DevicesRegister
            | Route::IngestReadings
            | Route::IngestRoomEvents => HttpMethod::Post,
            _ => HttpMethod::Get,
        }
    }

    /// The path as an OpenAPI template (`{name}` is one path segment).
    pub const fn path(self) -> &'static str {
        match self {
            Route::Page(page) => page.path(),
            Route::Asset => "/static/{asset}",
            Route::Health => "/health",
            Route::ApiHealth => "/api/health",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/api/openapi.json",
            Route::SensorsSchema => "/api/sensors/schema",
            Route::Predict => "/api/predict",
            Route::PredictBatch => "/api/predict/batch",
            Route::Model => "/api/model",
            Route::ModelReload => "/api/model/reload",
            Route::BatchRun => "/api/batch/run",
            Route::Stream => "/api/stream",
            Route::Alerts => "/api/alerts",
            Route::Windows => "/api/windows",
            Route::DeadLetters => "/api/dead-letters",
            Route::Devices | Route::DevicesRegister => "/api/devices",
            Route::IngestReadings => "/api/ingest/readings",
            Route::IngestRoomEvents => "/api/ingest/room-events",
        }
    }

    /// Admin routes need `Authorization: Bearer <web.admin_token>`.
    pub const fn is_admin(self) -> bool {
        matches!(
            self,
            Route::ModelReload | Route::BatchRun | Route::DevicesRegister
        )
    }

    /// Ingest routes need `Authorization: Bearer <web.ingest_token>`.
    pub const fn is_ingest(self) -> bool {
        matches!(self, Route::IngestReadings | Route::IngestRoomEvents)
    }

    /// The route a request would be served by, for metric labels (the
    /// template, never the raw path, so label cardinality stays bounded).
    pub fn matching(method: &str, path: &str) -> Option<Route> {
        Route::all()
            .iter()
            .copied()
            .find(|r| r.method().as_str() == method && template_matches(r.path(), path))
    }

    /// A filter matching exactly this route's path and method. A request
    /// whose path matches but method does not is rejected with
    /// `MethodNotAllowed` (405); otherwise with not-found (404).
    pub(super) fn filter(self) -> BoxedFilter<()> {
        let path = path_filter(self.path());
        match self.method() {
            HttpMethod::Get => path.and(warp::get()).boxed(),
            HttpMethod::Post => path.and(warp::post()).boxed(),
        }
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = segments(template).collect();
    let p: Vec<&str> = segments(path).collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| is_param(t) || t == p)
}

/// `warp::path` segment by segment, then `end()`; `{param}` matches any one
/// segment (the handler reads it from the full path).
fn path_filter(template: &'static str) -> BoxedFilter<()> {
    let mut filter = warp::any().boxed();
    for segment in segments(template) {
        filter = if is_param(segment) {
            filter
                .and(warp::path::param::<String>())
                .map(|_: String| ())
                .untuple_one()
                .boxed()
        } else {
            filter.and(warp::path(segment)).boxed()
        };
    }
    filter.and(warp::path::end()).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_page_is_a_route() {
        for page in Page::ALL {
            assert!(Route::all().contains(&Route::Page(page)), "{page:?}");
        }
    }

    #[test]
    fn method_and_path_are_unique() {
        let all = Route::all();
        let keys: HashSet<(HttpMethod, &str)> =
            all.iter().map(|r| (r.method(), r.path())).collect();
        assert_eq!(keys.len(), all.len());
    }

    #[test]
    fn matching_uses_templates() {
        assert_eq!(
            Route::matching("GET", "/"),
            Some(Route::Page(Page::Dashboard))
        );
        assert_eq!(
            Route::matching("GET", "/static/app.css"),
            Some(Route::Asset)
        );
        assert_eq!(
            Route::matching("POST", "/api/predict"),
            Some(Route::Predict)
        );
        assert_eq!(Route::matching("GET", "/api/predict"), None);
        assert_eq!(Route::matching("GET", "/static/a/b"), None);
    }
}
