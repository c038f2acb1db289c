//! What one instance may take: its memory limit, enforced by wasmtime's `StoreLimits`, and
//! remembered when hit, so the trap it causes is answered as what it is ("memory limit of N
//! MiB exceeded") and not as any other failure.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Instances a component may create inside its store (componentize-py links a few).
const MAX_INSTANCES_PER_STORE: usize = 64;
/// Tables and memories per store (the pooling allocator bounds them per component too).
const MAX_TABLES_PER_STORE: usize = 16;
const MAX_MEMORIES_PER_STORE: usize = 4;
/// Elements a table may grow to: CPython's function table holds ~20k; this leaves room
/// without letting a guest grow tables as a way around its memory limit.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

pub struct GuestLimits {
    inner: StoreLimits,
    memory_limit_bytes: usize,
    memory_hit: bool,
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
        }
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
        if !matches!(allowed, Ok(true)) {
            self.memory_hit = true;
        }
        allowed
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
