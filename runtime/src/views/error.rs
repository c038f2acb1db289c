//! The body of every failure the server answers, management and data plane alike.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What went wrong: a message for a person and, for programs, the kind of failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person: it names what to change.
    pub error: String,
    /// What went wrong, for a program: a stable snake_case name of the kind of failure
    /// (`not_found`, `invalid_name`, ...), kept across releases while the message may be
    /// reworded. Absent on answers whose kind is not named yet.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

impl ErrorBody {
    /// A failure whose kind is not named (no `kind` on the wire).
    pub fn message(error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            kind: String::new(),
        }
    }
}
