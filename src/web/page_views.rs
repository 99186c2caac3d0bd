//! What the Model and Batch pages render, with numbers already formatted
//! (the templates only place text): built from [`ModelView`] and the batch
//! layer's [`BatchSnapshot`].

use super::model_view::ModelView;
use crate::batch::BatchSnapshot;
use crate::ml::registry::Outcome;
use serde::Serialize;

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn score(x: f64) -> String {
    format!("{x:.4}")
}

#[derive(Serialize)]
pub struct Figure {
    /// Caption shown above the value, e.g. "F1" or "Rows analysed".
    pub label: &'static str,
    /// Slug for the element id (`metric-<id>`, `quality-<id>`, `kpi-<id>`).
    pub id: &'static str,
    /// Already formatted for display, e.g. "0.9731" or "1.25 %".
    pub value: String,
}

/// One tenth of the probability range in the Model page's calibration table.
#[derive(Serialize)]
pub struct CalibrationRow {
    /// The range, e.g. "0.9–1.0".
    pub range: String,
    pub rows: u64,
    /// Mean predicted fire probability, as a percentage; "—" without rows.
    pub predicted: String,
    /// Share of the rows that were fire, as a percentage; "—" without rows.
    pub observed: String,
}

#[derive(Serialize)]
pub struct Importance {
    /// Feature name, as in the served model's feature spec.
    pub feature: String,
    /// Normalised importance as a percentage, e.g. "12.3 %".
    pub share: String,
    /// Bar width, 0–100 (relative to the largest).
    pub width: f64,
}

#[derive(Serialize)]
pub struct HistoryRow {
    /// Registry version name, e.g. `20240101T120000Z-rf`.
    pub version: String,
    /// Model kind key (`rf`, `logreg`, `tree`); "?" when `meta.json` is unreadable.
    pub kind: String,
    /// Training time, `YYYY-MM-DD HH:MM:SS UTC`; "—" when `meta.json` is unreadable.
    pub created: String,
    /// Held-out F1 to four decimals; "—" when `meta.json` is unreadable.
    pub f1: String,
    /// "promoted", "rejected", "candidate", "no decision" or "unreadable".
    pub outcome: &'static str,
    /// Why the entry is unreadable, else the decision's reason; empty when neither.
    pub reason: String,
    /// This is the version served now (marked "(current)").
    pub current: bool,
}

#[derive(Serialize)]
pub struct ModelPage {
    /// `ml.enabled`; when false the page shows the "ML switched off" notice.
    pub ml_enabled: bool,
    /// Version of the model served now; `None` when no model is loaded.
    pub version: Option<String>,
    /// Served model's kind key (`rf`, `logreg`, `tree`); `None` when not in the registry.
    pub kind: Option<String>,
    /// When the served model was trained, `YYYY-MM-DD HH:MM:SS UTC`; `None` when not
    /// in the registry.
    pub trained: Option<String>,
    /// Training and held-out row counts as a phrase; `None` when not in the registry.
    pub rows: Option<String>,
    /// Held-out accuracy, precision, recall, F1 and ROC-AUC; empty when not in the registry.
    pub metrics: Vec<Figure>,
    /// tp, fp, tn, fn.
    pub confusion: Option<[u64; 4]>,
    /// Held-out calibration: predicted against observed fire share per
    /// tenth of the probability range; empty when not evaluated with it.
    pub calibration: Vec<CalibrationRow>,
    /// The 15 most important features, largest first; empty when not in the registry.
    pub importances: Vec<Importance>,
    /// Every registry entry, newest first (the version history table).
    pub history: Vec<HistoryRow>,
    /// Number of `history` entries whose outcome is "rejected".
    pub rejected: usize,
    /// Why the registry could not be read; `None` when it could or does not exist.
    pub registry_problem: Option<String>,
    /// Feature names the served model reads, in order (the page shows their count).
    pub features: Vec<String>,
}

impl From<&ModelView> for ModelPage {
    fn from(view: &ModelView) -> Self {
        let meta = view.current.as_ref();
        let metrics = meta
            .map(|m| {
                let x = &m.metrics;
                vec![
                    Figure {
                        label: "Accuracy",
                        id: "accuracy",
                        value: score(x.accuracy),
                    },
                    Figure {
                        label: "Precision",
                        id: "precision",
                        value: score(x.precision),
                    },
                    Figure {
                        label: "Recall",
                        id: "recall",
                        value: score(x.recall),
                    },
                    Figure {
                        label: "F1",
                        id: "f1",
                        value: score(x.f1),
                    },
                    Figure {
                        label: "ROC-AUC",
                        id: "roc_auc",
                        value: x.roc_auc.map_or("— (one class only)".into(), score),
                    },
                ]
            })
            .unwrap_or_default();
        let top = meta
            .and_then(|m| m.feature_importances.first())
            .map_or(1.0, |f| f.importance.max(1e-12));
        let importances = meta
            .map(|m| {
                m.feature_importances
                    .iter()
                    .take(15)
                    .map(|f| Importance {
                        feature: f.feature.clone(),
                        share: pct(f.importance),
                        width: (f.importance / top * 100.0).clamp(0.0, 100.0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let history: Vec<HistoryRow> = view
            .history
            .iter()
            .map(|r| HistoryRow {
                version: r.version.clone(),
                kind: r
                    .meta
                    .as_ref()
                    .map_or("?".into(), |m| m.kind.key().to_string()),
                created: r.meta.as_ref().map_or("—".into(), |m| {
                    m.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
                }),
                f1: r.meta.as_ref().map_or("—".into(), |m| score(m.metrics.f1)),
                outcome: match r.decision.as_ref().map(|d| d.outcome) {
                    _ if r.problem.is_some() => "unreadable",
                    Some(Outcome::Promoted) => "promoted",
                    Some(Outcome::Rejected) => "rejected",
                    Some(Outcome::Candidate) => "candidate",
                    None => "no decision",
                },
                reason: r
                    .problem
                    .clone()
                    .or_else(|| r.decision.as_ref().map(|d| d.reason.clone()))
                    .unwrap_or_default(),
                current: r.current,
            })
            .collect();
        ModelPage {
            ml_enabled: view.ml_enabled,
            version: view.version.clone(),
            kind: meta.map(|m| m.kind.key().to_string()),
            trained: meta.map(|m| m.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
            rows: meta.map(|m| {
                format!(
                    "{} training rows, {} held-out rows (the latest in time)",
                    m.training_rows, m.test_rows
                )
            }),
            metrics,
            confusion: meta.map(|m| {
                let c = &m.metrics.confusion;
                [
                    c.true_positive,
                    c.false_positive,
                    c.true_negative,
                    c.false_negative,
                ]
            }),
            calibration: meta
                .map(|m| {
                    m.metrics
                        .calibration
                        .iter()
                        .map(|b| CalibrationRow {
                            range: format!("{:.1}–{:.1}", b.lower, b.upper),
                            rows: b.rows,
                            predicted: b.mean_predicted.map_or("—".into(), pct),
                            observed: b.observed_fire_share.map_or("—".into(), pct),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            importances,
            rejected: history.iter().filter(|h| h.outcome == "rejected").count(),
            history,
            registry_problem: view.registry_problem.clone(),
            features: view.features.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct RunRow {
    /// Run id: start time plus a random suffix, e.g. `20240101T120000.000Z-a1b2c3`.
    pub run_id: String,
    /// Who started the run: "schedule", "api" or "cli".
    pub trigger: &'static str,
    /// Start time, `YYYY-MM-DD HH:MM:SS` in UTC.
    pub started: String,
    /// Wall time in seconds, e.g. "1.25 s"; "running" while the run is unfinished.
    pub duration: String,
    /// "running", "success" or "failed" (failed rows are highlighted).
    pub status: &'static str,
    /// Rows analysed; 0 unless the run succeeded.
    pub rows: u64,
    /// Data-quality score (0–1) to four decimals; "—" when the run has none.
    pub quality: String,
    /// Retrained model's version, with "(promoted)" or "(not promoted)"; "—" if none.
    pub retrained: String,
    /// Why the run failed; empty otherwise.
    pub error: String,
}

#[derive(Serialize)]
pub struct BatchPage {
    /// The batch layer is attached; false when switched off or it failed to start.
    pub enabled: bool,
    /// Id of the run in progress, if any.
    pub running: Option<String>,
    /// The job history, newest first (the Runs table).
    pub runs: Vec<RunRow>,
    /// Run id of the last successful run; `None` hides the quality and KPI sections.
    pub report: Option<String>,
    /// The last report's data-quality figures (score, rows, missing, duplicates…).
    pub quality: Vec<Figure>,
    /// The last report's headline KPIs: devices, readings, fire-alarm rate, alerts opened.
    pub kpis: Vec<Figure>,
    /// Day, labelled rows, alarms, rate.
    pub alarm_days: Vec<[String; 4]>,
    /// Alerts by kind on the analysed days.
    pub anomalies: Vec<(String, u64)>,
    /// Why the last report's alert counts may be incomplete, one paragraph each.
    pub notes: Vec<String>,
    /// Per device: readings and days, from the report's KPIs.
    pub devices: Vec<DeviceRow>,
    /// Per channel over the analysed days: values, mean, min, max.
    pub channels: Vec<ChannelRow>,
}

/// One device of the last report.
#[derive(Serialize)]
pub struct DeviceRow {
    /// Device id, as in the stored readings.
    pub device: String,
    /// Number of readings from the device over all analysed days.
    pub readings: u64,
    /// Analysed UTC days with readings from the device.
    pub days: usize,
}

/// One channel of the last report, over all its days.
#[derive(Serialize)]
pub struct ChannelRow {
    /// Channel key, e.g. `temperature_c` or `pm2_5`.
    pub channel: String,
    /// Display unit, e.g. "°C" or "µg/m³"; empty for the raw gas signals.
    pub unit: &'static str,
    /// Number of values the channel had over all analysed days.
    pub values: u64,
    /// Mean over the days, weighted by each day's count, to three decimals.
    pub mean: String,
    /// Lowest value over the days, to three decimals.
    pub min: String,
    /// Highest value over the days, to three decimals.
    pub max: String,
}

/// Rolls the report's day → device table up per device.
fn device_rows(k: &crate::batch::job::kpis::KpiReport) -> Vec<DeviceRow> {
    let mut by_device: std::collections::BTreeMap<&str, (u64, usize)> = Default::default();
    for per_device in k.readings_per_device_per_day.values() {
        for (device, readings) in per_device {
            let entry = by_device.entry(device).or_default();
            entry.0 += readings;
            entry.1 += 1;
        }
    }
    by_device
        .into_iter()
        .map(|(device, (readings, days))| DeviceRow {
            device: device.to_string(),
            readings,
            days,
        })
        .collect()
}

/// Rolls the report's day → channel summaries up per channel (the mean
/// weighted by each day's count), in the data set's channel order.
fn channel_rows(k: &crate::batch::job::kpis::KpiReport) -> Vec<ChannelRow> {
    crate::schema::Channel::ALL
        .iter()
        .filter_map(|c| {
            let days = k
                .channels_per_day
                .values()
                .filter_map(|per_channel| per_channel.get(c.key()));
            let (mut count, mut sum, mut min, mut max) =
                (0u64, 0.0, f64::INFINITY, f64::NEG_INFINITY);
            for d in days {
                count += d.count;
                sum += d.mean * d.count as f64;
                min = min.min(d.min);
                max = max.max(d.max);
            }
            (count > 0).then(|| ChannelRow {
                channel: c.key().to_string(),
                unit: c.unit(),
                values: count,
                mean: format!("{:.3}", sum / count as f64),
                min: format!("{min:.3}"),
                max: format!("{max:.3}"),
            })
        })
        .collect()
}

impl From<&BatchSnapshot> for BatchPage {
    fn from(s: &BatchSnapshot) -> Self {
        let runs = s
            .history
            .iter()
            .map(|r| RunRow {
                run_id: r.run_id.clone(),
                trigger: r.trigger.as_str(),
                started: r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                duration: r.finished_at.map_or("running".into(), |f| {
                    format!(
                        "{:.2} s",
                        (f - r.started_at).num_milliseconds() as f64 / 1000.0
                    )
                }),
                status: r.status.as_str(),
                rows: r.rows,
                quality: r.quality_score.map_or("—".into(), score),
                retrained: match (&r.retrained, r.promoted) {
                    (Some(v), Some(true)) => format!("{v} (promoted)"),
                    (Some(v), _) => format!("{v} (not promoted)"),
                    (None, _) => "—".into(),
                },
                error: r.error.clone().unwrap_or_default(),
            })
            .collect();
        let mut page = BatchPage {
            enabled: s.enabled,
            running: s.running.as_ref().map(|r| r.run_id.clone()),
            runs,
            report: None,
            quality: Vec::new(),
            kpis: Vec::new(),
            alarm_days: Vec::new(),
            anomalies: Vec::new(),
            notes: Vec::new(),
            devices: Vec::new(),
            channels: Vec::new(),
        };
        let Some(report) = &s.last_report else {
            return page;
        };
        let q = &report.quality;
        page.report = Some(report.run_id.clone());
        page.quality = vec![
            Figure {
                label: "Quality score",
                id: "score",
                value: q.score.map_or("— (no rows)".into(), score),
            },
            Figure {
                label: "Rows analysed",
                id: "rows",
                value: q.rows.to_string(),
            },
            Figure {
                label: "Missing cells",
                id: "missing",
                value: format!("{:.2} %", q.missing_pct),
            },
            Figure {
                label: "Out-of-range rows",
                id: "out-of-range",
                value: format!("{} ({:.2} %)", q.out_of_range_rows, q.out_of_range_pct),
            },
            Figure {
                label: "Duplicate rows",
                id: "duplicates",
                value: format!("{} ({:.2} %)", q.duplicate_rows, q.duplicate_pct),
            },
            Figure {
                label: "Quarantined rows",
                id: "quarantined",
                value: q.quarantined_rows.to_string(),
            },
        ];
        let k = &report.kpis;
        // The table is day → device → readings: devices are the distinct
        // inner keys, not the days.
        let devices = k
            .readings_per_device_per_day
            .values()
            .flat_map(|per_device| per_device.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let readings: u64 = k
            .readings_per_device_per_day
            .values()
            .flat_map(|days| days.values())
            .sum();
        page.kpis = vec![
            Figure {
                label: "Devices",
                id: "devices",
                value: devices.to_string(),
            },
            Figure {
                label: "Readings",
                id: "readings",
                value: readings.to_string(),
            },
            Figure {
                label: "Fire-alarm rate",
                id: "alarm-rate",
                value: k.alarm_rate.rate.map_or("— (no labels)".into(), pct),
            },
            Figure {
                label: "Alerts opened",
                id: "alerts-opened",
                value: k.anomalies.opened.to_string(),
            },
        ];
        page.alarm_days = k
            .alarm_rate_per_day
            .iter()
            .map(|(day, a)| {
                [
                    day.clone(),
                    a.labelled.to_string(),
                    a.alarms.to_string(),
                    a.rate.map_or("—".into(), pct),
                ]
            })
            .collect();
        page.anomalies = k
            .anomalies
            .by_kind
            .iter()
            .map(|(kind, n)| (kind.clone(), *n))
            .collect();
        page.notes = k.anomalies.notes.clone();
        page.devices = device_rows(k);
        page.channels = channel_rows(k);
        page
    }
}
