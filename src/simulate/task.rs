//! The simulator as a daemon task: ticks the live fleet at the configured
//! pace and sends what it produces through the transport.
//!
//! Backpressure, not buffering: a tick's messages wait in the fleet's
//! pending queue (at most one tick's worth) and the next tick is only made
//! once they are all sent, each `Producer::send` awaited — when the
//! transport is full the simulator simply waits (and reports itself
//! degraded after a few seconds). Nothing is dropped: a send that fails
//! leaves its message pending and the restarted task sends it first.

use super::SimulateError;
use super::clock::StoredClock;
use super::config::SimulatorConfig;
use super::fleet;
use super::live::{LiveFleet, Message};
use super::truth::TruthLog;
use crate::schema::registry::DeviceRegistry;
use crate::supervisor::{Role, Supervisor, TaskContext, TaskReport, TaskResult};
use crate::telemetry::names;
use crate::transport::{OutgoingRecord, Producer, TopicKind};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Source label of what the simulator produces.
pub const SOURCE: &str = "simulator";
/// How long a send may wait before the task reports itself degraded.
const SLOW_SEND: Duration = Duration::from_secs(5);
/// How far behind schedule the task may fall before it stops catching up.
const MAX_LAG: Duration = Duration::from_secs(1);
/// How often (wall time) the ongoing incidents are published to the
/// ground truth: collecting them visits every room, and the alerts judged
/// by them are judged every few seconds.
const OPEN_INCIDENTS_EVERY: Duration = Duration::from_secs(1);

/// The fleet and the messages of its current tick, kept across restarts.
struct State {
    fleet: LiveFleet,
    pending: VecDeque<Message>,
    clock: StoredClock,
}

/// What the simulator task is built from: its config section and the
/// handles it needs.
pub struct Deps {
    pub config: SimulatorConfig,
    /// `daemon.data_dir`: where the simulated clock is kept across restarts.
    pub data_dir: PathBuf,
    /// The fleet's devices are registered here before the first reading.
    pub devices: DeviceRegistry,
    /// Where the readings and room events go.
    pub producer: Producer,
    /// Where the fleet's ground truth goes (the web judges alerts by it).
    pub truth: TruthLog,
}

/// Starts the live fleet: registers every device, then runs the
/// `simulate/fleet` source task.
pub fn spawn(supervisor: &mut Supervisor, deps: Deps) -> Result<(), SimulateError> {
    let Deps {
        config,
        data_dir,
        devices,
        producer,
        truth,
    } = deps;
    let clock = StoredClock::in_data_dir(&data_dir);
    let start_ms = clock.start_ms(
        config.start_time.map(|t| t.timestamp_millis()),
        chrono::Utc::now().timestamp_millis(),
    );
    let fleet = LiveFleet::new(&config, start_ms)?;
    let rooms: Vec<_> = fleet.rooms().cloned().collect();
    fleet::register(&rooms, &devices);
    let tick_wall = tick_period(&config, fleet.detectors());
    tracing::info!(
        "simulator: {} homes, {} detectors, one tick every {:?} of wall time ({:.0} readings/s)",
        config.homes,
        fleet.detectors(),
        tick_wall,
        fleet.detectors() as f64 / tick_wall.as_secs_f64().max(1e-9)
    );
    let state = Arc::new(tokio::sync::Mutex::new(State {
        fleet,
        pending: VecDeque::new(),
        clock,
    }));
    supervisor.spawn("simulate", "simulate/fleet", Role::Source, move |ctx| {
        run(
            ctx,
            state.clone(),
            producer.clone(),
            truth.clone(),
            tick_wall,
        )
    });
    Ok(())
}

/// Wall time between two ticks: from `target_rate` when set, else the
/// sample interval divided by the time acceleration.
pub fn tick_period(config: &SimulatorConfig, detectors: usize) -> Duration {
    let seconds = if config.target_rate > 0.0 {
        detectors as f64 / config.target_rate
    } else {
        config.sample_interval.get().as_secs_f64() / config.time_acceleration
    };
    Duration::from_secs_f64(seconds.clamp(0.0, 86_400.0))
}

async fn run(
    ctx: TaskContext,
    state: Arc<tokio::sync::Mutex<State>>,
    producer: Producer,
    truth: TruthLog,
    tick_wall: Duration,
) -> TaskResult {
    let mut state = state.lock().await;
    ctx.health.running();
    let mut next_tick = Instant::now();
    let mut open_published: Option<Instant> = None;
    let mut ticks = 0u64;
    loop {
        if !send_pending(&ctx, &mut state.pending, &producer).await? {
            break;
        }
        next_tick += tick_wall;
        let now = Instant::now();
        if now > next_tick + MAX_LAG {
            // Behind (backpressure or a slow machine): carry on from now
            // instead of bursting to catch up.
            next_tick = now;
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(next_tick) => {}
        }
        let tick = state.fleet.tick();
        ticks += 1;
        for fault in &tick.faults {
            metrics::counter!(names::SIMULATOR_FAULTS, "kind" => fault.as_str()).increment(1);
        }
        for scenario in &tick.scenarios {
            metrics::counter!(names::SIMULATOR_SCENARIOS, "kind" => scenario.as_str()).increment(1);
        }
        let next_event_time = state.fleet.next_event_time();
        truth.record_ended(tick.incidents);
        if open_published.is_none_or(|at| at.elapsed() >= OPEN_INCIDENTS_EVERY) {
            truth.publish_open(state.fleet.open_incidents(), next_event_time);
            open_published = Some(Instant::now());
        }
        let event_time = next_event_time.millis();
        metrics::gauge!(names::SIMULATOR_EVENT_TIME).set(event_time as f64 / 1000.0);
        state.clock.save(event_time, false);
        state.pending.extend(tick.messages);
    }
    let event_time = state.fleet.next_event_time().millis();
    state.clock.save(event_time, true);
    Ok(TaskReport::new(format!(
        "simulator stopped after {ticks} ticks; {} messages of the last tick and {} held-back readings not sent",
        state.pending.len(),
        state.fleet.held_back()
    )))
}

/// Sends pending messages in order, removing each once the transport has
/// it. Returns `Ok(false)` when shutdown interrupted it.
async fn send_pending(
    ctx: &TaskContext,
    pending: &mut VecDeque<Message>,
    producer: &Producer,
) -> Result<bool, SimulateError> {
    while let Some(message) = pending.front() {
        let topic = message.topic;
        let record = OutgoingRecord::json(
            message.key.clone(),
            message.value.clone(),
            message.timestamp_ms,
        );
        let send = producer.send(topic, record);
        tokio::pin!(send);
        let mut degraded = false;
        let result = loop {
            tokio::select! {
                result = &mut send => break result,
                _ = tokio::time::sleep(SLOW_SEND), if !degraded => {
                    degraded = true;
                    ctx.health.degraded("transport full: waiting to send (backpressure)");
                }
                _ = ctx.shutdown.cancelled() => return Ok(false),
            }
        };
        if degraded {
            ctx.health.running();
        }
        result.map_err(|e| SimulateError::Transport(e.to_string()))?;
        let counter = match topic {
            TopicKind::RoomEvents => names::ROOM_EVENTS_PRODUCED,
            _ => names::READINGS_PRODUCED,
        };
        metrics::counter!(counter, "source" => SOURCE).increment(1);
        pending.pop_front();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_follows_target_rate_or_acceleration() {
        let mut config = SimulatorConfig {
            time_acceleration: 1440.0,
            ..SimulatorConfig::default()
        };
        assert_eq!(
            tick_period(&config, 12),
            Duration::from_secs_f64(1.0 / 1440.0)
        );
        config.target_rate = 120.0;
        assert_eq!(tick_period(&config, 12), Duration::from_millis(100));
    }
}
