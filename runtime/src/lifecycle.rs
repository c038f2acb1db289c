//! A deployment's state as Hopsworks names it, one type from the registry to the wire.

use serde::{Deserialize, Serialize};

/// Where a deployment is in its life. Serialized with Hopsworks' names (`"Running"`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum LifecycleState {
    /// Stored, never started on this server.
    Created,
    /// Its first version is being started.
    Starting,
    /// Serving, with at least one stage warm.
    Running,
    /// Serving, every stage scaled to zero: it answers after a cold start.
    Idle,
    /// A new version is being started beside the one serving.
    Updating,
    /// Being stopped.
    Stopping,
    /// Stopped; its versions are kept.
    Stopped,
    /// It could not start; the reason is in its log and its description.
    Failed,
}

impl LifecycleState {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Created => "Created",
            LifecycleState::Starting => "Starting",
            LifecycleState::Running => "Running",
            LifecycleState::Idle => "Idle",
            LifecycleState::Updating => "Updating",
            LifecycleState::Stopping => "Stopping",
            LifecycleState::Stopped => "Stopped",
            LifecycleState::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
