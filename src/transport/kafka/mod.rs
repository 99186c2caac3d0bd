//! The Kafka transport on rskafka: connection, topics, producer lanes and
//! fetch loops.
//!
//! [`KafkaTransport::start`] returns at once. A background task connects
//! with backoff and creates the topics; until it has, producers wait
//! (backpressure, not buffering) and consumers have nothing to read, and
//! /health says why, naming `kafka.bootstrap_servers`. So the daemon starts
//! and answers /health whether or not the broker is up, and catches up by
//! itself when it comes.

mod admin;
mod consumer;
mod fetch;
mod lane;
mod producer;
pub mod retry;
mod status;

pub use consumer::KafkaConsumer;
pub use producer::KafkaProducer;
pub use status::{BrokerStatus, Verdict};

use super::{KafkaConfig, Subscription, TopicKind, TransportError};
use crate::supervisor::{TaskContext, TaskReport, TaskResult};
use crate::telemetry::names;
use retry::retry_backoff;
use rskafka::BackoffConfig;
use rskafka::client::{Client, ClientBuilder};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A connected cluster with its topics in place.
#[derive(Debug)]
pub struct Cluster {
    pub client: Client,
    /// Real partition count of every topic.
    pub partitions: BTreeMap<TopicKind, u32>,
}

impl Cluster {
    fn partitions(&self, topic: TopicKind) -> u32 {
        self.partitions.get(&topic).copied().unwrap_or(1)
    }
}

/// What the connector, producer lanes and fetch loops of one transport share.
#[derive(Debug)]
pub(crate) struct KafkaContext {
    pub config: Arc<KafkaConfig>,
    pub cluster: watch::Receiver<Option<Arc<Cluster>>>,
    pub status: Arc<BrokerStatus>,
    /// The lag of every consumer's partitions.
    pub lag: super::metrics::ConsumerLag,
}

impl KafkaContext {
    /// The cluster, waiting until the connector has reached it.
    pub async fn cluster(&self) -> Result<Arc<Cluster>, TransportError> {
        let mut rx = self.cluster.clone();
        let ready = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| TransportError::Closed)?;
        ready.clone().ok_or(TransportError::Closed)
    }

    pub fn cluster_now(&self) -> Option<Arc<Cluster>> {
        self.cluster.borrow().clone()
    }
}

/// The Kafka side of [`super::Transport`].
pub struct KafkaTransport {
    shared: Arc<KafkaContext>,
    producer: KafkaProducer,
    connector: tokio::task::JoinHandle<()>,
}

impl Drop for KafkaTransport {
    fn drop(&mut self) {
        self.connector.abort();
    }
}

impl KafkaTransport {
    /// Starts connecting in the background; returns at once.
    pub fn start(config: &KafkaConfig) -> Self {
        let config = Arc::new(config.clone());
        let (tx, rx) = watch::channel(None);
        let shared = Arc::new(KafkaContext {
            config: config.clone(),
            cluster: rx,
            status: Arc::new(BrokerStatus::default()),
            lag: Default::default(),
        });
        shared.status.connect_failed(format!(
            "connecting to Kafka at kafka.bootstrap_servers = [{}]",
            config.bootstrap_servers.join(",")
        ));
        let connector = tokio::spawn(connect_until_ready(config, shared.status.clone(), tx));
        Self {
            producer: KafkaProducer::new(shared.clone()),
            shared,
            connector,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "kafka (rskafka) at {}",
            self.shared.config.bootstrap_servers.join(",")
        )
    }

    /// The topic's real partition count once connected, else the configured one.
    pub fn partitions(&self, topic: TopicKind) -> u32 {
        match self.shared.cluster_now() {
            Some(cluster) => cluster.partitions(topic),
            None => self.shared.config.partitions,
        }
    }

    pub fn producer(&self) -> KafkaProducer {
        self.producer.clone()
    }

    pub fn consumer(&self, subscription: Subscription) -> Result<KafkaConsumer, TransportError> {
        KafkaConsumer::start(self.shared.clone(), subscription)
    }

    pub fn status(&self) -> &BrokerStatus {
        &self.shared.status
    }

    /// The lag of the partitions its consumers read.
    pub fn consumer_lag(&self) -> &super::metrics::ConsumerLag {
        &self.shared.lag
    }

    /// Waits until connected with the topics in place (for tests and tools).
    pub async fn ready(&self) -> Result<(), TransportError> {
        self.shared.cluster().await.map(|_| ())
    }
}

/// rskafka retries internally forever by default; a zero deadline makes
/// every request fail fast so that our loops own retries and can count,
/// bound and report them.
fn client_backoff() -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(Duration::ZERO),
    }
}

/// Builds an rskafka client for `config`, failing after `request_timeout`.
pub(crate) async fn build_client(config: &KafkaConfig) -> Result<Client, String> {
    let build = ClientBuilder::new(config.bootstrap_servers.clone())
        .client_id(config.client_id.as_str())
        .max_message_size(super::config::MAX_MESSAGE_BYTES as usize)
        .backoff_config(client_backoff())
        .build();
    match tokio::time::timeout(config.request_timeout.get(), build).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} (kafka.request_timeout)",
            config.request_timeout
        )),
    }
}

/// Connects and sets up topics, retrying with backoff until it succeeds.
async fn connect_until_ready(
    config: Arc<KafkaConfig>,
    status: Arc<BrokerStatus>,
    ready: watch::Sender<Option<Arc<Cluster>>>,
) {
    let servers = config.bootstrap_servers.join(",");
    let mut backoff = retry_backoff(
        config.reconnect_backoff.get(),
        config.reconnect_backoff_max.get(),
    );
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        let outcome = match build_client(&config).await {
            Err(e) => Err(format!(
                "cannot reach Kafka at kafka.bootstrap_servers = [{servers}]: {e}"
            )),
            Ok(client) => admin::ensure_topics(&client, &config)
                .await
                .map(|layout| (client, layout))
                .map_err(|e| format!("Kafka at kafka.bootstrap_servers = [{servers}]: {e}")),
        };
        match outcome {
            Ok((client, layout)) => {
                tracing::info!(
                    attempt,
                    "connected to Kafka at {servers}; topics ready: {}",
                    layout
                        .partitions
                        .iter()
                        .map(|(k, n)| format!("{}={n}", k.name(&config.topics)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                status.connected(layout.problems);
                let cluster = Arc::new(Cluster {
                    client,
                    partitions: layout.partitions,
                });
                let _ = ready.send(Some(cluster));
                return;
            }
            Err(reason) => {
                let wait = backoff.next_wait();
                tracing::error!(
                    attempt,
                    "{reason}; retrying in {:.1}s (the daemon keeps running; /health is degraded)",
                    wait.as_secs_f64()
                );
                status.connect_failed(reason);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Service task `transport/kafka`: mirrors the transport's state into
/// /health and the broker-up and producer-queue gauges.
pub async fn monitor(ctx: TaskContext, transport: Arc<KafkaTransport>) -> TaskResult {
    let up = metrics::gauge!(names::TRANSPORT_BROKER_UP);
    let queued = metrics::gauge!(names::TRANSPORT_PRODUCER_QUEUED);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last = None;
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let verdict = transport.status().verdict();
        up.set(if transport.status().is_up() { 1.0 } else { 0.0 });
        queued.set(transport.producer.held() as f64);
        if last.as_ref() != Some(&verdict) {
            match &verdict {
                Verdict::Healthy => ctx.health.running(),
                Verdict::Degraded(reason) => ctx.health.degraded(reason.clone()),
            }
            last = Some(verdict);
        }
    }
    Ok(TaskReport::new(format!(
        "kafka monitor stopped; {} records still held by the producer",
        transport.producer.held()
    )))
}
