//! The `predictor` binary: parse and dispatch, nothing else (see `cli`).

// Request handling allocates many small short-lived buffers (bodies, tensors, plan state);
// mimalloc serves them markedly faster than glibc's allocator under concurrency. The meter
// counts what a native graph holds, for its deployment's memory limit.
#[global_allocator]
static GLOBAL: predictor_runtime::memory_meter::Metered<mimalloc::MiMalloc> =
    predictor_runtime::memory_meter::Metered(mimalloc::MiMalloc);

/// mimalloc v3's `mi_option_arena_eager_commit` (include/mimalloc.h of the pinned
/// libmimalloc-sys).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Commits the allocator's arenas as they are used rather than all at once: with eagerly
/// committed arenas (and transparent huge pages, off through the `no_thp` feature) the idle
/// server held more memory, and deployments scaled to zero kept more of what their start
/// touched (docs/benchmarks.md, "Memory at zero"). It must run before the allocator reserves its first arena, so it is a
/// constructor ordered before mimalloc's own (priority 101). How soon freed memory goes back
/// to the OS is `serve --memory-purge-delay-ms`.
extern "C" fn set_allocator_options() {
    // SAFETY: a plain setter of the allocator's option table; nothing else runs yet.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00100")]
static SET_ALLOCATOR_OPTIONS: extern "C" fn() = set_allocator_options;

fn main() -> std::process::ExitCode {
    #[cfg(not(target_os = "linux"))]
    set_allocator_options();
    predictor_runtime::main()
}
