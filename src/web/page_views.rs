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
    pub label: &'static str,
    pub id: &'static str,
    pub value: String,
}

#[derive(Serialize)]
pub struct Importance {
    pub feature: String,
    pub share: String,
    /// Bar width, 0–100 (relative to the largest).
    pub width: f64,
}

#[derive(Serialize)]
pub struct HistoryRow {
    pub version: String,
    pub kind: String,
    pub created: String,
    pub f1: String,
    pub outcome: &'static str,
    pub reason: String,
    pub current: bool,
}

#[derive(Serialize)]
pub struct ModelPage {
    pub ml_enabled: bool,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub trained: Option<String>,
    pub rows: Option<String>,
    pub metrics: Vec<Figure>,
    /// tp, fp, tn, fn.
    pub confusion: Option<[u64; 4]>,
    pub importances: Vec<Importance>,
    pub history: Vec<HistoryRow>,
    pub rejected: usize,
    pub registry_problem: Option<String>,
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
    pub run_id: String,
    pub trigger: &'static str,
    pub started: String,
    pub duration: String,
    pub status: &'static str,
    pub rows: u64,
    pub quality: String,
    pub retrained: String,
    pub error: String,
}

#[derive(Serialize)]
pub struct BatchPage {
    pub enabled: bool,
    pub running: Option<String>,
    pub runs: Vec<RunRow>,
    pub report: Option<String>,
    pub quality: Vec<Figure>,
    pub kpis: Vec<Figure>,
    /// Day, labelled rows, alarms, rate.
    pub alarm_days: Vec<[String; 4]>,
    /// Alerts by kind on the analysed days.
    pub anomalies: Vec<(String, u64)>,
    pub notes: Vec<String>,
    /// Per device: readings and days, from the report's KPIs.
    pub devices: Vec<DeviceRow>,
    /// Per channel over the analysed days: values, mean, min, max.
    pub channels: Vec<ChannelRow>,
}

/// One device of the last report.
#[derive(Serialize)]
pub struct DeviceRow {
    pub device: String,
    pub readings: u64,
    pub days: usize,
}

/// One channel of the last report, over all its days.
#[derive(Serialize)]
pub struct ChannelRow {
    pub channel: String,
    pub unit: &'static str,
    pub values: u64,
    pub mean: String,
    pub min: String,
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
    crate::model::Channel::ALL
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
