//! A deployment as the management API shows it: every row of `GET /api/deployments`, the
//! answer of `GET /api/deployments/{name}` and of each action (start, stop, restart,
//! rollback), and, with its warnings, of an upload.

use crate::lifecycle::LifecycleState;
use crate::store::Desired;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A deployment: its state, the version it serves and the ones stored, its definition,
/// its live instances and where to send predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    /// The deployment's name: the `{name}` of its routes.
    pub name: String,
    pub state: LifecycleState,
    /// Why it is `Failed`; null otherwise.
    #[schema(required = true)]
    pub reason: Option<String>,
    pub desired: Desired,
    /// The version served (its `artifact_version`).
    pub version: u32,
    /// Every stored version, oldest first.
    pub versions: Vec<Version>,
    /// The `deployment.json` fields it serves with, defaults filled in; null when a
    /// stopped deployment's stored definition no longer reads.
    #[schema(value_type = Option<Object>, required = true)]
    pub definition: Option<Value>,
    /// Live instances per stage; null when it is not serving.
    #[schema(required = true)]
    pub instances: Option<Instances>,
    pub endpoints: Endpoints,
}

/// One stored version of a deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    pub version: u32,
    /// When it was uploaded, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Its files, as paths relative to the deployment folder.
    pub files: Vec<String>,
}

/// Live instances of a serving deployment's stages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Instances {
    pub predictor: PredictorInstances,
    /// The transformer's instances; null when it has no transformer.
    #[schema(required = true)]
    pub transformer: Option<u64>,
}

/// A predictor component's live instances, or `"native"` for a graph the host serves
/// itself (it has no instances).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PredictorInstances {
    Count(u64),
    Native(NativeGraph),
}

/// The predictor is a model graph served natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum NativeGraph {
    #[serde(rename = "native")]
    Native,
}

impl std::fmt::Display for PredictorInstances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PredictorInstances::Count(n) => write!(f, "{n}"),
            PredictorInstances::Native(_) => f.write_str("native"),
        }
    }
}

/// Where a deployment answers predictions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Endpoints {
    /// The KServe V1 predict route.
    pub v1: String,
    /// The Open Inference Protocol (V2) infer route.
    pub v2: String,
}

impl Endpoints {
    /// The routes of the deployment called `name`.
    pub fn of(name: &str) -> Endpoints {
        Endpoints {
            v1: format!("/v1/models/{name}:predict"),
            v2: format!("/v2/models/{name}/infer"),
        }
    }
}

/// `GET /api/deployments`: every stored deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<Deployment>,
}

/// `POST /api/deployments`: the deployment as started, and what of its definition is kept
/// but not served yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Uploaded {
    #[serde(flatten)]
    pub deployment: Deployment,
    /// Fields of the definition kept but not served yet.
    pub warnings: Vec<String>,
}

/// `DELETE /api/deployments/{name}`: the name of the deployment deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub deleted: String,
}
