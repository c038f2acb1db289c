//! How a deployment batches: its `inference_batcher` section resolved into numbers, with
//! KServe's defaults where the definition leaves them out.

use crate::definition::InferenceBatcher;
use crate::deployment_log::DeploymentLog;
use std::time::Duration;

/// `max_batch_size` when the definition leaves it out (KServe's default).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 32;
/// `max_latency` when the definition leaves it out.
pub const DEFAULT_MAX_LATENCY: Duration = Duration::from_millis(5);

/// How a deployment batches.
#[derive(Clone, Debug)]
pub struct BatchSettings {
    /// Rows (instances, first-dimension entries) that close a batch.
    pub max_batch_size: usize,
    /// How long the first request of a batch waits for others.
    pub max_latency: Duration,
    /// A request's whole wait (queue and compute); `None`: the call deadline alone.
    pub timeout: Option<Duration>,
    /// Requests that may wait in the queue; past it, 503 with Retry-After.
    pub max_queue: usize,
    /// Batches running at once (the deployment's instances, or its graph's cores).
    pub concurrency: usize,
}

impl BatchSettings {
    /// The settings of an enabled `inference_batcher`, or `None`.
    pub fn of(
        batcher: Option<&InferenceBatcher>,
        max_queue: usize,
        concurrency: usize,
    ) -> Option<BatchSettings> {
        let b = batcher.filter(|b| b.enabled)?;
        let max_batch_size = b
            .max_batch_size
            .map_or(DEFAULT_MAX_BATCH_SIZE, |n| n as usize);
        let concurrency = concurrency.max(1);
        Some(BatchSettings {
            max_batch_size,
            max_latency: b
                .max_latency
                .map_or(DEFAULT_MAX_LATENCY, Duration::from_millis),
            timeout: b.timeout.map(Duration::from_millis),
            // Room for every running slot's full batch besides the configured queue.
            max_queue: max_queue.max(max_batch_size * concurrency),
            concurrency,
        })
    }

    /// One line in the deployment's log; `what` names the queue ("", "transformer ").
    pub fn log(&self, log: &DeploymentLog, what: &str) {
        log.info(format!(
            "{what}batching: up to {} rows per batch, {} ms latency, timeout {}, {} batch(es) at once, queue {}",
            self.max_batch_size,
            self.max_latency.as_millis(),
            self.timeout
                .map_or("none".to_string(), |t| format!("{} ms", t.as_millis())),
            self.concurrency,
            self.max_queue
        ));
    }
}
