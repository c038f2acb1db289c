//! A transformer component deployed in front of a predictor: its own instance pool runs
//! `preprocess` on request bodies and `postprocess` on response bodies, in process.

use super::bindings::Transformer;
use super::component::{GuestError, LoadedComponent, finish};
use super::pool::{InstancePool, PoolConfig, Reload};
use super::sandbox::SandboxSpec;
use crate::metrics::StageMetrics;
use crate::native::models::ModelCache;
use std::sync::Arc;
use tokio::time::timeout;

/// Which side of the predictor a body is transformed on: the transformer's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Preprocess,
    Postprocess,
}

pub struct ComponentTransformer {
    pool: InstancePool<Transformer>,
    pub digest: String,
}

impl ComponentTransformer {
    /// Creates the pool and warms `min_instances` (at least one; each runs the guest's
    /// `init`).
    pub async fn start(
        loaded: LoadedComponent<Transformer>,
        reload: Option<Reload<Transformer>>,
        sandbox: SandboxSpec,
        models: Arc<ModelCache>,
        config: PoolConfig,
        metrics: StageMetrics,
    ) -> Result<ComponentTransformer, GuestError> {
        let warm_instances = config.scaling.min_instances.max(1);
        let pool = InstancePool::new(loaded.pre, reload, sandbox, models, config, metrics);
        for _ in 0..warm_instances {
            pool.warm_one().await?;
        }
        Ok(ComponentTransformer {
            pool,
            digest: loaded.digest,
        })
    }

    pub fn pool(&self) -> &InstancePool<Transformer> {
        &self.pool
    }

    /// Runs one phase on a JSON body; the answer is checked to be JSON.
    pub async fn transform(&self, phase: Phase, body: &str) -> Result<String, GuestError> {
        let deadline = self.pool.call_deadline();
        let mut lease = self.pool.acquire().await?;
        let instance = lease.instance();
        let exports = instance.guest.predictor_runtime_transform();
        let result = match phase {
            Phase::Preprocess => {
                timeout(deadline, exports.call_preprocess(&mut instance.store, body)).await
            }
            Phase::Postprocess => {
                timeout(
                    deadline,
                    exports.call_postprocess(&mut instance.store, body),
                )
                .await
            }
        };
        let answer = finish(lease, result, |a: &String| a.len())?;
        serde_json::from_str::<serde::de::IgnoredAny>(&answer).map_err(|e| {
            GuestError::Malformed(format!("{phase:?} did not return valid JSON: {e}"))
        })?;
        Ok(answer)
    }
}
