//! Inference logging, as Hopsworks users consume it: each deployment with an
//! `inference_logger` writes its requests and predictions as `inferencelog` records
//! ([`record`]) to a Kafka topic, or, with no broker configured, to a JSON-lines file per
//! deployment ([`sink`]).
//!
//! Never on the request path: a handler hands the exchange (request and response bodies, both
//! already in memory, shared not copied) to a bounded channel and returns; one writer thread
//! encodes the records and gives them to librdkafka, whose queue is the second bound.
//! Past either bound a record is dropped and counted, exactly: every record ends delivered or
//! dropped (`predictor_inference_log_records_total{outcome}` on `/metrics`), and drops are
//! reported in the deployment's log.

pub mod record;
pub mod sink;

use crate::definition::{DeploymentConfig, KafkaTopic, ModelServer, ServingTool};
use crate::deployment_log::DeploymentLog;
use crate::metrics::LogCounters;
use bytes::Bytes;
use record::RecordContext;
use sink::Writer;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

/// One inference as it went over the wire.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Shared by the request and response records (the request id when it is a UUID).
    pub inference_id: String,
    /// When the request arrived: Unix time in milliseconds.
    pub request_timestamp: i64,
    /// The answer's HTTP status (errors are logged too, with theirs).
    pub status: u16,
    pub request: Bytes,
    pub response: Bytes,
    /// Request headers the deployment asked to keep, as Kafka message headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Where one deployment's records go, and what counts them.
pub struct Target {
    pub deployment: String,
    pub context: RecordContext,
    /// The Kafka topic (unused by the file sink).
    pub topic: String,
    pub counters: LogCounters,
    pub log: Arc<DeploymentLog>,
    /// Drops reported so far in the deployment log (every power of ten is reported).
    reported_drops: AtomicU64,
}

impl Target {
    pub fn new(
        deployment: &str,
        context: RecordContext,
        topic: String,
        counters: LogCounters,
        log: Arc<DeploymentLog>,
    ) -> Target {
        Target {
            deployment: deployment.to_string(),
            context,
            topic,
            counters,
            log,
            reported_drops: AtomicU64::new(0),
        }
    }

    /// Counts `n` dropped records, and says so in the deployment log at the first drop and
    /// at every tenfold after (a broker outage must not flood the log it is reported in).
    pub fn dropped(&self, n: u64, why: &str) {
        let total = self.counters.dropped.inc_by(n) + n;
        let reported = self.reported_drops.load(Ordering::Relaxed);
        if total >= reported.saturating_mul(10).max(1)
            && self
                .reported_drops
                .compare_exchange(reported, total, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.log.warn(format!(
                "inference log: {total} record(s) dropped so far ({why}); inference is unaffected"
            ));
        }
    }
}

/// A job for the writer thread.
pub type Job = (Arc<Target>, Exchange);

/// The way into the writer thread, and whether it still reads.
#[derive(Clone)]
pub struct LogSender {
    pub tx: SyncSender<Job>,
    pub closed: Arc<AtomicBool>,
}

/// A deployment's logger, called by the HTTP handlers.
pub struct InferenceLogger {
    target: Arc<Target>,
    sampling_rate: f64,
    /// Request header names to keep (lowercase).
    pub headers: Vec<String>,
    sender: LogSender,
}

impl InferenceLogger {
    pub fn new(
        target: Target,
        sampling_rate: f64,
        headers: Vec<String>,
        sender: LogSender,
    ) -> InferenceLogger {
        InferenceLogger {
            target: Arc::new(target),
            sampling_rate,
            headers: headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
            sender,
        }
    }

    /// Whether this request is logged (`sampling_rate`).
    pub fn sampled(&self) -> bool {
        self.sampling_rate >= 1.0 || fastrand::f64() < self.sampling_rate
    }

    /// Hands the exchange to the writer thread; never waits. A full channel drops its records.
    pub fn log(&self, exchange: Exchange) {
        if self.sender.closed.load(Ordering::SeqCst) {
            let n = record::count(&self.target.context);
            self.target.dropped(n, "the server is stopping");
            return;
        }
        match self
            .sender
            .tx
            .try_send((Arc::clone(&self.target), exchange))
        {
            Ok(()) => {}
            Err(TrySendError::Full((target, exchange))) => {
                let n = record::count(&target.context);
                target.dropped(n, "the log buffer is full");
                drop(exchange);
            }
            Err(TrySendError::Disconnected((target, _))) => {
                target.dropped(record::count(&target.context), "the server is stopping");
            }
        }
    }
}

/// A deployment's inference logger on `writer`: its records' fixed fields from the
/// definition, its topic (created in the background when missing; an unreachable broker is
/// reported in the deployment log, not fatal: records wait in the buffer).
pub fn for_deployment(
    writer: Arc<Writer>,
    config: &DeploymentConfig,
    log: &Arc<DeploymentLog>,
    counters: LogCounters,
) -> Option<InferenceLogger> {
    let l = config.inference_logger.as_ref()?;
    let sender = writer.sender()?;
    let topic = l.kafka_topic.clone().unwrap_or_else(|| KafkaTopic {
        name: format!("{}-inference-log", config.name),
        num_of_partitions: None,
        num_of_replicas: None,
    });
    let context = RecordContext {
        serving_id: config.serving_id(),
        model_name: config.model_name().to_string(),
        model_version: config.model_version as i32,
        model_server: match config.model_server {
            Some(ModelServer::TensorflowServing) => "TENSORFLOW_SERVING",
            _ => "PYTHON",
        }
        .to_string(),
        serving_tool: match config.serving_tool {
            Some(ServingTool::Default) => "DEFAULT",
            _ => "KSERVE",
        }
        .to_string(),
        mode: l.mode,
        schema: l.schema,
        format: l.format,
    };
    log.info(format!(
        "inference log: {:?} records ({:?}, {:?}) to {}",
        l.mode,
        l.schema,
        l.format,
        writer.describe(&topic.name, &config.name)
    ));
    {
        let (log, topic) = (Arc::clone(log), topic.clone());
        tokio::spawn(async move {
            let created = writer
                .ensure_topic(
                    &topic.name,
                    topic.num_of_partitions.unwrap_or(1),
                    topic.num_of_replicas.unwrap_or(1),
                )
                .await;
            match created {
                Ok("created") => log.info(format!("inference log: created topic {:?}", topic.name)),
                Ok(_) => {}
                Err(e) => log.warn(format!("inference log: {e}; records wait in the buffer")),
            }
        });
    }
    let target = Target::new(&config.name, context, topic.name, counters, Arc::clone(log));
    Some(InferenceLogger::new(
        target,
        l.sampling_rate,
        l.headers.clone(),
        sender,
    ))
}
