//! A deployment's record (`store/deployments/<name>.json`): its versions and what the
//! operator last asked of it. A record read from disk is trusted no more than an upload:
//! its fields are typed ([`DeploymentName`], [`FilePath`], [`Digest`] refuse bad values as
//! they are read) and [`Record::check`] checks how they fit together.

use super::files::{FilePath, check_tree};
use super::names::{DeploymentName, Digest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the operator last asked of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn valid() -> Value {
        json!({"name": "iris", "desired": "Running", "current": 2, "versions": [
            {"version": 1, "created_ms": 1, "files": {"deployment.json": "a".repeat(64)}},
            {"version": 2, "created_ms": 2, "files": {
                "deployment.json": "b".repeat(64), "models/model.onnx": "c".repeat(64)}}]})
    }

    /// What a record's reader does: parse, then check against its file name.
    fn read(text: &[u8]) -> Result<Record, String> {
        let record: Record = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        record.check("iris")?;
        Ok(record)
    }

    /// Hostile values a crafted record may carry where a name, path or digest belongs.
    fn hostile() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("../../etc/passwd")),
            Just(json!("/etc/passwd")),
            Just(json!("..")),
            Just(json!("a/../../b")),
            Just(json!("a\\..\\b")),
            Just(json!("a\u{0}b")),
            Just(json!("x".repeat(300))),
            Just(json!(".tmp-x")),
            Just(json!(-1)),
            Just(json!(u64::MAX)),
            Just(json!(null)),
            Just(json!([])),
            Just(json!({})),
            "[ -~]{0,80}".prop_map(Value::from),
            "\\PC{0,40}".prop_map(Value::from),
        ]
    }

    /// A path into the record where a hostile value goes.
    fn site() -> impl Strategy<Value = Vec<&'static str>> {
        prop_oneof![
            Just(vec!["name"]),
            Just(vec!["desired"]),
            Just(vec!["current"]),
            Just(vec!["versions", "1", "version"]),
            Just(vec!["versions", "1", "files", "models/model.onnx"]),
            Just(vec!["versions", "0", "files", "deployment.json"]),
            Just(vec!["versions", "1", "files"]),
            Just(vec!["versions"]),
        ]
    }

    fn put(value: &mut Value, path: &[&str], new: Value) {
        let Some((first, rest)) = path.split_first() else {
            *value = new;
            return;
        };
        let slot = match value {
            Value::Object(m) => m.entry(first.to_string()).or_insert(Value::Null),
            Value::Array(a) => match first.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
        put(slot, rest, new);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever a crafted record holds, reading it never panics, and what it accepts
        /// names only plain relative paths and hex digests that stay inside the store.
        #[test]
        fn crafted_records_are_refused_or_stay_inside(
            edits in proptest::collection::vec((site(), hostile()), 1..4),
            key in proptest::option::of(hostile()),
        ) {
            let mut record = valid();
            for (site, value) in edits {
                put(&mut record, &site, value);
            }
            // A hostile file path as a key, not only as a value.
            if let (Some(Value::String(k)), Some(files)) =
                (key, record.pointer_mut("/versions/1/files").and_then(Value::as_object_mut))
            {
                files.insert(k, json!("d".repeat(64)));
            }
            let text = serde_json::to_vec(&record).unwrap();
            if let Ok(r) = read(&text) {
                prop_assert_eq!(r.name.as_str(), "iris");
                prop_assert!(r.version(r.current).is_some());
                let root = std::path::Path::new("/store/live/iris/v1");
                for v in &r.versions {
                    for (path, digest) in &v.files {
                        let joined = root.join(path.as_str());
                        prop_assert!(joined.starts_with(root));
                        prop_assert!(joined.components().all(|c| matches!(
                            c,
                            std::path::Component::Normal(_) | std::path::Component::RootDir
                        )));
                        prop_assert!(digest.as_str().len() == 64
                            && digest.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
                    }
                }
            }
        }
    }

    #[test]
    fn the_valid_record_reads() {
        read(&serde_json::to_vec(&valid()).unwrap()).unwrap();
    }
}
