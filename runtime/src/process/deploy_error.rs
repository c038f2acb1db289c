//! Why a deployment folder cannot be served, from its definition to its first instance.

use crate::definition::ConfigError;
use crate::native::ModelError;
use crate::python::BuildError;
use crate::wasm::component::{GuestError, LoadError};

/// Why a deployment folder cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{path}: {message}")]
    Definition { path: String, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Artifacts(String),
    #[error("{field} {file:?}: {source}")]
    Component {
        field: String,
        file: String,
        source: LoadError,
    },
    #[error("{field} {file:?}: {source}")]
    Script {
        field: String,
        file: String,
        source: BuildError,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("the predictor {0}")]
    Guest(#[from] GuestError),
    #[error("the transformer {0}")]
    Transformer(GuestError),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Capacity(#[from] crate::capacity::CapacityError),
}
