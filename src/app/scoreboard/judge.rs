//! The scoreboard's verdict, live: the daemon's simulator knows what really
//! happened (its [`TruthLog`]), so every alert it resolves is judged the
//! way `smokewatch bench alerts` judges one ([`score::is_false_alert`]),
//! and the Alerts page and `/api/alerts` show each rule's false-positive
//! rate beside its counts. With real devices there is no ground truth and
//! no judge.

use super::AlertRecord;
use super::score;
use crate::simulate::truth::{TruthLog, TruthSnapshot};
use crate::stream::sinks::{Alert, AlertState, LiveViews};
use crate::supervisor::{Role, Supervisor, TaskContext, TaskReport, TaskResult};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// How often resolved alerts are judged.
const JUDGE_EVERY: Duration = Duration::from_secs(5);

/// What the judge is built from: the truth the simulator publishes and the
/// live views whose alerts it judges and whose summary it fills.
#[derive(Clone)]
pub struct Deps {
    pub truth: TruthLog,
    pub live: LiveViews,
}

/// Starts the `scoreboard/judge` service task.
pub fn spawn(supervisor: &mut Supervisor, deps: Deps) {
    supervisor.spawn(
        "scoreboard",
        "scoreboard/judge",
        Role::Service,
        move |ctx| run(ctx, deps.clone()),
    );
}

async fn run(ctx: TaskContext, deps: Deps) -> TaskResult {
    ctx.health.running();
    let mut judged = HashSet::new();
    let mut total = 0usize;
    let mut tick = tokio::time::interval(JUDGE_EVERY);
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tick.tick() => {
                let alerts = deps.live.recent_alerts();
                // The truth is copied only when an alert waits for a verdict:
                // it can hold tens of thousands of incidents.
                let waiting = alerts
                    .iter()
                    .any(|a| a.state == AlertState::Resolved && !judged.contains(&a.id));
                if waiting {
                    let verdicts = judge(&alerts, &deps.truth.snapshot(), &mut judged);
                    total += verdicts.len();
                    deps.live.record_verdicts(&verdicts);
                }
            }
        }
    }
    Ok(TaskReport::new(format!(
        "judge stopped after {total} alerts judged against the simulator's ground truth"
    )))
}

/// Judges the resolved alerts among `alerts` that are not in `judged` and
/// whose end the truth already covers (every incident that could explain
/// them has started, so the verdict cannot change); returns (rule, whether
/// no incident explains it) per alert and remembers their ids. `judged`
/// keeps only ids still among `alerts`: the live views keep a ring of
/// recent alerts, and an alert that left it is not seen again.
pub fn judge(
    alerts: &[Alert],
    truth: &TruthSnapshot,
    judged: &mut HashSet<Uuid>,
) -> Vec<(String, bool)> {
    let present: HashSet<Uuid> = alerts.iter().map(|a| a.id).collect();
    judged.retain(|id| present.contains(id));
    let Some(horizon) = truth.horizon else {
        return Vec::new();
    };
    let mut verdicts = Vec::new();
    for alert in alerts {
        if alert.state != AlertState::Resolved || judged.contains(&alert.id) {
            continue;
        }
        let end = alert.resolved_time.unwrap_or(alert.last_event_time);
        if end >= horizon {
            continue;
        }
        let record = AlertRecord {
            rule: alert.rule.clone(),
            device: alert.device.clone(),
            home: alert.home.clone(),
            room: alert.room.clone(),
            opened: alert.event_time,
            end,
            // An alert's severity only rises while it is open.
            max_severity: alert.severity,
            critical_at: None,
        };
        judged.insert(alert.id);
        verdicts.push((
            alert.rule.clone(),
            score::is_false_alert(&record, &truth.incidents),
        ));
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EventTime;
    use crate::simulate::truth::IncidentKind;
    use crate::simulate::truth::test_support::incident;
    use crate::stream::Severity;
    use crate::stream::sinks::AlertKind;
    use std::collections::BTreeMap;

    fn alert(n: u128, rule: &str, severity: Severity, opened_s: i64, end_s: Option<i64>) -> Alert {
        Alert {
            id: Uuid::from_u128(n),
            device: Some("h1-kitchen-smoke".into()),
            home: "h1".into(),
            room: "kitchen".into(),
            rule: rule.to_string(),
            kind: AlertKind::Threshold,
            severity,
            state: if end_s.is_some() {
                AlertState::Resolved
            } else {
                AlertState::Open
            },
            values: BTreeMap::new(),
            event_time: EventTime(opened_s * 1000),
            last_event_time: EventTime(end_s.unwrap_or(opened_s) * 1000),
            resolved_time: end_s.map(|s| EventTime(s * 1000)),
            detected_at_ms: 0,
            trigger_seq: 0,
            repeats: 0,
        }
    }

    #[test]
    fn resolved_alerts_are_judged_once_against_the_incidents_they_overlap() {
        let truth = TruthSnapshot {
            incidents: vec![
                incident(IncidentKind::Flaming, 1_000, 1_300),
                incident(IncidentKind::Nuisance, 5_000, 5_200),
            ],
            horizon: Some(EventTime(10_000_000)),
        };
        let alerts = vec![
            // During the fire: legitimate.
            alert(1, "ml:fire", Severity::Critical, 1_050, Some(1_400)),
            // Critical during a nuisance: false.
            alert(2, "ml:fire", Severity::Critical, 5_010, Some(5_100)),
            // An advisory during a nuisance: legitimate.
            alert(
                3,
                "threshold:temperature_c",
                Severity::Low,
                5_010,
                Some(5_100),
            ),
            // Nothing happening: false.
            alert(
                4,
                "threshold:temperature_c",
                Severity::Low,
                8_000,
                Some(8_100),
            ),
            // Still open: not judged yet.
            alert(5, "ml:fire", Severity::High, 9_000, None),
        ];
        let mut judged = HashSet::new();
        let verdicts = judge(&alerts, &truth, &mut judged);
        assert_eq!(
            verdicts,
            vec![
                ("ml:fire".to_string(), false),
                ("ml:fire".to_string(), true),
                ("threshold:temperature_c".to_string(), false),
                ("threshold:temperature_c".to_string(), true),
            ]
        );
        assert!(
            judge(&alerts, &truth, &mut judged).is_empty(),
            "judged once"
        );
        // An alert that left the live views' ring is forgotten.
        judge(&alerts[2..], &truth, &mut judged);
        assert_eq!(judged.len(), 2);
    }

    #[test]
    fn an_alert_is_judged_only_once_the_truth_has_passed_its_end() {
        let alerts = vec![alert(1, "ml:fire", Severity::High, 1_000, Some(1_100))];
        let mut judged = HashSet::new();
        let none_yet = TruthSnapshot::default();
        assert!(judge(&alerts, &none_yet, &mut judged).is_empty());
        let early = TruthSnapshot {
            incidents: Vec::new(),
            horizon: Some(EventTime(1_050_000)),
        };
        assert!(judge(&alerts, &early, &mut judged).is_empty());
        // By now a fire that started before the alert ended is known.
        let later = TruthSnapshot {
            incidents: vec![incident(IncidentKind::Smouldering, 1_090, 1_500)],
            horizon: Some(EventTime(1_200_000)),
        };
        assert_eq!(
            judge(&alerts, &later, &mut judged),
            vec![("ml:fire".to_string(), false)]
        );
    }
}
