//! Hot swap under load: scorer tasks take readings from one queue as fast
//! as they can and score each through the shared `ModelHandle` while a
//! retrained model is promoted. No reading is lost or scored twice, and
//! every reading taken after the swap completed carries the new version.

mod ml_common;

use smokewatch::features::DeviceFeatures;
use smokewatch::ml::{ModelHandle, Promotion, retrain};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;

const SCORERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_while_scoring_loses_nothing_and_later_readings_carry_the_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let config = ml_common::small_config(dir.path());
    let handle = ModelHandle::new();
    let data = ml_common::training_data(ml_common::history(3_000, 2, 31));
    let first = retrain(
        &config,
        &handle,
        &data,
        None,
        Promotion::Compare,
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(handle.version().as_deref(), Some(first.version.as_str()));

    // The readings to score, as feature vectors of the current spec.
    let spec = handle.current().unwrap().feature_spec().clone();
    let readings: Vec<Vec<f64>> = {
        let mut state = DeviceFeatures::new(&spec);
        let mut out = Vec::new();
        ml_common::history(400, 1, 32)
            .iter()
            .cycle()
            .take(4_000)
            .map(|r| {
                state.update(r.event_time, &r.values);
                state.vector_into(&spec, &mut out);
                out.clone()
            })
            .collect()
    };
    let readings = Arc::new(readings);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let mut scorers = Vec::new();
    for _ in 0..SCORERS {
        let (handle, readings, next, stop) =
            (handle.clone(), readings.clone(), next.clone(), stop.clone());
        scorers.push(tokio::task::spawn_blocking(move || {
            let mut scored: Vec<(usize, Arc<str>)> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                // Reading number i of an endless stream.
                let i = next.fetch_add(1, Ordering::SeqCst);
                let features = &readings[i % readings.len()];
                let model = handle.current().expect("a model is always served");
                let prediction = model.predict(features);
                scored.push((i, prediction.model_version));
            }
            scored
        }));
    }

    // Promote a retrained model while the scorers run.
    let before_swap = wait_for_progress(&next, 0, 20_000).await;
    let retrained = {
        let (config, handle) = (config.clone(), handle.clone());
        let data = ml_common::training_data(ml_common::history(3_000, 2, 33));
        tokio::task::spawn_blocking(move || {
            retrain(
                &config,
                &handle,
                &data,
                None,
                Promotion::Force,
                &CancellationToken::new(),
            )
            .unwrap()
        })
    };
    let outcome = retrained.await.unwrap();
    // Readings handed out from here on were taken after the swap returned.
    let after_swap = next.load(Ordering::SeqCst);
    assert!(outcome.promoted());
    wait_for_progress(&next, after_swap, 20_000).await;
    stop.store(true, Ordering::SeqCst);

    let mut all: Vec<(usize, Arc<str>)> = Vec::new();
    for s in scorers {
        all.extend(s.await.unwrap());
    }
    all.sort_by_key(|(i, _)| *i);
    let handed_out = next.load(Ordering::SeqCst);
    assert_eq!(all.len(), handed_out, "every reading taken was scored");
    assert!(
        all.iter().enumerate().all(|(k, (i, _))| k == *i),
        "no reading lost or repeated"
    );
    assert!(before_swap >= 20_000 && handed_out >= after_swap + 20_000);
    let new_version = outcome.version.as_str();
    assert!(
        all[..after_swap.min(all.len())]
            .iter()
            .any(|(_, v)| &**v == first.version.as_str()),
        "the old model scored before the swap"
    );
    let stale: Vec<_> = all[after_swap..]
        .iter()
        .filter(|(_, v)| &**v != new_version)
        .collect();
    assert!(
        stale.is_empty(),
        "readings after the swap scored by the old model: {}",
        stale.len()
    );
}

/// Waits until `n` more readings than `from` were handed out; returns the count.
async fn wait_for_progress(next: &AtomicUsize, from: usize, n: usize) -> usize {
    loop {
        let now = next.load(Ordering::SeqCst);
        if now >= from + n {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
