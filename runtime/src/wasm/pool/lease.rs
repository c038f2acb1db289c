//! A borrowed instance and what it counts: given back warm after a call that completed
//! (unless its memory outgrew its usual size), dropped otherwise.

use super::InstancePool;
use crate::wasm::host::InstanceState;
use crate::wasm::world::GuestWorld;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::SemaphorePermit;
use wasmtime::Store;

/// One live instance: its store and its typed exports.
pub struct Instance<G> {
    pub store: Store<InstanceState>,
    pub guest: G,
    /// When it was last given back (the autoscaler drops the longest idle first).
    pub(super) idle_since: Instant,
    pub(super) _live: Live,
}

/// Counts an instance in the stage's `instances` gauge for as long as it exists.
pub(super) struct Live(pub(super) Gauge);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A borrowed instance. [`Lease::release`] gives it back; dropping the lease discards it.
pub struct Lease<'p, G: GuestWorld> {
    pub(super) pool: &'p InstancePool<G>,
    pub(super) instance: Option<Instance<G>>,
    pub(super) entered: Instant,
    pub(super) _permit: SemaphorePermit<'p>,
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
    /// Unless its memory outgrew its usual size: a linear memory never shrinks, so an
    /// instance kept warm would hold what one large request took for good. It is dropped
    /// instead (its pool slot's pages are decommitted), and the next request starts one.
    pub fn release(mut self) {
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        if instance.store.data().limits.outgrew_usual_size() {
            self.pool.metrics.recycled_memory.inc();
            // Host buffers of that request went back to the allocator: return them too.
            crate::allocator::release_soon();
            return; // dropping the lease drops the instance
        }
        if let Some(mut instance) = self.instance.take() {
            instance.idle_since = Instant::now();
            self.pool.idle.lock().push(instance);
        }
    }
}

impl<G: GuestWorld> Drop for Lease<'_, G> {
    fn drop(&mut self) {
        let pool = self.pool;
        if self.instance.take().is_some() {
            pool.metrics.instances_stopped.inc();
        }
        pool.metrics.busy.dec();
        let now = Instant::now();
        pool.activity.touch(now);
        pool.activity.in_system_us.fetch_add(
            now.duration_since(self.entered).as_micros() as u64,
            Ordering::Relaxed,
        );
    }
}
