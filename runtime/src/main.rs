//! The `predictor` binary: parse and dispatch, nothing else (see `cli`).

// Request handling allocates many small short-lived buffers (bodies, tensors, plan state);
// mimalloc serves them markedly faster than glibc's allocator under concurrency.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_e` values (include/mimalloc.h of the pinned libmimalloc-sys).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Gives freed memory back to the OS at once and commits arenas as they are used: a
/// deployment scaled to zero should cost its definition, not the pages its start touched.
/// mimalloc's defaults (purging 10 ms later, on that thread's next allocation; eagerly
/// committed arenas) kept ~3 MiB per Python deployment at zero; transparent huge pages are
/// off (the `no_thp` feature) for the same reason. It must run before the allocator reserves
/// its first arena, so it is a constructor ordered before mimalloc's own (priority 101).
extern "C" fn set_allocator_options() {
    // SAFETY: plain setters of the allocator's option table; nothing else runs yet.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00100")]
static SET_ALLOCATOR_OPTIONS: extern "C" fn() = set_allocator_options;

fn main() -> std::process::ExitCode {
    #[cfg(not(target_os = "linux"))]
    set_allocator_options();
    predictor_runtime::cli::main()
}
