//! A deployment's artifact folder: the one place that turns a host path into authority.
//!
//! The folder is opened once with ambient authority into a `cap_std::fs::Dir`; everything
//! after that (reading model files for the `models` import, the guest's preopened directory)
//! goes through capabilities, so `..`, absolute paths and symlinks cannot leave it.
//! This file imports nothing of the crate: it is a leaf every stage builds on.

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The read-only files of one deployment.
pub struct Artifacts {
    root: PathBuf,
    dir: Dir,
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
        Ok(Artifacts { root, dir })
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
}
