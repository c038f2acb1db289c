//! One lock per deployment name: mutations of a deployment apply one after the other, each
//! complete, while other deployments' mutations (a long upload, a slow start) go on beside
//! them. A name's lock exists only while someone holds or waits for it.

use crate::store::DeploymentName;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Default)]
pub struct NameLocks {
    locks: parking_lot::Mutex<HashMap<DeploymentName, Arc<Mutex<()>>>>,
}

/// Held while a deployment is mutated; dropping it lets the next mutation of the name go.
pub struct NameGuard<'a> {
    locks: &'a NameLocks,
    name: DeploymentName,
    guard: Option<OwnedMutexGuard<()>>,
}

impl NameLocks {
    /// Waits for `name`'s lock.
    pub async fn lock(&self, name: &DeploymentName) -> NameGuard<'_> {
        let lock = Arc::clone(self.locks.lock().entry(name.clone()).or_default());
        NameGuard {
            locks: self,
            name: name.clone(),
            guard: Some(lock.lock_owned().await),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().len()
    }
}

impl Drop for NameGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Under the map's lock no one can clone the entry: one reference means no holder
        // and no waiter, so the entry goes (names would otherwise pile up).
        let mut locks = self.locks.locks.lock();
        if locks
            .get(&self.name)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_name_waits_another_does_not() {
        let locks = Arc::new(NameLocks::default());
        let a = DeploymentName::parse("a").unwrap();
        let b = DeploymentName::parse("b").unwrap();
        let held = locks.lock(&a).await;
        // Another name: at once.
        tokio::time::timeout(Duration::from_millis(100), locks.lock(&b))
            .await
            .expect("b is not held up by a");
        // The same name: waits until the holder lets go.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), locks.lock(&a))
                .await
                .is_err()
        );
        drop(held);
        drop(locks.lock(&a).await);
        assert_eq!(locks.len(), 0, "no lock is kept for names no one holds");
    }
}
