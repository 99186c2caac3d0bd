//! The Model, Batch and Alerts views and the admin endpoints against a
//! real pipeline (tests/web_pipeline): a model trained here and a rejected
//! challenger in the registry, the simulator and stream running, the batch
//! layer ingesting a CSV. `POST /api/model/reload` serves the registry's
//! newer current model; `POST /api/batch/run` runs the job through the
//! batch scheduler; `/api/alerts` and `/api/windows` filter what the
//! stream produced.

mod web_pipeline;

use serde_json::Value;
use smokewatch::app::daemon::Daemon;
use smokewatch::batch::RunStatus;
use std::time::Duration;
use web_pipeline::{TOKEN, wait_for};

async fn get_json(client: &reqwest::Client, url: String) -> (u16, Value) {
    let r = client.get(&url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn page(client: &reqwest::Client, url: String) -> String {
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_batch_and_alerts_come_from_the_running_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, trained) = web_pipeline::start(dir.path()).await;
    let base = web_pipeline::base_url(&daemon);
    let client = reqwest::Client::new();
    check_model(&client, &base, &trained).await;
    check_reload(&daemon, &client, &base, dir.path(), &trained).await;
    check_batch_run(&daemon, &client, &base).await;
    check_alerts_and_windows(&daemon, &client, &base).await;
    daemon.stop().await;
}

/// GET /api/model and the Model page: the registry's truth.
async fn check_model(client: &reqwest::Client, base: &str, trained: &web_pipeline::Trained) {
    let champion = trained.champion.version.clone();
    let rejected = trained.rejected.version.clone();
    let (status, model) = get_json(client, format!("{base}/api/model")).await;
    assert_eq!(status, 200);
    assert_eq!(model["version"], champion.as_str());
    let metrics = &model["current"]["metrics"];
    assert_eq!(metrics["f1"].as_f64().unwrap(), trained.champion.metrics.f1);
    assert_eq!(
        metrics["confusion"]["true_positive"].as_u64().unwrap(),
        trained.champion.metrics.confusion.true_positive
    );
    assert_eq!(
        metrics["roc_auc"].as_f64(),
        trained.champion.metrics.roc_auc,
        "ROC-AUC as evaluated (null when the held-out rows hold one class)"
    );
    assert!(
        !model["current"]["feature_importances"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let history = model["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    let outcome = |v: &str| {
        history
            .iter()
            .find(|r| r["version"] == v)
            .map(|r| r["decision"]["outcome"].clone())
    };
    assert_eq!(outcome(&champion), Some("promoted".into()));
    assert_eq!(outcome(&rejected), Some("rejected".into()));
    let html = page(client, format!("{base}/model")).await;
    assert!(html.contains(&format!("id=\"model-version\">{champion}<")));
    assert!(html.contains(&format!(
        "id=\"metric-f1\">{:.4}<",
        trained.champion.metrics.f1
    )));
    assert!(html.contains(&format!(
        "id=\"cm-tp\">{}<",
        trained.champion.metrics.confusion.true_positive
    )));
    assert!(html.contains(&format!(
        "data-version=\"{rejected}\" data-outcome=\"rejected\""
    )));
    assert!(html.contains("1 rejected challengers"), "history summary");

    // The calibration table: every held-out row in one of ten bins, the
    // page showing each bin's counts as evaluated.
    let bins = metrics["calibration"].as_array().unwrap();
    assert_eq!(bins.len(), 10);
    let binned: u64 = bins.iter().map(|b| b["rows"].as_u64().unwrap()).sum();
    assert_eq!(binned, trained.champion.metrics.rows);
    assert!(html.contains("id=\"calibration\""));
    for bin in &trained.champion.metrics.calibration {
        let observed = bin
            .observed_fire_share
            .map_or("—".to_string(), |x| format!("{:.1} %", x * 100.0));
        let row = format!(
            "<td class=\"mono\">{:.1}–{:.1}</td><td class=\"num\">{}</td>",
            bin.lower, bin.upper, bin.rows
        );
        assert!(html.contains(&row), "{row}");
        assert!(html.contains(&format!(
            "{row}<td class=\"num\">{}",
            match bin.mean_predicted {
                Some(p) => format!("{:.1} %", p * 100.0),
                None => "—".into(),
            }
        )));
        assert!(html.contains(&format!("<td class=\"num\">{observed}</td></tr>")));
    }
}

/// POST /api/model/reload serves the registry's newer current model.
async fn check_reload(
    daemon: &Daemon,
    client: &reqwest::Client,
    base: &str,
    dir: &std::path::Path,
    trained: &web_pipeline::Trained,
) {
    let champion = trained.champion.version.clone();
    let models = dir.join("data").join("models");
    let newer = tokio::task::spawn_blocking(move || web_pipeline::train_newer(&models))
        .await
        .unwrap();
    assert_eq!(
        daemon.handles().model.version().as_deref(),
        Some(champion.as_str()),
        "not picked up before the reload (ml.reload_interval is 1h)"
    );
    let reload = client
        .post(format!("{base}/api/model/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    let body: Value = reload.json().await.unwrap();
    assert_eq!(body["version"], newer.version.as_str());
    assert_eq!(body["previous"], champion.as_str());
    assert_eq!(body["changed"], true);
    assert_eq!(
        daemon.handles().model.version().as_deref(),
        Some(newer.version.as_str())
    );
    let wrong = client
        .post(format!("{base}/api/model/reload"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

/// POST /api/batch/run runs the job on the ingested CSV.
async fn check_batch_run(daemon: &Daemon, client: &reqwest::Client, base: &str) {
    let batch = daemon.handles().batch.clone();
    wait_for("the CSV to be ingested", Duration::from_secs(60), || {
        !batch.snapshot().recent_ingests.is_empty()
    })
    .await;
    let run = client
        .post(format!("{base}/api/batch/run"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 202);
    let run: Value = run.json().await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    wait_for("the batch run to end", Duration::from_secs(120), || {
        batch
            .history()
            .iter()
            .any(|r| r.run_id == run_id && r.status != RunStatus::Running)
    })
    .await;
    let record = batch
        .history()
        .into_iter()
        .find(|r| r.run_id == run_id)
        .unwrap();
    assert_eq!(record.status, RunStatus::Success, "{:?}", record.error);
    assert!(record.rows >= 2_000, "{record:?}");
    let html = page(client, format!("{base}/batch")).await;
    assert!(html.contains(&format!("data-run=\"{run_id}\" data-status=\"success\"")));
    let score = record.quality_score.unwrap();
    assert!(html.contains(&format!("id=\"quality-score\">{score:.4}<")));
    assert!(html.contains("id=\"kpi-alarm-rate\""));
}

/// /api/alerts and /api/windows: what the stream produced, filtered.
async fn check_alerts_and_windows(daemon: &Daemon, client: &reqwest::Client, base: &str) {
    let live = daemon.handles().live.clone();
    wait_for(
        "alerts and closed room windows",
        Duration::from_secs(90),
        || {
            !live.recent_alerts().is_empty()
                && live
                    .recent_windows()
                    .iter()
                    .any(|w| w.is_final && w.key_kind == smokewatch::stream::KeyKind::Room)
        },
    )
    .await;
    let (status, all) = get_json(client, format!("{base}/api/alerts")).await;
    assert_eq!(status, 200);
    let alerts = all["alerts"].as_array().unwrap();
    assert!(!alerts.is_empty());
    let first = &alerts[0];
    let (home, room, rule, severity) = (
        first["home"].as_str().unwrap(),
        first["room"].as_str().unwrap(),
        first["rule"].as_str().unwrap(),
        first["severity"].as_str().unwrap(),
    );
    let (_, filtered) = get_json(
        client,
        format!("{base}/api/alerts?home={home}&room={room}&rule={rule}&severity={severity}"),
    )
    .await;
    let filtered = filtered["alerts"].as_array().unwrap();
    assert!(filtered.iter().any(|a| a["id"] == first["id"]));
    for a in filtered {
        assert_eq!(
            (&a["home"], &a["room"], &a["rule"], &a["severity"]),
            (
                &first["home"],
                &first["room"],
                &first["rule"],
                &first["severity"]
            )
        );
    }
    let (_, open) = get_json(client, format!("{base}/api/alerts?state=open")).await;
    for a in open["alerts"].as_array().unwrap() {
        assert_eq!(a["state"], "open");
    }
    // The per-rule summary, whatever the filter: every open alert's rule
    // with at least its open count, and opened counts that cover them.
    let rules = open["rules"].as_array().unwrap();
    for a in open["alerts"].as_array().unwrap() {
        let line = rules
            .iter()
            .find(|r| r["rule"] == a["rule"])
            .unwrap_or_else(|| panic!("{} in the summary {rules:?}", a["rule"]));
        let n = |k: &str| line[k].as_u64().unwrap();
        let shown = open["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["rule"] == a["rule"])
            .count() as u64;
        assert!(n("open") >= shown, "{line}");
        assert!(n("opened_since_start") >= n("opened_today"), "{line}");
    }
    // The simulator's ground truth judges resolved alerts: the summary
    // gives each judged rule its false-positive rate.
    wait_for(
        "an alert judged against the ground truth",
        Duration::from_secs(90),
        || live.alert_summary().iter().any(|r| r.judged > 0),
    )
    .await;
    let (_, all) = get_json(client, format!("{base}/api/alerts")).await;
    let judged: Vec<&Value> = all["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["judged"].as_u64().unwrap() > 0)
        .collect();
    assert!(!judged.is_empty(), "{}", all["rules"]);
    for line in &judged {
        let (n, f) = (
            line["judged"].as_u64().unwrap(),
            line["false_alerts"].as_u64().unwrap(),
        );
        assert!(f <= n, "{line}");
        let rate = line["false_positive_rate"].as_f64().unwrap();
        assert!((rate - f as f64 / n as f64).abs() < 1e-12, "{line}");
    }
    let html = page(client, format!("{base}/alerts")).await;
    assert!(
        html.contains(&format!("<td>{rule}</td>")),
        "the Alerts page's By rule table names {rule}"
    );
    let judged_rule = judged[0]["rule"].as_str().unwrap();
    let row = html
        .split("<tr>")
        .find(|row| row.starts_with(&format!("<td>{judged_rule}</td>")))
        .unwrap_or_else(|| panic!("a By rule row for {judged_rule}"));
    assert!(row.contains(" % ("), "the row shows the rate: {row}");
    let (status, bad) = get_json(client, format!("{base}/api/alerts?severity=extreme")).await;
    assert_eq!(status, 400);
    assert_eq!(bad["field"], "query.severity");

    let (status, windows) = get_json(
        client,
        format!("{base}/api/windows?key=room&final=true&measure=pm2_5&limit=5"),
    )
    .await;
    assert_eq!(status, 200);
    let windows = windows["windows"].as_array().unwrap();
    assert!(!windows.is_empty() && windows.len() <= 5);
    for w in windows {
        assert_eq!(
            (&w["key_kind"], &w["is_final"], &w["measure"]),
            (&"room".into(), &true.into(), &"pm2_5".into())
        );
        assert!(w["count"].as_u64().unwrap() > 0);
    }
}
