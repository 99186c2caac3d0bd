//! The pages in headless Chromium, driven over WebDriver (fantoccini)
//! against an in-process daemon: the dashboard's numbers move while
//! requests flow, the Predict form shows "no model", a fire result and
//! field errors (its own and the API's), and every page is screenshotted
//! into `target/screenshots/`.
//!
//! The tests share one machine with 2 cores, so they take turns (one
//! Chromium at a time).

mod browser;
mod web_support;

use browser::Browser;
use smokewatch::web::routes::Page;
use std::time::Duration;
use tokio::sync::Mutex;
use web_support::RuleModel;

static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(15);

/// Reads a figure like "1,234" as a number; `None` for "—".
fn number(text: &str) -> Option<f64> {
    text.replace(',', "").trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_numbers_change_while_requests_flow() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = web_support::daemon(dir.path(), "").await;
    daemon
        .shared()
        .model
        .swap(Box::new(RuleModel::new("test-rule-v1")));
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
    let before_requests = number(&browser.text("#stat-requests-total").await).unwrap();
    let before_predictions = number(&browser.text("#stat-predictions").await).unwrap();
    let before_uptime = browser.text("#stat-uptime").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_requests = number(&browser.text("#stat-requests-total").await).unwrap();
    let after_predictions = number(&browser.text("#stat-predictions").await).unwrap();
    let after_uptime = browser.text("#stat-uptime").await;
    let rate = number(&browser.text("#stat-requests-per-second").await).unwrap();
    browser.screenshot("dashboard-live").await;
    traffic.abort();

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
    assert_eq!(browser.text("#stat-model").await, "test-rule-v1");
    assert_eq!(browser.text("#live-status").await, "ok");
    let canvases = browser
        .js("return document.querySelectorAll('#chart-throughput canvas').length")
        .await;
    assert_eq!(canvases, 1, "the throughput chart is drawn");
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
    assert!(
        message.as_str().unwrap().contains("no model is loaded yet"),
        "{message}"
    );
    browser.screenshot("predict-no-model").await;

    daemon
        .shared()
        .model
        .swap(Box::new(RuleModel::new("test-rule-v1")));
    browser.click("#predict-submit").await;
    browser
        .wait_until(
            "the result card",
            "return !document.getElementById('predict-result').classList.contains('hidden')",
            WAIT,
        )
        .await;
    assert_eq!(browser.text("#result-class").await, "FIRE");
    assert_eq!(browser.text("#result-probability").await, "95.0 %");
    assert_eq!(browser.text("#result-model").await, "test-rule-v1");
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
    let daemon = web_support::daemon(dir.path(), "").await;
    daemon
        .shared()
        .model
        .swap(Box::new(RuleModel::new("test-rule-v1")));
    let base = web_support::base_url(&daemon);
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
