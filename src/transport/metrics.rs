//! Metric handles of the transport, looked up once per producer or
//! consumer instead of once per record (a labelled lookup costs a hash and
//! a lock; a handle is an atomic add).
//!
//! Both transports publish the same names, so dashboards do not care which
//! one runs. Handles are created after the daemon installed its recorder
//! (producers and consumers are made by running tasks), so they are live.

use super::{TopicKind, TopicPartition};
use crate::telemetry::names;
use metrics::{Counter, Gauge};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Records and bytes of one direction (sent or consumed), per topic.
#[derive(Clone)]
pub(crate) struct FlowCounters {
    records: [Counter; 5],
    bytes: [Counter; 5],
}

impl FlowCounters {
    pub(crate) fn sent() -> Self {
        Self::new(names::TRANSPORT_RECORDS_SENT, names::TRANSPORT_SENT_BYTES)
    }

    pub(crate) fn consumed() -> Self {
        Self::new(
            names::TRANSPORT_RECORDS_CONSUMED,
            names::TRANSPORT_CONSUMED_BYTES,
        )
    }

    fn new(records: &'static str, bytes: &'static str) -> Self {
        Self {
            records: TopicKind::ALL.map(|t| metrics::counter!(records, "topic" => t.as_str())),
            bytes: TopicKind::ALL.map(|t| metrics::counter!(bytes, "topic" => t.as_str())),
        }
    }

    pub(crate) fn add(&self, topic: TopicKind, records: u64, bytes: u64) {
        self.records[topic.index()].increment(records);
        self.bytes[topic.index()].increment(bytes);
    }
}

/// Bytes of a record as counted by the byte counters: key plus value.
pub(crate) fn record_bytes(key: usize, value: usize) -> u64 {
    (key + value) as u64
}

/// The lag of every partition a consumer of this transport was assigned,
/// as last set on its `smokewatch_consumer_lag` gauge, readable in-process
/// (the dashboard shows the sum). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ConsumerLag(Arc<Mutex<BTreeMap<TopicPartition, f64>>>);

impl ConsumerLag {
    /// Records behind, summed over partitions; `None` before any
    /// partition was assigned.
    pub fn total(&self) -> Option<f64> {
        let lags = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (!lags.is_empty()).then(|| lags.values().sum())
    }

    /// The lag gauge of one partition, mirrored here.
    pub(crate) fn gauge(&self, tp: TopicPartition) -> LagGauge {
        LagGauge {
            tp,
            gauge: metrics::gauge!(
                names::CONSUMER_LAG,
                "topic" => tp.topic.as_str(),
                "partition" => tp.partition.to_string()
            ),
            view: self.clone(),
        }
    }
}

/// One partition's lag: the exported gauge and its in-process mirror.
#[derive(Debug)]
pub(crate) struct LagGauge {
    tp: TopicPartition,
    gauge: Gauge,
    view: ConsumerLag,
}

impl LagGauge {
    /// Sets the records behind (negative counts as 0).
    pub(crate) fn set(&self, records_behind: i64) {
        let lag = records_behind.max(0) as f64;
        self.gauge.set(lag);
        self.view
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.tp, lag);
    }
}

/// Counts a position moved because its records were no longer retained.
pub(crate) fn count_offset_reset(tp: TopicPartition) {
    metrics::counter!(
        names::CONSUMER_OFFSET_RESETS,
        "topic" => tp.topic.as_str(),
        "partition" => tp.partition.to_string()
    )
    .increment(1);
}

/// Counts records given up on after every retry.
pub(crate) fn count_send_failures(topic: TopicKind, reason: &str, records: u64) {
    metrics::counter!(
        names::TRANSPORT_SEND_FAILURES,
        "topic" => topic.as_str(),
        "reason" => reason.to_string()
    )
    .increment(records);
}
