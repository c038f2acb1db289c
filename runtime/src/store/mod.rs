//! The deployment store under `--data-dir/store`: what the server was asked to serve, kept
//! across restarts, so a restarted server brings every deployment back in its last desired
//! state with nothing to redeploy.
//!
//! ```text
//! store/blobs/<sha256>             file contents, by content (written once, never changed)
//! store/deployments/<name>.json    its record: versions (file path -> digest), the current
//!                                  version, the desired state (Running or Stopped)
//! store/live/<name>/v<N>/          version N as a folder (hard links to blobs): what the
//!                                  loader opens
//! ```
//!
//! Every write is atomic: a temporary file, fsync, rename over the old one, fsync of the
//! folder. A blob is written before a record names it and a record is replaced whole, so a
//! crash at any moment leaves the old version or the new one, each complete. Temporary files
//! left by a crash are ignored and removed on open.

pub mod files;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

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
    pub files: BTreeMap<String, String>,
}

/// A deployment as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
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
            .expect("a record's current version is one of its versions")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("deployment {0:?} is not in the store")]
    NotFound(String),
    #[error("deployment {name:?} has no version {version}")]
    NoVersion { name: String, version: u32 },
    #[error("the store at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the record {path} is damaged: {message}")]
    Damaged { path: String, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The store's folders. Mutations are not serialized here: the caller holds one lock.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating) the store in `root`, removing what a crash left half-written.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let root = root.to_path_buf();
        for sub in ["blobs", "deployments", "live"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp") || name.starts_with(".run-") {
                    let _ = remove_any(&entry.path());
                }
            }
        }
        Ok(Store { root })
    }

    /// Stores `bytes` by content; returns its digest (sha256, hex).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let path = self.blob(&digest);
        if !path.exists() {
            write_atomically(&path, bytes)?;
        }
        Ok(digest)
    }

    pub fn blob(&self, digest: &str) -> PathBuf {
        self.root.join("blobs").join(digest)
    }

    /// Every stored deployment, by name.
    pub fn records(&self) -> Result<Vec<Record>, StoreError> {
        let dir = self.root.join("deployments");
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(name) = name.strip_suffix(".json")
                && !name.starts_with('.')
            {
                records.push(self.read(name)?);
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }

    pub fn get(&self, name: &str) -> Result<Option<Record>, StoreError> {
        match self.read(name) {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read(&self, name: &str) -> Result<Record, StoreError> {
        let path = self.record_path(name);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(name.to_string()));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_slice(&text).map_err(|e| StoreError::Damaged {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    fn write(&self, record: &Record) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(record).expect("records serialize");
        write_atomically(&self.record_path(&record.name), &text)
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.root.join("deployments").join(format!("{name}.json"))
    }

    /// The version number `files` will have once recorded for `name`: the current one when
    /// they are the same files, else the next (1 for a new deployment).
    /// The version `name` serves, if it is stored.
    pub fn current(&self, name: &str) -> Result<Option<u32>, StoreError> {
        Ok(self.get(name)?.map(|r| r.current))
    }

    pub fn version_for(
        &self,
        name: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<u32, StoreError> {
        Ok(match self.get(name)? {
            None => 1,
            Some(r) if r.version(r.current).is_some_and(|v| &v.files == files) => r.current,
            Some(r) => r.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1,
        })
    }

    /// Records `files` (path -> digest, blobs already stored) as the newest version of
    /// `name`, made current and Running. The same files as the current version make no new
    /// version. Returns the record and whether a version was added.
    pub fn add_version(
        &self,
        name: &str,
        files: BTreeMap<String, String>,
    ) -> Result<(Record, bool), StoreError> {
        let version = self.version_for(name, &files)?;
        let mut record = self.get(name)?.unwrap_or(Record {
            name: name.to_string(),
            desired: Desired::Running,
            current: 0,
            versions: Vec::new(),
        });
        let added = record.version(version).is_none();
        if added {
            record.versions.push(Version {
                version,
                created_ms: now_ms(),
                files,
            });
        }
        record.current = version;
        record.desired = Desired::Running;
        self.write(&record)?;
        Ok((record, added))
    }

    /// Changes what `name` should be doing and which version it serves.
    pub fn set(
        &self,
        name: &str,
        desired: Desired,
        current: Option<u32>,
    ) -> Result<Record, StoreError> {
        let mut record = self.read(name)?;
        if let Some(v) = current {
            if record.version(v).is_none() {
                return Err(StoreError::NoVersion {
                    name: name.to_string(),
                    version: v,
                });
            }
            record.current = v;
        }
        record.desired = desired;
        self.write(&record)?;
        Ok(record)
    }

    /// Forgets `name` (its blobs stay: other versions or deployments may share them).
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        let path = self.record_path(name);
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound(name.to_string()),
            _ => io(&path)(e),
        })?;
        sync_dir(path.parent().expect("records live in a folder"))?;
        let _ = remove_any(&self.root.join("live").join(name));
        Ok(())
    }

    /// A version's files as a folder of its own, for a start that may fail: removed by
    /// [`Store::discard_staging`] if it does, else kept for the life of the process (the
    /// running deployment reads from it) and swept at the next open.
    pub fn materialize_staging(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<PathBuf, StoreError> {
        let dir = self
            .root
            .join("live")
            .join(format!(".run-{name}-{}", uuid::Uuid::new_v4().simple()));
        self.link_files(&dir, version)?;
        Ok(dir)
    }

    pub fn discard_staging(&self, dir: &Path) {
        let _ = remove_any(dir);
    }

    fn link_files(&self, dir: &Path, version: &Version) -> Result<(), StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for (path, digest) in &version.files {
            let target = dir.join(path);
            let folder = target.parent().expect("a file path has a folder");
            std::fs::create_dir_all(folder).map_err(io(folder))?;
            let blob = self.blob(digest);
            if std::fs::hard_link(&blob, &target).is_err() {
                std::fs::copy(&blob, &target).map_err(io(&blob))?;
            }
        }
        Ok(())
    }

    /// Version `version` of `name` as a folder the loader can open: built once (hard links
    /// to the blobs, copies where links fail), in a temporary folder renamed into place.
    pub fn materialize(&self, name: &str, version: &Version) -> Result<PathBuf, StoreError> {
        let parent = self.root.join("live").join(name);
        let dir = parent.join(format!("v{}", version.version));
        if dir.exists() {
            return Ok(dir);
        }
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let tmp = parent.join(format!(".tmp-v{}-{}", version.version, std::process::id()));
        let _ = remove_any(&tmp);
        self.link_files(&tmp, version)?;
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        sync_dir(&parent)?;
        Ok(dir)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes `path` whole or not at all: a temporary file beside it, fsync, rename, fsync of
/// the folder (so the rename itself survives a power cut).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let folder = path.parent().expect("a store path has a folder");
    let tmp = folder.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path)(e)
    })?;
    sync_dir(folder)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(store: &Store, contents: &[(&str, &str)]) -> BTreeMap<String, String> {
        contents
            .iter()
            .map(|(p, c)| (p.to_string(), store.put_blob(c.as_bytes()).unwrap()))
            .collect()
    }

    #[test]
    fn versions_are_added_kept_and_materialized() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let v1 = files(&store, &[("deployment.json", "{}"), ("m/model.onnx", "a")]);
        let (r, added) = store.add_version("d", v1.clone()).unwrap();
        assert!(added);
        assert_eq!((r.current, r.desired), (1, Desired::Running));
        // The same files again: no new version.
        let (r, added) = store.add_version("d", v1).unwrap();
        assert!(!added && r.versions.len() == 1);
        let v2 = files(&store, &[("deployment.json", "{}"), ("m/model.onnx", "b")]);
        let (r, _) = store.add_version("d", v2).unwrap();
        assert_eq!(r.current, 2);

        let folder = store.materialize("d", r.current_version()).unwrap();
        assert_eq!(std::fs::read(folder.join("m/model.onnx")).unwrap(), b"b");
        let r = store.set("d", Desired::Stopped, Some(1)).unwrap();
        let folder = store.materialize("d", r.current_version()).unwrap();
        assert_eq!(std::fs::read(folder.join("m/model.onnx")).unwrap(), b"a");
        assert!(matches!(
            store.set("d", Desired::Running, Some(9)),
            Err(StoreError::NoVersion { .. })
        ));

        // Reopened (a restart): the same records; a crash's temporary files are gone.
        std::fs::write(dir.path().join("store/deployments/.tmp-1-x"), "half").unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        assert_eq!(store.records().unwrap(), vec![r]);
        assert!(!dir.path().join("store/deployments/.tmp-1-x").exists());
        store.delete("d").unwrap();
        assert!(store.records().unwrap().is_empty());
        assert!(matches!(store.delete("d"), Err(StoreError::NotFound(_))));
    }
}
