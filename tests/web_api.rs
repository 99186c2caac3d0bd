//! The JSON API through warp's test client (no sockets): the ten kinds of
//! bad request each get the right 4xx with a message that names what was
//! wrong, never a 5xx; predictions with and without a model.

mod web_support;

use serde_json::{Value, json};
use smokewatch::app::config::Config;
use smokewatch::web::{self, App};
use web_support::{RuleModel, TOKEN, normal_reading};

struct Answer {
    status: u16,
    body: Value,
    headers: warp::http::HeaderMap,
}

async fn send(app: &App, request: warp::test::RequestBuilder) -> Answer {
    let routes = web::routes(app.clone());
    let response = request.reply(&routes).await;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body()).unwrap_or_else(|e| {
        panic!(
            "status {status}: body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(response.body())
        )
    });
    Answer {
        status,
        body,
        headers: response.headers().clone(),
    }
}

/// The body of a GET as text (pages, assets).
async fn get_text(app: &App, path: &str) -> String {
    let routes = web::routes(app.clone());
    let response = warp::test::request()
        .method("GET")
        .path(path)
        .reply(&routes)
        .await;
    assert_eq!(response.status(), 200, "GET {path}");
    String::from_utf8_lossy(response.body()).into_owned()
}

fn post(path: &str) -> warp::test::RequestBuilder {
    warp::test::request()
        .method("POST")
        .path(path)
        .header("content-type", "application/json")
}

/// Asserts a 4xx with `status`, and that the error message contains
/// every one of `words`; returns the body.
fn refused(answer: &Answer, status: u16, words: &[&str]) -> Value {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = answer.body["error"].as_str().expect("error is a string");
    for w in words {
        assert!(error.contains(w), "{error:?} should mention {w:?}");
    }
    answer.body.clone()
}

#[tokio::test]
async fn bad_json_is_400_with_the_position() {
    let app = web_support::app(None);
    let a = send(&app, post("/api/predict").body("{\"temperature_c\": 20,,}")).await;
    refused(&a, 400, &["not valid JSON", "line 1 column"]);
}

#[tokio::test]
async fn wrong_type_is_422_naming_the_field() {
    let app = web_support::app(None);
    let mut reading = normal_reading();
    reading["tvoc_ppb"] = json!("lots");
    let a = send(&app, post("/api/predict").json(&reading)).await;
    let body = refused(&a, 422, &["tvoc_ppb", "must be a number, not a string"]);
    assert_eq!(body["field"], "tvoc_ppb");
}

#[tokio::test]
async fn missing_fields_are_422_each_named() {
    let app = web_support::app(None);
    let mut reading = normal_reading();
    reading.as_object_mut().unwrap().remove("pm2_5");
    reading.as_object_mut().unwrap().remove("nc0_5");
    let a = send(&app, post("/api/predict").json(&reading)).await;
    let body = refused(&a, 422, &["pm2_5 is required"]);
    assert_eq!(body["field"], "pm2_5");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["pm2_5", "nc0_5"]);
}

#[tokio::test]
async fn nan_is_refused_as_a_number_and_as_a_string() {
    let app = web_support::app(None);
    let text = normal_reading()
        .to_string()
        .replace("\"tvoc_ppb\":86.0", "\"tvoc_ppb\":NaN");
    assert!(text.contains("NaN"), "{text}");
    let a = send(&app, post("/api/predict").body(text)).await;
    let body = refused(&a, 400, &["NaN", "not a JSON number"]);
    assert_eq!(body["field"], "tvoc_ppb");

    let mut reading = normal_reading();
    reading["pm2_5"] = json!("NaN");
    let a = send(&app, post("/api/predict").json(&reading)).await;
    let body = refused(&a, 422, &["pm2_5 must be a finite number"]);
    assert_eq!(body["field"], "pm2_5");
}

#[tokio::test]
async fn huge_body_is_413_before_parsing() {
    let app = web_support::app(None);
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let a = send(&app, post("/api/predict").body(huge)).await;
    refused(&a, 413, &["larger than the limit of 1048576 bytes"]);
}

#[tokio::test]
async fn unknown_route_is_404_naming_it() {
    let app = web_support::app(None);
    let a = send(&app, warp::test::request().path("/api/nope")).await;
    refused(&a, 404, &["no route GET /api/nope"]);
}

#[tokio::test]
async fn wrong_method_is_405() {
    let app = web_support::app(None);
    let a = send(
        &app,
        warp::test::request().method("GET").path("/api/predict"),
    )
    .await;
    refused(&a, 405, &["method GET is not allowed on /api/predict"]);
    let a = send(&app, post("/api/health")).await;
    refused(&a, 405, &["POST", "/api/health"]);
}

#[tokio::test]
async fn admin_routes_need_the_token() {
    let app = web_support::app(Some(TOKEN));
    for path in ["/api/model/reload", "/api/batch/run"] {
        let a = send(&app, post(path)).await;
        refused(&a, 401, &["Authorization: Bearer"]);
        assert!(a.headers.contains_key("www-authenticate"));

        let wrong = post(path).header("authorization", format!("Bearer {TOKEN}x"));
        let a = send(&app, wrong).await;
        refused(&a, 401, &["not the configured web.admin_token"]);
    }
    // The right token passes authentication and reaches the action; here
    // neither a model registry nor a batch scheduler exists (tests/web_admin.rs
    // runs both for real).
    let dir = tempfile::tempdir().unwrap();
    let mut config = smokewatch::app::config::Config::default();
    config.web.admin_token = smokewatch::base::config::Secret::new(TOKEN);
    config.ml.model_dir = dir.path().join("no-registry");
    let app = web_support::app_with(config);
    let right = |path| post(path).header("authorization", format!("Bearer {TOKEN}"));
    let a = send(&app, right("/api/model/reload")).await;
    refused(&a, 409, &["has no current model", "nothing was reloaded"]);
    assert!(
        !dir.path().join("no-registry").exists(),
        "asking does not create the registry"
    );
    let a = send(&app, right("/api/batch/run")).await;
    refused(&a, 503, &["configured but not running"]);
}

#[tokio::test]
async fn admin_routes_answer_503_naming_the_switched_off_subsystem() {
    let mut config = smokewatch::app::config::Config::default();
    config.web.admin_token = smokewatch::base::config::Secret::new(TOKEN);
    config.ml.enabled = false;
    config.batch.enabled = false;
    let app = web_support::app_with(config);
    let right = |path| post(path).header("authorization", format!("Bearer {TOKEN}"));
    let a = send(&app, right("/api/model/reload")).await;
    refused(&a, 503, &["ml.enabled: false"]);
    let a = send(&app, right("/api/batch/run")).await;
    refused(&a, 503, &["batch.enabled: false"]);
}

#[tokio::test]
async fn admin_routes_are_off_without_a_configured_token() {
    let app = web_support::app(None);
    let request = post("/api/model/reload").header("authorization", "Bearer anything");
    let a = send(&app, request).await;
    refused(&a, 403, &["admin endpoints are off", "web.admin_token"]);
}

#[tokio::test]
async fn batch_over_the_limit_is_413_naming_the_count() {
    let app = web_support::app(None);
    let readings = vec![normal_reading(); 10_001];
    let a = send(
        &app,
        post("/api/predict/batch").json(&json!({"readings": readings})),
    )
    .await;
    let body = refused(&a, 413, &["10001 readings", "at most 10000"]);
    assert_eq!(body["field"], "readings");
}

#[tokio::test]
async fn other_bad_input_out_of_range_unknown_field_media_type() {
    let app = web_support::app(None);
    let mut reading = normal_reading();
    reading["humidity_pct"] = json!(140.0);
    reading["temprature"] = json!(20.0);
    let a = send(&app, post("/api/predict").json(&reading)).await;
    let body = refused(&a, 422, &["unknown field `temprature`"]);
    assert_eq!(body["errors"][1]["field"], "humidity_pct");
    let range = body["errors"][1]["error"].as_str().unwrap();
    assert!(
        range.contains("outside the physical range 0..=100"),
        "{range}"
    );

    let a = send(
        &app,
        warp::test::request()
            .method("POST")
            .path("/api/predict")
            .header("content-type", "text/plain")
            .body(normal_reading().to_string()),
    )
    .await;
    refused(&a, 415, &["text/plain", "application/json"]);

    let a = send(
        &app,
        post("/api/predict/batch")
            .json(&json!({"readings": [normal_reading(), {"tvoc_ppb": true}]})),
    )
    .await;
    let body = refused(&a, 422, &["readings[1].temperature_c is required"]);
    assert_eq!(body["field"], "readings[1].temperature_c");
}

#[tokio::test]
async fn predict_without_a_model_is_503_with_a_clear_message() {
    let app = web_support::app(None);
    let a = send(&app, post("/api/predict").json(&normal_reading())).await;
    refused(&a, 503, &["no model is loaded yet"]);
}

#[tokio::test]
async fn predict_with_ml_switched_off_says_so_instead_of_waiting_for_training() {
    let mut config = Config::default();
    config.ml.enabled = false;
    let app = web_support::app_with(config);
    for path in ["/api/predict", "/api/predict/batch"] {
        let body = if path.ends_with("batch") {
            json!({"readings": [normal_reading()]})
        } else {
            normal_reading()
        };
        let a = send(&app, post(path).json(&body)).await;
        let refusal = refused(&a, 503, &["ml.enabled: false"]);
        let text = refusal["error"].as_str().unwrap_or_default();
        assert!(!text.contains("wait for the scheduled training"), "{text}");
    }
}

/// The units of table headers are not upper-cased with the header text:
/// CSS `text-transform: uppercase` turns "µg/m³" into "ΜG/M³" (a Greek
/// capital mu), which is not a unit.
#[tokio::test]
async fn table_header_units_escape_the_upper_case_transform() {
    let app = web_support::app(None);
    let html = get_text(&app, "/").await;
    let header = html
        .split("<table id=\"rooms\">")
        .nth(1)
        .and_then(|t| t.split("</thead>").next())
        .expect("the rooms table has a header");
    assert!(
        header.contains("<span class=\"unit\">µg/m³</span>"),
        "the unit is marked as such: {header}"
    );
    let css = get_text(&app, "/static/app.css").await;
    let rule = css
        .split("th .unit")
        .nth(1)
        .and_then(|r| r.split('}').next())
        .expect("a rule for units in headers");
    assert!(rule.contains("text-transform: none"), "{rule}");
}

#[tokio::test]
async fn predict_scores_through_the_current_model() {
    let app = web_support::app(None);
    app.deps
        .model
        .swap(Box::new(RuleModel::new("test-rule-v1")));
    let a = send(&app, post("/api/predict").json(&normal_reading())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["class"], "no_fire");
    assert_eq!(a.body["fire"], false);
    assert_eq!(a.body["model_version"], "test-rule-v1");

    let mut smoky = normal_reading();
    smoky["tvoc_ppb"] = json!(1208.0);
    smoky["raw_ethanol"] = json!(19430.0);
    let a = send(&app, post("/api/predict").json(&smoky)).await;
    assert_eq!(a.body["class"], "fire", "{}", a.body);
    assert!((a.body["probability"].as_f64().unwrap() - 0.95).abs() < 1e-9);
    assert_eq!(app.stats.counts().predictions_total, 2);
    assert_eq!(app.stats.counts().fire_predictions_total, 1);
}

#[tokio::test]
async fn batch_keeps_request_order_and_series_need_a_time() {
    let app = web_support::app(None);
    app.deps
        .model
        .swap(Box::new(RuleModel::new("test-rule-v1")));
    let mut smoky = normal_reading();
    smoky["tvoc_ppb"] = json!(1208.0);
    smoky["raw_ethanol"] = json!(19430.0);
    let mut later = smoky.clone();
    later["device_id"] = json!("d1");
    later["event_time_ms"] = json!(2000);
    let mut earlier = normal_reading();
    earlier["device_id"] = json!("d1");
    earlier["event_time_ms"] = json!(1000);
    let batch = json!({"readings": [later, normal_reading(), earlier, smoky]});
    let a = send(&app, post("/api/predict/batch").json(&batch)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let classes: Vec<&str> = a.body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["fire", "no_fire", "no_fire", "fire"]);
    assert_eq!(a.body["fire_count"], 2);
    assert_eq!(a.body["model_version"], "test-rule-v1");

    let mut orphan = normal_reading();
    orphan["device_id"] = json!("d1");
    let a = send(
        &app,
        post("/api/predict/batch").json(&json!({"readings": [orphan]})),
    )
    .await;
    let body = refused(&a, 422, &["event_time_ms is required with device_id"]);
    assert_eq!(body["field"], "readings[0].event_time_ms");
}

#[tokio::test]
async fn schema_and_model_describe_what_exists() {
    let app = web_support::app(None);
    let a = send(&app, warp::test::request().path("/api/sensors/schema")).await;
    assert_eq!(a.status, 200);
    let channels = a.body["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 12);
    assert_eq!(channels[2]["key"], "tvoc_ppb");
    assert_eq!(channels[2]["unit"], "ppb");
    assert_eq!(channels[3]["min"], 400.0);
    let kinds: Vec<&str> = a.body["room_sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["temperature", "humidity", "light", "presence"]);
    assert_eq!(a.body["max_batch"], 10_000);

    let a = send(&app, warp::test::request().path("/api/model")).await;
    assert_eq!(a.body["loaded"], false);
    assert_eq!(a.body["current"], Value::Null, "no registry entry");
    app.deps.model.swap(Box::new(RuleModel::new("v7")));
    let a = send(&app, warp::test::request().path("/api/model")).await;
    assert_eq!(a.body["version"], "v7");
    assert_eq!(a.body["features"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn health_keeps_its_200_and_503_semantics() {
    let app = web_support::app(None);
    let task = app.deps.health.register("stream", "stream/validate");
    task.running();
    let a = send(&app, warp::test::request().path("/api/health")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"], "ok");
    task.set(
        smokewatch::supervisor::TaskState::Failed,
        Some("input closed".into()),
    );
    for path in ["/health", "/api/health"] {
        let a = send(&app, warp::test::request().path(path)).await;
        assert_eq!(a.status, 503);
        assert_eq!(
            a.body["reasons"][0],
            "stream/validate is failed: input closed"
        );
    }
}

#[tokio::test]
async fn with_the_stream_off_alerts_windows_and_dead_letters_say_so() {
    let mut config = smokewatch::app::config::Config::default();
    config.stream.enabled = false;
    let app = web_support::app_with(config);
    for path in ["/api/alerts", "/api/windows", "/api/dead-letters"] {
        let a = send(&app, warp::test::request().path(path)).await;
        refused(&a, 503, &["stream.enabled: false"]);
    }
    let a = send(&app, warp::test::request().path("/api/alerts?bogus=1")).await;
    refused(&a, 400, &["unknown parameter `bogus`"]);
    assert_eq!(a.body["field"], "query.bogus");
    let a = send(
        &app,
        warp::test::request().path("/api/dead-letters?topic=reading"),
    )
    .await;
    refused(
        &a,
        400,
        &["topic=\"reading\" is not one of readings, room_events"],
    );
    assert_eq!(a.body["field"], "query.topic");
    let routes = web::routes(app.clone());
    for path in ["/", "/alerts"] {
        let page = warp::test::request().path(path).reply(&routes).await;
        assert_eq!(page.status(), 200);
        let html = String::from_utf8_lossy(page.body());
        assert!(
            html.contains("id=\"stream-off\"") && html.contains("stream.enabled: false"),
            "{path} says the stream is off"
        );
    }
}
