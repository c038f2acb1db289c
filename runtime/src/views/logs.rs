//! A deployment's log as the management API answers it: a page of lines
//! (`GET /api/deployments/{name}/logs`), or the lines one by one as JSON lines when
//! followed.

use crate::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who wrote a line and how severe it is: the deployment log's own enums (one type from the
/// guest's `log` call to the wire).
pub use crate::deployment_log::{LogLevel, LogSource};

/// One line of a deployment's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// The line's number in the deployment's log, from 0 (a follower resumes from it).
    pub seq: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    pub source: LogSource,
    /// The stage whose guest wrote it; absent on the runtime's lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<Role>,
    pub level: LogLevel,
    pub message: String,
}

/// The newest lines of a deployment's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// The deployment's name.
    pub name: String,
    /// Oldest first.
    pub lines: Vec<LogLine>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str` (the client's tables) names each value as the wire does.
    #[test]
    fn names_are_the_wire_names() {
        use LogLevel::*;
        use LogSource::*;
        for source in [Runtime, Guest, Stdout, Stderr] {
            let wire = serde_json::to_value(source).unwrap();
            assert_eq!(wire, source.as_str());
        }
        for level in [Trace, Debug, Info, Warn, Error] {
            let wire = serde_json::to_value(level).unwrap();
            assert_eq!(wire, level.as_str());
        }
    }
}
