//! Where a SavedModel's files come from. The loader never opens a path itself: it asks a
//! [`ModelFiles`] for `saved_model.pb`, `variables/variables.index` and the data shards by
//! their names inside the model directory, so a server can hand it a capability-scoped folder
//! (no `..`, no symlinks out) and every size is known before anything is allocated.
//! [`DirFiles`] reads a plain directory, for tools and tests.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Read access to the files of one model directory; paths are relative, `/`-separated.
pub trait ModelFiles {
    /// The file's length in bytes (an error of kind `NotFound` when it is absent).
    fn len(&self, path: &str) -> std::io::Result<u64>;
    /// The whole file; files over `max_bytes` are refused before anything is read.
    fn read(&self, path: &str, max_bytes: u64) -> std::io::Result<Vec<u8>>;
    /// `len` bytes at `offset` (the caller has checked the range against [`ModelFiles::len`]).
    fn read_at(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
    /// Whether `path` names a file.
    fn exists(&self, path: &str) -> bool {
        self.len(path).is_ok()
    }
}

/// A model directory on the local file system, with the authority of the process.
#[derive(Debug, Clone)]
pub struct DirFiles(pub PathBuf);

impl DirFiles {
    pub fn new(dir: impl Into<PathBuf>) -> DirFiles {
        DirFiles(dir.into())
    }
}

impl ModelFiles for DirFiles {
    fn len(&self, path: &str) -> std::io::Result<u64> {
        let meta = std::fs::metadata(self.0.join(path))?;
        if meta.is_file() {
            Ok(meta.len())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a regular file",
            ))
        }
    }

    fn read(&self, path: &str, max_bytes: u64) -> std::io::Result<Vec<u8>> {
        let file = std::fs::File::open(self.0.join(path))?;
        let len = file.metadata()?.len();
        if len > max_bytes {
            return Err(std::io::Error::other(format!(
                "{len} bytes, over the limit of {max_bytes}"
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(max_bytes).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut file = std::fs::File::open(self.0.join(path))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = vec![0u8; len];
        file.read_exact(&mut bytes)?;
        Ok(bytes)
    }
}
