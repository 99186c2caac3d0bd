//! Bounds the records travelling between the source and the end of the
//! sinks stage to about `stream.max_in_flight` of the pipeline's current
//! throughput, the idea of Flink's buffer debloating.
//!
//! Why: a graceful stop (SIGTERM) has to process everything already handed
//! to the stages before the final checkpoint can be written. With only the
//! channels as a bound (`channel_capacity` batches between each pair of
//! stages) that is up to ~100,000 records; a machine that can give the
//! daemon only a fraction of what it needs (another process busy on every
//! core) then needs longer than `daemon.shutdown_timeout` to drain, and the
//! stop fails. Keeping the in-flight records to about one second of what
//! the pipeline actually completes makes the drain about that long at any
//! load, without slowing a pipeline that keeps up: in-flight data is then
//! far below the bound (throughput = in-flight / latency, and the latency
//! of an unqueued batch is milliseconds).
//!
//! The source asks for room before it hands over a batch
//! ([`InFlight::reserve`], cancellable, so a stop never waits on it) and the
//! sinks stage gives the batch's records back when it is done with them
//! ([`InFlight::release`]). The bound is never below a few batches, so the
//! stages can always overlap.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Batches the bound always allows, whatever the measured throughput.
const MIN_BATCHES: u64 = 4;
/// How long completions are summed before the throughput is re-estimated.
const RATE_PERIOD: Duration = Duration::from_millis(200);
/// Weight of the newest throughput sample (an exponential moving average:
/// steady enough to ride out one slow batch, quick to follow a load change).
const RATE_WEIGHT: f64 = 0.3;
/// Longest the source waits for room when nothing completes at all: a
/// stage restarted by the supervisor may have lost the batches it held,
/// and their records would otherwise be counted in flight for ever.
const STALL_LIMIT: Duration = Duration::from_secs(5);

/// Shared by the source (reserves) and the sinks stage (releases).
#[derive(Clone)]
pub struct InFlight {
    inner: Arc<Inner>,
}

struct Inner {
    /// Records handed to the stages and not yet released by the sinks.
    records: AtomicU64,
    released: Notify,
    target: Duration,
    floor: u64,
    rate: Mutex<Rate>,
}

/// Throughput at the end of the pipeline, records per second.
struct Rate {
    per_second: f64,
    period_start: Instant,
    period_records: u64,
}

impl InFlight {
    /// About `target` of throughput in flight, never fewer than
    /// `MIN_BATCHES` batches of `batch_size` records.
    pub fn new(target: Duration, batch_size: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                records: AtomicU64::new(0),
                released: Notify::new(),
                target,
                floor: MIN_BATCHES * batch_size.max(1) as u64,
                rate: Mutex::new(Rate {
                    per_second: 0.0,
                    period_start: Instant::now(),
                    period_records: 0,
                }),
            }),
        }
    }

    /// Records currently in flight.
    pub fn records(&self) -> u64 {
        self.inner.records.load(Ordering::Relaxed)
    }

    /// The current bound: `target` × measured throughput, at least the floor.
    pub fn limit(&self) -> u64 {
        let per_second = self.inner.rate.lock().map_or(0.0, |r| r.per_second);
        let by_rate = (per_second * self.inner.target.as_secs_f64()) as u64;
        by_rate.max(self.inner.floor)
    }

    /// Waits until `n` more records fit under the bound (or nothing has
    /// completed for `STALL_LIMIT`), then counts them in flight. Dropping
    /// the future (a stop arriving) leaves the count unchanged.
    pub async fn reserve(&self, n: u64) {
        let mut waited_since = None;
        loop {
            let released = self.inner.released.notified();
            let in_flight = self.records();
            // A batch always goes when nothing is in flight, however large.
            if in_flight == 0 || in_flight + n <= self.limit() {
                break;
            }
            let since = *waited_since.get_or_insert_with(Instant::now);
            let left = STALL_LIMIT.saturating_sub(since.elapsed());
            if left.is_zero() {
                tracing::warn!(
                    in_flight,
                    "no records completed for {STALL_LIMIT:?}; handing the next batch over anyway"
                );
                self.inner.records.store(0, Ordering::Relaxed);
                break;
            }
            if tokio::time::timeout(left, released).await.is_ok() {
                waited_since = None;
            }
        }
        self.inner.records.fetch_add(n, Ordering::Relaxed);
    }

    /// The sinks stage is done with `n` records of the source.
    pub fn release(&self, n: u64) {
        if n == 0 {
            return;
        }
        let _ = self
            .inner
            .records
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                Some(r.saturating_sub(n))
            });
        if let Ok(mut rate) = self.inner.rate.lock() {
            rate.period_records += n;
            let elapsed = rate.period_start.elapsed();
            if elapsed >= RATE_PERIOD {
                let sample = rate.period_records as f64 / elapsed.as_secs_f64();
                rate.per_second = if rate.per_second == 0.0 {
                    sample
                } else {
                    RATE_WEIGHT * sample + (1.0 - RATE_WEIGHT) * rate.per_second
                };
                rate.period_start = Instant::now();
                rate.period_records = 0;
            }
        }
        self.inner.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_waits_for_room_and_goes_when_records_complete() {
        let in_flight = InFlight::new(Duration::from_secs(1), 10);
        // No throughput measured yet: the floor (4 batches of 10) holds.
        assert_eq!(in_flight.limit(), 40);
        in_flight.reserve(30).await;
        let waiting = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move { in_flight.reserve(20).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "50 records do not fit under 40");
        assert_eq!(in_flight.records(), 30);
        in_flight.release(30);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting batch goes once room is made")
            .expect("task");
        assert_eq!(in_flight.records(), 20);
    }

    #[tokio::test]
    async fn the_bound_follows_the_measured_throughput() {
        let in_flight = InFlight::new(Duration::from_millis(500), 10);
        in_flight.reserve(40).await;
        // 40 records completed over about 200 ms: ~200 records/s.
        tokio::time::sleep(RATE_PERIOD).await;
        in_flight.release(40);
        let limit = in_flight.limit();
        assert!(
            (40..=100).contains(&limit),
            "half a second of ~200 records/s (at least the floor of 40), got {limit}"
        );
    }

    #[tokio::test]
    async fn an_empty_pipeline_takes_any_batch() {
        let in_flight = InFlight::new(Duration::from_secs(1), 10);
        in_flight.reserve(1000).await;
        assert_eq!(in_flight.records(), 1000);
    }

    #[tokio::test]
    async fn a_dropped_reservation_counts_nothing() {
        let in_flight = InFlight::new(Duration::from_secs(1), 10);
        in_flight.reserve(40).await;
        let pending = tokio::time::timeout(Duration::from_millis(20), in_flight.reserve(10)).await;
        assert!(pending.is_err(), "no room: the reservation waits");
        assert_eq!(in_flight.records(), 40);
    }
}
