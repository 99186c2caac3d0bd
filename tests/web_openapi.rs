//! `/api/openapi.json` is valid OpenAPI 3 and matches the server: every
//! documented operation is answered (never 404/405), every route of the
//! server is documented, and paths the server does not have are 404.

mod web_support;

use serde_json::Value;
use smokewatch::web::{self, routes::Route};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

async fn served_document() -> Value {
    let app = web_support::app(None);
    let response = warp::test::request()
        .path("/api/openapi.json")
        .reply(&web::routes(app))
        .await;
    assert_eq!(response.status(), 200);
    serde_json::from_slice(response.body()).expect("JSON")
}

#[tokio::test]
async fn document_parses_as_openapi_3_and_every_ref_resolves() {
    let doc = served_document().await;
    let parsed: openapiv3::OpenAPI =
        serde_json::from_value(doc.clone()).expect("a valid OpenAPI 3.0 document");
    assert!(parsed.openapi.starts_with("3.0"), "{}", parsed.openapi);
    for (path, method, op) in parsed.operations() {
        assert!(
            !op.responses.responses.is_empty(),
            "{method} {path} documents its responses"
        );
        assert!(op.operation_id.is_some(), "{method} {path} has an id");
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').expect("local ref");
        assert!(doc.pointer(pointer).is_some(), "{r} resolves");
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The reference validator (Python `openapi-spec-validator`, installed by
/// scripts/test-deps.sh) checks the document against the OpenAPI 3.0
/// JSON Schema, which the Rust parser above does not fully enforce.
#[tokio::test]
async fn document_passes_the_reference_validator() {
    let doc = served_document().await;
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(sys.stdin))\n\
             print('valid')",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test-deps.sh installs openapi-spec-validator)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
        "openapi-spec-validator refused the document:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn documented_operations_are_exactly_the_server_routes() {
    let doc = served_document().await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let table: BTreeSet<(String, String)> = Route::all()
        .iter()
        .map(|r| (r.method().as_str().to_string(), r.path().to_string()))
        .collect();
    assert_eq!(documented, table);

    // Every documented operation is served: no 404/405 from routing.
    let app = web_support::app(Some(web_support::TOKEN));
    let routes = web::routes(app);
    for (method, path) in &documented {
        if path == "/api/stream" {
            continue; // never ends; tests/web_sse.rs reads it
        }
        let concrete = path.replace("{asset}", "app.css");
        let response = warp::test::request()
            .method(method)
            .path(&concrete)
            .header("authorization", format!("Bearer {}", web_support::TOKEN))
            .header("content-type", "application/json")
            .body("{}")
            .reply(&routes)
            .await;
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {concrete} is documented but answered {status}"
        );
    }
}

#[tokio::test]
async fn paths_the_server_lacks_are_404() {
    let app = web_support::app(None);
    let routes = web::routes(app);
    // Near-misses of real ones.
    for path in [
        "/api/alert",
        "/api/windows/latest",
        "/api/predicts",
        "/static/../Cargo.toml",
        "/static/vendor/uplot/LICENSE",
        "/dashboard",
    ] {
        let response = warp::test::request().path(path).reply(&routes).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("no route"),
            "{body}"
        );
    }
}
