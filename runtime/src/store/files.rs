//! The files of a deployment as the store takes them: relative paths that stay inside the
//! deployment's folder, contents put in the blob store.

use super::{Store, StoreError};
use std::collections::BTreeMap;
use std::path::{Component, Path};

/// Deepest folder nesting an uploaded path may have.
const MAX_DEPTH: usize = 16;

/// Checks an uploaded file's path: relative, plain names only (no `..`, no root, no `.`),
/// nothing hidden that the store uses. The error says why, for the client.
pub fn check_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    let mut depth = 0;
    for c in p.components() {
        match c {
            Component::Normal(name) => {
                let name = name.to_string_lossy();
                if name.starts_with(".tmp") {
                    return Err(format!("{path:?}: names starting with .tmp are reserved"));
                }
                depth += 1;
            }
            _ => {
                return Err(format!(
                    "{path:?}: file paths must be relative and stay inside the deployment (no `..`, `.` or leading `/`)"
                ));
            }
        }
    }
    if depth == 0 || path.ends_with('/') || path.contains('\\') || path.contains('\0') {
        return Err(format!("{path:?} is not a file path"));
    }
    if depth > MAX_DEPTH {
        return Err(format!("{path:?}: nested deeper than {MAX_DEPTH} folders"));
    }
    Ok(())
}

/// Puts every regular file under `dir` in the store; symbolic links are left out (with a
/// warning), as the loader would refuse to follow them.
pub fn import_dir(store: &Store, dir: &Path) -> Result<BTreeMap<String, String>, StoreError> {
    let mut files = BTreeMap::new();
    walk(store, dir, dir, &mut files)?;
    Ok(files)
}

fn walk(
    store: &Store,
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, String>,
) -> Result<(), StoreError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StoreError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            walk(store, root, &path, files)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let relative = path
                .strip_prefix(root)
                .expect("walked under the root")
                .to_string_lossy()
                .into_owned();
            files.insert(relative, store.put_blob(&bytes)?);
        } else {
            // The loader would refuse to follow it anyway: a deployment's files are its own.
            tracing::warn!(
                "{}: not a regular file (a symbolic link?), left out of the deployment",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        for ok in ["deployment.json", "models/a.onnx", "a/b/c.txt"] {
            check_path(ok).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "./a",
            "a/",
            ".tmp-x",
            "a\\b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}
