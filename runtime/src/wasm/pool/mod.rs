//! A deployment stage's pool of instances (the predictor's, or the transformer's), scaled.
//!
//! An instance is created from the stage's pre-instantiated component (imports already
//! resolved), initialised once (`init`, like `Predict.__init__`) and then serves request
//! after request, one at a time. A call borrows an instance through a [`Lease`]; a lease
//! that is not explicitly returned (the guest trapped, or the request was cancelled
//! mid-call) drops its instance, so an instance in an unknown state is never reused; nor
//! is one whose memory outgrew its usual size (`limits`), so what a large request took goes
//! back to the OS.
//!
//! Scaling (see `crate::scaling`): a request that finds no idle instance starts one at once,
//! up to `max_instances`; past that it waits in a bounded queue. At each autoscaler tick
//! ([`InstancePool::autoscale`]) the pool reports its load, drops instances the autoscaler
//! no longer wants once they sat idle for a panic window, and is told how many to start
//! ahead of demand. At zero it also drops the pre-instantiated component: the next request
//! reloads it from the compile cache (a cold start) while later ones wait for that reload.

mod lease;

use super::bindings::PredictError;
use super::host::InstanceState;
use super::limits::GuestLimits;
use super::sandbox::SandboxSpec;
use super::world::GuestWorld;
use crate::definition::ScaleMetric;
use crate::metrics::StageMetrics;
use crate::native::models::ModelCache;
use crate::scaling::{Autoscaler, Observation, ScalingPolicy};
use lease::Live;
pub use lease::{Instance, Lease};
use parking_lot::Mutex;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::Store;
use wasmtime::component::ResourceTable;

/// How a stage at zero gets its pre-instantiated component back (from the compile cache).
pub type Reload<G> = Arc<dyn Fn() -> Option<<G as GuestWorld>::Pre> + Send + Sync>;

/// Why an instance could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot instantiate: {0}")]
    Instantiate(String),
    #[error("init failed: {0}")]
    Init(String),
    /// Every instance is busy and `max_queue` requests already wait for one.
    #[error("all {instances} instance(s) are busy and {waiting} requests are waiting")]
    QueueFull { instances: usize, waiting: usize },
}

/// How one stage's pool is sized and bounded.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Linear memory an instance may grow to, in bytes.
    pub memory_limit_bytes: usize,
    /// How long one call into an instance may run.
    pub call_deadline: Duration,
    /// Requests that may wait for a busy instance; past it they are refused at once.
    pub max_queue: usize,
    /// Largest answer (bytes of JSON, or of tensor data) a guest may hand the host.
    pub max_output_bytes: usize,
    /// Instance counts and the autoscaler's fields.
    pub scaling: ScalingPolicy,
}

/// Counts a request in the queue until it gets an instance or gives up (is cancelled).
struct Waiting<'a>(&'a Gauge);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What the autoscaler reads between ticks.
struct Activity {
    born: Instant,
    /// Sum of the time requests spent in the stage (waiting or served), in microseconds.
    in_system_us: AtomicU64,
    /// Requests that entered the stage.
    requests: AtomicU64,
    /// When a request last entered or left, in milliseconds since `born`.
    last_seen_ms: AtomicU64,
}

impl Activity {
    fn touch(&self, now: Instant) {
        let ms = now.duration_since(self.born).as_millis() as u64;
        self.last_seen_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn idle_for(&self, now: Instant) -> Duration {
        let last = self.born + Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }
}

struct ScaleState {
    scaler: Autoscaler,
    last_tick: Instant,
}

pub struct InstancePool<G: GuestWorld> {
    /// The pre-instantiated component; `None` while the stage is at zero.
    pre: Mutex<Option<Arc<G::Pre>>>,
    reload: Option<Reload<G>>,
    /// Held by the one request that reloads the component; the others wait on it.
    reloading: tokio::sync::Mutex<()>,
    sandbox: SandboxSpec,
    models: Arc<ModelCache>,
    config: PoolConfig,
    idle: Mutex<Vec<Instance<G>>>,
    permits: Semaphore,
    activity: Activity,
    scale: Mutex<ScaleState>,
    pub metrics: StageMetrics,
}

impl<G: GuestWorld> InstancePool<G> {
    /// A pool with no instance yet. Without `reload`, the stage never drops its component
    /// (it can still drop its instances).
    pub fn new(
        pre: G::Pre,
        reload: Option<Reload<G>>,
        sandbox: SandboxSpec,
        models: Arc<ModelCache>,
        config: PoolConfig,
        metrics: StageMetrics,
    ) -> InstancePool<G> {
        let now = Instant::now();
        InstancePool {
            pre: Mutex::new(Some(Arc::new(pre))),
            reload,
            reloading: tokio::sync::Mutex::new(()),
            sandbox,
            models,
            permits: Semaphore::new(config.scaling.max_instances.max(1)),
            scale: Mutex::new(ScaleState {
                scaler: Autoscaler::new(config.scaling.clone()),
                last_tick: now,
            }),
            activity: Activity {
                born: now,
                in_system_us: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                last_seen_ms: AtomicU64::new(0),
            },
            config,
            idle: Mutex::new(Vec::new()),
            metrics,
        }
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// How long one call into an instance may run.
    pub fn call_deadline(&self) -> Duration {
        self.config.call_deadline
    }

    /// Whether the stage is at zero: no instance, and its component unloaded.
    pub fn is_at_zero(&self) -> bool {
        self.pre.lock().is_none()
    }

    /// Borrows an idle instance, or starts one if fewer than `max_instances` live; otherwise
    /// waits for one, unless `max_queue` requests already wait (then refuses at once).
    pub async fn acquire(&self) -> Result<Lease<'_, G>, PoolError> {
        let entered = Instant::now();
        self.activity.touch(entered);
        self.activity.requests.fetch_add(1, Ordering::Relaxed);
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let before = self.metrics.queue_depth.inc();
                let _waiting = Waiting(&self.metrics.queue_depth);
                if before.max(0) as usize >= self.config.max_queue {
                    self.metrics.queue.inc();
                    return Err(PoolError::QueueFull {
                        instances: self.config.scaling.max_instances,
                        waiting: before as usize,
                    });
                }
                self.permits
                    .acquire()
                    .await
                    .expect("the pool's semaphore is never closed")
            }
        };
        let idle = self.idle.lock().pop();
        let instance = match idle {
            Some(instance) => instance,
            None => self.instantiate().await?,
        };
        self.metrics.busy.inc();
        Ok(Lease {
            pool: self,
            instance: Some(instance),
            entered,
            _permit: permit,
        })
    }

    /// Creates and initialises an instance, then keeps it idle: an error here is the
    /// guest's `init` failing, which fails the deployment's start.
    pub async fn warm_one(&self) -> Result<(), PoolError> {
        let _permit = self.permits.acquire().await.expect("never closed");
        let instance = self.instantiate().await?;
        self.idle.lock().push(instance);
        Ok(())
    }

    /// Starts up to `n` instances ahead of demand, while instances are below the maximum.
    pub async fn prewarm(&self, n: usize) {
        for _ in 0..n {
            let Ok(_permit) = self.permits.try_acquire() else {
                return;
            };
            match self.instantiate().await {
                Ok(instance) => self.idle.lock().push(instance),
                Err(e) => {
                    self.sandbox
                        .log
                        .warn(format!("could not start an instance ahead of demand: {e}"));
                    return;
                }
            }
        }
    }

    /// One autoscaler tick: reports the load since the last tick, drops instances no longer
    /// wanted, and returns how many instances to start ahead of demand ([`Self::prewarm`]).
    pub fn autoscale(&self, now: Instant) -> usize {
        let in_system_us = self.activity.in_system_us.swap(0, Ordering::Relaxed);
        let requests = self.activity.requests.swap(0, Ordering::Relaxed);
        let current = (self.metrics.busy.get() + self.metrics.queue_depth.get()).max(0);
        let desired = {
            let mut state = self.scale.lock();
            let elapsed = now
                .saturating_duration_since(state.last_tick)
                .max(Duration::from_millis(1));
            state.last_tick = now;
            let value = match self.config.scaling.metric {
                // Little's law over the tick, and never less than what is in flight now (a
                // long request has not been summed yet).
                ScaleMetric::Concurrency => {
                    (in_system_us as f64 / elapsed.as_micros() as f64).max(current as f64)
                }
                ScaleMetric::Rps => requests as f64 / elapsed.as_secs_f64(),
            };
            let idle_for = if current > 0 {
                Duration::ZERO
            } else {
                self.activity.idle_for(now)
            };
            state.scaler.decide(
                now,
                Observation {
                    value,
                    live: self.live(),
                    idle_for,
                },
            )
        };
        self.metrics.desired.set(desired as i64);
        self.trim(desired, now);
        desired.saturating_sub(self.live())
    }

    /// Drops every idle instance and, with none left serving, unloads the component: the
    /// stage is at zero until the next request.
    pub fn scale_to_zero(&self) {
        self.trim(0, Instant::now());
    }

    fn live(&self) -> usize {
        self.metrics.instances.get().max(0) as usize
    }

    /// Drops idle instances above `desired`, longest idle first; above zero, only those
    /// idle for a panic window (so a brief lull under load does not churn instances).
    fn trim(&self, desired: usize, now: Instant) {
        let grace = self.config.scaling.panic_window;
        let dropped: Vec<Instance<G>> = {
            let mut idle = self.idle.lock();
            let excess = self.live().saturating_sub(desired);
            // Released instances are pushed on top: the front is the longest idle.
            let n = idle
                .iter()
                .take(excess)
                .take_while(|i| {
                    desired == 0 || now.saturating_duration_since(i.idle_since) >= grace
                })
                .count();
            idle.drain(..n).collect()
        };
        self.metrics.instances_stopped.inc_by(dropped.len() as u64);
        // Outside the lock: dropping a store releases its memories.
        drop(dropped);
        if desired == 0
            && self.reload.is_some()
            && self.live() == 0
            && self.metrics.queue_depth.get() <= 0
            && self.pre.lock().take().is_some()
        {
            crate::allocator::release_soon();
        }
    }

    /// The pre-instantiated component, reloaded from the compile cache if the stage is at
    /// zero; `true` when this start had to wait for a reload (a cold start).
    async fn pre(&self) -> Result<(Arc<G::Pre>, bool), PoolError> {
        if let Some(pre) = self.pre.lock().clone() {
            return Ok((pre, false));
        }
        let _reloading = self.reloading.lock().await;
        if let Some(pre) = self.pre.lock().clone() {
            return Ok((pre, true));
        }
        let reload = self.reload.clone().ok_or_else(|| {
            PoolError::Instantiate("the stage was unloaded and cannot be reloaded".into())
        })?;
        let pre = tokio::task::spawn_blocking(move || reload())
            .await
            .map_err(|e| PoolError::Instantiate(format!("reloading the component panicked: {e}")))?
            .ok_or_else(|| {
                PoolError::Instantiate(
                    "its compiled component is no longer in the compile cache".into(),
                )
            })?;
        let pre = Arc::new(pre);
        *self.pre.lock() = Some(Arc::clone(&pre));
        Ok((pre, true))
    }

    async fn instantiate(&self) -> Result<Instance<G>, PoolError> {
        let started = Instant::now();
        let (pre, cold) = self.pre().await?;
        let wasi = self
            .sandbox
            .wasi_ctx()
            .map_err(|e| PoolError::Instantiate(format!("{e:#}")))?;
        let state = InstanceState {
            wasi,
            table: ResourceTable::new(),
            limits: GuestLimits::new(self.config.memory_limit_bytes),
            models: Arc::clone(&self.models),
            log: self.sandbox.log.clone(),
        };
        let mut store = Store::new(G::engine(&pre), state);
        store.limiter(|s| &mut s.limits);
        // Yield to tokio at every epoch tick: a long call never holds a worker thread, and
        // its deadline (a timeout around the call) can fire.
        store.epoch_deadline_async_yield_and_update(1);
        let guest = G::instantiate(&pre, &mut store)
            .await
            .map_err(|e| PoolError::Instantiate(format!("{e:#}")))?;
        drop(pre);
        let deadline = self.config.call_deadline;
        match tokio::time::timeout(deadline, guest.init(&mut store)).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(PredictError::BadInput(m) | PredictError::Internal(m)))) => {
                return Err(PoolError::Init(m));
            }
            Ok(Err(trap)) => {
                let message = match store.data().limits.memory_limit_hit() {
                    Some(mib) => {
                        self.metrics.memory.inc();
                        format!("memory limit of {mib} MiB exceeded")
                    }
                    None => format!("trapped: {trap:#}"),
                };
                return Err(PoolError::Init(message));
            }
            Err(_) => {
                self.metrics.deadline.inc();
                return Err(PoolError::Init(format!(
                    "did not finish within {} ms",
                    deadline.as_millis()
                )));
            }
        }
        // What `init` left is what this instance usually needs; see `Lease::release`.
        store.data_mut().limits.settle_usual_size();
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.instance_starts.observe(seconds);
        if cold {
            self.metrics.cold_starts.observe(seconds);
        }
        self.metrics.instances.inc();
        Ok(Instance {
            store,
            guest,
            idle_since: Instant::now(),
            _live: Live(self.metrics.instances.clone()),
        })
    }
}
