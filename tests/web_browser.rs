//! The pages in headless Chromium, driven over WebDriver (fantoccini)
//! against an in-process daemon: the dashboard's numbers move with the
//! real stream running (tests/web_pipeline), the Predict form shows "no
//! model", then a fire result from a model trained in the fixture, and
//! field errors (its own and the API's); the Windows page's room × sensor
//! table follows the stream's windows live; every page, with the
//! pipeline's real content, is screenshotted into `target/screenshots/`.
//!
//! The tests share one machine with 2 cores, so they take turns (one
//! Chromium at a time).

mod browser;
mod web_pipeline;
mod web_support;

use browser::Browser;
use smokewatch::web::routes::Page;
use std::time::Duration;
use tokio::sync::Mutex;

static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(15);

/// Reads a figure like "1,234" as a number; `None` for "—".
fn number(text: &str) -> Option<f64> {
    text.replace(',', "").trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_numbers_change_with_the_stream_running() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, trained) = web_pipeline::start(dir.path()).await;
    let base = web_support::base_url(&daemon);
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_until(
            "the first snapshot on the dashboard",
            "return document.getElementById('stat-requests-total').textContent !== '—'",
            WAIT,
        )
        .await;

    // Traffic for the 3 s: 10 predictions a second through the API.
    let traffic = {
        let base = base.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..40 {
                let _ = client
                    .post(format!("{base}/api/predict"))
                    .json(&web_support::normal_reading())
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    browser
        .wait_until(
            "readings flowing through the stream",
            "return Number(document.getElementById('stat-readings-total').textContent.replace(/,/g, '')) > 0",
            WAIT,
        )
        .await;
    let before_requests = number(&browser.text("#stat-requests-total").await).unwrap();
    let before_predictions = number(&browser.text("#stat-predictions").await).unwrap();
    let before_uptime = browser.text("#stat-uptime").await;
    let before_readings = number(&browser.text("#stat-readings-total").await).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_requests = number(&browser.text("#stat-requests-total").await).unwrap();
    let after_predictions = number(&browser.text("#stat-predictions").await).unwrap();
    let after_uptime = browser.text("#stat-uptime").await;
    let after_readings = number(&browser.text("#stat-readings-total").await).unwrap();
    let rate = number(&browser.text("#stat-requests-per-second").await).unwrap();
    let readings_rate = number(&browser.text("#stat-readings-per-second").await).unwrap();
    traffic.abort();

    // The stream's figures: readings processed grow, at a real rate;
    // dead letters, lag and open alerts are numbers, not placeholders.
    assert!(
        after_readings > before_readings,
        "readings processed moved: {before_readings} -> {after_readings}"
    );
    assert!(readings_rate > 0.0, "readings/s: {readings_rate}");
    for id in [
        "#stat-dead-letters",
        "#stat-consumer-lag",
        "#stat-open-alerts",
    ] {
        let text = browser.text(id).await;
        assert!(number(&text).is_some(), "{id} shows a number: {text:?}");
    }
    browser
        .wait_until(
            "the median end-to-end latency",
            "return document.getElementById('stat-latency').textContent !== '—'",
            WAIT,
        )
        .await;
    // Live rooms (smoke level, light, presence) and the window charts.
    browser
        .wait_until(
            "rooms in the table",
            "return document.querySelectorAll('#rooms tbody tr').length >= 4",
            WAIT,
        )
        .await;
    browser
        .wait_until(
            "a closed window in the chart",
            "return document.getElementById('windows-empty').classList.contains('hidden')",
            Duration::from_secs(60),
        )
        .await;
    let rooms = daemon.handles().live.rooms();
    let first = browser
        .js("const r = document.querySelector('#rooms tbody tr'); return r.dataset.room")
        .await;
    assert!(
        rooms
            .iter()
            .any(|r| format!("{}/{}", r.home, r.room) == first.as_str().unwrap()),
        "{first} is a room of the stream"
    );
    browser.screenshot("dashboard-live").await;

    assert!(
        after_requests > before_requests,
        "requests since start moved: {before_requests} -> {after_requests}"
    );
    assert!(
        after_predictions >= before_predictions + 10.0,
        "predictions served moved: {before_predictions} -> {after_predictions}"
    );
    assert!(rate > 0.0, "requests/s shows the traffic: {rate}");
    assert_ne!(before_uptime, after_uptime, "uptime ticks");
    assert_eq!(
        browser.text("#stat-model").await,
        trained.champion.version.as_str()
    );
    for chart in [
        "chart-throughput",
        "chart-window-pm2_5",
        "chart-window-temperature_c",
    ] {
        let canvases = browser
            .js(&format!(
                "return document.querySelectorAll('#{chart} canvas').length"
            ))
            .await;
        assert_eq!(canvases, 1, "{chart} is drawn");
    }
    browser.close().await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_form_shows_no_model_then_a_fire_result() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = web_support::daemon(dir.path(), "").await;
    let base = web_support::base_url(&daemon);
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/predict")).await;

    browser.click("#preset-smouldering").await;
    assert_eq!(
        browser
            .js("return document.getElementById('input-tvoc_ppb').value")
            .await,
        "1208"
    );
    browser.click("#predict-submit").await;
    let message = browser
        .wait_until(
            "the no-model message",
            "const m = document.getElementById('predict-message'); \
             return m.classList.contains('hidden') ? '' : m.textContent",
            WAIT,
        )
        .await;
    // The fixture's daemon runs with ML switched off: the page says so
    // (not "wait for the scheduled training", which never comes).
    assert!(
        message.as_str().unwrap().contains("ml.enabled: false"),
        "{message}"
    );
    browser.screenshot("predict-no-model").await;

    // A real model: a random forest trained in the fixture on generated
    // readings, loaded from its registry.
    let models = dir.path().join("models");
    let version = {
        let models = models.clone();
        tokio::task::spawn_blocking(move || web_pipeline::train_registry(&models))
            .await
            .unwrap()
            .champion
            .version
    };
    let model = smokewatch::ml::Registry::open(&models)
        .unwrap()
        .load(&version)
        .unwrap();
    daemon.handles().model.swap(Box::new(model));
    browser.click("#predict-submit").await;
    browser
        .wait_until(
            "the result card",
            "return !document.getElementById('predict-result').classList.contains('hidden')",
            WAIT,
        )
        .await;
    assert_eq!(browser.text("#result-class").await, "FIRE");
    let shown = browser.text("#result-probability").await;
    let probability: f64 = shown.trim_end_matches(" %").parse().unwrap();
    assert!(
        (50.0..=100.0).contains(&probability),
        "fire probability {shown}"
    );
    assert_eq!(browser.text("#result-model").await, version);
    browser.screenshot("predict-fire").await;

    browser.click("#preset-normal").await;
    browser.click("#predict-submit").await;
    browser
        .wait_until(
            "the no-fire verdict",
            "return document.getElementById('result-class').textContent === 'No fire'",
            WAIT,
        )
        .await;
    browser.close().await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_field_and_api_field_errors_show_on_their_fields() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = web_support::daemon(dir.path(), "").await;
    let base = web_support::base_url(&daemon);
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/predict")).await;

    browser.click("#preset-normal").await;
    browser
        .client
        .find(fantoccini::Locator::Css("#input-pm2_5"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    let requests_before = daemon_requests(&base).await;
    browser.click("#predict-submit").await;
    assert_eq!(
        browser.text("#error-pm2_5").await,
        "Required: a number from 0 to 100000."
    );
    assert!(
        browser
            .js("return document.getElementById('field-pm2_5').classList.contains('invalid')")
            .await
            .as_bool()
            .unwrap()
    );
    assert_eq!(
        browser.text("#error-tvoc_ppb").await,
        "",
        "other fields are fine"
    );
    assert_eq!(
        browser.text("#predict-message").await,
        "Please correct the highlighted fields."
    );
    assert_eq!(
        daemon_requests(&base).await,
        requests_before,
        "nothing was sent to /api/predict"
    );
    browser.screenshot("predict-empty-field").await;

    // A value the page lets through but the API refuses: the API's field
    // error lands on the field. (The page's limit is loosened on purpose.)
    browser
        .js("document.getElementById('input-humidity_pct').dataset.max = '1000'; return true")
        .await;
    browser.type_into("#input-humidity_pct", "140").await;
    browser.type_into("#input-pm2_5", "1.5").await;
    assert_eq!(
        browser.text("#error-pm2_5").await,
        "",
        "typing clears the error"
    );
    browser.click("#predict-submit").await;
    let error = browser
        .wait_until(
            "the API's field error",
            "return document.getElementById('error-humidity_pct').textContent",
            WAIT,
        )
        .await;
    assert!(
        error
            .as_str()
            .unwrap()
            .contains("140 % is outside the physical range 0..=100 %"),
        "{error}"
    );
    browser.close().await;
    daemon.stop().await;
}

/// Open SSE streams, from `/metrics`.
async fn sse_clients(base: &str) -> u64 {
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("smokewatch_http_sse_clients "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// `POST /api/predict` requests answered so far, from `/metrics`.
async fn daemon_requests(base: &str) -> u64 {
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("smokewatch_http_requests_total{") && l.contains("route=\"/api/predict\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_and_is_screenshotted() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _trained) = web_pipeline::start(dir.path()).await;
    let base = web_support::base_url(&daemon);
    // Real content for the Batch and Alerts pages: a finished batch run
    // over the ingested CSV, and alerts raised by the stream.
    let batch = daemon.handles().batch.clone();
    web_pipeline::wait_for("the CSV ingest", Duration::from_secs(60), || {
        !batch.snapshot().recent_ingests.is_empty()
    })
    .await;
    let ticket = batch
        .trigger(smokewatch::batch::Trigger::Api)
        .expect("a batch run starts");
    let run = ticket.wait().await.expect("the run ends");
    assert_eq!(run.status, smokewatch::batch::RunStatus::Success);
    let live = daemon.handles().live.clone();
    web_pipeline::wait_for("an alert", Duration::from_secs(90), || {
        !live.recent_alerts().is_empty()
    })
    .await;
    let browser = Browser::start().await;
    for page in Page::ALL {
        browser.goto(&format!("{base}{}", page.path())).await;
        browser
            .wait_until(
                "the live status",
                "return document.getElementById('live-status').textContent === 'ok'",
                WAIT,
            )
            .await;
        let title = browser.js("return document.title").await;
        assert_eq!(title, format!("{} · smokewatch", page.title()));
        let content = match page {
            Page::Alerts => {
                Some("return document.querySelectorAll('#alerts-table tbody tr').length > 0")
            }
            Page::Model => {
                Some("return document.querySelectorAll('#model-history tbody tr').length === 2")
            }
            Page::Batch => Some(
                "return document.querySelector('#batch-runs tr[data-status=\"success\"]') !== null && document.getElementById('quality-score') !== null",
            ),
            Page::Dashboard => {
                Some("return document.querySelectorAll('#rooms tbody tr').length > 0")
            }
            Page::Windows => {
                Some("return document.querySelectorAll('#room-windows tbody tr').length > 0")
            }
            _ => None,
        };
        if let Some(script) = content {
            browser
                .wait_until(&format!("the real content of {}", page.id()), script, WAIT)
                .await;
        }
        let active = browser.text("nav a.active").await;
        assert_eq!(active, page.title());
        let errors = browser
            .js("return performance.getEntriesByType('resource')\
                 .filter(r => r.responseStatus >= 400).map(r => r.name)")
            .await;
        assert_eq!(
            errors,
            serde_json::json!([]),
            "every asset loads on {}",
            page.id()
        );
        let path = browser.screenshot(&format!("page-{}", page.id())).await;
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(
            size > 10_000,
            "{} is a real picture ({size} bytes)",
            path.display()
        );
    }
    // Pages left behind gave their live stream back: only the current
    // page's is open (browsers allow ~6 connections per host).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let open = sse_clients(&base).await;
        if open == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{open} SSE streams still open after visiting every page"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The Health page lists the web server's task, live.
    browser.goto(&format!("{base}/status")).await;
    browser
        .wait_until(
            "the web task row",
            "return document.querySelector('#health-tasks tr[data-task=\"web/server\"]') !== null",
            WAIT,
        )
        .await;
    browser.close().await;
    daemon.stop().await;
}

/// The Batch page's run button: the admin token typed into the page, a
/// click, and the run's result (its row, the per-device table) appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_run_button_starts_a_run_and_its_result_appears() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _trained) = web_pipeline::start(dir.path()).await;
    let base = web_support::base_url(&daemon);
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/batch")).await;
    browser.type_into("#batch-token", web_pipeline::TOKEN).await;
    browser.click("#batch-run-button").await;
    let run_id = browser
        .wait_until(
            "the run to be accepted",
            "return sessionStorage.getItem('smokewatch-batch-run') || false",
            WAIT,
        )
        .await;
    let run_id = run_id.as_str().expect("a run id").to_string();
    browser
        .wait_until(
            "the run's result on the reloaded page",
            &format!(
                "return document.querySelector('#batch-runs tr[data-run=\"{run_id}\"][data-status=\"success\"]') !== null \
                 && document.querySelectorAll('#kpi-devices-table tbody tr').length > 0"
            ),
            Duration::from_secs(120),
        )
        .await;
    assert!(
        daemon
            .handles()
            .batch
            .history()
            .iter()
            .any(|r| r.run_id == run_id),
        "the daemon ran {run_id}"
    );
    browser.screenshot("batch-run-button").await;
    browser.close().await;
    daemon.stop().await;
}

/// 2 homes × 2 rooms at 60× real time, windows emitted every second.
/// Event time starts in the past: from now it would run past
/// `stream.max_future_skew` within seconds and be dead-lettered.
const WINDOWS_DAEMON: &str = "batch:
  enabled: false
simulator:
  homes: 2
  rooms_per_home: 2
  time_acceleration: 60
  start_time: 2025-01-01T00:00:00Z
stream:
  window:
    trigger_interval: 1s
";

/// The room × sensor table's cells, by series: start, state, count, avg,
/// min, max, as the page shows them.
const WINDOW_CELLS: &str = "const out = {}; \
    document.querySelectorAll('#room-windows tbody tr').forEach(tr => { \
      out[tr.dataset.series] = Array.from(tr.querySelectorAll('td[data-field]')) \
        .filter(td => ['start', 'state', 'count', 'avg', 'min', 'max'].includes(td.dataset.field)) \
        .map(td => td.textContent); }); \
    return out;";

/// The Windows page: a row per room × sensor with the stream's numbers,
/// which change while the stream runs (and the changes are highlighted);
/// the sensor filter keeps only that sensor's rows; detectors × channels
/// below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_page_shows_room_sensor_windows_that_change_live() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = web_support::daemon(dir.path(), WINDOWS_DAEMON).await;
    let base = web_support::base_url(&daemon);
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/windows")).await;
    // 2 homes × 2 rooms, 4 room sensors each.
    browser
        .wait_until(
            "a row for every room × sensor",
            "return document.querySelectorAll('#room-windows tbody tr').length >= 16",
            Duration::from_secs(60),
        )
        .await;
    let before = browser.js(WINDOW_CELLS).await;
    let before = before.as_object().expect("rows by series").clone();
    let rooms = daemon.handles().live.rooms();
    for (series, cells) in &before {
        let parts: Vec<&str> = series.split('/').collect();
        assert_eq!(parts.len(), 3, "{series}");
        assert!(
            rooms
                .iter()
                .any(|r| r.home.as_str() == parts[0] && r.room.as_str() == parts[1]),
            "{series} is a room of the stream"
        );
        assert!(
            ["temperature", "humidity", "light", "presence"].contains(&parts[2]),
            "{series} is a room sensor"
        );
        let cells: Vec<&str> = cells
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let count: u64 = cells[2]
            .parse()
            .unwrap_or_else(|_| panic!("count {cells:?}"));
        assert!(count > 0, "{series}: a window holds values: {cells:?}");
        let [avg, min, max] = [cells[3], cells[4], cells[5]].map(|c| {
            c.parse::<f64>()
                .unwrap_or_else(|_| panic!("{series}: {c:?} is a number"))
        });
        assert!(min <= avg && avg <= max, "{series}: {cells:?}");
    }

    // The stream runs on: the same series show other windows or other
    // figures, and the cells that changed are highlighted.
    let script = format!(
        "const before = {}; const now = (function () {{ {WINDOW_CELLS} }})(); \
         return Object.keys(before).filter(k => now[k] && JSON.stringify(now[k]) !== JSON.stringify(before[k])).length;",
        serde_json::Value::Object(before.clone())
    );
    let changed = browser
        .wait_until(
            "the table's values to change",
            &format!("const n = (function () {{ {script} }})(); return n >= 4 ? n : false;"),
            Duration::from_secs(60),
        )
        .await;
    assert!(changed.as_u64().unwrap() >= 4, "{changed}");
    browser
        .wait_until(
            "a highlighted change",
            "return document.querySelectorAll('#room-windows td.changed').length > 0",
            WAIT,
        )
        .await;
    let updates: u64 = browser
        .js("return document.getElementById('window-filters').dataset.updates")
        .await
        .as_str()
        .and_then(|u| u.parse().ok())
        .expect("the page records the batches it has seen");
    assert!(updates > 0);
    browser.screenshot("windows-live").await;

    // Detectors × channels: a row per detector, numbers in its cells.
    let devices = browser
        .js("return Array.from(document.querySelectorAll('#device-windows tbody tr')).map(tr => tr.dataset.device)")
        .await;
    let devices = devices.as_array().unwrap();
    assert!(!devices.is_empty(), "detector rows");
    let numbers = browser
        .js("return Array.from(document.querySelectorAll('#device-windows tbody td.num')).filter(td => !isNaN(parseFloat(td.textContent))).length")
        .await;
    assert!(
        numbers.as_u64().unwrap() >= devices.len() as u64,
        "{numbers}"
    );

    // The sensor filter: only that sensor's rows remain.
    browser
        .js(
            "const s = document.getElementById('filter-sensor'); s.value = 'light'; \
             s.dispatchEvent(new Event('change', { bubbles: true })); return true",
        )
        .await;
    browser
        .wait_until(
            "only light rows",
            "const rows = Array.from(document.querySelectorAll('#room-windows tbody tr')); \
             return rows.length >= 4 && rows.every(tr => tr.dataset.series.endsWith('/light'))",
            WAIT,
        )
        .await;
    browser.close().await;
    daemon.stop().await;
}
