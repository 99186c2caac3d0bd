//! `GET /api/stream` against an in-process daemon over a real socket: a
//! history event then one snapshot a second, resumable with Last-Event-ID,
//! and an open stream never holds up a graceful shutdown.

mod web_support;

use std::time::Duration;
use web_support::read_events;

/// The sum of `series` over its label sets in a Prometheus text scrape
/// (0 when absent).
fn sum_of(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sends_history_then_a_snapshot_each_second_and_ends_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = web_support::daemon(dir.path(), "").await;
    let base = web_support::base_url(&daemon);
    let client = reqwest::Client::new();

    let mut response = client
        .get(format!("{base}/api/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "SSE content type"
    );
    let events = read_events(&mut response, 3).await;
    assert_eq!(events[0].event, "history");
    assert!(events[0].data.is_array());
    assert_eq!(events[1].event, "snapshot");
    assert_eq!(events[2].event, "snapshot");
    let (a, b) = (&events[1].data, &events[2].data);
    assert_eq!(b["seq"].as_u64().unwrap(), a["seq"].as_u64().unwrap() + 1);
    assert_eq!(events[2].id, b["seq"].as_u64(), "event id is the sequence");
    let gap = b["at_ms"].as_i64().unwrap() - a["at_ms"].as_i64().unwrap();
    assert!(
        (500..=2500).contains(&gap),
        "about one second apart: {gap} ms"
    );
    let tasks: Vec<&str> = b["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert!(tasks.contains(&"web/server"), "{tasks:?}");
    assert_eq!(b["web"]["sse_clients"], 1, "{}", b["web"]);
    // The stream runs (default config): its figures are numbers, rooms a
    // list; nothing says "unavailable".
    assert!(b["pipeline"]["unavailable"].is_null(), "{}", b["pipeline"]);
    assert!(b["pipeline"]["readings_processed_total"].as_f64().is_some());
    assert!(b["pipeline"]["readings_per_second"].as_f64().is_some());
    assert!(b["rooms"].is_array());

    // The figures are the stream's own counters, the observations the
    // exported metrics count (this daemon is the only one in the
    // process): a scrape between two snapshots lies between their figures.
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let c = read_events(&mut response, 1).await.remove(0).data;
    for (figure, series) in [
        (
            "readings_processed_total",
            "smokewatch_readings_processed_total",
        ),
        ("dead_letters_total", "smokewatch_dead_letters_total"),
    ] {
        let exported = sum_of(&metrics, series);
        let (before, after) = (
            b["pipeline"][figure].as_f64().unwrap(),
            c["pipeline"][figure].as_f64().unwrap(),
        );
        assert!(
            before <= exported && exported <= after,
            "{figure}: dashboard {before} then {after}, /metrics {exported} in between"
        );
    }

    // A reconnecting client gets only what it missed.
    let seen = b["seq"].as_u64().unwrap();
    let mut resumed = client
        .get(format!("{base}/api/stream"))
        .header("last-event-id", (seen - 1).to_string())
        .send()
        .await
        .unwrap();
    let first = read_events(&mut resumed, 1).await.remove(0);
    assert_eq!(first.event, "history");
    let seqs: Vec<u64> = first
        .data
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seq"].as_u64().unwrap())
        .collect();
    assert!(
        !seqs.is_empty() && seqs.iter().all(|s| *s > seen - 1),
        "{seqs:?} after {}",
        seen - 1
    );

    // Shutdown with two streams open: clean, and the streams end.
    let summary = tokio::time::timeout(Duration::from_secs(15), daemon.stop())
        .await
        .expect("stop does not hang on open streams");
    assert!(summary.is_clean(), "aborted: {:?}", summary.aborted);
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = response.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended after shutdown");
}
