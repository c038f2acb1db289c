//! What the host asks of its allocator (mimalloc, set by the `predictor` binary): how soon
//! freed memory goes back to the OS, and giving it back at once when a stage scales to zero.
//!
//! mimalloc returns freed pages to the OS lazily: a range freed to its arena is purged only
//! after the purge delay, and only when some later allocation or free on any thread looks
//! at the arenas. An idle server does neither, so memory a deployment freed when it went to
//! zero stayed resident (measured in docs/benchmarks.md, "Memory at zero").
//! A short delay fixes that but costs throughput on every small request; a forced collect
//! when a stage goes to zero (or recycles an instance whose memory a large request grew)
//! costs nothing on the request path. Without mimalloc as the global allocator (the tests'
//! binaries), both calls touch an allocator nothing uses.

use std::sync::atomic::{AtomicBool, Ordering};

/// mimalloc v3's own default purge delay, in ms.
pub const DEFAULT_PURGE_DELAY_MS: u32 = 1000;
/// mimalloc v3's `mi_option_purge_delay` (include/mimalloc.h of the pinned libmimalloc-sys).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A stage dropped its instances since the last [`release_if_pending`].
static RELEASE_PENDING: AtomicBool = AtomicBool::new(false);

/// Sets how soon freed memory is returned (read at every purge, so settable any time).
pub fn set_purge_delay(ms: u32) {
    // SAFETY: a plain setter of the allocator's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms.into()) };
}

/// Notes that a stage just dropped instances (it went to zero, or recycled one whose memory
/// outgrew its usual size). The pages freed go back to the OS at the next
/// [`release_if_pending`].
pub fn release_soon() {
    RELEASE_PENDING.store(true, Ordering::Relaxed);
}

/// Returns freed memory to the OS now if a stage went to zero since the last call. Called
/// by the autoscaler after a tick, on the thread that dropped the instances: mimalloc's
/// collect frees that thread's emptied pages and purges every arena, delay or not.
pub fn release_if_pending() -> bool {
    if !RELEASE_PENDING.swap(false, Ordering::Relaxed) {
        return false;
    }
    // SAFETY: mi_collect has no preconditions; it walks this thread's heap and the arenas.
    unsafe { libmimalloc_sys::mi_collect(true) };
    true
}
