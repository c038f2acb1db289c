//! The management API's bodies as types: what `/api/deployments` answers (a deployment, its
//! versions, instances and endpoints, a log page, an action's result) and the error body
//! every failure answers. One definition for the three that speak it: the server builds
//! these from its state (the `manage` module and the management routes), the CLI client
//! reads them, and the OpenAPI document is generated from them, so none can drift from the
//! others.
//!
//! A leaf: it imports only the small shared enums below it (lifecycle state, role, desired
//! state), never the deployment, manager or HTTP code that fills it in.

pub mod deployment;
pub mod error;
pub mod logs;

pub use deployment::{
    Deleted, Deployment, DeploymentList, Endpoints, Instances, NativeGraph, PredictorInstances,
    Uploaded, Version,
};
pub use error::ErrorBody;
pub use logs::{LogLevel, LogLine, LogPage, LogSource};
