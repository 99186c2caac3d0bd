//! CSS, JavaScript and the vendored chart library, embedded in the binary
//! with `include_bytes!`.
//!
//! Why embedded rather than served from disk: smokewatch ships as one
//! self-contained binary; the Docker image and a `cargo install` need no
//! asset folder next to it, a page can never be served with assets from
//! another version, and the dashboard works offline (no CDN). The price is
//! a rebuild to change a stylesheet, which is the right trade for a daemon.
//!
//! Files are served flat under `/static/{asset}` with a content hash as
//! ETag, so browsers revalidate cheaply (304) after an upgrade.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// File name under `/static/`, e.g. `app.css`: the URL's last segment.
    pub name: &'static str,
    /// `Content-Type` header it is served with.
    pub content_type: &'static str,
    /// File content, embedded at build time; its SHA-256 gives the ETag.
    pub bytes: &'static [u8],
}

/// Every file under `/static/`.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/app.js"),
    },
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/dashboard.js"),
    },
    Asset {
        name: "predict.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/predict.js"),
    },
    Asset {
        name: "health.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/health.js"),
    },
    Asset {
        name: "batch.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/batch.js"),
    },
    Asset {
        name: "windows.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/windows.js"),
    },
    Asset {
        name: "alerts.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/alerts.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/favicon.svg"),
    },
    Asset {
        name: "uplot.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/uplot/uPlot.iife.min.js"),
    },
    Asset {
        name: "uplot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/uplot/uPlot.min.css"),
    },
    Asset {
        name: "uplot-LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/uplot/LICENSE"),
    },
];

/// The asset called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// Content hashes, computed once.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.bytes)[..8])))
            .collect()
    });
    tags.get(index).map_or("\"\"", String::as_str)
}

/// Serves `/static/{name}`; 304 when the client's copy is current.
pub fn reply(full_path: &str, if_none_match: Option<&str>) -> Response {
    let name = full_path.strip_prefix("/static/").unwrap_or(full_path);
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return super::errors::ApiError::NotFound {
            method: "GET".into(),
            path: full_path.to_string(),
        }
        .into_response();
    };
    let asset = &ASSETS[index];
    let tag = etag(index);
    let mut response = if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == tag)) {
        warp::reply::with_status(warp::reply(), StatusCode::NOT_MODIFIED).into_response()
    } else {
        let mut r = Response::new(asset.bytes.into());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300, must-revalidate"),
    );
    response
}
