//! The body of every failure the server answers, management and data plane alike.

use crate::error_kind::ErrorKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What went wrong: a message for a person and, for programs, the kind of failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person: it names what to change.
    pub error: String,
    /// What went wrong, for a program: a stable snake_case name of the kind of failure
    /// (`not_found`, `memory_limit`, ...), kept across releases while the message may be
    /// reworded. Every answer of this server carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
}
