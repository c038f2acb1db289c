//! The deployments a server holds, by name.

use super::Deployment;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Registry {
    deployments: RwLock<BTreeMap<String, Arc<Deployment>>>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<Arc<Deployment>> {
        self.deployments.read().get(name).cloned()
    }

    /// Every deployment, by name.
    pub fn list(&self) -> Vec<Arc<Deployment>> {
        self.deployments.read().values().cloned().collect()
    }

    /// Adds or replaces a deployment; returns the one replaced.
    pub fn insert(&self, deployment: Deployment) -> Option<Arc<Deployment>> {
        let name = deployment.name().to_string();
        self.deployments.write().insert(name, Arc::new(deployment))
    }

    /// Removes a deployment; requests holding it finish on it.
    pub fn remove(&self, name: &str) -> Option<Arc<Deployment>> {
        self.deployments.write().remove(name)
    }
}
