//! The HTML pages, rendered with tera from templates embedded in the binary
//! (see `assets.rs` for why nothing is read from disk). Pages are useful
//! without JavaScript (the server renders the current figures); scripts
//! then keep them live from `/api/stream`.

use super::App;
use super::errors::ApiError;
use super::model_view::ModelView;
use super::page_views::{BatchPage, ModelPage};
use super::presets::PRESETS;
use super::routes::Page;
use super::windows_view::WindowsPage;
use crate::schema::Channel;
use serde::Serialize;
use tera::{Context, Tera};
use warp::http::{HeaderValue, header};
use warp::reply::Response;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    (
        "dashboard.html",
        include_str!("../../templates/dashboard.html"),
    ),
    ("windows.html", include_str!("../../templates/windows.html")),
    ("predict.html", include_str!("../../templates/predict.html")),
    ("alerts.html", include_str!("../../templates/alerts.html")),
    ("model.html", include_str!("../../templates/model.html")),
    ("batch.html", include_str!("../../templates/batch.html")),
    ("health.html", include_str!("../../templates/health.html")),
];

/// Why the templates could not be loaded (a bug in a template; the tests
/// render every page, so it never reaches a release).
#[derive(Debug, thiserror::Error)]
#[error("templates: {0}")]
pub struct TemplateError(String);

/// The compiled templates.
pub struct Pages {
    tera: Tera,
}

impl Pages {
    pub fn load() -> Result<Self, TemplateError> {
        let mut tera = Tera::new();
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .map_err(|e| TemplateError(e.to_string()))?;
        Ok(Self { tera })
    }
}

#[derive(Serialize)]
struct NavItem {
    title: &'static str,
    path: &'static str,
    active: bool,
}

#[derive(Serialize)]
struct ChannelField {
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    min: f64,
    max: f64,
}

#[derive(Serialize)]
struct PresetView {
    id: &'static str,
    label: &'static str,
    source: &'static str,
    /// `{"temperature_c": 20.5, …}` for the page's script.
    values_json: String,
}

/// Renders `page` with the daemon's current state.
pub async fn render(app: App, page: Page) -> Response {
    let model_view = match page {
        Page::Model => Some(ModelView::load(&app.deps).await),
        _ => None,
    };
    match render_html(&app, page, model_view.as_ref()) {
        Ok(html) => {
            let mut response = Response::new(html.into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}

fn render_html(app: &App, page: Page, model_view: Option<&ModelView>) -> Result<String, ApiError> {
    let mut ctx = Context::new();
    let nav: Vec<NavItem> = Page::ALL
        .into_iter()
        .map(|p| NavItem {
            title: p.title(),
            path: p.path(),
            active: p == page,
        })
        .collect();
    ctx.insert("nav", &nav);
    ctx.insert("page_id", page.id());
    ctx.insert("page_title", page.title());
    ctx.insert("version", env!("CARGO_PKG_VERSION"));
    let model = app.deps.model.current();
    ctx.insert(
        "model_version",
        &model.as_ref().map(|m| m.version().to_string()),
    );
    ctx.insert("admin_enabled", &app.deps.config.admin_token.is_set());
    let sections = &app.deps.sections;
    let stream_off = (!sections.stream_enabled)
        .then_some("The stream is switched off (stream.enabled: false): no readings, windows, rooms or alerts are processed.");
    ctx.insert("stream_off", &stream_off);
    match page {
        Page::Dashboard => {
            ctx.insert(
                "telemetry_off",
                &(!sections.telemetry_enabled).then_some(
                    "Metrics are switched off (telemetry.enabled: false): /metrics is not served. The figures below come from the stream itself.",
                ),
            );
        }
        Page::Windows => {
            let window = &sections.window;
            ctx.insert(
                "w",
                &WindowsPage::new(&app.deps.live.current_windows(), &window.channels),
            );
            ctx.insert("window_size", &window.size.to_string());
            ctx.insert(
                "update_mode",
                &(window.output_mode == crate::stream::OutputMode::Update),
            );
            ctx.insert("trigger_interval", &window.trigger_interval.to_string());
        }
        Page::Predict => {
            ctx.insert("channels", &channel_fields());
            ctx.insert("presets", &preset_views());
        }
        Page::Model => {
            let view = match model_view {
                Some(v) => ModelPage::from(v),
                None => ModelPage::from(&ModelView::read(&app.deps)),
            };
            ctx.insert("m", &view);
        }
        Page::Batch => {
            let snapshot = app.deps.batch.snapshot();
            ctx.insert("b", &BatchPage::from(&snapshot));
            ctx.insert("batch_configured", &sections.batch_enabled);
        }
        Page::Alerts => {
            let alerts = app.deps.live.recent_alerts();
            let open = alerts
                .iter()
                .filter(|a| a.state == crate::stream::sinks::AlertState::Open)
                .count();
            ctx.insert("alerts_open", &open);
            ctx.insert("alerts_total", &alerts.len());
            ctx.insert("alert_rules", &app.deps.live.alert_summary());
        }
        Page::Health => {
            ctx.insert("health", &app.deps.health.report());
        }
    }
    app.pages
        .tera
        .render(&format!("{}.html", page.id()), &ctx)
        .map_err(|e| ApiError::Internal(format!("rendering {}: {e}", page.id())))
}

fn channel_fields() -> Vec<ChannelField> {
    Channel::ALL
        .into_iter()
        .map(|c| ChannelField {
            key: c.key(),
            // "Temperature[C]" -> "Temperature": the unit is shown apart.
            label: c.csv_name().split('[').next().unwrap_or(c.csv_name()),
            unit: c.unit(),
            min: *c.physical_range().start(),
            max: *c.physical_range().end(),
        })
        .collect()
}

fn preset_views() -> Vec<PresetView> {
    PRESETS
        .iter()
        .map(|p| {
            let values: serde_json::Map<String, serde_json::Value> = p
                .pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
                .collect();
            PresetView {
                id: p.id,
                label: p.label,
                source: p.source,
                values_json: serde_json::Value::Object(values).to_string(),
            }
        })
        .collect()
}
