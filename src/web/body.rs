//! Request bodies: read with a size limit (413 beyond it, checked on the
//! declared Content-Length before anything is read and again while
//! reading, for chunked bodies), then parsed as JSON with errors that say
//! where the JSON broke.

use super::errors::ApiError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::StreamExt;
use warp::Filter;
use warp::filters::BoxedFilter;

/// Default body limit of every route: 1 MiB.
pub const BODY_LIMIT: u64 = 1024 * 1024;

/// A route's body, at most `limit` bytes. Rejects with
/// [`ApiError::BodyTooLarge`] or [`ApiError::UnsupportedMediaType`] (a
/// Content-Type other than JSON; none at all is accepted, as curl sends).
pub fn limited(limit: u64) -> BoxedFilter<(Bytes,)> {
    limited_as(limit, false)
}

/// [`limited`] that also takes NDJSON (`application/x-ndjson`,
/// `application/ndjson`, `application/jsonl`, `application/x-jsonlines`),
/// for the ingest routes.
pub fn limited_records(limit: u64) -> BoxedFilter<(Bytes,)> {
    limited_as(limit, true)
}

fn limited_as(limit: u64, ndjson: bool) -> BoxedFilter<(Bytes,)> {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::stream())
        .and_then(
            move |declared: Option<u64>, content_type: Option<String>, stream| async move {
                if !(ndjson && is_ndjson(content_type.as_deref())) {
                    check_content_type(content_type.as_deref())?;
                }
                if declared.is_some_and(|n| n > limit) {
                    return Err(warp::reject::custom(ApiError::BodyTooLarge { limit }));
                }
                read_capped(stream, limit)
                    .await
                    .map_err(warp::reject::custom)
            },
        )
        .boxed()
}

fn is_ndjson(content_type: Option<&str>) -> bool {
    let essence = content_type
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
    )
}

fn check_content_type(content_type: Option<&str>) -> Result<(), warp::Rejection> {
    let Some(value) = content_type else {
        return Ok(());
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let json = essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json");
    if json {
        Ok(())
    } else {
        Err(warp::reject::custom(ApiError::UnsupportedMediaType {
            found: value.to_string(),
        }))
    }
}

async fn read_capped<S, B>(stream: S, limit: u64) -> Result<Bytes, ApiError>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        if (body.len() + chunk.remaining()) as u64 > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            body.put_slice(part);
            chunk.advance(n);
        }
    }
    Ok(body.freeze())
}

/// Parses a body as JSON. An empty body, a syntax error or a non-finite
/// number (`NaN`, `Infinity`, which JSON does not have) is a 400 naming
/// the line, column and, when it can be told, the key being read.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadJson {
            detail: "the body is empty; send a JSON object".into(),
            field: None,
        });
    }
    serde_json::from_slice(body).map_err(|e| {
        let offset = byte_offset(body, e.line(), e.column());
        let rest = body.get(offset.saturating_sub(1)..).unwrap_or_default();
        let non_finite = ["NaN", "Infinity", "-Infinity", "inf", "nan"]
            .iter()
            .find(|w| rest.starts_with(w.as_bytes()));
        let detail = match non_finite {
            Some(word) => format!(
                "{word} at line {} column {} is not a JSON number; send a finite number",
                e.line(),
                e.column()
            ),
            None => e.to_string(),
        };
        BadJsonField::find(body, offset.saturating_sub(1)).into_error(detail)
    })
}

/// Byte offset of serde_json's (1-based line, 1-based column).
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in body.split(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.min(l.len());
        }
        offset += l.len() + 1;
    }
    body.len()
}

/// The key whose value starts at a byte offset: scans back over
/// whitespace, a colon and a quoted key (`"tvoc_ppb": NaN`).
struct BadJsonField(Option<String>);

impl BadJsonField {
    fn find(body: &[u8], value_start: usize) -> Self {
        let before = &body[..value_start.min(body.len())];
        let trimmed = before.trim_ascii_end();
        let Some(before_colon) = trimmed.strip_suffix(b":") else {
            return Self(None);
        };
        let Some(key_end) = before_colon.trim_ascii_end().strip_suffix(b"\"") else {
            return Self(None);
        };
        let Some(start) = key_end.iter().rposition(|b| *b == b'"') else {
            return Self(None);
        };
        Self(
            std::str::from_utf8(&key_end[start + 1..])
                .ok()
                .map(str::to_string),
        )
    }

    fn into_error(self, detail: String) -> ApiError {
        ApiError::BadJson {
            detail,
            field: self.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_named_with_its_key() {
        let err = parse_json(br#"{"pm2_5": 1.0, "tvoc_ppb": NaN}"#).unwrap_err();
        assert_eq!(err.field(), Some("tvoc_ppb"));
        assert!(err.to_string().contains("NaN at line 1"), "{err}");
    }

    #[test]
    fn syntax_error_has_position_and_empty_body_is_named() {
        let err = parse_json(b"{\n  \"a\": 1,\n}").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        let err = parse_json(b"  ").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[tokio::test]
    async fn chunked_body_is_cut_at_the_limit() {
        let chunks = || {
            futures::stream::iter(
                (0..4).map(|_| Ok::<_, warp::Error>(Bytes::from_static(&[b'x'; 300]))),
            )
        };
        let whole = read_capped(chunks(), 1200).await.unwrap();
        assert_eq!(whole.len(), 1200);
        let err = read_capped(chunks(), 1199).await.unwrap_err();
        assert!(
            matches!(err, ApiError::BodyTooLarge { limit: 1199 }),
            "{err}"
        );
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(None).is_ok());
        assert!(check_content_type(Some("application/json; charset=utf-8")).is_ok());
        assert!(check_content_type(Some("application/problem+json")).is_ok());
        assert!(check_content_type(Some("text/plain")).is_err());
    }
}
