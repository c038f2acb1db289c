//! Inference batching on the host (`inference_batcher`), between the protocol decoders and
//! the predictor, for every protocol and every kind of predictor.
//!
//! ```text
//! handler ── submit ──► channel ──► worker: open batches by [`merge::BatchKey`]
//!    ▲                                 │ closed at max_batch_size rows, max_latency after the
//!    │                                 │ first request, or before a member's timeout
//!    │                                 ▼
//!    └── oneshot: its own slice ◄── batch task: waits for one of `concurrency` slots, merges,
//!                                   runs once ([`Runner::run`]), splits
//! ```
//!
//! What runs a batch is a [`Runner`]: the predictor, or one phase of the transformer
//! (`transformer.inference_batcher`: V1 bodies of rows merged into one `preprocess` or
//! `postprocess` call). This module knows neither: it depends on the trait alone.
//!
//! A merged batch that fails, or whose answer does not have one row per row, is rerun one
//! request at a time, so nobody gets someone else's error. `timeout` bounds a request's
//! whole wait (queue and compute): past it the caller is answered 504 at once, and a batch
//! skips members whose callers left. A deployment without an enabled batcher has no
//! [`Batcher`] and pays nothing.

pub mod merge;
pub mod runner;
mod settings;

use crate::deployment_log::DeploymentLog;
use crate::metrics::{BatchMetrics, FlushReason};
use crate::request::{Answer, BatchTiming, InferenceError, Output, Payload};
use merge::BatchKey;
pub use runner::Runner;
pub use settings::BatchSettings;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// A deployment's batcher. Dropping it (with its deployment) ends its worker once the
/// queued requests are sent on their way.
pub struct Batcher<R: Runner> {
    tx: mpsc::UnboundedSender<Member>,
    shared: Arc<Shared<R>>,
}

struct Shared<R> {
    name: String,
    settings: BatchSettings,
    runner: Arc<R>,
    slots: Arc<Semaphore>,
    /// Requests submitted whose batch has not started running.
    queued: Arc<AtomicUsize>,
    /// Recent batch run time (moving average), to close a batch early enough for a timeout.
    compute_us: AtomicU64,
    metrics: BatchMetrics,
    /// Counted as the deployment's queue limit hits.
    rejected: prometheus_client::metrics::counter::Counter,
    log: Arc<DeploymentLog>,
    warned_split: AtomicBool,
}

/// A request waiting in the queue.
struct Member {
    payload: Payload,
    key: BatchKey,
    rows: usize,
    arrived: Instant,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Result<Answer, InferenceError>>,
    _queued: Queued,
}

/// A request's place in the queue bound, given back when its batch starts or it is dropped.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<R: Runner> Batcher<R> {
    /// Starts the batcher's worker on the current Tokio runtime.
    pub fn start(
        name: &str,
        settings: BatchSettings,
        runner: Arc<R>,
        metrics: BatchMetrics,
        rejected: prometheus_client::metrics::counter::Counter,
        log: Arc<DeploymentLog>,
    ) -> Batcher<R> {
        let shared = Arc::new(Shared {
            name: name.to_string(),
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            runner,
            queued: Arc::new(AtomicUsize::new(0)),
            compute_us: AtomicU64::new(0),
            metrics,
            rejected,
            log,
            warned_split: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(worker(Arc::clone(&shared), rx));
        Batcher { tx, shared }
    }

    pub fn settings(&self) -> &BatchSettings {
        &self.shared.settings
    }

    /// Queues a request and waits for its own slice of its batch's answer.
    pub async fn submit(&self, payload: Payload) -> Result<Answer, InferenceError> {
        let shared = &self.shared;
        let Some((key, rows)) = merge::shape_of(&payload) else {
            // Not mergeable (not rows, no rows): served alone, as without a batcher.
            return shared
                .runner
                .run(&shared.name, payload)
                .await
                .map(|output| Answer {
                    output,
                    batch: None,
                });
        };
        let max_queue = shared.settings.max_queue;
        if shared.queued.fetch_add(1, Ordering::Relaxed) >= max_queue {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            shared.rejected.inc();
            return Err(InferenceError::Overloaded {
                deployment: shared.name.clone(),
                message: format!(
                    "the batch queue holds {max_queue} requests and is full; retry shortly"
                ),
            });
        }
        let queued = Queued(Arc::clone(&shared.queued));
        let arrived = Instant::now();
        let deadline = shared.settings.timeout.map(|t| arrived + t);
        let (reply, answer) = oneshot::channel();
        let member = Member {
            payload,
            key,
            rows,
            arrived,
            deadline,
            reply,
            _queued: queued,
        };
        if self.tx.send(member).is_err() {
            return Err(self.failed("the batcher stopped"));
        }
        let answer = match deadline {
            None => answer.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, answer).await {
                Ok(answer) => answer,
                Err(_) => {
                    return Err(InferenceError::Timeout {
                        deployment: shared.name.clone(),
                        message: format!(
                            "no answer within inference_batcher.timeout ({} ms)",
                            shared.settings.timeout.unwrap_or_default().as_millis()
                        ),
                    });
                }
            },
        };
        answer.unwrap_or_else(|_| Err(self.failed("the batch running this request was lost")))
    }

    fn failed(&self, message: &str) -> InferenceError {
        InferenceError::PredictorFailed {
            deployment: self.shared.name.clone(),
            message: message.to_string(),
        }
    }
}

/// A batch being filled.
struct Open {
    key: BatchKey,
    members: Vec<Member>,
    rows: usize,
    flush_at: Instant,
    reason: FlushReason,
}

async fn worker<R: Runner>(shared: Arc<Shared<R>>, mut rx: mpsc::UnboundedReceiver<Member>) {
    let mut open: Vec<Open> = Vec::new();
    loop {
        let next = open.iter().map(|b| b.flush_at).min();
        tokio::select! {
            // Deadlines first: a steady stream of arrivals must not starve them.
            biased;
            () = sleep_until(next) => {
                let now = Instant::now();
                let (due, waiting): (Vec<Open>, Vec<Open>) =
                    open.drain(..).partition(|b| b.flush_at <= now);
                open = waiting;
                for batch in due {
                    let reason = batch.reason;
                    flush(&shared, batch, reason);
                }
            }
            member = rx.recv() => {
                let Some(member) = member else { break };
                add(&shared, &mut open, member);
                while let Ok(member) = rx.try_recv() {
                    add(&shared, &mut open, member);
                }
            }
        }
    }
    // The deployment is gone: what is queued still runs and is answered.
    for batch in open {
        flush(&shared, batch, FlushReason::latency);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn add<R: Runner>(shared: &Arc<Shared<R>>, open: &mut Vec<Open>, member: Member) {
    let max = shared.settings.max_batch_size;
    if let Some(i) = open.iter().position(|b| b.key == member.key)
        && open[i].rows + member.rows > max
    {
        let full = open.swap_remove(i);
        flush(shared, full, FlushReason::size);
    }
    let i = match open.iter().position(|b| b.key == member.key) {
        Some(i) => i,
        None => {
            open.push(Open {
                key: member.key.clone(),
                members: Vec::new(),
                rows: 0,
                flush_at: member.arrived + shared.settings.max_latency,
                reason: FlushReason::latency,
            });
            open.len() - 1
        }
    };
    let batch = &mut open[i];
    if let (Some(deadline), Some(timeout)) = (member.deadline, shared.settings.timeout) {
        // Run in time for the member to get its answer before its timeout: leave it the
        // batches' recent run time, and at least a quarter of the timeout.
        let compute = Duration::from_micros(shared.compute_us.load(Ordering::Relaxed));
        let latest = deadline
            .checked_sub(compute.max(timeout / 4))
            .unwrap_or(member.arrived)
            .max(member.arrived);
        if latest < batch.flush_at {
            batch.flush_at = latest;
            batch.reason = FlushReason::timeout;
        }
    }
    batch.rows += member.rows;
    batch.members.push(member);
    if batch.rows >= max {
        let full = open.swap_remove(i);
        flush(shared, full, FlushReason::size);
    }
}

fn flush<R: Runner>(shared: &Arc<Shared<R>>, batch: Open, reason: FlushReason) {
    shared.metrics.flushed(reason);
    tokio::spawn(run_batch(Arc::clone(shared), batch.key, batch.members));
}

/// Waits for a slot, runs the batch and answers each member.
async fn run_batch<R: Runner>(shared: Arc<Shared<R>>, key: BatchKey, members: Vec<Member>) {
    let _slot = Arc::clone(&shared.slots)
        .acquire_owned()
        .await
        .expect("the slots semaphore is never closed");
    let started = Instant::now();
    let mut payloads = Vec::with_capacity(members.len());
    let mut waiting = Vec::with_capacity(members.len());
    for m in members {
        // A caller past its timeout or gone: nothing to compute for it.
        if !m.reply.is_closed() {
            payloads.push(m.payload);
            waiting.push((m.rows, m.arrived, m.reply));
        }
    }
    if payloads.is_empty() {
        return;
    }
    let rows: Vec<usize> = waiting.iter().map(|(rows, ..)| *rows).collect();
    let total: usize = rows.iter().sum();
    shared.metrics.size.observe(total as f64);
    let results = run_members(&shared, &key, payloads, &rows).await;
    let compute = started.elapsed();
    let previous = shared.compute_us.load(Ordering::Relaxed);
    let sample = compute.as_micros() as u64;
    shared
        .compute_us
        .store(previous - previous / 8 + sample / 8, Ordering::Relaxed);
    let requests = waiting.len();
    for ((_, arrived, reply), result) in waiting.into_iter().zip(results) {
        let queue = started.saturating_duration_since(arrived);
        shared.metrics.queue_wait.observe(queue.as_secs_f64());
        let timing = BatchTiming {
            queue,
            compute,
            rows: total,
            requests,
        };
        // The caller may have given up meanwhile; its answer goes nowhere.
        let _ = reply.send(result.map(|output| Answer {
            output,
            batch: Some(timing),
        }));
    }
}

/// One run over the merged members, split back; members one by one when that fails.
async fn run_members<R: Runner>(
    shared: &Shared<R>,
    key: &BatchKey,
    mut payloads: Vec<Payload>,
    rows: &[usize],
) -> Vec<Result<Output, InferenceError>> {
    let (runner, name) = (&shared.runner, shared.name.as_str());
    if payloads.len() == 1 {
        let only = payloads.pop().expect("one payload");
        return vec![runner.run(name, only).await];
    }
    let refs: Vec<&Payload> = payloads.iter().collect();
    let merged = merge::merge(key, &refs);
    match runner.run(name, merged).await {
        Ok(output) => match runner.split(output, rows) {
            Ok(parts) => return parts.into_iter().map(Ok).collect(),
            Err(e) => {
                if !shared.warned_split.swap(true, Ordering::Relaxed) {
                    shared.log.warn(format!(
                        "batching: the answer to a merged batch cannot be split ({e}); such batches are rerun one request at a time"
                    ));
                }
            }
        },
        // Not about any one request: every member gets it.
        Err(e @ (InferenceError::Overloaded { .. } | InferenceError::NotReady { .. })) => {
            return payloads.iter().map(|_| Err(e.clone())).collect();
        }
        Err(_) => {}
    }
    shared.metrics.isolated.inc();
    let alone = payloads.into_iter().map(|p| runner.run(name, p));
    futures_util::future::join_all(alone).await
}
