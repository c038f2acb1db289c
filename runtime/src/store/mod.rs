//! The deployment store under `--data-dir/store`: what the server was asked to serve, kept
//! across restarts, so a restarted server brings every deployment back in its last desired
//! state with nothing to redeploy.
//!
//! ```text
//! store/blobs/<sha256>             file contents, by content (written once, never changed)
//! store/deployments/<name>.json    its record: versions (file path -> digest), the current
//!                                  version, the desired state (Running or Stopped)
//! store/live/<name>/v<N>/          version N as a folder (hard links to blobs): what the
//!                                  deployment starts from
//! ```
//!
//! The store reaches its files only through `cap_std::fs::Dir` handles opened on those
//! folders (ambient authority is used once, in [`Store::open`]), and only under names
//! parsed on entry ([`DeploymentName`], [`Digest`], [`files::FilePath`]): even a name that
//! slipped through could not leave the store.
//!
//! Every write is atomic: a temporary file, fsync, rename over the old one, fsync of the
//! folder. A blob is written before a record names it and a record is replaced whole, so a
//! crash at any moment leaves the old version or the new one, each complete. Temporary files
//! and staging folders left by a crash are removed on open. A record that does not read
//! back (damaged, or crafted) is logged and skipped; the others are served.
//!
//! Errors a client sees never hold the store's paths: those go to the server log.

mod disk;
pub mod files;
pub mod names;
mod record;

use disk::{read_bounded, sweep, sync, write_atomically};
pub use names::{DeploymentName, Digest};
pub use record::{Desired, Record, Version};

use cap_std::fs::Dir;
use files::FilePath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest record file read back: far above any real one (1,000 files × 16 versions).
const MAX_RECORD_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("deployment {0:?} is not in the store")]
    NotFound(String),
    #[error("deployment {name:?} has no version {version}")]
    NoVersion { name: String, version: u32 },
    /// A file operation failed; what and where is in the server log.
    #[error("the store could not {action} (see the server log)")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error("the stored record of deployment {name:?} is damaged (see the server log)")]
    Damaged { name: String, message: String },
    /// An operator's `--deploy` folder could not be taken in (its own paths, for the CLI).
    #[error("{0}")]
    Import(String),
}

/// The store's folders. Mutations of one deployment are not serialized here: the caller
/// holds that deployment's lock. Blobs are shared and written atomically by content.
pub struct Store {
    /// The root as given: logged with errors, and the prefix of folders handed to the loader.
    root: PathBuf,
    blobs: Dir,
    records: Dir,
    live: Dir,
}

/// A version's files in a folder of their own, for a start that may fail.
pub struct Staging {
    /// Its name under `live/` (`.run-<name>-<uuid>`).
    name: String,
    /// Where the loader opens it.
    pub path: PathBuf,
}

impl Store {
    /// Opens (creating) the store in `root`, removing what a crash left half-written.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let authority = cap_std::ambient_authority();
        let open = || -> std::io::Result<Dir> {
            Dir::create_ambient_dir_all(root, authority)?;
            Dir::open_ambient_dir(root, authority)
        };
        let dir = open().map_err(|e| {
            tracing::error!("opening the store {}: {e}", root.display());
            StoreError::Io {
                action: "open its folder".into(),
                source: e,
            }
        })?;
        let sub = |name: &str| -> Result<Dir, StoreError> {
            dir.create_dir_all(name)
                .and_then(|()| dir.open_dir(name))
                .map_err(Self::io_at(root, format!("open {name}/")))
        };
        let store = Store {
            root: root.to_path_buf(),
            blobs: sub("blobs")?,
            records: sub("deployments")?,
            live: sub("live")?,
        };
        for folder in [&store.blobs, &store.records, &store.live] {
            sweep(folder).map_err(store.io("remove temporary files"))?;
        }
        // A crash while materializing leaves `live/<name>/.tmp-v<N>-*`.
        for entry in store.live.entries().map_err(store.io("list live/"))? {
            let entry = entry.map_err(store.io("list live/"))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let folder = entry.open_dir().map_err(store.io("open live/"))?;
                sweep(&folder).map_err(store.io("remove temporary files"))?;
            }
        }
        Ok(store)
    }

    /// Logs a failed file operation with the store's path; the error itself says only
    /// what failed.
    fn io_at(root: &Path, action: String) -> impl FnOnce(std::io::Error) -> StoreError {
        let root = root.display().to_string();
        move |source| {
            tracing::error!(store = %root, "the store could not {action}: {source}");
            StoreError::Io { action, source }
        }
    }

    fn io(&self, action: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        Self::io_at(&self.root, action.into())
    }

    /// Stores `bytes` by content; returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let exists = self
            .blobs
            .try_exists(digest.as_str())
            .map_err(self.io(format!("look up blob {digest}")))?;
        if !exists {
            write_atomically(&self.blobs, digest.as_str(), bytes)
                .map_err(self.io(format!("write blob {digest}")))?;
        }
        Ok(digest)
    }

    /// A blob's contents, if it holds at most `max_bytes` (else `None`, logged).
    pub fn read_blob(
        &self,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        read_bounded(&self.blobs, digest.as_str(), max_bytes)
            .map_err(self.io(format!("read blob {digest}")))
    }

    /// Every stored deployment that reads back, by name. A damaged record is logged and
    /// left out: the others are still listed and served.
    pub fn records(&self) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::new();
        for entry in self
            .records
            .entries()
            .map_err(self.io("list deployments/"))?
        {
            let entry = entry.map_err(self.io("list deployments/"))?;
            let file = entry.file_name();
            let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(".json")) else {
                continue;
            };
            if stem.starts_with('.') {
                continue;
            }
            match self.read_record(stem) {
                Ok(Some(r)) => records.push(r),
                Ok(None) => {}
                Err(StoreError::Damaged { .. }) => {} // logged by read_record
                Err(e) => return Err(e),
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }

    pub fn get(&self, name: &DeploymentName) -> Result<Option<Record>, StoreError> {
        self.read_record(name.as_str())
    }

    /// The record in `<stem>.json`, checked field by field; `None` if there is none.
    fn read_record(&self, stem: &str) -> Result<Option<Record>, StoreError> {
        let damaged = |message: String| {
            tracing::error!(
                store = %self.root.display(),
                record = ?stem,
                "a stored record is damaged and is skipped: {message}"
            );
            StoreError::Damaged {
                name: names::echo(stem),
                message,
            }
        };
        // Checked before any file operation: the stem is a file name in deployments/.
        if DeploymentName::parse(stem).is_err() {
            return Err(damaged("its file name is not a deployment name".into()));
        }
        let file = format!("{stem}.json");
        let text = match read_bounded(&self.records, &file, MAX_RECORD_BYTES) {
            Ok(Some(text)) => text,
            Ok(None) => return Err(damaged(format!("larger than {MAX_RECORD_BYTES} bytes"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(format!("read the record of {stem}"))(e)),
        };
        let record: Record = serde_json::from_slice(&text).map_err(|e| damaged(e.to_string()))?;
        record.check(stem).map_err(damaged)?;
        Ok(Some(record))
    }

    fn write(&self, record: &Record) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(record).expect("records serialize");
        write_atomically(&self.records, &format!("{}.json", record.name), &text)
            .map_err(self.io(format!("write the record of {}", record.name)))
    }

    /// The version number `files` will have once recorded for `name`: the current one when
    /// they are the same files, else the next (1 for a new deployment).
    pub fn version_for(
        &self,
        name: &DeploymentName,
        files: &BTreeMap<FilePath, Digest>,
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
        name: &DeploymentName,
        files: BTreeMap<FilePath, Digest>,
    ) -> Result<(Record, bool), StoreError> {
        let version = self.version_for(name, &files)?;
        let mut record = self.get(name)?.unwrap_or(Record {
            name: name.clone(),
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
        name: &DeploymentName,
        desired: Desired,
        current: Option<u32>,
    ) -> Result<Record, StoreError> {
        let mut record = self
            .get(name)?
            .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
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
    pub fn delete(&self, name: &DeploymentName) -> Result<(), StoreError> {
        let file = format!("{name}.json");
        self.records
            .remove_file(&file)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NotFound(name.to_string()),
                _ => self.io(format!("remove the record of {name}"))(e),
            })?;
        sync(&self.records).map_err(self.io("sync deployments/"))?;
        let _ = self.live.remove_dir_all(name.as_str());
        Ok(())
    }

    /// A version's files as a folder of its own, for a start that may fail: removed by
    /// [`Store::discard_staging`] if it does, else kept for the life of the process (the
    /// running deployment reads from it) and swept at the next open.
    pub fn materialize_staging(
        &self,
        name: &DeploymentName,
        version: &Version,
    ) -> Result<Staging, StoreError> {
        let folder = format!(".run-{name}-{}", uuid::Uuid::new_v4().simple());
        self.link_files(&self.live, &folder, version)
            .map_err(self.io(format!("staging version {} of {name}", version.version)))?;
        Ok(Staging {
            path: self.root.join("live").join(&folder),
            name: folder,
        })
    }

    pub fn discard_staging(&self, staging: Staging) {
        if let Err(e) = self.live.remove_dir_all(&staging.name) {
            tracing::warn!(
                "removing the staging folder {}: {e}",
                staging.path.display()
            );
        }
    }

    /// Creates `parent/folder` with the version's files: hard links to the blobs, copies
    /// where links fail (another file system). Removed again if any file fails.
    fn link_files(&self, parent: &Dir, folder: &str, version: &Version) -> std::io::Result<()> {
        parent.create_dir(folder)?;
        let fill = || -> std::io::Result<()> {
            let dir = parent.open_dir(folder)?;
            for (path, digest) in &version.files {
                if let Some(sub) = path.parent() {
                    dir.create_dir_all(sub)?;
                }
                if self.blobs.hard_link(digest.as_str(), &dir, path).is_err() {
                    self.blobs.copy(digest.as_str(), &dir, path)?;
                }
            }
            Ok(())
        };
        fill().inspect_err(|_| {
            let _ = parent.remove_dir_all(folder);
        })
    }

    /// Version `version` of `name` as a folder the loader can open: built once (hard links
    /// to the blobs, copies where links fail), in a temporary folder renamed into place.
    pub fn materialize(
        &self,
        name: &DeploymentName,
        version: &Version,
    ) -> Result<PathBuf, StoreError> {
        let folder = format!("v{}", version.version);
        let path = self.root.join("live").join(name.as_str()).join(&folder);
        let io = self.io(format!("materialize version {} of {name}", version.version));
        let build = || -> std::io::Result<()> {
            self.live.create_dir_all(name.as_str())?;
            let parent = self.live.open_dir(name.as_str())?;
            if parent.try_exists(&folder)? {
                return Ok(());
            }
            let tmp = format!(
                ".tmp-{folder}-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            );
            self.link_files(&parent, &tmp, version)?;
            parent.rename(&tmp, &parent, &folder).inspect_err(|_| {
                let _ = parent.remove_dir_all(&tmp);
            })?;
            sync(&parent)
        };
        build().map_err(io)?;
        Ok(path)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(store: &Store, contents: &[(&str, &str)]) -> BTreeMap<FilePath, Digest> {
        contents
            .iter()
            .map(|(p, c)| {
                (
                    FilePath::parse(p).unwrap(),
                    store.put_blob(c.as_bytes()).unwrap(),
                )
            })
            .collect()
    }

    fn name(n: &str) -> DeploymentName {
        DeploymentName::parse(n).unwrap()
    }

    #[test]
    fn versions_are_added_kept_and_materialized() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let d = name("d");
        let v1 = files(&store, &[("deployment.json", "{}"), ("m/model.onnx", "a")]);
        let (r, added) = store.add_version(&d, v1.clone()).unwrap();
        assert!(added);
        assert_eq!((r.current, r.desired), (1, Desired::Running));
        // The same files again: no new version.
        let (r, added) = store.add_version(&d, v1).unwrap();
        assert!(!added && r.versions.len() == 1);
        let v2 = files(&store, &[("deployment.json", "{}"), ("m/model.onnx", "b")]);
        let (r, _) = store.add_version(&d, v2).unwrap();
        assert_eq!(r.current, 2);

        let folder = store.materialize(&d, r.current_version()).unwrap();
        assert_eq!(std::fs::read(folder.join("m/model.onnx")).unwrap(), b"b");
        let r = store.set(&d, Desired::Stopped, Some(1)).unwrap();
        let folder = store.materialize(&d, r.current_version()).unwrap();
        assert_eq!(std::fs::read(folder.join("m/model.onnx")).unwrap(), b"a");
        assert!(matches!(
            store.set(&d, Desired::Running, Some(9)),
            Err(StoreError::NoVersion { .. })
        ));
        let staging = store.materialize_staging(&d, r.current_version()).unwrap();
        assert!(staging.path.join("m/model.onnx").exists());

        // Reopened (a restart): the same records; a crash's temporary files and staging
        // folders are gone.
        let root = dir.path().join("store");
        std::fs::write(root.join("deployments/.tmp-1-x"), "half").unwrap();
        std::fs::write(root.join("blobs/.tmp-1-x"), "half").unwrap();
        std::fs::create_dir(root.join("live/d/.tmp-v3-1-x")).unwrap();
        let store = Store::open(&root).unwrap();
        assert_eq!(store.records().unwrap(), vec![r]);
        for leftover in [
            "deployments/.tmp-1-x",
            "blobs/.tmp-1-x",
            "live/d/.tmp-v3-1-x",
        ] {
            assert!(!root.join(leftover).exists(), "{leftover}");
        }
        assert!(!staging.path.exists());
        store.delete(&d).unwrap();
        assert!(store.records().unwrap().is_empty());
        assert!(matches!(store.delete(&d), Err(StoreError::NotFound(_))));
    }

    /// Records are checked as they are read: a crafted or damaged one is skipped, the
    /// others still read, and no error a client could see holds a path.
    #[test]
    fn damaged_records_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = Store::open(&root).unwrap();
        let good = files(&store, &[("deployment.json", "{}")]);
        store.add_version(&name("good"), good.clone()).unwrap();
        let digest = good.values().next().unwrap().to_string();
        let record = |name: &str, path: &str, digest: &str, current: u32| {
            serde_json::json!({"name": name, "desired": "Running", "current": current,
                "versions": [{"version": 1, "created_ms": 0, "files": {path: digest}}]})
            .to_string()
        };
        for (file, text) in [
            ("escape", record("escape", "../../x", &digest, 1)),
            ("digest", record("digest", "a", "../../../etc/passwd", 1)),
            ("other", record("good", "a", &digest, 1)),
            ("current", record("current", "a", &digest, 7)),
            ("garbage", "{\"name\":".to_string()),
        ] {
            std::fs::write(root.join(format!("deployments/{file}.json")), text).unwrap();
            let e = store.get(&name(file)).unwrap_err();
            assert!(matches!(e, StoreError::Damaged { .. }), "{file}: {e}");
            assert!(!e.to_string().contains(root.to_str().unwrap()), "{e}");
        }
        let names: Vec<String> = store
            .records()
            .unwrap()
            .into_iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(names, ["good"]);
    }
}
