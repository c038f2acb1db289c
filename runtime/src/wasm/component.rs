//! A component deployed (the predictor's stage; `transformer` holds the other): compiled (or loaded from the cache), linked against WASI
//! and our imports into an `InstancePre` once, then served from its instance pool.

use super::bindings::{PredictError, Predictor, WitTensor};
use super::compile_cache::{CacheOutcome, CompileCache, ComponentError};
use super::host::{InstanceState, spec_from_wit, tensor_from_wit, tensor_to_wit};
use super::pool::{InstancePool, Lease, PoolConfig, PoolError, Reload};
use super::sandbox::SandboxSpec;
use super::world::GuestWorld;
use crate::metrics::StageMetrics;
use crate::native::models::ModelCache;
use crate::request::InferenceError;
use crate::role::Role;
use crate::tensor::{Tensor, TensorSpec};
use std::sync::Arc;
use tokio::time::{error::Elapsed, timeout};
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

/// The outcome of a guest call, as the inference path sees it. Messages read after the
/// stage's name ("the predictor failed: ...", "the transformer trapped: ...").
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The guest refused the request (`bad-input`): the client's fault.
    #[error("{0}")]
    BadInput(String),
    /// The guest reported a failure (`internal`).
    #[error("failed: {0}")]
    Failed(String),
    /// The guest trapped (a panic, unreachable, out of bounds, a limit): the instance is gone.
    #[error("trapped: {0}")]
    Trapped(String),
    /// The call ran past its deadline and was stopped; the instance is gone.
    #[error("did not answer within {} ms; its instance was stopped", .0.as_millis())]
    Timeout(std::time::Duration),
    /// A memory of the guest grew into its limit (a trap); the instance is gone.
    #[error("ran out of memory: memory limit of {0} MiB exceeded; its instance was stopped")]
    MemoryLimit(usize),
    /// The guest answered with something that is not what the interface promises.
    #[error("returned malformed output: {0}")]
    Malformed(String),
    /// The guest's answer is larger than a call may carry; the instance is gone.
    #[error(
        "returned {size} bytes, more than the limit of {limit} bytes; its instance was stopped"
    )]
    OutputTooLarge { size: usize, limit: usize },
    /// No instance could be created.
    #[error("{0}")]
    Pool(#[from] PoolError),
}

impl GuestError {
    /// The error as the client sees it: bad input is the client's; the rest name the
    /// deployment and the role ("the predictor failed: ...", "the transformer trapped: ...").
    pub fn for_client(self, deployment: &str, role: Role) -> InferenceError {
        let deployment = deployment.to_string();
        let message = |e: &GuestError| format!("the {role} {e}");
        match self {
            GuestError::BadInput(m) => InferenceError::BadRequest(m),
            GuestError::Pool(PoolError::QueueFull { .. }) => InferenceError::Overloaded {
                deployment,
                message: format!("the {role} is overloaded: {self}; retry shortly"),
            },
            GuestError::Timeout(_) => InferenceError::Timeout {
                message: message(&self),
                deployment,
            },
            GuestError::MemoryLimit(_) => InferenceError::MemoryLimit {
                message: message(&self),
                deployment,
            },
            GuestError::Trapped(_) => InferenceError::Trapped {
                message: message(&self),
                deployment,
            },
            GuestError::Malformed(_) | GuestError::OutputTooLarge { .. } => {
                InferenceError::MalformedOutput {
                    message: message(&self),
                    deployment,
                }
            }
            GuestError::Failed(_) | GuestError::Pool(_) => InferenceError::PredictorFailed {
                message: message(&self),
                deployment,
            },
        }
    }
}

/// Builds the linker every component deployment uses: WASI 0.2 plus our imports.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    super::bindings::Predictor::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Why a component cannot be deployed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error("the component does not implement the predictor:runtime/{world} world: {message}")]
    World {
        world: &'static str,
        message: String,
    },
}

/// A compiled component of world `G`, ready to instantiate.
pub struct LoadedComponent<G: GuestWorld> {
    pub pre: G::Pre,
    pub digest: String,
    pub cache: CacheOutcome,
}

/// Compiles (or loads from the cache) and links a component, and checks that it exports
/// world `G`. CPU-bound: call it off the async workers.
pub fn load<G: GuestWorld>(
    cache: &CompileCache,
    linker: &Linker<InstanceState>,
    bytes: &[u8],
) -> Result<LoadedComponent<G>, LoadError> {
    let compiled = cache.load(bytes)?;
    let world = |e: wasmtime::Error| LoadError::World {
        world: G::WORLD,
        message: format!("{e:#}"),
    };
    let instance_pre = linker.instantiate_pre(&compiled.component).map_err(world)?;
    let pre = G::pre(instance_pre).map_err(world)?;
    Ok(LoadedComponent {
        pre,
        digest: compiled.digest,
        cache: compiled.outcome,
    })
}

/// A served component: its pool and its declared signature.
pub struct ComponentPredictor {
    pool: InstancePool<Predictor>,
    signature: (Vec<TensorSpec>, Vec<TensorSpec>),
    pub digest: String,
}

impl ComponentPredictor {
    /// Creates the pool and one warm instance (running the guest's `init`), and reads the
    /// signature; an error here means the deployment failed to start.
    pub async fn start(
        loaded: LoadedComponent<Predictor>,
        reload: Option<Reload<Predictor>>,
        sandbox: SandboxSpec,
        models: Arc<ModelCache>,
        config: PoolConfig,
        metrics: StageMetrics,
    ) -> Result<ComponentPredictor, GuestError> {
        let warm_instances = config.scaling.min_instances.max(1);
        let pool =
            InstancePool::<Predictor>::new(loaded.pre, reload, sandbox, models, config, metrics);
        let mut lease = pool.acquire().await?;
        let instance = lease.instance();
        let signature = instance
            .guest
            .predictor_runtime_predict()
            .call_signature(&mut instance.store)
            .await
            .map_err(|trap| GuestError::Trapped(format!("{trap:#}")))?;
        lease.release();
        for _ in 1..warm_instances {
            pool.warm_one().await?;
        }
        let signature = (
            signature.inputs.into_iter().map(spec_from_wit).collect(),
            signature.outputs.into_iter().map(spec_from_wit).collect(),
        );
        Ok(ComponentPredictor {
            pool,
            signature,
            digest: loaded.digest,
        })
    }

    pub fn pool(&self) -> &InstancePool<Predictor> {
        &self.pool
    }

    /// The declared inputs and outputs (empty when the guest declares none).
    pub fn signature(&self) -> &(Vec<TensorSpec>, Vec<TensorSpec>) {
        &self.signature
    }

    /// The JSON path: `instances` JSON text in, predictions JSON text out (checked to parse).
    pub async fn predict_json(
        &self,
        instances: &str,
    ) -> Result<Box<serde_json::value::RawValue>, GuestError> {
        let deadline = self.pool.call_deadline();
        let mut lease = self.pool.acquire().await?;
        let instance = lease.instance();
        let call = instance
            .guest
            .predictor_runtime_predict()
            .call_predict(&mut instance.store, instances);
        let result = timeout(deadline, call).await;
        let answer = finish(lease, result, |a: &String| a.len())?;
        serde_json::value::RawValue::from_string(answer)
            .map_err(|e| GuestError::Malformed(format!("predictions are not valid JSON: {e}")))
    }

    /// The typed path: tensors in, tensors out (checked against their shapes).
    pub async fn predict_tensors(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, GuestError> {
        let inputs: Vec<_> = inputs.into_iter().map(tensor_to_wit).collect();
        let deadline = self.pool.call_deadline();
        let mut lease = self.pool.acquire().await?;
        let instance = lease.instance();
        let call = instance
            .guest
            .predictor_runtime_predict()
            .call_predict_tensors(&mut instance.store, &inputs);
        let result = timeout(deadline, call).await;
        let outputs = finish(lease, result, |outputs: &Vec<WitTensor>| {
            outputs.iter().map(|t| t.data.len()).sum()
        })?;
        outputs
            .into_iter()
            .map(|t| {
                tensor_from_wit(t).map_err(|e| GuestError::Malformed(predict_error_message(e)))
            })
            .collect()
    }
}

/// Returns the instance to the pool unless the call trapped or answered more than a call
/// may carry (`size` measures an answer), and maps the guest's answer. Limit hits are
/// counted in the stage's metrics.
pub(super) fn finish<G: GuestWorld, T>(
    mut lease: Lease<'_, G>,
    result: Result<wasmtime::Result<Result<T, PredictError>>, Elapsed>,
    size: impl FnOnce(&T) -> usize,
) -> Result<T, GuestError> {
    let pool = lease.pool();
    let metrics = &pool.metrics;
    let Ok(result) = result else {
        // Stopped mid-call: the instance's state is unknown, it is not reused.
        drop(lease);
        metrics.deadline.inc();
        return Err(GuestError::Timeout(pool.call_deadline()));
    };
    match result {
        Ok(Ok(answer)) => {
            let (size, limit) = (size(&answer), pool.config().max_output_bytes);
            if size > limit {
                // Its memory grew to hold the answer: drop it rather than keep that.
                drop(lease);
                metrics.output.inc();
                return Err(GuestError::OutputTooLarge { size, limit });
            }
            lease.release();
            Ok(answer)
        }
        Ok(Err(e)) => {
            lease.release();
            Err(match e {
                PredictError::BadInput(m) => GuestError::BadInput(m),
                PredictError::Internal(m) => GuestError::Failed(m),
            })
        }
        Err(trap) => {
            let memory = lease.instance().store.data().limits.memory_limit_hit();
            drop(lease);
            if let Some(mib) = memory {
                metrics.memory.inc();
                return Err(GuestError::MemoryLimit(mib));
            }
            let message = match trap.downcast_ref::<wasmtime::Trap>() {
                Some(t) => {
                    if *t == wasmtime::Trap::StackOverflow {
                        metrics.stack.inc();
                    }
                    format!("{t}: {trap:#}")
                }
                None => format!("{trap:#}"),
            };
            Err(GuestError::Trapped(message))
        }
    }
}

fn predict_error_message(e: PredictError) -> String {
    match e {
        PredictError::BadInput(m) | PredictError::Internal(m) => m,
    }
}
