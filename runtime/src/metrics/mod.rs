//! What the operator sees on `/metrics` (Prometheus/OpenMetrics text, `prometheus-client`).
//!
//! One [`Metrics`] per server. Each deployment stage (its predictor, its transformer) gets a
//! [`StageMetrics`]: handles into the families, cloned once when the stage starts, so the
//! request path touches only atomics, never a label lookup.

mod batch;

use crate::role::Role;
use batch::BatchFamilies;
pub use batch::{BatchMetrics, BatchQueue, FlushReason};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub deployment: String,
    pub component: Role,
}

/// A limit an instance ran into.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Limit {
    /// A call ran past its deadline (504).
    #[allow(non_camel_case_types)]
    deadline,
    /// A memory grew past `resources.limits.memory`.
    #[allow(non_camel_case_types)]
    memory,
    /// The wasm stack overflowed (unbounded recursion).
    #[allow(non_camel_case_types)]
    stack,
    /// The guest handed the host more bytes than a call may carry.
    #[allow(non_camel_case_types)]
    output,
    /// The wait queue was full (503).
    #[allow(non_camel_case_types)]
    queue,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    deployment: String,
    component: Role,
    limit: Limit,
}

/// Why a healthy instance was stopped after a call rather than kept warm.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
enum RecycleReason {
    /// Its linear memory outgrew its usual size (memory never shrinks).
    #[allow(non_camel_case_types)]
    memory,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecycleLabels {
    deployment: String,
    component: Role,
    reason: RecycleReason,
}

/// What became of an inference log record.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
enum Outcome {
    #[allow(non_camel_case_types)]
    delivered,
    #[allow(non_camel_case_types)]
    dropped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LogLabels {
    deployment: String,
    outcome: Outcome,
}

/// One deployment's inference log counters: every record ends in one of them.
#[derive(Clone, Debug)]
pub struct LogCounters {
    pub delivered: Counter,
    pub dropped: Counter,
}

/// Instance start durations, in seconds: 0.25 ms to ~8 s.
fn start_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Every family the server exposes.
pub struct Metrics {
    registry: Registry,
    instances: Family<StageLabels, Gauge>,
    busy: Family<StageLabels, Gauge>,
    queue_depth: Family<StageLabels, Gauge>,
    desired: Family<StageLabels, Gauge>,
    instance_starts: Family<StageLabels, Histogram>,
    cold_starts: Family<StageLabels, Histogram>,
    instances_stopped: Family<StageLabels, Counter>,
    instances_recycled: Family<RecycleLabels, Counter>,
    limit_hits: Family<LimitLabels, Counter>,
    log_records: Family<LogLabels, Counter>,
    batches: BatchFamilies,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("predictor");
        let instances = Family::default();
        let busy = Family::default();
        let queue_depth = Family::default();
        let desired = Family::default();
        let instance_starts = Family::new_with_constructor(start_histogram as fn() -> Histogram);
        let cold_starts = Family::new_with_constructor(start_histogram as fn() -> Histogram);
        let instances_stopped = Family::default();
        let instances_recycled = Family::default();
        let limit_hits = Family::default();
        let log_records = Family::default();
        registry.register(
            "instances",
            "Live sandbox instances of a deployment stage (idle or serving)",
            instances.clone(),
        );
        registry.register(
            "instances_busy",
            "Instances serving a request now",
            busy.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting for an instance",
            queue_depth.clone(),
        );
        registry.register(
            "instances_desired",
            "Instances the autoscaler keeps warm",
            desired.clone(),
        );
        registry.register(
            "instance_start_seconds",
            "Time to create and initialise one instance",
            instance_starts.clone(),
        );
        registry.register(
            "cold_start_seconds",
            "Time from zero instances to a serving one, reloading the compiled component",
            cold_starts.clone(),
        );
        registry.register(
            "instances_stopped",
            "Instances stopped: trapped, past a limit or deadline, or scaled down",
            instances_stopped.clone(),
        );
        registry.register(
            "instances_recycled",
            "Instances stopped after a call that completed (no trap), by reason (counted in instances_stopped too)",
            instances_recycled.clone(),
        );
        registry.register(
            "limit_hits",
            "Requests that ran into a limit, by limit",
            limit_hits.clone(),
        );
        registry.register(
            "inference_log_records",
            "Inference log records delivered (to Kafka or the log file) or dropped (buffer full, not delivered)",
            log_records.clone(),
        );
        let batches = BatchFamilies::register(&mut registry);
        Metrics {
            log_records,
            batches,
            registry,
            instances,
            busy,
            queue_depth,
            desired,
            instance_starts,
            cold_starts,
            instances_stopped,
            instances_recycled,
            limit_hits,
        }
    }
}

impl Metrics {
    /// The handles one stage updates.
    pub fn stage(&self, deployment: &str, component: Role) -> StageMetrics {
        let labels = StageLabels {
            deployment: deployment.to_string(),
            component,
        };
        let limit = |limit| {
            self.limit_hits.get_or_create_owned(&LimitLabels {
                deployment: deployment.to_string(),
                component,
                limit,
            })
        };
        StageMetrics {
            instances: self.instances.get_or_create_owned(&labels),
            busy: self.busy.get_or_create_owned(&labels),
            queue_depth: self.queue_depth.get_or_create_owned(&labels),
            desired: self.desired.get_or_create_owned(&labels),
            instance_starts: self.instance_starts.get_or_create_owned(&labels),
            cold_starts: self.cold_starts.get_or_create_owned(&labels),
            instances_stopped: self.instances_stopped.get_or_create_owned(&labels),
            recycled_memory: self.instances_recycled.get_or_create_owned(&RecycleLabels {
                deployment: deployment.to_string(),
                component,
                reason: RecycleReason::memory,
            }),
            deadline: limit(Limit::deadline),
            memory: limit(Limit::memory),
            stack: limit(Limit::stack),
            output: limit(Limit::output),
            queue: limit(Limit::queue),
        }
    }

    /// A deployment's inference log counters.
    pub fn inference_log(&self, deployment: &str) -> LogCounters {
        let counter = |outcome| {
            self.log_records.get_or_create_owned(&LogLabels {
                deployment: deployment.to_string(),
                outcome,
            })
        };
        LogCounters {
            delivered: counter(Outcome::delivered),
            dropped: counter(Outcome::dropped),
        }
    }

    /// A deployment's batcher series.
    pub fn batch(&self, deployment: &str, stage: BatchQueue) -> BatchMetrics {
        self.batches.handles(deployment, stage)
    }

    /// Drops a deployment's series (it was deleted or replaced).
    pub fn forget(&self, deployment: &str) {
        self.batches.forget(deployment);
        for outcome in [Outcome::delivered, Outcome::dropped] {
            self.log_records.remove(&LogLabels {
                deployment: deployment.to_string(),
                outcome,
            });
        }
        for component in [Role::Predictor, Role::Transformer] {
            let labels = StageLabels {
                deployment: deployment.to_string(),
                component,
            };
            for family in [
                &self.instances,
                &self.busy,
                &self.queue_depth,
                &self.desired,
            ] {
                family.remove(&labels);
            }
            self.instance_starts.remove(&labels);
            self.cold_starts.remove(&labels);
            self.instances_stopped.remove(&labels);
            self.instances_recycled.remove(&RecycleLabels {
                deployment: deployment.to_string(),
                component,
                reason: RecycleReason::memory,
            });
            for limit in [
                Limit::deadline,
                Limit::memory,
                Limit::stack,
                Limit::output,
                Limit::queue,
            ] {
                self.limit_hits.remove(&LimitLabels {
                    deployment: deployment.to_string(),
                    component,
                    limit,
                });
            }
        }
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// One stage's series. Cloning shares them (the handles are reference-counted atomics).
#[derive(Clone, Debug)]
pub struct StageMetrics {
    pub instances: Gauge,
    pub busy: Gauge,
    pub queue_depth: Gauge,
    pub desired: Gauge,
    pub instance_starts: Histogram,
    pub cold_starts: Histogram,
    pub instances_stopped: Counter,
    /// Instances dropped after a call because their memory outgrew its usual size.
    pub recycled_memory: Counter,
    pub deadline: Counter,
    pub memory: Counter,
    pub stack: Counter,
    pub output: Counter,
    pub queue: Counter,
}

impl Default for StageMetrics {
    /// Series registered nowhere: for a pool outside a server (benchmarks, tools).
    fn default() -> Self {
        Metrics::default().stage("detached", Role::Predictor)
    }
}
