//! The HTML pages, rendered with tera from templates embedded in the binary
//! (see `assets.rs` for why nothing is read from disk). Pages are useful
//! without JavaScript (the server renders the current figures); scripts
//! then keep them live from `/api/stream`.

use super::App;
use super::errors::ApiError;
use super::presets::PRESETS;
use super::routes::Page;
use crate::model::Channel;
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
pub fn render(app: &App, page: Page) -> Response {
    match render_html(app, page) {
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

fn render_html(app: &App, page: Page) -> Result<String, ApiError> {
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
    let model = app.shared.model.current();
    ctx.insert(
        "model_version",
        &model.as_ref().map(|m| m.version().to_string()),
    );
    ctx.insert("admin_enabled", &app.shared.config.web.admin_token.is_set());
    match page {
        Page::Dashboard => {
            ctx.insert("rooms", &Vec::<String>::new());
        }
        Page::Predict => {
            ctx.insert("channels", &channel_fields());
            ctx.insert("presets", &preset_views());
        }
        Page::Model => {
            let features = model
                .as_ref()
                .map(|m| m.feature_spec().names())
                .unwrap_or_default();
            ctx.insert("features", &features);
        }
        Page::Health => {
            ctx.insert("health", &app.shared.health.report());
        }
        Page::Alerts | Page::Batch => {}
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
