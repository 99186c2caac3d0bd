//! Prometheus' own checker accepts our files: `promtool check config` (with
//! the rule file it loads), `check rules`, `test rules` (the rules fire on
//! the series in alerts_test.yml), and `check metrics` on a scrape of
//! `/metrics` from a running daemon. promtool comes from Debian's
//! `prometheus` package (scripts/test-deps.sh: ensure_promtool).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test-deps.sh: ensure_promtool)");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn assert_success(what: &str, out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_config_with_its_rule_file() {
    // The config names the rule file where the container mounts it; point
    // it at the repository's copy.
    let dir = tempfile::tempdir().unwrap();
    let config =
        std::fs::read_to_string(repo().join("monitoring/prometheus/prometheus.yml")).unwrap();
    let rules = repo().join("monitoring/prometheus/alerts.yml");
    assert!(config.contains("/etc/prometheus/alerts.yml"));
    let config = config.replace("/etc/prometheus/alerts.yml", &rules.display().to_string());
    let path = dir.path().join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    let out = promtool(&["check", "config", path.to_str().unwrap()], None);
    let text = assert_success("promtool check config", &out);
    assert!(text.contains("1 rule files found"), "{text}");
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    let rules = repo().join("monitoring/prometheus/alerts.yml");
    let out = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    let text = assert_success("promtool check rules", &out);
    assert!(text.contains("SUCCESS"), "{text}");

    let tests = repo().join("monitoring/prometheus/alerts_test.yml");
    let out = promtool(&["test", "rules", tests.to_str().unwrap()], None);
    assert_success("promtool test rules", &out);
}

#[test]
fn promtool_accepts_a_scrape_of_a_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = common::RunningDaemon::start(dir.path(), "daemon:\n  data_dir: data\n", &[]);
    let client = reqwest::blocking::Client::new();
    // Traffic so the web's counters and histograms are in the scrape.
    client.get(daemon.url("/")).send().unwrap();
    client.get(daemon.url("/no-such-page")).send().unwrap();
    client
        .post(daemon.url("/api/predict"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let scrape = client.get(daemon.url("/metrics")).send().unwrap();
    assert_eq!(scrape.status(), 200);
    let scrape = scrape.text().unwrap();
    for name in [
        "smokewatch_build_info",
        "smokewatch_task_state",
        "smokewatch_http_requests_total",
        "smokewatch_http_request_duration_seconds_bucket",
    ] {
        assert!(scrape.contains(name), "{name} in the scrape:\n{scrape}");
    }
    let out = promtool(&["check", "metrics"], Some(scrape.as_bytes()));
    let text = assert_success("promtool check metrics", &out);
    assert!(text.trim().is_empty(), "lint problems:\n{text}");
}
