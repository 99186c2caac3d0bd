//! Scores alerts against ground-truth incidents, the way smoke-alarm
//! standards judge a detector: every fire found quickly, nuisance sources
//! not alarming, and few alarms without cause.
//!
//! An alert is *legitimate* when it overlaps (same device, or same room for
//! room rules; from the incident's start to its end plus [`GRACE_MS`]) an
//! incident of a kind that should raise it:
//!
//! | alert | legitimate during |
//! |---|---|
//! | device fault (`fault:*`) | a stuck, drift or spike fault of the device |
//! | room rule (`light_on_empty_room`, …) | a light left on in the room |
//! | any other (thresholds, spikes, smoke rules, `ml:fire`) | a fire; or, at `low` (advisory), a nuisance |
//!
//! Every other alert is a false alert, counted per detector-day by rule and
//! by the highest severity it reached.

use super::AlertRecord;
use crate::simulate::truth::{Incident, IncidentKind};
use crate::stream::Severity;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How long after an incident's last reading an alert opening still
/// counts as about it (a fire put out leaves smoke for a while).
pub const GRACE_MS: i64 = 5 * 60_000;
/// Incidents starting this close to the end of a run are left out of
/// recall: the detectors had no time to see them.
pub const TAIL_MS: i64 = 5 * 60_000;

/// A light left on in an empty room for less than this is no incident yet:
/// the smart-home rule's definition (`light_on_empty_room` holds for 60 s)
/// plus one reading, so shorter ones are left out of its recall.
pub const LIGHT_MIN_MS: i64 = 61_000;

/// What an alert is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Fire,
    Fault,
    Room,
}

fn target(alert: &AlertRecord) -> Target {
    if alert.rule.starts_with("fault:") {
        Target::Fault
    } else if alert.device.is_none() {
        Target::Room
    } else {
        Target::Fire
    }
}

/// Whether `alert` is legitimately raised by `incident`.
fn explains(incident: &Incident, alert: &AlertRecord) -> bool {
    let same_subject = match &alert.device {
        Some(d) => *d == incident.device,
        None => alert.home == incident.home && alert.room == incident.room,
    };
    if !same_subject || !overlaps(incident, alert) {
        return false;
    }
    match (target(alert), incident.kind) {
        (Target::Fault, k) => k.is_fault(),
        (Target::Room, k) => k == IncidentKind::LightLeftOn,
        (Target::Fire, k) if k.is_fire() => true,
        (Target::Fire, IncidentKind::Nuisance) => alert.max_severity <= Severity::Low,
        _ => false,
    }
}

/// Whether no incident explains `alert`: the scoreboard's false alert (the
/// daemon's live judge asks the same question of every resolved alert).
pub fn is_false_alert(alert: &AlertRecord, incidents: &[Incident]) -> bool {
    !incidents.iter().any(|i| explains(i, alert))
}

/// How long after an incident's last reading an alert opening still counts
/// as about it: smoke lingers after a fire or a nuisance; a sensor fault
/// or a forgotten light ends when it ends (a few seconds for the pipeline).
fn grace_ms(kind: IncidentKind) -> i64 {
    if kind.is_fire() || kind == IncidentKind::Nuisance {
        GRACE_MS
    } else {
        FAULT_GRACE_MS
    }
}

/// Grace after a fault or a forgotten light (see [`grace_ms`]).
pub const FAULT_GRACE_MS: i64 = 10_000;

fn overlaps(incident: &Incident, alert: &AlertRecord) -> bool {
    alert.opened.millis() <= incident.end.millis() + grace_ms(incident.kind)
        && alert.end.millis() >= incident.start.millis()
}

/// Percentiles of a set of durations, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    pub count: usize,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub max_s: Option<f64>,
}

impl Spread {
    pub fn of(mut ms: Vec<i64>) -> Self {
        ms.sort_unstable();
        let q = |q: f64| {
            (!ms.is_empty()).then(|| {
                let i = ((ms.len() - 1) as f64 * q).ceil() as usize;
                ms[i] as f64 / 1000.0
            })
        };
        Spread {
            count: ms.len(),
            p50_s: q(0.5),
            p95_s: q(0.95),
            max_s: q(1.0),
        }
    }
}

/// Figures of one incident kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindScore {
    pub kind: IncidentKind,
    /// Incidents scored (those starting in the run's tail are left out).
    pub incidents: usize,
    /// Incidents with at least one legitimate alert (faults: flagged as a
    /// device fault).
    pub alerted: usize,
    pub recall: f64,
    /// Fires: incidents that reached a critical alert.
    pub critical: usize,
    /// Delay from onset to the first legitimate alert, event time.
    pub delay: Spread,
    /// Fires: delay from onset to the first critical alert.
    pub critical_delay: Spread,
    /// Highest severity reached by the fire alerts overlapping the
    /// incident, by severity: how many incidents reached it. For a
    /// nuisance, a fault or a forgotten light, alerts a fire of the same
    /// device explains are left out: they are the fire's (a pan left on
    /// the stove while the bedroom smoulders does not make the pan
    /// critical).
    pub severity_reached: BTreeMap<&'static str, usize>,
    /// Fire alerts (thresholds, spikes, smoke rules, ML) raised during a
    /// fault or a nuisance and not explained by a fire.
    pub fire_alerts: usize,
    /// Legitimate alerts per alerted incident (spam).
    pub alerts_per_incident: f64,
    /// From the incident's last reading to its alerts' resolution.
    pub time_to_resolve: Spread,
    /// Alerts overlapping these incidents, by rule: which detectors see
    /// them (legitimately or not), for tuning.
    pub rules: BTreeMap<String, usize>,
}

/// How one fire went: for finding the fires a change made late or missed.
#[derive(Debug, Clone, Serialize)]
pub struct FireOutcome {
    pub kind: IncidentKind,
    pub device: String,
    /// Onset (the label's first reading), ms since the epoch.
    pub start_ms: i64,
    pub duration_s: f64,
    /// Onset to the first legitimate alert; `None` when missed.
    pub delay_s: Option<f64>,
    /// Onset to the first critical alert.
    pub critical_delay_s: Option<f64>,
    /// Highest severity of the fire alerts overlapping it.
    pub severity: &'static str,
}

/// False alerts of one rule.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleScore {
    pub alerts: usize,
    pub false_alerts: usize,
    /// False alerts by the highest severity they reached.
    pub false_by_severity: BTreeMap<&'static str, usize>,
    pub false_per_detector_day: f64,
}

/// One false alert, with the incidents of its device or room it
/// overlapped without being explained by them: where to look first when a
/// detector misfires (a fault's channel, a nuisance, a light the stream
/// judged on an old room state).
#[derive(Debug, Clone, Serialize)]
pub struct FalseAlert {
    pub rule: String,
    /// The device, or `home/room` for a room rule.
    pub subject: String,
    /// Event time it opened, ms since the epoch.
    pub opened_ms: i64,
    pub duration_s: f64,
    pub severity: Severity,
    /// Overlapping incidents as `kind[:channel]@start`, start in seconds
    /// relative to the alert's opening.
    pub overlapping: Vec<String>,
    /// For an alert that became critical: the device's other alerts open at
    /// that moment, as `rule (highest severity)`. An ML alert is critical
    /// when another detector of the device agrees; empty means an
    /// evidence-only rule (which raises no alert) agreed. Says which
    /// detector to make stricter when false critical alerts are too many.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub open_when_critical: Vec<String>,
}

/// The whole scoreboard.
#[derive(Debug, Clone, Serialize)]
pub struct Scoreboard {
    pub detectors: usize,
    pub days: f64,
    pub detector_days: f64,
    pub alerts: usize,
    pub kinds: Vec<KindScore>,
    /// Every scored fire, in onset order.
    pub fires: Vec<FireOutcome>,
    pub rules: BTreeMap<String, RuleScore>,
    /// False alerts per detector-day at any severity.
    pub false_per_detector_day: f64,
    /// False alerts that reached critical, per detector-day.
    pub false_critical_per_detector_day: f64,
    /// Legitimate alerts / all alerts.
    pub precision: f64,
    /// Critical alerts explained by a fire / all critical alerts.
    pub critical_precision: f64,
    /// Every false alert, highest severity first, then in opening order.
    pub false_alerts: Vec<FalseAlert>,
}

/// Scores `alerts` against `incidents` of a run of `detectors` over
/// event time `[start_ms, end_ms]`.
pub fn score(
    incidents: &[Incident],
    alerts: &[AlertRecord],
    detectors: usize,
    start_ms: i64,
    end_ms: i64,
) -> Scoreboard {
    let days = (end_ms - start_ms).max(1) as f64 / 86_400_000.0;
    let detector_days = detectors as f64 * days;
    let mut by_device: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, inc) in incidents.iter().enumerate() {
        by_device.entry(inc.device.as_str()).or_default().push(i);
    }
    let mut by_room: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, inc) in incidents.iter().enumerate() {
        by_room
            .entry((inc.home.as_str(), inc.room.as_str()))
            .or_default()
            .push(i);
    }
    // For each incident, the alerts overlapping it and whether they are legitimate.
    let mut touching: Vec<Vec<(usize, bool)>> = vec![Vec::new(); incidents.len()];
    let mut legit = vec![false; alerts.len()];
    // Alerts a fire explains: they count for the fire alone.
    let mut by_fire = vec![false; alerts.len()];
    // For each alert, the incidents it overlaps.
    let mut overlapped: Vec<Vec<usize>> = vec![Vec::new(); alerts.len()];
    for (a, alert) in alerts.iter().enumerate() {
        let candidates = match &alert.device {
            Some(d) => by_device.get(d.as_str()),
            None => by_room.get(&(alert.home.as_str(), alert.room.as_str())),
        };
        for &i in candidates.into_iter().flatten() {
            let inc = &incidents[i];
            let same = alert.device.as_ref().is_none_or(|d| *d == inc.device);
            if same && overlaps(inc, alert) {
                let ok = explains(inc, alert);
                legit[a] |= ok;
                by_fire[a] |= ok && inc.kind.is_fire();
                touching[i].push((a, ok));
                overlapped[a].push(i);
            }
        }
    }
    let mut kinds = Vec::new();
    let mut fires = Vec::new();
    for kind in IncidentKind::ALL {
        let of_kind: Vec<usize> = (0..incidents.len())
            .filter(|&i| incidents[i].kind == kind)
            .filter(|&i| incidents[i].start.millis() <= end_ms - TAIL_MS)
            .filter(|&i| {
                let inc = &incidents[i];
                kind != IncidentKind::LightLeftOn
                    || inc.end.millis() - inc.start.millis() >= LIGHT_MIN_MS
            })
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let mut alerted = 0;
        let mut critical = 0;
        let mut delays = Vec::new();
        let mut critical_delays = Vec::new();
        let mut resolve = Vec::new();
        let mut severity_reached: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut fire_alerts = 0;
        let mut legit_alerts = 0;
        let mut rules: BTreeMap<String, usize> = BTreeMap::new();
        for &i in &of_kind {
            let inc = &incidents[i];
            let mut highest: Option<Severity> = None;
            let mut first: Option<i64> = None;
            let mut first_critical: Option<i64> = None;
            let mut any = false;
            let mut resolved_at: Option<i64> = None;
            for &(a, ok) in &touching[i] {
                let alert = &alerts[a];
                *rules.entry(alert.rule.clone()).or_default() += 1;
                if target(alert) == Target::Fire && (kind.is_fire() || !by_fire[a]) {
                    highest = highest.max(Some(alert.max_severity));
                    if !ok && !legit[a] {
                        fire_alerts += 1;
                    }
                }
                if !ok {
                    continue;
                }
                any = true;
                legit_alerts += 1;
                if kind.is_fire() {
                    if let Some(t) = alert.critical_at {
                        let t = t.millis();
                        first_critical = Some(first_critical.map_or(t, |f| f.min(t)));
                    }
                    highest = highest.max(Some(alert.max_severity));
                }
                let t = alert.opened.millis();
                first = Some(first.map_or(t, |f| f.min(t)));
                let end = alert.end.millis();
                resolved_at = Some(resolved_at.map_or(end, |r| r.max(end)));
            }
            if let Some(s) = highest {
                *severity_reached.entry(s.as_str()).or_default() += 1;
            } else {
                *severity_reached.entry("none").or_default() += 1;
            }
            if any {
                alerted += 1;
            }
            let onset = inc.start.millis();
            if let Some(t) = first_critical {
                critical += 1;
                critical_delays.push((t - onset).max(0));
            }
            if let Some(t) = first {
                delays.push((t - onset).max(0));
            }
            if let Some(r) = resolved_at {
                resolve.push((r - inc.end.millis()).max(0));
            }
            if kind.is_fire() {
                let seconds = |t: i64| (t - onset).max(0) as f64 / 1000.0;
                fires.push(FireOutcome {
                    kind,
                    device: inc.device.to_string(),
                    start_ms: onset,
                    duration_s: (inc.end.millis() - onset) as f64 / 1000.0,
                    delay_s: first.map(seconds),
                    critical_delay_s: first_critical.map(seconds),
                    severity: highest.map_or("none", |s| s.as_str()),
                });
            }
        }
        kinds.push(KindScore {
            kind,
            incidents: of_kind.len(),
            alerted,
            recall: alerted as f64 / of_kind.len() as f64,
            critical,
            delay: Spread::of(delays),
            critical_delay: Spread::of(critical_delays),
            severity_reached,
            fire_alerts,
            alerts_per_incident: if alerted > 0 {
                legit_alerts as f64 / alerted as f64
            } else {
                0.0
            },
            time_to_resolve: Spread::of(resolve),
            rules,
        });
    }
    let mut rules: BTreeMap<String, RuleScore> = BTreeMap::new();
    let (mut false_any, mut false_critical) = (0usize, 0usize);
    let (mut critical_total, mut critical_fire) = (0usize, 0usize);
    for (a, alert) in alerts.iter().enumerate() {
        let r = rules.entry(alert.rule.clone()).or_default();
        r.alerts += 1;
        if alert.max_severity == Severity::Critical {
            critical_total += 1;
            critical_fire += usize::from(legit[a]);
        }
        if !legit[a] {
            r.false_alerts += 1;
            *r.false_by_severity
                .entry(alert.max_severity.as_str())
                .or_default() += 1;
            false_any += 1;
            false_critical += usize::from(alert.max_severity == Severity::Critical);
        }
    }
    for r in rules.values_mut() {
        r.false_per_detector_day = r.false_alerts as f64 / detector_days;
    }
    let mut false_alerts: Vec<FalseAlert> = (0..alerts.len())
        .filter(|&a| !legit[a])
        .map(|a| {
            let mut f = false_alert(&alerts[a], overlapped[a].iter().map(|&i| &incidents[i]));
            f.open_when_critical = open_beside(alerts, a);
            f
        })
        .collect();
    false_alerts.sort_by(|x, y| (y.severity.cmp(&x.severity)).then(x.opened_ms.cmp(&y.opened_ms)));
    let legit_count = legit.iter().filter(|l| **l).count();
    Scoreboard {
        detectors,
        days,
        detector_days,
        alerts: alerts.len(),
        kinds,
        fires: {
            fires.sort_by_key(|f| f.start_ms);
            fires
        },
        rules,
        false_per_detector_day: false_any as f64 / detector_days,
        false_critical_per_detector_day: false_critical as f64 / detector_days,
        precision: ratio(legit_count, alerts.len()),
        critical_precision: ratio(critical_fire, critical_total),
        false_alerts,
    }
}

fn false_alert<'a>(
    alert: &AlertRecord,
    overlapping: impl Iterator<Item = &'a Incident>,
) -> FalseAlert {
    let opened = alert.opened.millis();
    FalseAlert {
        rule: alert.rule.clone(),
        subject: match &alert.device {
            Some(d) => d.to_string(),
            None => format!("{}/{}", alert.home, alert.room),
        },
        opened_ms: opened,
        duration_s: (alert.end.millis() - opened) as f64 / 1000.0,
        severity: alert.max_severity,
        open_when_critical: Vec::new(),
        overlapping: overlapping
            .map(|i| {
                let channel = i.channel.map_or(String::new(), |c| format!(":{}", c.key()));
                let start = (i.start.millis() - opened) as f64 / 1000.0;
                format!("{}{channel}@{start:+.0}s", i.kind.as_str())
            })
            .collect(),
    }
}

/// The other alerts of alert `a`'s device open when it became critical.
fn open_beside(alerts: &[AlertRecord], a: usize) -> Vec<String> {
    let alert = &alerts[a];
    let (Some(device), Some(at)) = (&alert.device, alert.critical_at) else {
        return Vec::new();
    };
    alerts
        .iter()
        .enumerate()
        .filter(|(b, other)| {
            *b != a
                && other.device.as_ref() == Some(device)
                && other.opened <= at
                && at <= other.end
        })
        .map(|(_, other)| format!("{} ({})", other.rule, other.max_severity.as_str()))
        .collect()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EventTime;
    use crate::simulate::truth::test_support::incident;

    fn alert(rule: &str, severity: Severity, opened_s: i64, end_s: i64) -> AlertRecord {
        AlertRecord {
            rule: rule.into(),
            device: (!rule.starts_with("light")).then(|| "h1-kitchen-smoke".into()),
            home: "h1".into(),
            room: "kitchen".into(),
            opened: EventTime(opened_s * 1000),
            end: EventTime(end_s * 1000),
            max_severity: severity,
            critical_at: (severity == Severity::Critical).then_some(EventTime(opened_s * 1000)),
        }
    }

    /// The scoreboard's line for incidents of `kind`.
    fn kind_score(s: &Scoreboard, kind: IncidentKind) -> &KindScore {
        s.kinds
            .iter()
            .find(|x| x.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} incidents scored"))
    }

    #[test]
    fn fires_nuisance_faults_and_false_alerts_are_told_apart() {
        let incidents = [
            incident(IncidentKind::Flaming, 1000, 1600),
            incident(IncidentKind::Nuisance, 5000, 5600),
            incident(IncidentKind::StuckSensor, 9000, 9300),
            incident(IncidentKind::LightLeftOn, 20_000, 22_000),
        ];
        let alerts = [
            alert("fire", Severity::Critical, 1030, 1700),
            alert("threshold:tvoc_ppb", Severity::Low, 5100, 5500),
            alert("threshold:pm2_5", Severity::High, 5200, 5300),
            alert("fault:device", Severity::Low, 9100, 9400),
            alert("light_on_empty_room", Severity::Low, 20_060, 22_000),
            alert("ml:fire", Severity::Critical, 40_000, 40_100),
        ];
        let s = score(&incidents, &alerts, 1, 0, 86_400_000);
        let kind = |k| kind_score(&s, k);
        let fire = kind(IncidentKind::Flaming);
        assert_eq!((fire.incidents, fire.critical), (1, 1));
        assert_eq!(fire.delay.max_s, Some(30.0));
        assert_eq!(fire.critical_delay.max_s, Some(30.0));
        assert_eq!(fire.time_to_resolve.max_s, Some(100.0));
        let nuisance = kind(IncidentKind::Nuisance);
        assert_eq!(nuisance.severity_reached.get("high"), Some(&1));
        assert_eq!(nuisance.fire_alerts, 1, "the high pm2_5 alert");
        assert_eq!(kind(IncidentKind::StuckSensor).recall, 1.0);
        assert_eq!(kind(IncidentKind::LightLeftOn).delay.max_s, Some(60.0));
        assert_eq!(s.rules["threshold:pm2_5"].false_alerts, 1);
        assert_eq!(s.rules["threshold:tvoc_ppb"].false_alerts, 0, "advisory");
        assert_eq!(
            s.rules["ml:fire"].false_by_severity.get("critical"),
            Some(&1)
        );
        assert!((s.false_per_detector_day - 2.0).abs() < 1e-9);
        assert!((s.false_critical_per_detector_day - 1.0).abs() < 1e-9);
        assert!((s.critical_precision - 0.5).abs() < 1e-9);
        // Listed, critical first, with what they overlapped.
        let listed: Vec<(&str, Severity, &[String])> = s
            .false_alerts
            .iter()
            .map(|f| (f.rule.as_str(), f.severity, f.overlapping.as_slice()))
            .collect();
        assert_eq!(
            listed,
            [
                ("ml:fire", Severity::Critical, &[][..]),
                (
                    "threshold:pm2_5",
                    Severity::High,
                    &["nuisance@-200s".to_string()][..]
                ),
            ]
        );
        assert_eq!(s.false_alerts[1].subject, "h1-kitchen-smoke");
    }

    #[test]
    fn a_fire_during_a_nuisance_makes_the_fire_critical_not_the_nuisance() {
        let incidents = [
            incident(IncidentKind::Nuisance, 1000, 1600),
            incident(IncidentKind::Smouldering, 1200, 2400),
            incident(IncidentKind::Nuisance, 5000, 5600),
        ];
        let alerts = [
            // Explained by the smouldering fire that overlaps the first nuisance.
            alert("ml:fire", Severity::Critical, 1300, 2400),
            // Nothing but the second nuisance: a false critical, made critical
            // by a heat advisory of the same device.
            alert("ml:fire", Severity::Critical, 5100, 5200),
            alert("threshold:temperature_c", Severity::Low, 5050, 5150),
        ];
        let s = score(&incidents, &alerts, 1, 0, 86_400_000);
        let kind = |k| kind_score(&s, k);
        let fire = kind(IncidentKind::Smouldering);
        assert_eq!(fire.severity_reached.get("critical"), Some(&1));
        let nuisance = kind(IncidentKind::Nuisance);
        assert_eq!(nuisance.severity_reached.get("critical"), Some(&1));
        assert_eq!(nuisance.severity_reached.get("none"), Some(&1));
        assert_eq!(nuisance.fire_alerts, 1);
        let critical = &s.false_alerts[0];
        assert_eq!(
            (critical.opened_ms, critical.open_when_critical.as_slice()),
            (
                5_100_000,
                &["threshold:temperature_c (low)".to_string()][..]
            )
        );
    }

    #[test]
    fn every_fire_is_listed_with_its_delay_or_as_missed() {
        let incidents = [
            incident(IncidentKind::Smouldering, 7000, 8000),
            incident(IncidentKind::Flaming, 1000, 1600),
            incident(IncidentKind::Nuisance, 3000, 3300),
        ];
        let alerts = [alert("ml:fire", Severity::High, 1045, 1700)];
        let s = score(&incidents, &alerts, 1, 0, 86_400_000);
        let listed: Vec<_> = s
            .fires
            .iter()
            .map(|f| (f.kind, f.start_ms, f.duration_s, f.delay_s, f.severity))
            .collect();
        assert_eq!(
            listed,
            [
                (IncidentKind::Flaming, 1_000_000, 600.0, Some(45.0), "high"),
                (IncidentKind::Smouldering, 7_000_000, 1000.0, None, "none"),
            ]
        );
        let table = super::super::report::table(&s);
        let slowest = table.split("slowest fires (of 2):\n").nth(1).unwrap();
        assert!(
            slowest.lines().next().unwrap().contains("smouldering"),
            "the missed fire first:\n{table}"
        );
    }
}
