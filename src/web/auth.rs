//! Admin authentication: `Authorization: Bearer <web.admin_token>`; and
//! the same for HTTP ingest with `web.ingest_token`.
//!
//! Admin endpoints are off (403) while no token is configured, so a
//! forgotten setting never leaves them open. Tokens are compared in
//! constant time over their SHA-256 digests, so neither the content nor the
//! length of the configured token leaks through response timing.

use super::errors::ApiError;
use crate::base::config::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::Filter;
use warp::filters::BoxedFilter;

/// Passes when the request carries the configured admin token.
pub fn admin(token: Secret) -> BoxedFilter<()> {
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let verdict = check(&token, header.as_deref());
            async move { verdict.map_err(warp::reject::custom) }
        })
        .untuple_one()
        .boxed()
}

/// Passes when the request carries the configured ingest token
/// (`web.ingest_token`): a token of its own, so a device fleet can send
/// data without being able to reload models or start batch runs.
pub fn ingest(token: Secret) -> BoxedFilter<()> {
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let verdict = check(&token, header.as_deref()).map_err(|e| match e {
                ApiError::AdminDisabled => ApiError::IngestDisabled,
                ApiError::MissingToken => ApiError::MissingIngestToken,
                ApiError::WrongToken => ApiError::WrongIngestToken,
                other => other,
            });
            async move { verdict.map_err(warp::reject::custom) }
        })
        .untuple_one()
        .boxed()
}

/// The decision, without warp: `Ok` when `header` holds the bearer token.
pub fn check(configured: &Secret, header: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = configured.expose() else {
        return Err(ApiError::AdminDisabled);
    };
    let presented = header
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::MissingToken)?;
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    if bool::from(a.as_slice().ct_eq(b.as_slice())) {
        Ok(())
    } else {
        Err(ApiError::WrongToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let unset = Secret::default();
        assert!(matches!(
            check(&unset, Some("Bearer x")),
            Err(ApiError::AdminDisabled)
        ));
        let set = Secret::new("s3cret");
        assert!(matches!(check(&set, None), Err(ApiError::MissingToken)));
        assert!(matches!(
            check(&set, Some("Basic abc")),
            Err(ApiError::MissingToken)
        ));
        assert!(matches!(
            check(&set, Some("Bearer ")),
            Err(ApiError::MissingToken)
        ));
        assert!(matches!(
            check(&set, Some("Bearer s3cre")),
            Err(ApiError::WrongToken)
        ));
        assert!(check(&set, Some("Bearer s3cret")).is_ok());
        assert!(check(&set, Some("bearer  s3cret ")).is_ok());
    }
}
