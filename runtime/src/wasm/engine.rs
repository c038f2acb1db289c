//! The one place that configures wasmtime: the process-wide [`Engine`].
//!
//! - Cranelift compiles each component once (see `compile_cache`); nothing else compiles.
//! - The pooling allocator keeps instance slots, memories and fiber stacks preallocated, so
//!   instantiating is a few page-table operations, and copy-on-write memory images make a
//!   fresh instance's heap a mapping of the compiled image rather than a copy. A slot given
//!   back keeps only a little resident; the pool recycles instances whose memory grew (see
//!   `pool`), so a large request's memory goes back to the OS.
//! - Async is always on in wasmtime 48: guests run on fibers inside tokio tasks.
//! - Epoch interruption: a plain thread (not a tokio task, so a stalled runtime cannot stop
//!   it) ticks the engine's epoch every [`EPOCH_TICK`]; every store yields to tokio at each
//!   tick, so a spinning guest never holds a worker thread for longer than a tick, and a call
//!   past its deadline is dropped at the next tick (see `pool`).

use anyhow::Context as _;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch ticks: how long a guest runs before it yields to other tasks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Sizes of the engine's preallocated pools.
#[derive(Clone, Debug)]
pub struct EngineLimits {
    /// Component instances alive at once, across every deployment.
    pub total_instances: u32,
    /// Largest linear memory one instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Wasm stack available to a guest call, in bytes.
    pub max_wasm_stack_bytes: usize,
    /// How long one guest call (`init`, `predict`, a transformer stage) may run before it is
    /// stopped and its instance discarded.
    pub call_deadline: Duration,
    /// Requests one deployment stage lets wait for a busy instance; past it, a fast 503.
    pub max_queue: usize,
    /// Largest answer a guest may hand the host in one call (JSON bytes, or tensor data);
    /// a larger one is refused and its instance stopped.
    pub max_output_bytes: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            total_instances: 1000,
            max_memory_bytes: 4 << 30,
            max_wasm_stack_bytes: 1 << 20,
            call_deadline: DEFAULT_CALL_DEADLINE,
            max_queue: DEFAULT_MAX_QUEUE,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// The default [`EngineLimits::max_output_bytes`].
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 20;

/// The default [`EngineLimits::max_queue`].
pub const DEFAULT_MAX_QUEUE: usize = 1024;

/// The default [`EngineLimits::call_deadline`].
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(60);

/// Builds the engine every deployment shares, and starts its epoch ticker.
pub fn build_engine(limits: &EngineLimits) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .memory_init_cow(true)
        .max_wasm_stack(limits.max_wasm_stack_bytes)
        // Each fiber stack must hold the wasm stack plus the host frames below it.
        .async_stack_size(limits.max_wasm_stack_bytes + (1 << 20));

    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(limits.total_instances)
        // componentize-py components link a few core modules; Rust ones have one or two.
        .total_core_instances(limits.total_instances * 16)
        .total_memories(limits.total_instances * 2)
        .total_tables(limits.total_instances * 4)
        .total_stacks(limits.total_instances)
        .max_memory_size(limits.max_memory_bytes)
        .max_component_instance_size(1 << 20)
        .max_core_instances_per_component(64)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        // Keep a little of each recycled slot resident: warm restarts skip page faults.
        // Past it, a dropped instance's memory is decommitted (madvise DONTNEED), however
        // far it grew: that is what makes recycling an outgrown instance give memory back.
        .linear_memory_keep_resident(64 << 10)
        .table_keep_resident(16 << 10)
        // Decommit each dropped slot at once rather than in batches (wasmtime's default
        // today; explicit because batching would leave recycled memory resident a while).
        .decommit_batch_size(1);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    let engine = new_engine(&mut config)?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Ticks `engine`'s epoch until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the epoch ticker: guests cannot be interrupted: {e}");
    }
}

fn new_engine(config: &mut Config) -> anyhow::Result<Engine> {
    match Engine::new(config) {
        Ok(engine) => Ok(engine),
        // Some sandboxes refuse the large virtual reservations the pool makes; fall back to
        // on-demand allocation rather than refusing to start.
        Err(pool_err) => {
            tracing::warn!(
                "pooling allocator unavailable ({pool_err:#}); using on-demand allocation"
            );
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Ok(Engine::new(config)
                .map_err(anyhow::Error::from)
                .context("creating the wasmtime engine")?)
        }
    }
}
