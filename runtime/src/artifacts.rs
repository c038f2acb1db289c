//! A deployment's artifact folder: the one place that turns a host path into authority.
//!
//! The folder is opened once with ambient authority into a `cap_std::fs::Dir`; everything
//! after that (reading model files for the `models` import, the guest's preopened directory)
//! goes through capabilities, so `..`, absolute paths and symlinks cannot leave it.
//! This file imports nothing of the crate: it is a leaf every stage builds on.

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::io::{Read as _, Seek as _, SeekFrom};
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

    /// Whether `path` names a directory in the folder.
    pub fn is_dir(&self, path: &str) -> bool {
        self.dir.metadata(path).map(|m| m.is_dir()).unwrap_or(false)
    }

    /// The length of the regular file `path` (`NotFound` for anything else).
    pub fn file_len(&self, path: &str) -> std::io::Result<u64> {
        let meta = self.dir.metadata(path)?;
        if !meta.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{path} is not a regular file"),
            ));
        }
        Ok(meta.len())
    }

    /// `len` bytes of `path` from `offset`, refused unless the file holds them all (checked
    /// before allocating).
    pub fn read_at(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut file = self.dir.open(path)?;
        let size = file.metadata()?.len();
        if offset.checked_add(len as u64).is_none_or(|end| end > size) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{path} is {size} bytes: no {len} bytes at offset {offset}"),
            ));
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = vec![0u8; len];
        file.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    /// The entries of directory `path` (`.` for the folder itself): names and whether each
    /// is a directory; refused past `max_entries`.
    pub fn list(&self, path: &str, max_entries: usize) -> std::io::Result<Vec<(String, bool)>> {
        let mut entries = Vec::new();
        for entry in self.dir.read_dir(path)? {
            let entry = entry?;
            if entries.len() == max_entries {
                return Err(std::io::Error::other(format!(
                    "{path} holds more than {max_entries} entries"
                )));
            }
            let is_dir = entry.file_type()?.is_dir();
            entries.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        Ok(entries)
    }
}
