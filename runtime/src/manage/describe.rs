//! The manager's state as the management API's views ([`crate::views`]): a deployment
//! described from its record, the registry and the operation in progress; its log lines.

use super::{ManageError, Manager};
use crate::deployment::Deployment;
use crate::deployment_log as log;
use crate::lifecycle::LifecycleState;
use crate::role::Role;
use crate::store::{DeploymentName, Desired, Record};
use crate::views;

impl Manager {
    /// Every stored deployment, described.
    pub fn list(&self) -> Result<Vec<views::Deployment>, ManageError> {
        Ok(self
            .store
            .records()?
            .iter()
            .map(|r| self.describe_record(r))
            .collect())
    }

    /// One deployment, described; it takes no lock, so it answers while the deployment
    /// starts (`Starting`).
    pub fn describe(&self, name: &DeploymentName) -> Result<views::Deployment, ManageError> {
        self.describe_record_of(name)
    }

    pub(super) fn describe_record_of(
        &self,
        name: &DeploymentName,
    ) -> Result<views::Deployment, ManageError> {
        Ok(self.describe_record(&self.record(name)?))
    }

    /// Definition, state (with the reason when Failed), versions, instance counts.
    fn describe_record(&self, record: &Record) -> views::Deployment {
        let deployment = self.registry.get(&record.name);
        let transition = self.transitions.lock().get(&record.name).copied();
        let state = match (&deployment, transition) {
            (_, Some(t)) => t,
            (Some(d), None) => d.lifecycle_state(),
            (None, None) if record.desired == Desired::Stopped => LifecycleState::Stopped,
            (None, None) => LifecycleState::Created,
        };
        let reason = deployment
            .as_ref()
            .and_then(|d| d.predictor().err().map(str::to_string));
        let definition = match &deployment {
            Some(d) => serde_json::to_value(&d.config).ok(),
            // Stopped: the stored definition of the version it would serve.
            None => self
                .stored_definition(record)
                .and_then(|c| serde_json::to_value(c).ok()),
        };
        let versions = record
            .versions
            .iter()
            .map(|v| views::Version {
                version: v.version,
                created_ms: v.created_ms,
                files: v.files.keys().map(|f| f.as_str().to_string()).collect(),
            })
            .collect();
        views::Deployment {
            name: record.name.to_string(),
            state,
            reason,
            desired: record.desired,
            version: record.current,
            versions,
            definition,
            instances: deployment.as_deref().and_then(instances),
            endpoints: views::Endpoints::of(&record.name),
        }
    }

    /// The newest `tail` lines of a running (or failed) deployment's log, or of the lines
    /// one stage's guest wrote.
    pub fn logs(
        &self,
        name: &DeploymentName,
        tail: usize,
        component: Option<Role>,
    ) -> Result<Vec<views::LogLine>, ManageError> {
        let log = &self.serving(name)?.log;
        let lines = match component {
            None => log.tail(tail),
            Some(c) => {
                let mut lines: Vec<_> = log
                    .since(0)
                    .into_iter()
                    .filter(|l| l.component == Some(c))
                    .collect();
                lines.drain(..lines.len().saturating_sub(tail));
                lines
            }
        };
        Ok(lines.iter().map(log_line).collect())
    }
}

/// A serving deployment's live instances per stage; none while its predictor is not
/// serving (failed).
fn instances(d: &Deployment) -> Option<views::Instances> {
    use crate::predictor::Predictor;
    let serving = d.serving().ok()?;
    // A gauge of live instances: never below zero, read as a count.
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let predictor = match serving.predictor.predictor() {
        Predictor::Component(c) => {
            views::PredictorInstances::Count(count(c.pool().metrics.instances.get()))
        }
        Predictor::Native(_) => views::PredictorInstances::Native(views::NativeGraph::Native),
    };
    let transformer = serving
        .transformer
        .as_ref()
        .map(|t| count(t.component().pool().metrics.instances.get()));
    Some(views::Instances {
        predictor,
        transformer,
    })
}

/// A line of a deployment's log, as the API shows it.
pub fn log_line(line: &log::LogLine) -> views::LogLine {
    views::LogLine {
        seq: line.seq,
        timestamp_ms: line.timestamp_ms,
        source: line.source,
        component: line.component,
        level: line.level,
        message: line.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The view of a line serializes as the log's own line does (followers and pages
    /// answer the same bytes), and reads back as itself.
    #[test]
    fn log_lines_serialize_as_the_log_does() {
        use log::{LogLevel as Level, LogSource as Source};
        let sources = [
            Source::Runtime,
            Source::Guest,
            Source::Stdout,
            Source::Stderr,
        ];
        let levels = [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
        ];
        let components = [None, Some(Role::Predictor), Some(Role::Transformer)];
        let mut seq = 0;
        for source in sources {
            for level in levels {
                for component in components {
                    seq += 1;
                    let line = log::LogLine {
                        seq,
                        timestamp_ms: 1_700_000_000_000 + seq,
                        source,
                        component,
                        level,
                        message: format!("line {seq} \"quoted\""),
                    };
                    let view = log_line(&line);
                    let wire = serde_json::to_string(&line).unwrap();
                    assert_eq!(serde_json::to_string(&view).unwrap(), wire);
                    let back: views::LogLine = serde_json::from_str(&wire).unwrap();
                    assert_eq!(back, view);
                }
            }
        }
    }
}
