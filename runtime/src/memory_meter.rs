//! Counts the bytes a piece of host work allocates on its thread, so a native graph's memory
//! can be held to its deployment's `resources.limits.memory` as a component's linear memory
//! is: what its model keeps once loaded, and what each run holds while it runs.
//!
//! [`Metered`] wraps the global allocator (the `predictor` binary wraps mimalloc in it). While
//! a [`Meter`] is open on a thread, every allocation and free on that thread moves its count;
//! elsewhere the wrapper costs one thread-local read per call. Only this thread is seen: work
//! a graph hands to other threads (a tree ensemble's split batch) is not counted, and memory
//! freed here that was allocated before the meter opened counts down (the count is a net).
//! Without the wrapper (the library's unit tests) a meter reads 0.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// The count of the meter open on this thread; `CLOSED` when none is.
const CLOSED: isize = isize::MIN;

thread_local! {
    // Const-initialised with no destructor: safe to touch from inside the allocator, on any
    // thread, at any point of its life.
    static COUNT: Cell<isize> = const { Cell::new(CLOSED) };
}

fn add(bytes: usize, sign: isize) {
    let _ = COUNT.try_with(|c| {
        let now = c.get();
        if now != CLOSED {
            c.set(now.saturating_add(sign.saturating_mul(bytes as isize)));
        }
    });
}

/// A global allocator that feeds the meter open on the allocating thread.
pub struct Metered<A>(pub A);

// SAFETY: every call is forwarded unchanged to the wrapped allocator; the count is a
// thread-local `Cell` that never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Metered<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            add(layout.size(), 1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size(), 1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.dealloc(ptr, layout) };
        add(layout.size(), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size, 1);
            add(layout.size(), -1);
        }
        p
    }
}

/// Counting on this thread from its opening until dropped. Meters do not nest: opening one
/// while another is open on the thread yields a meter that reads 0 and leaves the outer one
/// counting.
pub struct Meter {
    owner: bool,
}

impl Meter {
    pub fn open() -> Meter {
        let owner = COUNT
            .try_with(|c| {
                if c.get() == CLOSED {
                    c.set(0);
                    true
                } else {
                    false
                }
            })
            .unwrap_or(false);
        Meter { owner }
    }

    /// Bytes allocated and not freed on this thread since the meter opened (may be negative).
    pub fn bytes(&self) -> isize {
        if !self.owner {
            return 0;
        }
        COUNT.try_with(Cell::get).unwrap_or(0)
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if self.owner {
            let _ = COUNT.try_with(|c| c.set(CLOSED));
        }
    }
}

/// Runs `f` with a meter open: its result and the bytes it left allocated.
pub fn metered<R>(f: impl FnOnce() -> R) -> (R, isize) {
    let meter = Meter::open();
    let out = f();
    let bytes = meter.bytes();
    (out, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_reads_zero_without_the_wrapper_and_does_not_nest() {
        let outer = Meter::open();
        let inner = Meter::open();
        let v = vec![0u8; 1 << 20];
        assert_eq!(inner.bytes(), 0);
        drop(inner);
        // The unit tests' allocator is not wrapped: nothing is counted, but the outer meter
        // stays open after the inner one drops.
        assert_eq!(outer.bytes(), 0);
        assert!(COUNT.with(Cell::get) != CLOSED);
        drop(outer);
        assert_eq!(COUNT.with(Cell::get), CLOSED);
        drop(v);
    }

    #[test]
    fn the_wrapper_counts_what_is_held() {
        // Called directly (not as the global allocator): the count follows each call.
        let a = Metered(std::alloc::System);
        let meter = Meter::open();
        let layout = Layout::from_size_align(4096, 8).unwrap();
        // SAFETY: a valid non-zero layout; each pointer freed once with its layout.
        unsafe {
            let p = a.alloc(layout);
            assert_eq!(meter.bytes(), 4096);
            let q = a.realloc(p, layout, 10_000);
            assert_eq!(meter.bytes(), 10_000);
            a.dealloc(q, Layout::from_size_align(10_000, 8).unwrap());
        }
        assert_eq!(meter.bytes(), 0);
        drop(meter);
        // SAFETY: as above.
        unsafe {
            let p = a.alloc_zeroed(layout);
            a.dealloc(p, layout);
        }
        assert_eq!(COUNT.with(Cell::get), CLOSED);
    }
}
