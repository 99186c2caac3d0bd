//! Runs a pipeline stage as a supervised task: [`run_stage`] takes any
//! [`Stage`], handles the control messages in order with the data and
//! reports throughput and latency.
//!
//! A stage's operator lives behind an `Arc<Mutex>` captured by the task
//! factory, so a restarted stage task continues with its state.

use super::message::{Batch, MAX_RESULTS_PER_MESSAGE, Msg};
use super::sinks::WindowResult;
use super::snapshot_encoder::SnapshotEncoder;
use super::stage::Stage;
use crate::supervisor::{SharedReceiver, TaskContext, TaskError, TaskReport, TaskResult};
use crate::telemetry::names;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, mpsc};

/// Runs `stage` until its input closes; forwards every message.
pub async fn run_stage<S: Stage>(
    ctx: TaskContext,
    stage: Arc<Mutex<S>>,
    encoder: SnapshotEncoder,
    input: SharedReceiver<Msg>,
    output: mpsc::Sender<Msg>,
) -> TaskResult {
    let mut input = input.lock().await;
    let mut stage = stage.lock().await;
    let name = stage.name();
    let records = metrics::counter!(names::STREAM_RECORDS, "stage" => name);
    let latency = metrics::histogram!(names::STAGE_LATENCY, "stage" => name);
    ctx.health.running();
    let mut processed = 0u64;
    let send = |msg| {
        let output = output.clone();
        async move {
            output
                .send(msg)
                .await
                .map_err(|_| TaskError::new(format!("{name}: the next stage is gone")))
        }
    };
    // A batch goes down with its window results split off ahead of it.
    let send_batch = |mut batch: Batch| {
        let extras = split_results(&mut batch);
        async move {
            for extra in extras {
                send(Msg::Data(extra)).await?;
            }
            send(Msg::Data(batch)).await
        }
    };
    // A paused stage's full result chunks go down, then it goes on.
    let finish_paused = async |stage: &mut S, batch: &mut Batch| -> Result<(), TaskError> {
        while stage.is_paused() {
            for chunk in std::mem::take(&mut batch.results_ahead) {
                send(Msg::Data(results_only(batch.received, chunk))).await?;
            }
            stage.resume(batch);
        }
        Ok(())
    };
    // A control message's output: made into a fresh batch by `make`, sent
    // on if there is any.
    let control_output = async |stage: &mut S,
                                make: &(dyn Fn(&mut S, &mut Batch) + Sync)|
           -> Result<(), TaskError> {
        let mut out = Batch::new(Instant::now());
        make(stage, &mut out);
        finish_paused(stage, &mut out).await?;
        if out.has_results() {
            send_batch(out).await?;
        }
        Ok(())
    };
    while let Some(msg) = input.recv().await {
        match msg {
            Msg::Data(mut batch) => {
                let started = Instant::now();
                let n = (batch.items.len() + batch.input.len()) as u64;
                stage.process(&mut batch);
                finish_paused(&mut *stage, &mut batch).await?;
                latency.record(started.elapsed().as_secs_f64());
                records.increment(n);
                processed += n;
                send_batch(batch).await?;
            }
            Msg::Trigger => {
                control_output(&mut *stage, &|s, out| s.trigger(out)).await?;
                send(Msg::Trigger).await?;
            }
            Msg::Progress(progress) => {
                control_output(&mut *stage, &|s, out| s.progress(&progress, out)).await?;
                send(Msg::Progress(progress)).await?;
            }
            Msg::EndOfInput => {
                control_output(&mut *stage, &|s, out| s.end_of_input(out)).await?;
                send(Msg::EndOfInput).await?;
            }
            Msg::Barrier(mut barrier) => {
                if let Some(state) = stage.snapshot() {
                    barrier.parts.push((name, encoder.encode(name, state)));
                }
                send(Msg::Barrier(barrier)).await?;
            }
        }
    }
    Ok(TaskReport::new(format!(
        "{name} drained: {processed} records{}",
        match stage.report() {
            r if r.is_empty() => String::new(),
            r => format!(", {r}"),
        }
    )))
}

/// Sends the full chunks a stage emitted ([`Batch::results_ahead`]) as
/// result-only batches ahead of `batch`, and splits what is left of its
/// window results the same way, keeping the last `MAX_RESULTS_PER_MESSAGE`
/// with it (results keep their order; the records stay with `batch`).
fn split_results(batch: &mut Batch) -> Vec<Batch> {
    let mut chunks = std::mem::take(&mut batch.results_ahead);
    let results = &mut batch.window_results;
    if results.len() > MAX_RESULTS_PER_MESSAGE {
        let keep = results.split_off(results.len() - MAX_RESULTS_PER_MESSAGE);
        let ahead = std::mem::replace(results, keep);
        let mut rest = ahead.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(MAX_RESULTS_PER_MESSAGE).collect());
        }
    }
    chunks
        .into_iter()
        .map(|window_results| results_only(batch.received, window_results))
        .collect()
}

/// A batch carrying only window results.
fn results_only(received: Instant, window_results: Vec<WindowResult>) -> Batch {
    let mut b = Batch::new(received);
    b.window_results = window_results;
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{EventTime, RoomSensorKind};
    use crate::stream::config::KeyKind;
    use crate::stream::sinks::PayloadLimit;
    use crate::stream::sinks::{Measure, WindowName, WindowResult};
    use crate::stream::validate::Validator;
    use crate::stream::window::{Windows, WindowsStage};

    fn result(n: i64) -> WindowResult {
        WindowResult {
            window: WindowName::Tumbling,
            key_kind: KeyKind::RoomSensor,
            device: None,
            home: "h".into(),
            room: "r".into(),
            measure: Measure::Sensor(RoomSensorKind::Light),
            start: EventTime(n),
            end: EventTime(n + 1),
            count: 1,
            avg: 1.0,
            min: 1.0,
            max: 1.0,
            stddev: 0.0,
            last: 1.0,
            is_final: true,
        }
    }

    /// The starts of the results sent ahead, then of those left in `batch`.
    fn result_order(ahead: &[Batch], batch: &Batch) -> Vec<i64> {
        ahead
            .iter()
            .chain(std::iter::once(batch))
            .flat_map(|b| b.window_results.iter().map(|r| r.start.millis()))
            .collect()
    }

    #[test]
    fn large_result_sets_are_split_in_order_and_small_ones_are_not() {
        let mut batch = Batch::new(Instant::now());
        batch.window_results = (0..20_000).map(result).collect();
        let ahead = split_results(&mut batch);
        let sizes: Vec<usize> = ahead.iter().map(|b| b.window_results.len()).collect();
        assert_eq!(sizes, vec![8192, 3616]);
        assert_eq!(batch.window_results.len(), MAX_RESULTS_PER_MESSAGE);
        assert_eq!(
            result_order(&ahead, &batch),
            (0..20_000).collect::<Vec<_>>()
        );
        assert!(split_results(&mut batch).is_empty());
    }

    /// Results written in chunks go down in the order they were emitted,
    /// each chunk allocated once at the message size.
    #[test]
    fn chunked_results_go_ahead_in_order_without_a_copy() {
        use crate::stream::message::ChunkedResults;
        let mut batch = Batch::new(Instant::now());
        let mut out = ChunkedResults {
            ahead: &mut batch.results_ahead,
            current: &mut batch.window_results,
        };
        for n in 0..20_000 {
            out.push(result(n));
        }
        assert_eq!(batch.results_ahead.len(), 2);
        assert!(
            batch
                .results_ahead
                .iter()
                .all(|c| c.capacity() == MAX_RESULTS_PER_MESSAGE),
            "full chunks are not grown past the message size"
        );
        let ahead = split_results(&mut batch);
        assert!(batch.results_ahead.is_empty());
        let sizes: Vec<usize> = ahead.iter().map(|b| b.window_results.len()).collect();
        assert_eq!(sizes, vec![8192, 8192]);
        assert_eq!(batch.window_results.len(), 20_000 - 2 * 8192);
        assert_eq!(
            result_order(&ahead, &batch),
            (0..20_000).collect::<Vec<_>>()
        );
    }

    /// A reading of device `dev-<device>` as the transport hands it over.
    fn record(device: u32, seq: u64, offset: i64) -> crate::transport::ConsumedRecord {
        use crate::schema::{ChannelValues, SmokeReading};
        let mut values = ChannelValues::EMPTY;
        values.set(crate::schema::Channel::Temperature, Some(20.0 + seq as f64));
        let reading = SmokeReading {
            device_id: format!("dev-{device}").as_str().into(),
            home: "h1".into(),
            room: "kitchen".into(),
            event_time: EventTime(1_700_000_000_000 + seq as i64 * 1000),
            seq,
            cnt: None,
            values,
            fire_alarm: None,
        };
        crate::transport::ConsumedRecord {
            topic: crate::transport::TopicKind::Readings,
            partition: 0,
            offset,
            key: None,
            value: crate::schema::json::encode_reading(&reading).into(),
            headers: crate::transport::json_headers(),
            timestamp_ms: 0,
        }
    }

    fn batch(records: Vec<crate::transport::ConsumedRecord>) -> Batch {
        let mut batch = Batch::new(Instant::now());
        batch.input = records;
        batch
    }

    /// Every result of the windows' last call, resuming it while it is
    /// paused (as the stage task does), in order.
    fn all_results(windows: &mut WindowsStage, b: &mut Batch) -> Vec<WindowResult> {
        let mut results: Vec<WindowResult> = Vec::new();
        while windows.is_paused() {
            results.extend(b.results_ahead.drain(..).flatten());
            windows.resume(b);
        }
        results.extend(b.results_ahead.drain(..).flatten());
        results.append(&mut b.window_results);
        results
    }

    /// Runs validate then windows over `records`; the windows' results and
    /// the reasons of everything dead-lettered.
    fn run(
        validate: &mut Validator,
        windows: &mut WindowsStage,
        records: Vec<crate::transport::ConsumedRecord>,
        close: bool,
    ) -> (Vec<WindowResult>, Vec<String>) {
        let mut b = batch(records);
        validate.process(&mut b);
        windows.process(&mut b);
        let mut results = all_results(windows, &mut b);
        if close {
            let mut end = Batch::new(Instant::now());
            windows.end_of_input(&mut end);
            results.extend(all_results(windows, &mut end));
        }
        let dead = b
            .dead_letters
            .iter()
            .map(|d| d.reason.to_string())
            .collect();
        (results, dead)
    }

    /// A window boundary of 20 000 devices makes about 20 000 results.
    /// The stage makes one message of them at a time (the task sends each
    /// on before the next is made), and they come out the same, in the
    /// same order, as from windows whose output never fills; the record
    /// that moved the watermark stays in its batch.
    #[test]
    fn a_window_boundary_is_made_one_message_at_a_time() {
        use crate::stream::config::WindowConfig;
        const DEVICES: u32 = 20_000;
        let config = WindowConfig::default();
        let first = || (0..DEVICES).map(|d| record(d, 1, i64::from(d))).collect();
        let last = || vec![record(0, 400, i64::from(DEVICES))];

        let mut validate = Validator::new(64, Default::default());
        let mut stage = WindowsStage::new(Windows::new(&config), PayloadLimit::default());
        let mut b = batch(first());
        validate.process(&mut b);
        stage.process(&mut b);
        assert!(!stage.is_paused());
        let mut b = batch(last());
        validate.process(&mut b);
        stage.process(&mut b);
        let mut messages: Vec<Vec<WindowResult>> = Vec::new();
        while stage.is_paused() {
            assert_eq!(b.results_ahead.len(), 1, "one full message at a time");
            assert!(b.window_results.len() < MAX_RESULTS_PER_MESSAGE);
            messages.append(&mut b.results_ahead);
            stage.resume(&mut b);
        }
        messages.append(&mut b.results_ahead);
        let paused: Vec<WindowResult> = messages
            .into_iter()
            .flatten()
            .chain(b.window_results.drain(..))
            .collect();
        assert_eq!(b.items.len(), 1);

        let mut validate = Validator::new(64, Default::default());
        let mut windows = Windows::new(&config);
        let mut whole = Vec::new();
        for records in [first(), last()] {
            let mut b = batch(records);
            validate.process(&mut b);
            for item in &b.items {
                assert_ne!(
                    windows.add(item, &mut whole),
                    crate::stream::window::Added::Late
                );
            }
            assert_eq!(
                windows.advance(&mut whole),
                crate::stream::window::Flow::Done
            );
        }
        assert!(whole.len() > 2 * MAX_RESULTS_PER_MESSAGE, "{}", whole.len());
        assert_eq!(paused, whole);
    }

    /// A checkpoint written by the first format (CBOR file, CBOR parts of
    /// the same state types) restores real stage state: a restored
    /// validator still knows which readings it has seen, restored windows
    /// still hold their open panes.
    #[test]
    fn stage_state_from_a_version_1_checkpoint_is_restored() {
        use crate::stream::checkpoint::{CheckpointId, CheckpointStore};
        use crate::stream::config::WindowConfig;
        use std::collections::BTreeMap;
        let fresh = || {
            (
                Validator::new(64, Default::default()),
                WindowsStage::new(
                    Windows::new(&WindowConfig::default()),
                    PayloadLimit::default(),
                ),
            )
        };
        let (mut validate, mut windows) = fresh();
        let first: Vec<_> = (0..3u32)
            .flat_map(|d| (1..=5).map(move |s| record(d, s, 0)))
            .collect();
        let (_, dead) = run(&mut validate, &mut windows, first, false);
        assert!(dead.is_empty(), "{dead:?}");

        // What format version 1 wrote: parts and file in CBOR.
        let cbor = |state: &dyn erased::Cbor| state.cbor();
        let parts = BTreeMap::from([
            ("validate".to_string(), cbor(validate.state())),
            ("windows".to_string(), cbor(&windows.windows)),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let mut file = b"SMOKEWATCH-CHECKPOINT\n".to_vec();
        file.extend_from_slice(&1u32.to_le_bytes());
        ciborium::into_writer(
            &erased::V1 {
                id: CheckpointId(7),
                created_ms: 0,
                positions: BTreeMap::new(),
                parts: parts
                    .into_iter()
                    .map(|(k, v)| (k, serde_bytes::ByteBuf::from(v)))
                    .collect(),
            },
            &mut file,
        )
        .unwrap();
        std::fs::write(dir.path().join("checkpoint"), file).unwrap();

        let cp = CheckpointStore::new(dir.path()).load().unwrap().unwrap();
        let (mut restored_validate, mut restored_windows) = fresh();
        restored_validate
            .restore(cp.part("validate").unwrap())
            .unwrap();
        restored_windows
            .restore(cp.part("windows").unwrap())
            .unwrap();

        // The same continuation (one replayed reading, then new ones) gives
        // the same verdicts and window results as the uninterrupted stages.
        let next = || vec![record(0, 5, 1), record(0, 6, 2), record(1, 6, 3)];
        let uninterrupted = run(&mut validate, &mut windows, next(), true);
        let after_restore = run(&mut restored_validate, &mut restored_windows, next(), true);
        assert_eq!(uninterrupted.1, vec!["duplicate".to_string()]);
        assert!(!uninterrupted.0.is_empty());
        assert_eq!(after_restore, uninterrupted);
    }

    /// Test-only encoders of the version 1 format.
    mod erased {
        use crate::stream::checkpoint::CheckpointId;
        use crate::transport::TopicPartition;
        use std::collections::BTreeMap;

        pub trait Cbor {
            fn cbor(&self) -> Vec<u8>;
        }

        impl<T: serde::Serialize> Cbor for T {
            fn cbor(&self) -> Vec<u8> {
                let mut out = Vec::new();
                ciborium::into_writer(self, &mut out).unwrap();
                out
            }
        }

        /// The version 1 checkpoint's fields, as it wrote them.
        #[derive(serde::Serialize)]
        pub struct V1 {
            pub id: CheckpointId,
            pub created_ms: i64,
            pub positions: BTreeMap<TopicPartition, i64>,
            pub parts: BTreeMap<String, serde_bytes::ByteBuf>,
        }
    }
}
