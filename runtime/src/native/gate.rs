//! How many runs of a deployment's graph go at once, how many may wait, how long one may
//! take (the server's `--call-deadline-ms`, as for a component's call) and the memory they
//! share (`resources.limits.memory`, [`super::budget`]). A graph served
//! natively has no instances to count; its `resources.limits.cores` (at most the machine's)
//! say how many runs take a thread at once, and the server's `--max-queue` how many may wait
//! for one: past it, a fast 503 with Retry-After, as a component's pool answers.
//!
//! Only runs sent to the blocking pool pass the gate: a run short enough to stay on the async
//! worker (see `INLINE_RUN_BUDGET`) is already bounded by the workers.

use crate::metrics::StageMetrics;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

pub struct Gate {
    slots: Semaphore,
    size: usize,
    waiting: AtomicUsize,
    max_queue: usize,
    metrics: StageMetrics,
    deadline: Option<std::time::Duration>,
    memory: Option<super::budget::MemoryBudget>,
}

/// Every slot is taken and `waiting` runs already wait.
#[derive(Debug)]
pub struct Full {
    pub slots: usize,
    pub waiting: usize,
}

/// A slot, given back (and counted) when dropped.
pub struct Pass<'g> {
    _permit: SemaphorePermit<'g>,
    gate: &'g Gate,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.gate.metrics.busy.dec();
    }
}

/// Counts a run in the queue until it gets a slot or its request is dropped.
struct Waiting<'g>(&'g Gate);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
        self.0.metrics.queue_depth.dec();
    }
}

impl Gate {
    pub fn new(slots: usize, max_queue: usize, metrics: StageMetrics) -> Gate {
        let slots = slots.max(1);
        Gate {
            slots: Semaphore::new(slots),
            size: slots,
            waiting: AtomicUsize::new(0),
            max_queue,
            metrics,
            deadline: None,
            memory: None,
        }
    }

    /// The gate, with runs cut once they have taken `limit` (between two of the graph's
    /// operators, or two chunks of a tree ensemble's rows).
    pub fn with_deadline(mut self, limit: std::time::Duration) -> Gate {
        self.deadline = Some(limit);
        self
    }

    /// The gate, with its runs' memory held to `budget` (see [`super::budget`]).
    pub fn with_memory(mut self, budget: super::budget::MemoryBudget) -> Gate {
        self.memory = Some(budget);
        self
    }

    /// The memory its runs share.
    pub fn memory(&self) -> Option<&super::budget::MemoryBudget> {
        self.memory.as_ref()
    }

    /// The stage's metrics (its runs count the limits they hit).
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }

    /// How long a run may take.
    pub fn deadline(&self) -> Option<std::time::Duration> {
        self.deadline
    }

    /// A gate of `cores` slots (rounded up, at most the machine's cores).
    pub fn for_cores(cores: f64, max_queue: usize, metrics: StageMetrics) -> Gate {
        let machine = std::thread::available_parallelism().map_or(1, |n| n.get());
        Gate::new(
            (cores.ceil() as usize).clamp(1, machine),
            max_queue,
            metrics,
        )
    }

    /// How many runs go at once.
    pub fn slots(&self) -> usize {
        self.size
    }

    /// Up to `most` more slots for a run that already has one, taken only if free now (a
    /// run never waits for them): a large batch of a graph that can split its work uses the
    /// cores no other run of the deployment is using, and gives them back when done.
    pub fn try_extra(&self, most: usize) -> Option<SemaphorePermit<'_>> {
        (1..=most.min(u32::MAX as usize) as u32)
            .rev()
            .find_map(|n| self.slots.try_acquire_many(n).ok())
    }

    /// A slot: at once, after waiting in the bounded queue, or refused when it is full.
    pub async fn enter(&self) -> Result<Pass<'_>, Full> {
        let permit = match self.slots.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                let before = self.waiting.fetch_add(1, Ordering::Relaxed);
                if before >= self.max_queue {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    self.metrics.queue.inc();
                    return Err(Full {
                        slots: self.size,
                        waiting: before,
                    });
                }
                self.metrics.queue_depth.inc();
                let _waiting = Waiting(self);
                self.slots
                    .acquire()
                    .await
                    .expect("the gate's semaphore is never closed")
            }
        };
        self.metrics.busy.inc();
        Ok(Pass {
            _permit: permit,
            gate: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_wait_in_a_bounded_queue() {
        let metrics = StageMetrics::default();
        let gate = Gate::new(1, 1, metrics.clone());
        let first = gate.enter().await.unwrap();
        let second = gate.enter();
        tokio::pin!(second);
        // The second waits (queue 1 of 1); a third is refused at once.
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), &mut second).await;
        assert!(waited.is_err(), "the second waits for the slot");
        let third = gate.enter().await.err().unwrap();
        assert_eq!((third.slots, third.waiting), (1, 1));
        assert_eq!(metrics.queue.get(), 1);
        drop(first);
        let _second = second.await.unwrap();
        assert_eq!(metrics.busy.get(), 1);
        assert_eq!(metrics.queue_depth.get(), 0);
    }

    #[tokio::test]
    async fn extra_slots_are_only_the_free_ones() {
        let gate = Gate::new(3, 1, StageMetrics::default());
        let first = gate.enter().await.unwrap();
        let extra = gate.try_extra(2).unwrap();
        assert_eq!(extra.num_permits(), 2);
        // Every slot is now taken: a second run waits, and asks no extra.
        assert!(gate.try_extra(1).is_none());
        drop(extra);
        let second = gate.enter().await.unwrap();
        assert_eq!(gate.try_extra(5).unwrap().num_permits(), 1);
        drop((first, second));
    }
}
