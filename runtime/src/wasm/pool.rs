//! A deployment stage's pool of warm instances (the predictor's, or the transformer's).
//!
//! An instance is created from the stage's pre-instantiated component (imports already
//! resolved), initialised once (`init`, like `Predict.__init__`) and then serves request
//! after request. [`GuestWorld`] is what the pool needs of a world's bindings.
//! A call borrows an instance through a [`Lease`]; a lease that is not explicitly returned
//! (the guest trapped, or the request was cancelled mid-call) drops its instance, so an
//! instance in an unknown state is never reused.

use super::bindings::{PredictError, Predictor, PredictorPre, Transformer, TransformerPre};
use super::host::InstanceState;
use super::limits::GuestLimits;
use super::sandbox::SandboxSpec;
use crate::deployment::artifacts::Artifacts;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::component::{InstancePre, ResourceTable};
use wasmtime::{Engine, Store};

/// The exports of a world the pool instantiates and initialises.
pub trait GuestWorld: Sized + Send + 'static {
    /// The world's pre-instantiated component.
    type Pre: Send + Sync + 'static;
    /// The world's name in the WIT package, for errors.
    const WORLD: &'static str;

    /// Checks that a linked component exports this world.
    fn pre(instance_pre: InstancePre<InstanceState>) -> wasmtime::Result<Self::Pre>;

    fn engine(pre: &Self::Pre) -> &Engine;

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<InstanceState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;

    /// The world's `init` export.
    fn init(
        &self,
        store: &mut Store<InstanceState>,
    ) -> impl Future<Output = wasmtime::Result<Result<(), PredictError>>> + Send;
}

impl GuestWorld for Predictor {
    type Pre = PredictorPre<InstanceState>;
    const WORLD: &'static str = "predictor";

    fn pre(instance_pre: InstancePre<InstanceState>) -> wasmtime::Result<Self::Pre> {
        PredictorPre::new(instance_pre)
    }

    fn engine(pre: &Self::Pre) -> &Engine {
        pre.engine()
    }

    async fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }

    async fn init(
        &self,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Result<(), PredictError>> {
        self.predictor_runtime_predict().call_init(store).await
    }
}

impl GuestWorld for Transformer {
    type Pre = TransformerPre<InstanceState>;
    const WORLD: &'static str = "transformer";

    fn pre(instance_pre: InstancePre<InstanceState>) -> wasmtime::Result<Self::Pre> {
        TransformerPre::new(instance_pre)
    }

    fn engine(pre: &Self::Pre) -> &Engine {
        pre.engine()
    }

    async fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }

    async fn init(
        &self,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Result<(), PredictError>> {
        self.predictor_runtime_transform().call_init(store).await
    }
}

/// One warm instance: its store and its typed exports.
pub struct Instance<G> {
    pub store: Store<InstanceState>,
    pub guest: G,
}

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

/// Sizes of one deployment's pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Instances serving at once (the rest of the requests wait).
    pub max_instances: usize,
    /// Linear memory an instance may grow to, in bytes.
    pub memory_limit_bytes: usize,
    /// How long one call into an instance may run.
    pub call_deadline: Duration,
    /// Requests that may wait for a busy instance; past it they are refused at once.
    pub max_queue: usize,
}

/// Counters of a pool, for status and metrics.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub created: AtomicU64,
    pub discarded: AtomicU64,
    /// Requests waiting for an instance now.
    pub waiting: AtomicU64,
    /// Requests refused because the queue was full.
    pub rejected: AtomicU64,
}

/// Counts a request as waiting until it gets an instance or gives up (is cancelled).
struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct InstancePool<G: GuestWorld> {
    pre: G::Pre,
    sandbox: SandboxSpec,
    artifacts: Arc<Artifacts>,
    config: PoolConfig,
    idle: Mutex<Vec<Instance<G>>>,
    permits: Semaphore,
    pub stats: PoolStats,
}

impl<G: GuestWorld> InstancePool<G> {
    /// How long one call into an instance may run.
    pub fn call_deadline(&self) -> Duration {
        self.config.call_deadline
    }

    pub fn new(
        pre: G::Pre,
        sandbox: SandboxSpec,
        artifacts: Arc<Artifacts>,
        config: PoolConfig,
    ) -> InstancePool<G> {
        let permits = Semaphore::new(config.max_instances.max(1));
        InstancePool {
            pre,
            sandbox,
            artifacts,
            config,
            idle: Mutex::new(Vec::new()),
            permits,
            stats: PoolStats::default(),
        }
    }

    /// Borrows a warm instance, creating one if none is idle; waits while every allowed
    /// instance is busy, unless `max_queue` requests already wait (then refuses at once).
    pub async fn acquire(&self) -> Result<Lease<'_, G>, PoolError> {
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let before = self.stats.waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(&self.stats.waiting);
                if before as usize >= self.config.max_queue {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    return Err(PoolError::QueueFull {
                        instances: self.config.max_instances,
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
        Ok(Lease {
            pool: self,
            instance: Some(instance),
            _permit: permit,
        })
    }

    /// Creates and initialises an instance, then keeps it idle (pre-warming).
    pub async fn warm_one(&self) -> Result<(), PoolError> {
        let lease = self.acquire().await?;
        lease.release();
        Ok(())
    }

    async fn instantiate(&self) -> Result<Instance<G>, PoolError> {
        let wasi = self
            .sandbox
            .wasi_ctx()
            .map_err(|e| PoolError::Instantiate(format!("{e:#}")))?;
        let state = InstanceState {
            wasi,
            table: ResourceTable::new(),
            limits: GuestLimits::new(self.config.memory_limit_bytes),
            artifacts: Arc::clone(&self.artifacts),
            log: Arc::clone(&self.sandbox.log),
        };
        let mut store = Store::new(G::engine(&self.pre), state);
        store.limiter(|s| &mut s.limits);
        // Yield to tokio at every epoch tick: a long call never holds a worker thread, and
        // its deadline (a timeout around the call) can fire.
        store.epoch_deadline_async_yield_and_update(1);
        let guest = G::instantiate(&self.pre, &mut store)
            .await
            .map_err(|e| PoolError::Instantiate(format!("{e:#}")))?;
        let deadline = self.config.call_deadline;
        match tokio::time::timeout(deadline, guest.init(&mut store)).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(PredictError::BadInput(m) | PredictError::Internal(m)))) => {
                return Err(PoolError::Init(m));
            }
            Ok(Err(trap)) => {
                let message = match store.data().limits.memory_limit_hit() {
                    Some(mib) => format!("memory limit of {mib} MiB exceeded"),
                    None => format!("trapped: {trap:#}"),
                };
                return Err(PoolError::Init(message));
            }
            Err(_) => {
                return Err(PoolError::Init(format!(
                    "did not finish within {} ms",
                    deadline.as_millis()
                )));
            }
        }
        self.stats.created.fetch_add(1, Ordering::Relaxed);
        Ok(Instance { store, guest })
    }
}

/// A borrowed instance. [`Lease::release`] gives it back; dropping the lease discards it.
pub struct Lease<'p, G: GuestWorld> {
    pool: &'p InstancePool<G>,
    instance: Option<Instance<G>>,
    _permit: SemaphorePermit<'p>,
}

impl<'p, G: GuestWorld> Lease<'p, G> {
    pub fn pool(&self) -> &'p InstancePool<G> {
        self.pool
    }

    pub fn instance(&mut self) -> &mut Instance<G> {
        self.instance
            .as_mut()
            .expect("present until released or dropped")
    }

    /// Returns the instance to the pool: the call completed and the guest is consistent.
    pub fn release(mut self) {
        if let Some(instance) = self.instance.take() {
            self.pool.idle.lock().push(instance);
        }
    }
}

impl<G: GuestWorld> Drop for Lease<'_, G> {
    fn drop(&mut self) {
        if self.instance.take().is_some() {
            self.pool.stats.discarded.fetch_add(1, Ordering::Relaxed);
        }
    }
}
