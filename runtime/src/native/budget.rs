//! A deployment's memory limit applied to its native graph, as a component's linear memory
//! is held to it: the model's loaded size (plan and weights, measured as it loads) plus what
//! the runs in flight hold must stay within `resources.limits.memory`. A model too large to
//! fit is refused when it loads; a run that grows past the limit is stopped between two
//! operators (as at the call deadline) and answered with the deployment's memory-limit error,
//! the server and the other runs unharmed. Other versions of a TF Serving folder loaded
//! on demand ([`super::versions`]) add their loaded size to the model's: one that would take
//! the total past the limit is refused.
//!
//! A run's bytes are counted on its thread by [`crate::memory_meter`] and published to the
//! deployment's shared count after each operator, so concurrent runs see each other's.

use crate::memory_meter::Meter;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

/// The limit, what the loaded models hold and the bytes held by the runs in flight.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    /// The served model's loaded size (kept while it is at zero: it comes back first) plus
    /// the other versions loaded now.
    resident: AtomicU64,
    in_flight: AtomicIsize,
}

/// A run would take the deployment past its limit.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error(
    "memory limit of {} MiB exceeded: the model holds {} MiB once loaded and the runs in flight reached {} MiB; send smaller batches or raise resources.limits.memory",
    mib(*limit), mib(*resident), mib(*in_flight)
)]
pub struct OverBudget {
    pub limit: u64,
    pub resident: u64,
    pub in_flight: u64,
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

impl MemoryBudget {
    pub fn new(limit_bytes: u64) -> MemoryBudget {
        MemoryBudget {
            limit: limit_bytes,
            resident: AtomicU64::new(0),
            in_flight: AtomicIsize::new(0),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Refuses a model whose loaded size alone exceeds the limit; else counts it as the
    /// served model's.
    pub fn admit(&self, resident: u64) -> Result<(), String> {
        if resident > self.limit {
            return Err(format!(
                "the model holds {} MiB once loaded, more than the deployment's memory limit of {} MiB (resources.limits.memory)",
                mib(resident),
                mib(self.limit)
            ));
        }
        self.resident.store(resident, Ordering::Relaxed);
        Ok(())
    }

    /// Counts another loaded model of `bytes` (another version), or refuses it when the
    /// loaded models would then hold more than the limit.
    pub fn admit_more(&self, bytes: u64) -> Result<(), String> {
        self.resident
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .map(|_| ())
            .map_err(|held| {
                format!(
                    "the model holds {} MiB once loaded; with the {} MiB the deployment's loaded models hold, that is more than its memory limit of {} MiB (resources.limits.memory)",
                    mib(bytes),
                    mib(held),
                    mib(self.limit)
                )
            })
    }

    /// Gives back what [`MemoryBudget::admit_more`] counted (the model was unloaded).
    pub fn release(&self, bytes: u64) {
        let _ = self
            .resident
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(bytes))
            });
    }

    /// What the loaded models hold, as counted.
    pub fn resident(&self) -> u64 {
        self.resident.load(Ordering::Relaxed)
    }

    /// Starts counting a run on this thread (of any of the deployment's graphs), beside
    /// what its loaded models hold.
    pub fn run(&self) -> RunMemory<'_> {
        RunMemory {
            budget: self,
            resident: self.resident(),
            meter: Meter::open(),
            published: 0,
        }
    }
}

/// One run's share of the budget; gives it back when dropped.
pub struct RunMemory<'b> {
    budget: &'b MemoryBudget,
    resident: u64,
    meter: Meter,
    published: isize,
}

impl RunMemory<'_> {
    /// Publishes what the run holds now and checks the deployment's total.
    pub fn check(&mut self) -> Result<(), OverBudget> {
        let now = self.meter.bytes().max(0);
        let total = self
            .budget
            .in_flight
            .fetch_add(now - self.published, Ordering::Relaxed)
            + (now - self.published);
        self.published = now;
        let in_flight = total.max(0) as u64;
        if self.resident.saturating_add(in_flight) > self.budget.limit {
            return Err(OverBudget {
                limit: self.budget.limit,
                resident: self.resident,
                in_flight,
            });
        }
        Ok(())
    }
}

impl Drop for RunMemory<'_> {
    fn drop(&mut self) {
        self.budget
            .in_flight
            .fetch_sub(self.published, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_larger_than_the_limit_is_refused_with_both_sizes() {
        let budget = MemoryBudget::new(64 << 20);
        assert!(budget.admit(10 << 20).is_ok());
        let err = budget.admit(100 << 20).unwrap_err();
        assert!(
            err.contains("100.0 MiB") && err.contains("64.0 MiB"),
            "{err}"
        );
    }

    #[test]
    fn runs_in_flight_share_the_budget_and_give_it_back() {
        let budget = MemoryBudget::new(1000);
        // The unit tests' allocator is not metered: publish by hand through the count.
        budget.in_flight.fetch_add(900, Ordering::Relaxed);
        budget.admit(50).unwrap();
        let mut run = budget.run();
        assert!(run.check().is_ok());
        budget.in_flight.fetch_add(100, Ordering::Relaxed);
        let over = run.check().unwrap_err();
        assert_eq!((over.resident, over.in_flight), (50, 1000));
        drop(run);
        assert_eq!(budget.in_flight.load(Ordering::Relaxed), 1000);
    }

    #[test]
    fn other_loaded_models_count_until_released() {
        let budget = MemoryBudget::new(1000);
        budget.admit(600).unwrap();
        budget.admit_more(300).unwrap();
        assert_eq!(budget.resident(), 900);
        let err = budget.admit_more(200).unwrap_err();
        assert!(err.contains("memory limit"), "{err}");
        assert_eq!(budget.resident(), 900, "a refused model is not counted");
        // A run of the served model sees the other version's bytes too.
        let mut run = budget.run();
        budget.in_flight.fetch_add(150, Ordering::Relaxed);
        assert_eq!(run.check().unwrap_err().resident, 900);
        budget.release(300);
        assert_eq!(budget.resident(), 600);
        assert!(budget.admit_more(200).is_ok());
    }
}
