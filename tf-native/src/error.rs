//! The error type of the native TensorFlow loader: every way a model directory, a bundle, a
//! signature or a graph can be refused, with messages that point at the file or node at fault.

/// Why a TensorFlow model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum TfError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what} protocol buffer: {source}")]
    Proto {
        path: String,
        what: &'static str,
        source: prost::DecodeError,
    },
    #[error("corrupt variables index {path}: {reason}")]
    Index { path: String, reason: String },
    #[error("corrupt variables data {path}: {reason}")]
    Shard { path: String, reason: String },
    #[error("variables bundle: {0}")]
    Bundle(String),
    #[error("saved model: {0}")]
    SavedModel(String),
    #[error("signature {name:?} not found; the model has: {available}")]
    NoSuchSignature { name: String, available: String },
    #[error("signature {signature:?}: {reason}")]
    Signature { signature: String, reason: String },
    #[error("cannot freeze the graph: {0}")]
    Freeze(String),
    #[error("cannot translate a loop or TensorList into plain dataflow: {0}")]
    Loop(String),
    #[error("the graph uses operations this server cannot run: {0}")]
    UnsupportedOps(String),
    #[error("tract: {0}")]
    Tract(String),
    #[error("bad request: {0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, TfError>;

impl TfError {
    /// Wraps a tract error with its whole cause chain, which carries the node name.
    pub(crate) fn tract(e: impl std::fmt::Debug) -> Self {
        TfError::Tract(format!("{e:?}"))
    }
}
