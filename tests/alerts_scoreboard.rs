//! The alert scoreboard's targets, on a CI-sized fleet (20 detectors, one
//! day of event time) with the default configuration and the model the
//! daemon would train first. The full-size figures are in the README
//! (`smokewatch bench alerts --detectors 200 --days 7`).
//!
//! `default_detectors_meet_the_alert_targets_they_reach` asserts what the
//! defaults achieve today; `fires_are_critical_within_60_s`
//! holds the targets not reached yet (ignored, with the reason), so the
//! gap stays visible and is checked the day it closes.

use smokewatch::app::config::Config;
use smokewatch::app::scoreboard::{self, Scoreboard, initial_model, run_fleet};
use smokewatch::simulate::truth::IncidentKind;
use std::time::Instant;

/// Runs the default detectors over 20 detectors x 1 day (seed 3).
async fn default_scoreboard() -> (Scoreboard, String) {
    let started = Instant::now();
    let config = Config::default();
    let model = tokio::task::spawn_blocking({
        let config = config.clone();
        move || initial_model(&config)
    })
    .await
    .unwrap()
    .unwrap()
    .unwrap_or_default();
    let out = run_fleet(&config, 20, 1.0, 3, model).await.unwrap();
    let board = scoreboard::score(
        &out.incidents,
        &out.alerts,
        out.detectors,
        out.start_ms,
        out.end_ms,
    );
    let table = scoreboard::report::table(&board);
    eprintln!("{table}\nin {:.1} s", started.elapsed().as_secs_f64());
    (board, table)
}

fn kind(board: &Scoreboard, k: IncidentKind) -> Option<&scoreboard::score::KindScore> {
    board.kinds.iter().find(|s| s.kind == k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_detectors_meet_the_alert_targets_they_reach() {
    let (board, table) = default_scoreboard().await;
    let (mut fires, mut critical) = (0, 0);
    for k in [IncidentKind::Smouldering, IncidentKind::Flaming] {
        let Some(s) = kind(&board, k) else { continue };
        fires += s.incidents;
        critical += s.critical;
        assert_eq!(s.recall, 1.0, "every {k:?} fire raises an alert\n{table}");
    }
    assert!(
        fires >= 5,
        "the day must hold fires to score ({fires})\n{table}"
    );
    // Every fire critical is the target (the ignored test below); the ML
    // alert and the fire gas signature agree on 24 of 25 here today.
    assert!(
        critical * 10 >= fires * 9,
        "{critical} of {fires} fires reached critical\n{table}"
    );
    let nuisance = kind(&board, IncidentKind::Nuisance).expect("nuisance happens daily");
    assert_eq!(
        nuisance.severity_reached.get("critical"),
        None,
        "nuisance never critical\n{table}"
    );
    let light = kind(&board, IncidentKind::LightLeftOn).expect("forgotten lights happen daily");
    // Every forgotten light (one in 20 was missed before a room event
    // first closed the old state's holds).
    assert_eq!(light.recall, 1.0, "{table}");
    let (first, last) = (
        light.delay.p50_s.unwrap_or(f64::NAN),
        light.delay.max_s.unwrap_or(f64::NAN),
    );
    assert!(
        (59.0..=61.0).contains(&first) && (59.0..=61.0).contains(&last),
        "opened at 60 s ± 1 reading: p50 {first}, max {last}\n{table}"
    );
    assert_eq!(
        board.rules["light_on_empty_room"].false_alerts, 0,
        "{table}"
    );
    // Here no fault raises a fire alert; on seed 1 heat advisories of a
    // drifting temperature sensor still do (README, Alerts).
    for k in [
        IncidentKind::StuckSensor,
        IncidentKind::Drift,
        IncidentKind::Spike,
    ] {
        if let Some(s) = kind(&board, k) {
            assert_eq!(s.fire_alerts, 0, "{k:?} overlapped fire alerts\n{table}");
        }
    }
    let faults = &board.rules["fault:device"];
    assert!(faults.alerts > 0, "impossible values are flagged\n{table}");
    assert_eq!(faults.false_alerts, 0, "only real faults flagged\n{table}");
    assert!(board.false_critical_per_detector_day <= 0.05, "{table}");
    // The target. The first model trained on 30 000 session rows raised 2.6
    // here, on 200 000 session rows 0.65, on the fleet's own readings 0.05.
    assert!(board.false_per_detector_day <= 0.5, "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "not reached yet: one fire in 25 stays `high`, the critical alert comes minutes \
            after a smouldering fire's onset (the simulated smouldering fire starts at normal \
            air's levels and climbs for minutes; the model and the gas signature need the \
            fire's TVOC plateau); see README, Alerts"]
async fn fires_are_critical_within_60_s() {
    let (board, table) = default_scoreboard().await;
    for k in [IncidentKind::Smouldering, IncidentKind::Flaming] {
        let Some(s) = kind(&board, k) else { continue };
        assert_eq!(
            s.critical, s.incidents,
            "every {k:?} fire is critical\n{table}"
        );
        let p95 = s.critical_delay.p95_s.unwrap_or(f64::INFINITY);
        assert!(p95 <= 60.0, "{k:?} delay p95 {p95} s\n{table}");
    }
}
