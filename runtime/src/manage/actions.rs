//! What the management API does to a stored deployment after its upload: start, stop,
//! restart, roll back to a stored version, delete. Each holds the deployment's lock, records
//! the desired state first (so a restart restores it), then starts or unloads.

use super::{ManageError, Manager, store_error};
use crate::lifecycle::LifecycleState;
use crate::store::{DeploymentName, Desired, StoreError};
use crate::views;

impl Manager {
    /// Starts a stopped deployment (its current version).
    pub async fn start(&self, name: &DeploymentName) -> Result<views::Deployment, ManageError> {
        let _guard = self.locks.lock(name).await;
        let record = self.record(name)?;
        let record = self
            .store
            .set(name, Desired::Running, Some(record.current))
            .map_err(store_error)?;
        if self.registry.get(name).is_none() {
            self.transition(name, LifecycleState::Starting);
            let started = self.start_current(&record).await;
            self.transitions.lock().remove(name);
            started?;
        }
        self.describe_record_of(name)
    }

    /// Stops a deployment: it stops answering (404 on its endpoints) and frees its capacity;
    /// its versions stay stored.
    pub async fn stop(&self, name: &DeploymentName) -> Result<views::Deployment, ManageError> {
        let _guard = self.locks.lock(name).await;
        self.store
            .set(name, Desired::Stopped, None)
            .map_err(store_error)?;
        self.unload(name);
        self.describe_record_of(name)
    }

    /// Stops then starts the current version (the restarted one starts fresh).
    pub async fn restart(&self, name: &DeploymentName) -> Result<views::Deployment, ManageError> {
        let _guard = self.locks.lock(name).await;
        let record = self
            .store
            .set(name, Desired::Running, None)
            .map_err(store_error)?;
        self.unload(name);
        self.start_current(&record).await?;
        self.describe_record_of(name)
    }

    /// Serves an earlier version again.
    pub async fn rollback(
        &self,
        name: &DeploymentName,
        version: u32,
    ) -> Result<views::Deployment, ManageError> {
        let _guard = self.locks.lock(name).await;
        let record = self
            .store
            .set(name, Desired::Running, Some(version))
            .map_err(|e| match e {
                StoreError::NoVersion { version, .. } => self.no_version(name, version),
                other => store_error(other),
            })?;
        self.transition(name, LifecycleState::Updating);
        let started = self.start_current(&record).await;
        self.transitions.lock().remove(name);
        started?;
        self.describe_record_of(name)
    }

    /// A rollback's missing version, with the versions there are.
    fn no_version(&self, name: &DeploymentName, version: u32) -> ManageError {
        let known = match self.store.get(name) {
            Ok(Some(r)) => r
                .versions
                .iter()
                .map(|v| v.version.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        ManageError::NoVersion {
            name: name.to_string(),
            version,
            known,
        }
    }

    /// Forgets a deployment; requests in flight on it finish.
    pub async fn delete(&self, name: &DeploymentName) -> Result<(), ManageError> {
        let _guard = self.locks.lock(name).await;
        self.store.delete(name).map_err(store_error)?;
        self.unload(name);
        Ok(())
    }

    fn unload(&self, name: &DeploymentName) {
        self.transition(name, LifecycleState::Stopping);
        if let Some(removed) = self.registry.remove(name) {
            self.process.capacity().release(name);
            self.process.metrics().forget(name);
            drop(removed);
            self.sweep_staging();
        }
        self.transitions.lock().remove(name);
    }
}
