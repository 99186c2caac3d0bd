//! The alert scoreboard's targets, on a CI-sized fleet (20 detectors, one
//! day of event time) with the default configuration and the model the
//! daemon would train first: every fire raises a critical alert within
//! 60 s, nuisance never reaches critical, forgotten lights are found at
//! 60 s with no false alert, faults never raise a fire alert, and false
//! alarms stay rare. The full-size figures are in the README
//! (`smokewatch bench alerts --detectors 200 --days 7`).

use smokewatch::config::Config;
use smokewatch::scoreboard::{self, initial_model, run_fleet};
use smokewatch::simulate::truth::IncidentKind;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_detectors_meet_the_alert_targets_on_a_simulated_day() {
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
    let kind = |k: IncidentKind| board.kinds.iter().find(|s| s.kind == k);

    let mut fires = 0;
    for k in [IncidentKind::Smouldering, IncidentKind::Flaming] {
        let Some(s) = kind(k) else { continue };
        fires += s.incidents;
        assert_eq!(s.critical, s.incidents, "every {k:?} fire is critical\n{table}");
        let p95 = s.delay.p95_s.unwrap_or(f64::INFINITY);
        assert!(p95 <= 60.0, "{k:?} delay p95 {p95} s\n{table}");
    }
    assert!(fires >= 5, "the day must hold fires to score ({fires})\n{table}");
    let nuisance = kind(IncidentKind::Nuisance).expect("nuisance episodes happen daily");
    assert_eq!(
        nuisance.severity_reached.get("critical"),
        None,
        "nuisance never critical\n{table}"
    );
    let light = kind(IncidentKind::LightLeftOn).expect("forgotten lights happen daily");
    assert_eq!(light.recall, 1.0, "{table}");
    let delay = light.delay.max_s.unwrap_or(f64::INFINITY);
    assert!((59.0..=61.0).contains(&delay), "opened at {delay} s\n{table}");
    assert_eq!(board.rules["light_on_empty_room"].false_alerts, 0, "{table}");
    for k in [IncidentKind::StuckSensor, IncidentKind::Drift, IncidentKind::Spike] {
        if let Some(s) = kind(k) {
            assert_eq!(s.fire_alerts, 0, "{k:?} raised fire alerts\n{table}");
        }
    }
    assert!(board.false_critical_per_detector_day <= 0.05, "{table}");
    assert!(board.false_per_detector_day <= 0.5, "{table}");
}
