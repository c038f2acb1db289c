//! The deployment's log: what `predictor logs NAME` and Hopsworks' `get_logs()` show. It
//! holds the runtime's own lines about the deployment (start, failures) and what its guests
//! write (the `log` import, stdout, stderr), bounded to the newest lines. Every line is also
//! a tracing event carrying the deployment's name.

use crate::role::Role;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines kept per deployment unless configured otherwise.
pub const DEFAULT_LOG_LINES: usize = 1000;
/// A guest line longer than this is cut, so a runaway print cannot fill host memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Who wrote a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The runtime, about this deployment.
    Runtime,
    /// The guest, through the `log` import.
    Guest,
    /// The guest's standard output.
    Stdout,
    /// The guest's standard error.
    Stderr,
}

/// Severity, as the `log` import names it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogSource {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LogSource::Runtime => "runtime",
            LogSource::Guest => "guest",
            LogSource::Stdout => "stdout",
            LogSource::Stderr => "stderr",
        }
    }
}

impl LogLevel {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line of a deployment's log.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// The line's number in this deployment's log, from 0 (followers resume from it).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    pub source: LogSource,
    /// The stage whose guest wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<Role>,
    pub level: LogLevel,
    pub message: String,
}

/// A bounded log of one deployment.
#[derive(Debug)]
pub struct DeploymentLog {
    deployment: String,
    capacity: usize,
    lines: Mutex<VecDeque<LogLine>>,
}

impl DeploymentLog {
    pub fn new(deployment: &str, capacity: usize) -> Arc<DeploymentLog> {
        Arc::new(DeploymentLog {
            deployment: deployment.to_string(),
            capacity: capacity.max(1),
            lines: Mutex::new(VecDeque::new()),
        })
    }

    /// Appends a runtime line, dropping the oldest past capacity.
    pub fn push(&self, source: LogSource, level: LogLevel, message: impl Into<String>) {
        self.push_from(None, source, level, message);
    }

    /// The log as one stage's guest writes to it: its lines carry the stage.
    pub fn stage(self: &Arc<Self>, component: Role) -> StageLog {
        StageLog {
            log: Arc::clone(self),
            component,
        }
    }

    fn push_from(
        &self,
        component: Option<Role>,
        source: LogSource,
        level: LogLevel,
        message: impl Into<String>,
    ) {
        let mut message = message.into();
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [truncated]");
        }
        let deployment = self.deployment.as_str();
        match level {
            LogLevel::Error => tracing::error!(deployment, ?source, "{message}"),
            LogLevel::Warn => tracing::warn!(deployment, ?source, "{message}"),
            LogLevel::Info => tracing::info!(deployment, ?source, "{message}"),
            LogLevel::Debug => tracing::debug!(deployment, ?source, "{message}"),
            LogLevel::Trace => tracing::trace!(deployment, ?source, "{message}"),
        }
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut lines = self.lines.lock();
        let seq = lines.back().map_or(0, |l| l.seq + 1);
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(LogLine {
            seq,
            timestamp_ms,
            source,
            component,
            level,
            message,
        });
    }

    /// A runtime line at info level.
    pub fn info(&self, message: impl Into<String>) {
        self.push(LogSource::Runtime, LogLevel::Info, message);
    }

    /// A runtime line at warn level.
    pub fn warn(&self, message: impl Into<String>) {
        self.push(LogSource::Runtime, LogLevel::Warn, message);
    }

    /// A runtime line at error level.
    pub fn error(&self, message: impl Into<String>) {
        self.push(LogSource::Runtime, LogLevel::Error, message);
    }

    /// The newest `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let lines = self.lines.lock();
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }
}

/// A deployment's log as one stage (predictor or transformer) writes to it.
#[derive(Clone, Debug)]
pub struct StageLog {
    log: Arc<DeploymentLog>,
    component: Role,
}

impl StageLog {
    pub fn push(&self, source: LogSource, level: LogLevel, message: impl Into<String>) {
        self.log
            .push_from(Some(self.component), source, level, message);
    }

    /// A runtime line about this stage, at warn level.
    pub fn warn(&self, message: impl Into<String>) {
        self.push(LogSource::Runtime, LogLevel::Warn, message);
    }
}

impl DeploymentLog {
    /// The lines numbered `seq` and after that are still kept, oldest first.
    pub fn since(&self, seq: u64) -> Vec<LogLine> {
        let lines = self.lines.lock();
        let first = lines.front().map_or(0, |l| l.seq);
        let skip = seq.saturating_sub(first) as usize;
        lines.iter().skip(skip).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_and_cuts_long_ones() {
        let log = DeploymentLog::new("d", 2);
        log.info("one");
        log.info("two");
        log.push(
            LogSource::Stdout,
            LogLevel::Info,
            "x".repeat(MAX_LINE_BYTES + 10),
        );
        let tail = log.tail(10);
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].message, "two");
        assert!(tail[1].message.ends_with("[truncated]"));
        assert_eq!(tail[1].seq, 2);
        assert_eq!(log.since(2).len(), 1);
        assert_eq!(log.since(0).len(), 2, "what is kept");
    }
}
