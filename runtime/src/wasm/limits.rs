//! What one instance may take: its memory limit, enforced by wasmtime's `StoreLimits`, and
//! remembered when hit, so the trap it causes is answered as what it is ("memory limit of N
//! MiB exceeded") and not as any other failure.
//!
//! It also keeps the size of the instance's linear memories (every creation and growth asks
//! the limiter first) and their usual size, taken once `init` returned. A linear memory
//! never shrinks: an instance that grew to hold one large request would keep that memory
//! resident for as long as it stays warm, so the pool recycles an instance that
//! [`outgrew`] its usual size (see `pool`).

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Instances a component may create inside its store (componentize-py links a few).
const MAX_INSTANCES_PER_STORE: usize = 64;
/// Tables and memories per store (the pooling allocator bounds them per component too).
const MAX_TABLES_PER_STORE: usize = 16;
const MAX_MEMORIES_PER_STORE: usize = 4;
/// Elements a table may grow to: CPython's function table holds ~20k; this leaves room
/// without letting a guest grow tables as a way around its memory limit.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Growth past its usual size an instance may keep, however small that usual size: a few
/// MiB of caches or a moderately large request do not cost a fresh instance.
pub const RECYCLE_MIN_GROWTH_BYTES: usize = 32 << 20;

/// Whether linear memories of `now_bytes` in all outgrew their `usual_bytes`: past twice the
/// usual size and past it by more than [`RECYCLE_MIN_GROWTH_BYTES`].
pub fn outgrew(usual_bytes: usize, now_bytes: usize) -> bool {
    let allowed = usual_bytes
        .saturating_mul(2)
        .max(usual_bytes.saturating_add(RECYCLE_MIN_GROWTH_BYTES));
    now_bytes > allowed
}

pub struct GuestLimits {
    inner: StoreLimits,
    memory_limit_bytes: usize,
    memory_hit: bool,
    /// Bytes of linear memory the instance has, summed over its memories.
    memory_bytes: usize,
    /// The last growth allowed, taken back if the growth then failed.
    pending_growth: usize,
    /// `memory_bytes` when `init` returned; `None` before.
    usual_memory_bytes: Option<usize>,
}

impl GuestLimits {
    pub fn new(memory_limit_bytes: usize) -> GuestLimits {
        GuestLimits {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_limit_bytes)
                .instances(MAX_INSTANCES_PER_STORE)
                .tables(MAX_TABLES_PER_STORE)
                .memories(MAX_MEMORIES_PER_STORE)
                .table_elements(MAX_TABLE_ELEMENTS)
                .trap_on_grow_failure(true)
                .build(),
            memory_limit_bytes,
            memory_hit: false,
            memory_bytes: 0,
            pending_growth: 0,
            usual_memory_bytes: None,
        }
    }

    /// Bytes of linear memory the instance has now, summed over its memories.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Takes the present size as the instance's usual size (called once `init` returned).
    pub fn settle_usual_size(&mut self) {
        self.usual_memory_bytes = Some(self.memory_bytes);
    }

    /// Whether the instance's memories [`outgrew`] their usual size (never before it is set).
    pub fn outgrew_usual_size(&self) -> bool {
        self.usual_memory_bytes
            .is_some_and(|usual| outgrew(usual, self.memory_bytes))
    }

    /// The limit in MiB, if a memory grew into it since the instance was created.
    pub fn memory_limit_hit(&self) -> Option<usize> {
        self.memory_hit.then_some(self.memory_limit_bytes >> 20)
    }
}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        if matches!(allowed, Ok(true)) {
            // Creation asks with `current` 0, so this sums every memory's size.
            self.pending_growth = desired.saturating_sub(current);
            self.memory_bytes = self.memory_bytes.saturating_add(self.pending_growth);
        } else {
            self.memory_hit = true;
        }
        allowed
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // Allowed but not done (past the memory's own maximum, or the OS refused): the size
        // did not change. The failure itself stays what wasmtime makes of it by default.
        self.memory_bytes = self.memory_bytes.saturating_sub(self.pending_growth);
        self.pending_growth = 0;
        tracing::debug!("a guest memory failed to grow: {error:#}");
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_small_instance_may_grow_by_the_minimum_before_it_is_recycled() {
        assert!(!outgrew(MIB, MIB + RECYCLE_MIN_GROWTH_BYTES));
        assert!(outgrew(MIB, MIB + RECYCLE_MIN_GROWTH_BYTES + 1));
    }

    #[test]
    fn a_large_instance_may_double_before_it_is_recycled() {
        assert!(!outgrew(100 * MIB, 200 * MIB));
        assert!(outgrew(100 * MIB, 200 * MIB + 64 * 1024));
        assert!(!outgrew(100 * MIB, 50 * MIB));
    }

    #[test]
    fn huge_sizes_do_not_wrap() {
        assert!(!outgrew(usize::MAX, usize::MAX));
        assert!(!outgrew(usize::MAX / 2 + 1, usize::MAX));
    }

    #[test]
    fn the_limiter_sums_memories_and_compares_with_the_size_after_init() {
        let mut limits = GuestLimits::new(1024 * MIB);
        // Two memories created, then one grows.
        assert!(limits.memory_growing(0, 2 * MIB, None).unwrap());
        assert!(limits.memory_growing(0, MIB, None).unwrap());
        assert!(limits.memory_growing(2 * MIB, 4 * MIB, None).unwrap());
        assert_eq!(limits.memory_bytes(), 5 * MIB);
        // Before init returned there is no usual size to outgrow.
        assert!(limits.memory_growing(4 * MIB, 64 * MIB, None).unwrap());
        assert!(!limits.outgrew_usual_size());
        limits.settle_usual_size();
        // A growth that failed after it was allowed changes nothing.
        assert!(limits.memory_growing(64 * MIB, 512 * MIB, None).unwrap());
        limits
            .memory_grow_failed(wasmtime::Error::msg("past the maximum"))
            .unwrap();
        assert_eq!(limits.memory_bytes(), 65 * MIB);
        assert!(!limits.outgrew_usual_size());
        assert!(limits.memory_growing(64 * MIB, 160 * MIB, None).unwrap());
        assert!(limits.outgrew_usual_size());
    }

    #[test]
    fn a_growth_refused_by_the_limit_is_not_counted() {
        let mut limits = GuestLimits::new(8 * MIB);
        assert!(limits.memory_growing(0, MIB, None).unwrap());
        assert!(limits.memory_growing(MIB, 16 * MIB, None).is_err());
        assert_eq!(limits.memory_bytes(), MIB);
        assert_eq!(limits.memory_limit_hit(), Some(8));
    }
}
