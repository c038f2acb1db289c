//! The autoscaler loop: every [`TICK`], each running deployment's component stages (its
//! predictor, its transformer) report their load, drop what is no longer wanted, and start
//! instances ahead of demand (see `crate::scaling` for the decision, `wasm::pool` for the
//! mechanics). A native graph has no instances: with `min_instances` 0 it is unloaded when
//! idle for the retention period (`native::stage`). A deployment whose every stage is at zero
//! also drops the models its guests opened; the memory goes back to the OS at once.

use super::Deployment;
use super::registry::Registry;
use crate::lifecycle::LifecycleState;
use crate::predictor::Predictor;
use crate::role::Role;
use crate::scaling::TICK;
use std::sync::{Arc, Weak};
use std::time::Instant;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Scales the registry's deployments until the registry is dropped (or the task aborted).
pub fn spawn(registry: Weak<Registry>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(registry) = registry.upgrade() else {
                return;
            };
            let now = Instant::now();
            for deployment in registry.list() {
                tick(&deployment, now);
            }
            // Stages that went to zero give their memory back now, not after the allocator's
            // purge delay (which an idle server would never reach).
            crate::allocator::release_if_pending();
        }
    })
}

fn tick(deployment: &Arc<Deployment>, now: Instant) {
    let Ok(serving) = deployment.serving() else {
        return;
    };
    match serving.predictor.predictor() {
        Predictor::Component(c) => prewarm(deployment, Role::Predictor, c.pool().autoscale(now)),
        Predictor::Native(graph) => {
            if graph.scale_to_zero_if_idle(now) {
                crate::allocator::release_soon();
            }
        }
    }
    if let Some(t) = &serving.transformer {
        prewarm(
            deployment,
            Role::Transformer,
            t.component().pool().autoscale(now),
        );
    }
    if deployment.lifecycle_state() == LifecycleState::Idle && serving.models.forget_all() {
        crate::allocator::release_soon();
    }
}

/// Starts `n` instances of a stage in the background (an `init` may take a while).
fn prewarm(deployment: &Arc<Deployment>, stage: Role, n: usize) {
    if n == 0 {
        return;
    }
    let deployment = Arc::clone(deployment);
    tokio::spawn(async move {
        let Ok(serving) = deployment.serving() else {
            return;
        };
        match (stage, serving.predictor.predictor(), &serving.transformer) {
            (Role::Predictor, Predictor::Component(c), _) => c.pool().prewarm(n).await,
            (Role::Transformer, _, Some(t)) => t.component().pool().prewarm(n).await,
            _ => {}
        }
    });
}
