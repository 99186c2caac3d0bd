//! Every error the HTTP layer answers with, as JSON:
//! `{"error": "<what was wrong>", "field": "<path.to.field>"?}` with the
//! matching 4xx status. Bad input is never a 5xx; only a model that is not
//! there yet (503) or a bug (500) is.

use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::http::header::{HeaderValue, WWW_AUTHENTICATE};
use warp::reply::Response;
use warp::{Filter, Reply};

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// JSON path, e.g. `readings[3].tvoc_ppb`.
    pub field: String,
    /// What is wrong with it.
    pub error: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            error: error.into(),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("request body is not valid JSON: {detail}")]
    BadJson {
        detail: String,
        /// The key whose value could not be parsed, when it can be told.
        field: Option<String>,
    },
    /// The JSON parsed but does not describe a valid request. Holds every
    /// invalid field (a form shows them all at once); the first is the
    /// headline.
    #[error("{}", .0.first().map_or("invalid request", |e| e.error.as_str()))]
    Invalid(Vec<FieldError>),
    #[error("request body is larger than the limit of {limit} bytes for this route")]
    BodyTooLarge { limit: u64 },
    #[error("`readings` holds {count} readings; at most {max} are accepted per request")]
    BatchTooLarge { count: usize, max: usize },
    #[error(
        "Content-Type {found:?} is not accepted; send application/json (the ingest routes also \
         take application/x-ndjson)"
    )]
    UnsupportedMediaType { found: String },
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
    #[error(
        "no model is loaded yet: the ML subsystem has not trained or promoted one \
         (train with `smokewatch train`, or wait for the scheduled training)"
    )]
    NoModel,
    /// No model is loaded and none will come: the ML subsystem is off.
    #[error(
        "no model is served: the ML subsystem is switched off (ml.enabled: false), so no \
         model is trained or loaded; set ml.enabled: true (or SMOKEWATCH__ML__ENABLED=true) \
         to serve predictions"
    )]
    MlOff,
    #[error(
        "admin endpoints are off: set web.admin_token (or SMOKEWATCH__WEB__ADMIN_TOKEN) \
         to enable them"
    )]
    AdminDisabled,
    #[error("this admin endpoint needs an `Authorization: Bearer <token>` header")]
    MissingToken,
    #[error("the bearer token is not the configured web.admin_token")]
    WrongToken,
    #[error(
        "HTTP ingest is off: set web.ingest_token (or SMOKEWATCH__WEB__INGEST_TOKEN) to enable \
         it, then send `Authorization: Bearer <token>`"
    )]
    IngestDisabled,
    #[error("ingest needs an `Authorization: Bearer <web.ingest_token>` header")]
    MissingIngestToken,
    #[error("the bearer token is not the configured web.ingest_token")]
    WrongIngestToken,
    #[error("{0}")]
    Unavailable(String),
    /// The request is valid but cannot be honoured in the current state
    /// (nothing to reload, a run already in progress).
    #[error("{0}")]
    Conflict(String),
    #[error("no route {method} {path}; see /api/openapi.json for the API")]
    NotFound { method: String, path: String },
    #[error("method {method} is not allowed on {path}; see /api/openapi.json")]
    MethodNotAllowed { method: String, path: String },
    /// A query parameter of a GET route is unknown or has a bad value;
    /// `field` is `query.<name>`.
    #[error("{detail}")]
    BadQuery { field: String, detail: String },
    #[error("header {name}: {detail}")]
    BadHeader { name: String, detail: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadJson { .. }
            | ApiError::BadHeader { .. }
            | ApiError::BadQuery { .. }
            | ApiError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BodyTooLarge { .. } | ApiError::BatchTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MissingToken
            | ApiError::WrongToken
            | ApiError::MissingIngestToken
            | ApiError::WrongIngestToken => StatusCode::UNAUTHORIZED,
            ApiError::AdminDisabled | ApiError::IngestDisabled => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NoModel | ApiError::MlOff | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadJson { field, .. } => field.as_deref(),
            ApiError::Invalid(errors) => errors.first().map(|e| e.field.as_str()),
            ApiError::BatchTooLarge { .. } => Some("readings"),
            ApiError::BadQuery { field, .. } => Some(field.as_str()),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            errors: Option<&'a [FieldError]>,
        }
        let status = self.status();
        let errors = match &self {
            ApiError::Invalid(errors) if errors.len() > 1 => Some(errors.as_slice()),
            _ => None,
        };
        let body = Body {
            error: self.to_string(),
            field: self.field(),
            errors,
        };
        let mut response =
            warp::reply::with_status(warp::reply::json(&body), status).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(match self {
                    ApiError::MissingIngestToken | ApiError::WrongIngestToken => {
                        "Bearer realm=\"smokewatch ingest\""
                    }
                    _ => "Bearer realm=\"smokewatch admin\"",
                }),
            );
        }
        response
    }
}

/// Where a request went that no route took; rejected by the last filter
/// of the chain so the JSON error can name the method and path.
#[derive(Debug)]
pub struct Unmatched {
    method: String,
    path: String,
}

impl warp::reject::Reject for Unmatched {}

/// The last filter of the chain: rejects every request with [`Unmatched`].
pub fn unmatched() -> BoxedFilter<(Response,)> {
    warp::method()
        .and(warp::path::full())
        .and_then(
            |method: warp::http::Method, path: warp::path::FullPath| async move {
                Err::<Response, _>(warp::reject::custom(Unmatched {
                    method: method.to_string(),
                    path: path.as_str().to_string(),
                }))
            },
        )
        .boxed()
}

/// Turns whatever warp rejected into a JSON error: our own [`ApiError`]
/// first (the route matched, its input did not), then 405 before 404 (the
/// path exists with another method), then warp's header errors.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    Ok(from_rejection(&rejection).into_response())
}

fn from_rejection(rejection: &warp::Rejection) -> ApiError {
    if let Some(error) = rejection.find::<ApiError>() {
        return error.clone();
    }
    let (method, path) = rejection
        .find::<Unmatched>()
        .map(|u| (u.method.clone(), u.path.clone()))
        .unwrap_or_default();
    if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        return ApiError::MethodNotAllowed { method, path };
    }
    if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        return ApiError::BadHeader {
            name: e.name().to_string(),
            detail: "the value cannot be parsed".into(),
        };
    }
    if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        return ApiError::BadHeader {
            name: e.name().to_string(),
            detail: "missing".into(),
        };
    }
    if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        return ApiError::BadQuery {
            field: "query".into(),
            detail: format!("the query string cannot be decoded: {e}"),
        };
    }
    if rejection.find::<Unmatched>().is_some() || rejection.is_not_found() {
        return ApiError::NotFound { method, path };
    }
    tracing::warn!(?rejection, "unhandled rejection");
    ApiError::Internal(format!("unhandled rejection {rejection:?}"))
}
