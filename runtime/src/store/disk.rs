//! The store's disk discipline, through `Dir` capabilities: bounded reads, whole-or-nothing
//! writes that survive a power cut, and sweeping what an interrupted write left behind.

use cap_std::fs::Dir;
use std::io::{Read as _, Write as _};

/// Removes the temporary files and staging folders directly in `dir`.
pub(super) fn sweep(dir: &Dir) -> std::io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".tmp") || name.starts_with(".run-") {
            let removed = if entry.file_type()?.is_dir() {
                dir.remove_dir_all(&*name)
            } else {
                dir.remove_file(&*name)
            };
            if let Err(e) = removed {
                tracing::warn!("removing the leftover {name:?} from the store: {e}");
            }
        }
    }
    Ok(())
}

/// `name` in `dir`, if at most `max_bytes` long (checked before reading).
pub(super) fn read_bounded(
    dir: &Dir,
    name: &str,
    max_bytes: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut file = dir.open(name)?;
    let len = file.metadata()?.len();
    if len > max_bytes {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Writes `name` in `dir` whole or not at all: a temporary file beside it, fsync, rename,
/// fsync of the folder (so the rename itself survives a power cut).
pub(super) fn write_atomically(dir: &Dir, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = format!(
        ".tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let write = || -> std::io::Result<()> {
        let mut f = dir.create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        dir.rename(&tmp, dir, name)
    };
    write().inspect_err(|_| {
        let _ = dir.remove_file(&tmp);
    })?;
    sync(dir)
}

/// fsync of a folder. `Dir` handles are `O_PATH` descriptors, which cannot be synced: the
/// folder is opened for reading through the handle first.
pub(super) fn sync(dir: &Dir) -> std::io::Result<()> {
    dir.open(".")?.sync_all()
}
