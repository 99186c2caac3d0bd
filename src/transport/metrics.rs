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

/// The lag gauge of one partition.
pub(crate) fn lag_gauge(tp: TopicPartition) -> Gauge {
    metrics::gauge!(
        names::CONSUMER_LAG,
        "topic" => tp.topic.as_str(),
        "partition" => tp.partition.to_string()
    )
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
