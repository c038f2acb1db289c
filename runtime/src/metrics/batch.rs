//! The batcher's series: batch sizes, queue waits, why batches closed, and merged batches
//! rerun one request at a time (what TF Serving and Triton users say they lack).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Why a batch was closed and run.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum FlushReason {
    /// It reached `max_batch_size` rows.
    #[allow(non_camel_case_types)]
    size,
    /// Its first request waited `max_latency`.
    #[allow(non_camel_case_types)]
    latency,
    /// A member's `timeout` would pass before the latency flush (less the batch's compute).
    #[allow(non_camel_case_types)]
    timeout,
}

/// Which batch queue of a deployment: the predictor's, or one of its transformer's phases'
/// (exposed as the `stage` label, a name dashboards already use).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum BatchQueue {
    #[allow(non_camel_case_types)]
    predict,
    #[allow(non_camel_case_types)]
    preprocess,
    #[allow(non_camel_case_types)]
    postprocess,
}

const BATCH_QUEUES: [BatchQueue; 3] = [
    BatchQueue::predict,
    BatchQueue::preprocess,
    BatchQueue::postprocess,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentLabels {
    deployment: String,
    stage: BatchQueue,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlushLabels {
    deployment: String,
    stage: BatchQueue,
    reason: FlushReason,
}

/// The batcher's families: what TF Serving and Triton users say they lack.
pub(super) struct BatchFamilies {
    size: Family<DeploymentLabels, Histogram>,
    queue_wait: Family<DeploymentLabels, Histogram>,
    flushes: Family<FlushLabels, Counter>,
    isolated: Family<DeploymentLabels, Counter>,
}

/// Batch sizes in rows: 1 to 4096.
fn size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

/// Queue waits in seconds: 50 µs to ~3 s.
fn wait_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

impl BatchFamilies {
    pub(super) fn register(registry: &mut Registry) -> BatchFamilies {
        let families = BatchFamilies {
            size: Family::new_with_constructor(size_histogram as fn() -> Histogram),
            queue_wait: Family::new_with_constructor(wait_histogram as fn() -> Histogram),
            flushes: Family::default(),
            isolated: Family::default(),
        };
        registry.register(
            "batch_size",
            "Rows (instances, or first-dimension entries) per batch run",
            families.size.clone(),
        );
        registry.register(
            "batch_queue_wait_seconds",
            "Time a request waited in the batch queue before its batch ran",
            families.queue_wait.clone(),
        );
        registry.register(
            "batch_flushes",
            "Batches run, by what closed them: size, latency, timeout",
            families.flushes.clone(),
        );
        registry.register(
            "batch_isolated",
            "Merged batches that failed or did not split, rerun one request at a time",
            families.isolated.clone(),
        );
        families
    }

    pub(super) fn handles(&self, deployment: &str, stage: BatchQueue) -> BatchMetrics {
        let labels = DeploymentLabels {
            deployment: deployment.to_string(),
            stage,
        };
        let flush = |reason| {
            self.flushes.get_or_create_owned(&FlushLabels {
                deployment: deployment.to_string(),
                stage,
                reason,
            })
        };
        BatchMetrics {
            size: self.size.get_or_create_owned(&labels),
            queue_wait: self.queue_wait.get_or_create_owned(&labels),
            flush_size: flush(FlushReason::size),
            flush_latency: flush(FlushReason::latency),
            flush_timeout: flush(FlushReason::timeout),
            isolated: self.isolated.get_or_create_owned(&labels),
        }
    }

    pub(super) fn forget(&self, deployment: &str) {
        for stage in BATCH_QUEUES {
            let labels = DeploymentLabels {
                deployment: deployment.to_string(),
                stage,
            };
            self.size.remove(&labels);
            self.queue_wait.remove(&labels);
            self.isolated.remove(&labels);
            for reason in [
                FlushReason::size,
                FlushReason::latency,
                FlushReason::timeout,
            ] {
                self.flushes.remove(&FlushLabels {
                    deployment: deployment.to_string(),
                    stage,
                    reason,
                });
            }
        }
    }
}

/// One deployment's batcher series.
#[derive(Clone, Debug)]
pub struct BatchMetrics {
    pub size: Histogram,
    pub queue_wait: Histogram,
    pub flush_size: Counter,
    pub flush_latency: Counter,
    pub flush_timeout: Counter,
    pub isolated: Counter,
}

impl BatchMetrics {
    pub fn flushed(&self, reason: FlushReason) {
        match reason {
            FlushReason::size => &self.flush_size,
            FlushReason::latency => &self.flush_latency,
            FlushReason::timeout => &self.flush_timeout,
        }
        .inc();
    }
}
