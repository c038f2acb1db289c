//! A deployment's record (`store/deployments/<name>.json`): its versions and what the
//! operator last asked of it. A record read from disk is trusted no more than an upload:
//! its fields are typed ([`DeploymentName`], [`FilePath`], [`Digest`] refuse bad values as
//! they are read) and [`Record::check`] checks how they fit together.

use super::files::{FilePath, check_tree};
use super::names::{DeploymentName, Digest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the operator last asked of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Desired {
    Running,
    Stopped,
}

/// One uploaded version: its files by relative path, each a blob digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: u32,
    /// Unix milliseconds.
    pub created_ms: u64,
    pub files: BTreeMap<FilePath, Digest>,
}

/// A deployment as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub name: DeploymentName,
    pub desired: Desired,
    /// The version served (a rollback points it at an older one).
    pub current: u32,
    pub versions: Vec<Version>,
}

impl Record {
    pub fn version(&self, n: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == n)
    }

    pub fn current_version(&self) -> &Version {
        self.version(self.current)
            .expect("a record's current version is one of its versions (Record::check)")
    }

    /// Checks a record read from `<file_stem>.json`: it names that deployment, its version
    /// numbers are distinct, its current version is one of them, and each version's paths
    /// can all be files. The error says what is wrong (for the server log).
    pub fn check(&self, file_stem: &str) -> Result<(), String> {
        if self.name.as_str() != file_stem {
            return Err(format!(
                "it names deployment {:?}, not the one of its file name",
                self.name.as_str()
            ));
        }
        let mut numbers = BTreeSet::new();
        for v in &self.versions {
            if !numbers.insert(v.version) {
                return Err(format!("version {} appears twice", v.version));
            }
            check_tree(v.files.keys()).map_err(|e| format!("version {}: {e}", v.version))?;
        }
        if self.version(self.current).is_none() {
            return Err(format!(
                "its current version {} is not one of its versions",
                self.current
            ));
        }
        Ok(())
    }
}
