//! The job's quality and KPI figures equal a reference computed here,
//! independently and naively, from the same input: readings appended to
//! the store (with missing values, out-of-range values, duplicates and
//! unlabelled rows), a CSV ingested with two bad rows, and alert files.
//! Then `scope: new` runs see only what arrived since the last run, and the
//! daily aggregates on disk match the reference per device and day.

mod batch_common;
mod web_support;

use arrow::array::{Array, Float64Array, StringArray, UInt64Array};
use batch_common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use smokewatch::app::config::Config;
use smokewatch::batch::ingest::{IngestOutcome, Ingester};
use smokewatch::batch::job::JobContext;
use smokewatch::batch::{BatchStatus, RunReport, RunStatus, Scope, Trigger};
use smokewatch::ml::ModelHandle;
use smokewatch::schema::registry::DeviceRegistry;
use smokewatch::schema::{Channel, SmokeReading};
use smokewatch::store::HistoryStore;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const ALERT_HEADER: &str = "event_id,change,alert_id,device,home,room,rule,kind,severity,state,event_time,last_event_time,resolved_time,trigger_seq,repeats,values";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn day(r: &SmokeReading) -> String {
    r.event_time
        .to_datetime()
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

fn run(status: &BatchStatus) -> Arc<RunReport> {
    let record = status.run_blocking(Trigger::Cli).unwrap();
    assert_eq!(record.status, RunStatus::Success, "{:?}", record.error);
    status.last_report().unwrap()
}

fn attach(config: &Config) -> BatchStatus {
    let status = BatchStatus::new();
    status
        .attach(JobContext::new(
            config.batch.clone(),
            config.ml.clone(),
            config.sinks.dir.clone(),
            ModelHandle::new(),
        ))
        .unwrap();
    status
}

/// Readings with every kind of imperfection the quality figures count.
fn imperfect_history() -> Vec<SmokeReading> {
    let mut readings = history(3_000, 3, 21, 30);
    for (i, r) in readings.iter_mut().enumerate() {
        if i % 17 == 0 {
            r.values.set(Channel::Tvoc, None);
            r.values.set(Channel::Pm2_5, None);
        }
        if i % 101 == 0 {
            r.values.set(Channel::Temperature, Some(200.0));
        }
        if i % 13 == 0 {
            r.fire_alarm = None;
        }
    }
    readings
}

fn write_alerts(sinks: &std::path::Path) {
    let files = [
        (
            "2022-06-08",
            vec![
                "e1,opened,a1,d,h,r,threshold:pm2_5,threshold,warning,open,t,t,,1,0,{}",
                "e2,opened,a2,d,h,r,threshold:tvoc,threshold,warning,open,t,t,,1,0,{}",
                "e3,opened,a3,d,h,r,ml:fire,ml,critical,open,t,t,,1,0,{}",
                "e4,resolved,a3,d,h,r,ml:fire,ml,critical,resolved,t,t,t,1,0,{}",
            ],
        ),
        (
            "2022-06-09",
            vec!["e5,opened,a5,d,h,r,spike:tvoc,spike,warning,open,t,t,,1,0,{}"],
        ),
        (
            "2022-07-01",
            vec!["e6,opened,a6,d,h,r,spike:tvoc,spike,warning,open,t,t,,1,0,{}"],
        ),
    ];
    for (date, rows) in files {
        let folder = sinks.join(format!("alerts/date={date}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("part-x.csv"),
            format!("{ALERT_HEADER}\n{}\n", rows.join("\n")),
        )
        .unwrap();
    }
}

#[test]
fn quality_and_kpis_equal_an_independent_reference_and_new_scope_sees_only_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.batch.job.scope = Scope::All;
    let store = HistoryStore::new(&config.batch.store_dir);
    let all = store_imperfect_inputs(&config, &store);

    let status = attach(&config);
    let report = run(&status);
    check_quality(&report, &all);
    let per_device_day = check_kpis(&report, &all);
    check_outputs(&config, &report, &all, &per_device_day);
    check_new_scope(&config, &store);
}

/// Stores appended readings, a repeat of 11 of them and an ingested CSV
/// with two bad rows; returns every reading the store then holds.
fn store_imperfect_inputs(config: &Config, store: &HistoryStore) -> Vec<SmokeReading> {
    let appended = imperfect_history();
    store.append(&appended).unwrap();
    let repeats = appended[5..16].to_vec();
    store.append(&repeats).unwrap();
    let csv_readings = history(300, 1, 22, 1);
    let mut text: Vec<String> = csv_text(&csv_readings)
        .split("\r\n")
        .map(str::to_string)
        .collect();
    text[41] = text[41].replacen(",", ",x", 3); // row 40: wrong type (UTC "x…")
    let mut cells: Vec<String> = text[91].split(',').map(str::to_string).collect();
    cells[3] = "150".into(); // row 90: humidity out of range
    text[91] = cells.join(",");
    drop_file(
        &config.batch.incoming_dir,
        "csvdev.csv",
        text.join("\r\n").as_bytes(),
    );
    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).unwrap();
    let outcome = ingester
        .ingest(
            &config.batch.incoming_dir.join("csvdev.csv"),
            &CancellationToken::new(),
        )
        .unwrap();
    let IngestOutcome::Ingested(entry) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(entry.rows_quarantined, 2);
    write_alerts(&config.sinks.dir);

    let mut all: Vec<SmokeReading> = appended.clone();
    all.extend(repeats.iter().cloned());
    let mut csv_stored = as_stored("csvdev", &csv_readings);
    csv_stored.remove(90);
    csv_stored.remove(40);
    all.extend(csv_stored);

    all
}

/// The quality figures equal a reference computed naively over `all`.
fn check_quality(report: &RunReport, all: &[SmokeReading]) {
    // The reference, computed naively.
    let rows = all.len() as u64;
    let mut missing: BTreeMap<&str, u64> = Channel::ALL.iter().map(|c| (c.key(), 0)).collect();
    let mut out_of_range_rows = 0u64;
    let mut seen = HashSet::new();
    let mut duplicates = 0u64;
    for r in all {
        let mut out = false;
        for c in Channel::ALL {
            match r.values.get(c) {
                None => *missing.get_mut(c.key()).unwrap() += 1,
                Some(v) => out |= v < *c.physical_range().start() || v > *c.physical_range().end(),
            }
        }
        out_of_range_rows += u64::from(out);
        if !seen.insert((r.device_id.clone(), r.seq)) {
            duplicates += 1;
        }
    }
    let missing_cells: u64 = missing.values().sum();
    let quarantined = 2u64;
    let completeness = 1.0 - missing_cells as f64 / (rows as f64 * 12.0);
    let validity = 1.0 - (out_of_range_rows + quarantined) as f64 / (rows + quarantined) as f64;
    let uniqueness = 1.0 - duplicates as f64 / rows as f64;
    assert!(duplicates == 11 && out_of_range_rows > 20 && missing_cells > 300);

    let q = &report.quality;
    assert_eq!(q.rows, rows);
    for (key, n) in &missing {
        assert_eq!(q.channels[*key].missing, *n, "{key}");
    }
    assert!(close(
        q.missing_pct,
        100.0 * missing_cells as f64 / (rows as f64 * 12.0)
    ));
    assert_eq!(q.out_of_range_rows, out_of_range_rows);
    assert!(close(
        q.out_of_range_pct,
        100.0 * (out_of_range_rows + 1) as f64 / (rows + quarantined) as f64
    ));
    assert_eq!(q.duplicate_rows, duplicates);
    assert_eq!(q.quarantined_rows, quarantined);
    assert_eq!(
        q.quarantined_by_reason,
        BTreeMap::from([("out_of_range".into(), 1), ("wrong_type".into(), 1)])
    );
    assert!(close(
        q.score.unwrap(),
        completeness * validity * uniqueness
    ));
    let newest = all.iter().map(|r| r.event_time).max().unwrap();
    assert_eq!(q.freshness.newest_event, newest.to_datetime());
}

/// The KPIs equal a reference over `all`; returns readings per day and
/// device.
fn check_kpis(report: &RunReport, all: &[SmokeReading]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let k = &report.kpis;
    let mut per_device_day: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in all {
        *per_device_day
            .entry(day(r))
            .or_default()
            .entry(r.device_id.to_string())
            .or_default() += 1;
    }
    assert_eq!(k.readings_per_device_per_day, per_device_day);
    assert_eq!(per_device_day.len(), 2, "the history spans two days");
    let labelled = all.iter().filter(|r| r.fire_alarm.is_some()).count() as u64;
    let alarms = all.iter().filter(|r| r.fire_alarm == Some(true)).count() as u64;
    assert_eq!(
        (k.alarm_rate.labelled, k.alarm_rate.alarms),
        (labelled, alarms)
    );
    assert!(close(
        k.alarm_rate.rate.unwrap(),
        alarms as f64 / labelled as f64
    ));
    for (d, channels) in &k.channels_per_day {
        for c in Channel::ALL {
            let values: Vec<f64> = all
                .iter()
                .filter(|r| &day(r) == d)
                .filter_map(|r| r.values.get(c))
                .collect();
            let s = &channels[c.key()];
            assert_eq!(s.count, values.len() as u64, "{d} {c}");
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            assert!(close(s.mean, mean), "{d} {c}: {} vs {mean}", s.mean);
            assert_eq!(s.min, values.iter().cloned().fold(f64::INFINITY, f64::min));
            assert_eq!(
                s.max,
                values.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            );
        }
    }
    assert_eq!(k.anomalies.opened, 4);
    assert_eq!(
        k.anomalies.by_kind,
        BTreeMap::from([
            ("ml".into(), 1),
            ("spike".into(), 1),
            ("threshold".into(), 2)
        ])
    );

    per_device_day
}

/// The daily aggregates and features on disk match the reference per
/// device and day.
fn check_outputs(
    config: &Config,
    report: &RunReport,
    all: &[SmokeReading],
    per_device_day: &BTreeMap<String, BTreeMap<String, u64>>,
) {
    let aggregates = config
        .batch
        .state_dir
        .join("aggregates/date=2022-06-08/daily.parquet");
    assert!(
        report
            .outputs
            .aggregates
            .contains(&"aggregates/date=2022-06-08/daily.parquet".to_string())
    );
    let batch = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(aggregates).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let column = |name: &str| batch.column_by_name(name).unwrap().clone();
    let devices = column("device_id");
    let devices = devices.as_any().downcast_ref::<StringArray>().unwrap();
    let counts = column("readings");
    let counts = counts.as_any().downcast_ref::<UInt64Array>().unwrap();
    let means = column("humidity_pct_mean");
    let means = means.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(batch.num_rows(), per_device_day["2022-06-08"].len());
    for i in 0..batch.num_rows() {
        let device = devices.value(i);
        assert_eq!(
            counts.value(i),
            per_device_day["2022-06-08"][device],
            "{device}"
        );
        let values: Vec<f64> = all
            .iter()
            .filter(|r| r.device_id.as_str() == device && day(r) == "2022-06-08")
            .filter_map(|r| r.values.get(Channel::Humidity))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!(!means.is_null(i) && close(means.value(i), mean), "{device}");
    }
    let features = config
        .batch
        .state_dir
        .join("features/date=2022-06-09/features.parquet");
    let feature_rows: usize =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(features).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
    assert_eq!(
        feature_rows as u64,
        per_device_day["2022-06-09"].values().sum::<u64>()
    );
}

/// With `scope: new` a run sees nothing new, then only new readings.
fn check_new_scope(config: &Config, store: &HistoryStore) {
    let mut config_new = config.clone();
    config_new.batch.job.scope = Scope::New;
    let status = attach(&config_new);
    let empty = run(&status);
    assert_eq!((empty.input.rows, empty.input.new_files), (0, 0));
    assert_eq!(empty.quality.score, None);
    let later: Vec<SmokeReading> = history(500, 1, 23, 1)
        .into_iter()
        .map(|mut r| {
            r.event_time.0 += 10 * 86_400_000;
            r
        })
        .collect();
    store.append(&later).unwrap();
    let fresh = run(&status);
    assert_eq!(fresh.input.rows, 500);
    assert_eq!(fresh.input.new_files, 1);
    assert_eq!(
        fresh.input.new_labelled_rows,
        later.iter().filter(|r| r.fire_alarm.is_some()).count() as u64
    );
    assert_eq!(
        fresh.quality.quarantined_rows, 0,
        "the CSV's ingest was seen before"
    );
    assert_eq!(
        fresh.outputs.aggregates,
        ["aggregates/date=2022-06-18/daily.parquet"]
    );
    let history: Vec<RunStatus> = status.history().iter().map(|r| r.status).collect();
    assert_eq!(history, [RunStatus::Success; 3]);
    assert_eq!(
        file_names(&config.batch.state_dir.join("reports")).len(),
        3,
        "a report per run"
    );
}

/// The Batch page's "Devices" figure counts devices, not the days of the
/// report's day → device table.
#[tokio::test]
async fn batch_page_counts_devices_not_days() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    // 4 devices, one reading a minute each, over a day and a half: two
    // or three calendar days, never four.
    let readings = history(8_000, 4, 3, 60);
    let devices: HashSet<&str> = readings.iter().map(|r| r.device_id.as_str()).collect();
    let days: HashSet<String> = readings.iter().map(day).collect();
    assert_eq!(devices.len(), 4);
    assert_ne!(days.len(), devices.len(), "the test needs days != devices");
    HistoryStore::new(&config.batch.store_dir)
        .append(&readings)
        .unwrap();
    let status = attach(&config);
    let status_for_run = status.clone();
    tokio::task::spawn_blocking(move || run(&status_for_run))
        .await
        .unwrap();

    let app = web_support::app_with_batch(config, status);
    let routes = smokewatch::web::routes(app);
    let page = warp::test::request()
        .method("GET")
        .path("/batch")
        .reply(&routes)
        .await;
    assert_eq!(page.status(), 200);
    let html = String::from_utf8_lossy(page.body());
    assert!(
        html.contains(&format!("id=\"kpi-devices\">{}<", devices.len())),
        "{}",
        html.split("id=\"kpis\"").nth(1).unwrap_or(&html)
    );
}

/// The Batch page shows the last report per device (readings, days) and
/// per channel (values, mean, min, max over the analysed days), and a run
/// button when admin endpoints are on.
#[tokio::test]
async fn batch_page_tables_per_device_and_channel_and_the_run_button() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.web.admin_token = smokewatch::base::config::Secret::new(web_support::TOKEN);
    let readings = history(3_000, 3, 11, 60);
    HistoryStore::new(&config.batch.store_dir)
        .append(&readings)
        .unwrap();
    let status = attach(&config);
    let status_for_run = status.clone();
    tokio::task::spawn_blocking(move || run(&status_for_run))
        .await
        .unwrap();

    let page = |config: Config, status: BatchStatus| async move {
        let routes = smokewatch::web::routes(web_support::app_with_batch(config, status));
        let page = warp::test::request()
            .method("GET")
            .path("/batch")
            .reply(&routes)
            .await;
        assert_eq!(page.status(), 200);
        String::from_utf8_lossy(page.body()).into_owned()
    };
    let html = page(config.clone(), status.clone()).await;

    let mut per_device: BTreeMap<&str, (u64, HashSet<String>)> = BTreeMap::new();
    for r in &readings {
        let entry = per_device.entry(r.device_id.as_str()).or_default();
        entry.0 += 1;
        entry.1.insert(day(r));
    }
    for (device, (count, days)) in &per_device {
        let row = format!(
            "<tr data-device=\"{device}\"><td class=\"mono\">{device}</td><td class=\"num\">{count}</td><td class=\"num\">{}</td></tr>",
            days.len()
        );
        assert!(html.contains(&row), "{row} in {html}");
    }
    let pm: Vec<f64> = readings
        .iter()
        .filter_map(|r| r.values.get(Channel::Pm2_5))
        .collect();
    let mean = pm.iter().sum::<f64>() / pm.len() as f64;
    let max = pm.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let row = html
        .split("<tr data-channel=\"pm2_5\">")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("a pm2_5 row");
    for figure in [
        pm.len().to_string(),
        format!("{mean:.3}"),
        format!("{max:.3}"),
    ] {
        assert!(row.contains(&format!(">{figure}<")), "{figure} in {row}");
    }

    assert!(
        html.contains("id=\"batch-run-form\""),
        "run button with a token"
    );
    assert!(html.contains("/static/batch.js"));
    config.web.admin_token = smokewatch::base::config::Secret::default();
    let without = page(config, status).await;
    assert!(
        !without.contains("id=\"batch-run-form\""),
        "no button without a token"
    );
}

/// Live data is mostly quiet air: labelled rows of one class only cannot
/// train a classifier. That is a fact about the data, reported as the
/// reason for not retraining, not a failure of the whole run (which would
/// also leave its quality report and KPIs unsaved).
#[tokio::test]
async fn one_class_data_skips_retraining_without_failing_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.batch.retrain.enabled = true;
    config.batch.retrain.min_new_labelled_rows = 1_000;
    config.batch.retrain.min_quality = 0.0;
    config.ml.model_dir = dir.path().join("models");
    let mut quiet = history(2_000, 2, 5, 1);
    for r in &mut quiet {
        r.fire_alarm = Some(false);
    }
    HistoryStore::new(&config.batch.store_dir)
        .append(&quiet)
        .unwrap();
    let status = attach(&config);
    let record = tokio::task::spawn_blocking(move || {
        status
            .run_blocking(Trigger::Cli)
            .map(|r| (r, status.last_report()))
    })
    .await
    .unwrap()
    .unwrap();
    let (record, report) = record;
    assert_eq!(record.status, RunStatus::Success, "{:?}", record.error);
    let report = report.expect("the run's report");
    assert!(!report.retrain.attempted, "{:?}", report.retrain);
    assert!(
        report.retrain.reason.contains("no-fire"),
        "{}",
        report.retrain.reason
    );
    assert_eq!(report.input.rows, 2_000);
}
