//! A deployment's artifact folder: the one place that turns a host path into authority.
//!
//! The folder is opened once with ambient authority into a `cap_std::fs::Dir`; everything
//! after that (reading model files for the `models` import, the guest's preopened directory)
//! goes through capabilities, so `..`, absolute paths and symlinks cannot leave it.
//! Native models opened from it are loaded once and shared by every instance.

use crate::native::{ModelError, NativeModel};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Largest model file the `models` import reads.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// The read-only files of one deployment.
pub struct Artifacts {
    root: PathBuf,
    dir: Dir,
    models: Mutex<HashMap<String, Arc<OnceCell<Arc<NativeModel>>>>>,
}

impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifacts")
            .field("root", &self.root)
            .finish()
    }
}

impl Artifacts {
    /// Opens the folder at `root`.
    pub fn open(root: &Path) -> std::io::Result<Artifacts> {
        let root = root.canonicalize()?;
        let dir = Dir::open_ambient_dir(&root, ambient_authority())?;
        Ok(Artifacts {
            root,
            dir,
            models: Mutex::new(HashMap::new()),
        })
    }

    /// The host path of the folder, for the guest's preopen.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads a file of the folder; `path` cannot leave it.
    pub fn read(&self, path: &str, max_bytes: u64) -> std::io::Result<Vec<u8>> {
        let file = self.dir.open(path)?;
        let len = file.metadata()?.len();
        if len > max_bytes {
            return Err(std::io::Error::other(format!(
                "{path} is {len} bytes, over the limit of {max_bytes}"
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(max_bytes).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Whether `path` names a regular file in the folder.
    pub fn is_file(&self, path: &str) -> bool {
        self.dir
            .metadata(path)
            .map(|m| m.is_file())
            .unwrap_or(false)
    }

    /// The native model at `path`, loaded and optimized on first use, then shared.
    pub async fn model(self: &Arc<Self>, path: &str) -> Result<Arc<NativeModel>, ModelError> {
        let cell = Arc::clone(self.models.lock().entry(path.to_string()).or_default());
        cell.get_or_try_init(|| async {
            let artifacts = Arc::clone(self);
            let path = path.to_string();
            tokio::task::spawn_blocking(move || artifacts.load_model(&path))
                .await
                .map_err(|e| ModelError::Load {
                    source_name: "model".into(),
                    message: e.to_string(),
                })?
        })
        .await
        .cloned()
    }

    /// Drops the cached model at `path` (its stage went to zero); users keep their own.
    pub fn forget_model(&self, path: &str) {
        self.models.lock().remove(path);
    }

    /// Drops every cached model (every stage of the deployment is at zero).
    pub fn forget_models(&self) -> bool {
        let mut models = self.models.lock();
        let any = !models.is_empty();
        models.clear();
        any
    }

    /// Loads the model at `path` now, on this thread (at deployment start).
    pub fn load_model(&self, path: &str) -> Result<Arc<NativeModel>, ModelError> {
        let bytes = self
            .read(path, MAX_MODEL_BYTES)
            .map_err(|e| ModelError::Load {
                source_name: path.to_string(),
                message: e.to_string(),
            })?;
        NativeModel::load(path, &bytes).map(Arc::new)
    }
}
