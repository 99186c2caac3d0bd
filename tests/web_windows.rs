//! The current windows over HTTP (`warp::test`, no daemon): what
//! `/api/windows?current=true` answers after the stream recorded results,
//! and the Windows page rendered by the server from the same view (useful
//! before its script runs, and without JavaScript).

mod web_support;

use serde_json::Value;
use smokewatch::schema::{Channel, EventTime, RoomSensorKind};
use smokewatch::stream::KeyKind;
use smokewatch::stream::sinks::{Measure, WindowName, WindowResult};
use smokewatch::web::{self, App};

fn window(kind: KeyKind, measure: Measure, start: i64, avg: f64, is_final: bool) -> WindowResult {
    WindowResult {
        window: WindowName::Tumbling,
        key_kind: kind,
        device: (kind == KeyKind::Device).then(|| "h1-kitchen-1".into()),
        home: "h1".into(),
        room: "kitchen".into(),
        measure,
        start: EventTime(start),
        end: EventTime(start + 60_000),
        count: 3,
        avg,
        min: avg - 0.5,
        max: avg + 0.5,
        stddev: 0.1,
        last: avg,
        is_final,
    }
}

const TEMPERATURE: Measure = Measure::Sensor(RoomSensorKind::Temperature);

async fn get(app: &App, path: &str) -> (u16, String) {
    let response = warp::test::request()
        .path(path)
        .reply(&web::routes(app.clone()))
        .await;
    (
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// A stream that emitted: an update of the first window, its final
/// result with the next window's first update, then as many device
/// windows as the ring of recent results keeps.
fn app_after_three_triggers() -> App {
    let app = web_support::app(None);
    let live = &app.deps.live;
    live.record_windows(&[window(KeyKind::RoomSensor, TEMPERATURE, 0, 20.0, false)]);
    live.record_windows(&[
        window(KeyKind::RoomSensor, TEMPERATURE, 0, 20.25, true),
        window(KeyKind::RoomSensor, TEMPERATURE, 60_000, 21.5, false),
    ]);
    let devices: Vec<WindowResult> = (0..1000)
        .map(|i| {
            window(
                KeyKind::Device,
                Measure::Channel(Channel::Pm2_5),
                i * 60_000,
                i as f64,
                true,
            )
        })
        .collect();
    live.record_windows(&devices);
    app
}

#[tokio::test]
async fn current_windows_keep_every_series_whatever_the_ring_holds() {
    let app = app_after_three_triggers();
    let (status, body) = get(&app, "/api/windows?key=room_sensor").await;
    assert_eq!(status, 200);
    let recent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        recent["matched"], 0,
        "the ring (1000 results) holds only device windows now"
    );

    let (status, body) = get(&app, "/api/windows?current=true&key=room_sensor").await;
    assert_eq!(status, 200, "{body}");
    let current: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(current["updates"], 3);
    let rows: Vec<(i64, f64, bool)> = current["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["start"].as_i64().unwrap(),
                w["avg"].as_f64().unwrap(),
                w["is_final"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [(60_000, 21.5, false), (0, 20.25, true)]);

    let (status, body) = get(&app, "/api/windows?current=true&key=device").await;
    assert_eq!(status, 200);
    let devices: Value = serde_json::from_str(&body).unwrap();
    let starts: Vec<i64> = devices["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["start"].as_i64().unwrap())
        .collect();
    assert_eq!(starts, [999 * 60_000], "the newest, which is also closed");

    let (status, body) = get(&app, "/api/windows?current=yes").await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["field"], "query.current");
    assert!(
        error["error"].as_str().unwrap().contains("\"yes\""),
        "{error}"
    );
}

#[tokio::test]
async fn the_windows_page_is_rendered_with_the_current_windows() {
    let app = app_after_three_triggers();
    let (status, html) = get(&app, "/windows").await;
    assert_eq!(status, 200);
    let row = html
        .lines()
        .find(|l| l.contains("data-series=\"h1/kitchen/temperature\""))
        .unwrap_or_else(|| panic!("a row for the room sensor:\n{html}"));
    for cell in [
        "data-state=\"open\"",
        "<td data-field=\"start\">1970-01-01 00:01:00</td>",
        "<td class=\"num\" data-field=\"count\">3</td>",
        "<td class=\"num\" data-field=\"avg\">21.50</td>",
        "<td class=\"num\" data-field=\"min\">21.00</td>",
        "<td class=\"num\" data-field=\"max\">22.00</td>",
        "<td class=\"num\" data-field=\"closed_avg\">20.25</td>",
    ] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    assert!(
        html.contains("<tr data-device=\"h1-kitchen-1\">"),
        "a detector row"
    );
    assert!(html.contains("<option value=\"h1/kitchen\">h1/kitchen</option>"));
    assert!(
        html.contains("<a href=\"/windows\" class=\"active\""),
        "in the nav"
    );

    let mut config = smokewatch::app::config::Config::default();
    config.stream.enabled = false;
    let (status, html) = get(&web_support::app_with(config), "/windows").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("id=\"stream-off\"") && html.contains("stream.enabled: false"),
        "the page says the stream is off"
    );
}
