//! Bounded channels between tasks, registered so their depth is visible.
//!
//! Every edge of the pipeline is a bounded `mpsc` channel: a slow consumer
//! makes its producer wait (backpressure) instead of growing memory. The
//! receiving end is shared behind a mutex so a restarted task picks up
//! where its failed predecessor stopped, without losing what was queued.

use crate::base::config::Capacity;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The receiving end of a bounded channel, shareable across task restarts.
/// A task holds the lock while it runs.
pub type SharedReceiver<T> = Arc<tokio::sync::Mutex<mpsc::Receiver<T>>>;

type DepthProbe = Box<dyn Fn() -> Option<usize> + Send + Sync>;

struct Probe {
    name: &'static str,
    capacity: usize,
    depth: DepthProbe,
}

/// Registry of the daemon's bounded channels.
#[derive(Clone, Default)]
pub struct Queues {
    probes: Arc<Mutex<Vec<Probe>>>,
}

/// A channel's fill level at one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// Channel name, e.g. `stream.validate`; the `queue` label of the queue metrics.
    pub name: &'static str,
    /// Items sent but not yet received.
    pub depth: usize,
    /// Most items it holds before senders wait (`daemon.channel_capacity` for the stream).
    pub capacity: usize,
}

impl Queues {
    /// Current depth of every channel that is still open.
    pub fn depths(&self) -> Vec<QueueDepth> {
        let probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        probes
            .iter()
            .filter_map(|p| {
                (p.depth)().map(|depth| QueueDepth {
                    name: p.name,
                    depth,
                    capacity: p.capacity,
                })
            })
            .collect()
    }

    /// Publishes `smokewatch_queue_depth` and `smokewatch_queue_capacity`.
    pub fn publish_metrics(&self) {
        for q in self.depths() {
            metrics::gauge!(crate::telemetry::names::QUEUE_DEPTH, "queue" => q.name)
                .set(q.depth as f64);
            metrics::gauge!(crate::telemetry::names::QUEUE_CAPACITY, "queue" => q.name)
                .set(q.capacity as f64);
        }
    }

    fn register(&self, probe: Probe) {
        self.probes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(probe);
    }
}

/// A bounded channel named `name`, registered in `queues`.
pub fn bounded<T: Send + 'static>(
    name: &'static str,
    capacity: Capacity,
    queues: &Queues,
) -> (mpsc::Sender<T>, SharedReceiver<T>) {
    let (tx, rx) = mpsc::channel(capacity.get());
    let weak = tx.downgrade();
    queues.register(Probe {
        name,
        capacity: capacity.get(),
        depth: Box::new(move || weak.upgrade().map(|tx| tx.max_capacity() - tx.capacity())),
    });
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn depth_follows_queued_items_and_closed_queues_disappear() {
        let queues = Queues::default();
        let (tx, rx) = bounded::<u8>("test", Capacity::new(8), &queues);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(
            queues.depths(),
            vec![QueueDepth {
                name: "test",
                depth: 2,
                capacity: 8
            }]
        );
        rx.lock().await.recv().await.unwrap();
        assert_eq!(queues.depths()[0].depth, 1);
        drop(tx);
        assert!(queues.depths().is_empty());
    }
}
