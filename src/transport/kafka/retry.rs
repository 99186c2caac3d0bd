//! Which Kafka errors are worth retrying, and how long to wait in between.
//!
//! rskafka's own retry loop is switched off (its backoff deadline is zero,
//! see `client_backoff` in the parent module) so that every retry is ours: counted,
//! bounded by `kafka.producer.retries`, visible in /health and metrics.

use crate::base::backoff::Backoff;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use std::time::Duration;

/// Kafka retries wait on the shared curve with ±25 % jitter, so that N
/// daemons (or N partitions) that lost the same broker do not all come back
/// in the same millisecond.
pub fn retry_backoff(first: Duration, max: Duration) -> Backoff {
    Backoff::new(first, max).with_jitter(0.25)
}

/// What a failed request means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The broker is away or busy; the same request may succeed later.
    Retriable,
    /// The broker refused the request itself; repeating it is pointless.
    Fatal,
}

/// Kafka's retriable error codes (the Java client's `RetriableException`
/// subclasses), plus `UNKNOWN_SERVER_ERROR`, which small brokers return for
/// transient storage trouble. Connection and I/O failures and timeouts are
/// retriable too.
pub fn classify(error: &ClientError) -> Failure {
    match error {
        ClientError::ServerError { protocol_error, .. } => classify_protocol(*protocol_error),
        ClientError::InvalidResponse(_) => Failure::Fatal,
        _ => Failure::Retriable,
    }
}

fn classify_protocol(code: ProtocolError) -> Failure {
    use ProtocolError as E;
    match code {
        E::UnknownServerError
        | E::CorruptMessage
        | E::UnknownTopicOrPartition
        | E::LeaderNotAvailable
        | E::NotLeaderOrFollower
        | E::RequestTimedOut
        | E::BrokerNotAvailable
        | E::ReplicaNotAvailable
        | E::NetworkException
        | E::CoordinatorLoadInProgress
        | E::CoordinatorNotAvailable
        | E::NotCoordinator
        | E::NotEnoughReplicas
        | E::NotEnoughReplicasAfterAppend
        | E::NotController
        | E::KafkaStorageError
        | E::FencedLeaderEpoch
        | E::UnknownLeaderEpoch
        | E::OffsetNotAvailable
        | E::PreferredLeaderNotAvailable
        | E::EligibleLeadersNotAvailable
        | E::ThrottlingQuotaExceeded
        | E::ConcurrentTransactions => Failure::Retriable,
        _ => Failure::Fatal,
    }
}

/// The broker's error code when it answered with one.
pub fn protocol_error(error: &ClientError) -> Option<ProtocolError> {
    match error {
        ClientError::ServerError { protocol_error, .. } => Some(*protocol_error),
        _ => None,
    }
}

/// A short, stable label for metrics: the broker's error code in
/// snake_case (`message_too_large`), or the kind of client failure.
pub fn reason_label(error: &ClientError) -> String {
    match error {
        ClientError::ServerError { protocol_error, .. } => {
            snake_case(&format!("{protocol_error:?}"))
        }
        ClientError::Connection(_) | ClientError::Request(_) => "broker_unreachable".into(),
        ClientError::Timeout => "timeout".into(),
        ClientError::RetryFailed(_) => "broker_unreachable".into(),
        ClientError::InvalidResponse(_) => "invalid_response".into(),
        _ => "client_error".into(),
    }
}

fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_refusals_are_fatal_and_outages_retriable() {
        let server = |code| ClientError::ServerError {
            protocol_error: code,
            error_message: None,
            request: rskafka::client::error::RequestContext::Topic("t".into()),
            response: None,
            is_virtual: false,
        };
        assert_eq!(classify(&ClientError::Timeout), Failure::Retriable);
        assert_eq!(
            classify(&server(ProtocolError::NotLeaderOrFollower)),
            Failure::Retriable
        );
        assert_eq!(
            classify(&server(ProtocolError::MessageTooLarge)),
            Failure::Fatal
        );
        assert_eq!(
            reason_label(&server(ProtocolError::MessageTooLarge)),
            "message_too_large"
        );
        assert_eq!(
            reason_label(&server(ProtocolError::Unknown(-42))),
            "unknown"
        );
    }
}
