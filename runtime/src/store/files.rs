//! The files of a deployment as the store takes them: [`FilePath`], a relative path parsed
//! once (from an upload, a `--deploy` folder or a record read from disk) that stays inside
//! the deployment's folder, and [`check_tree`], which refuses a set of paths that cannot all
//! be files (`x` and `x/y`).

use super::names::{Digest, echo};
use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Deepest folder nesting a path may have (components, the file included).
pub const MAX_DEPTH: usize = 16;
/// Longest file or folder name, in bytes (the limit of common Linux file systems).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest path, in bytes: with the store's own folders in front it stays far below
/// `PATH_MAX` (4096).
pub const MAX_PATH_BYTES: usize = 1024;
/// Name prefixes the store uses for its own temporary files and folders.
const RESERVED_PREFIXES: [&str; 2] = [".tmp", ".run-"];

/// A file's path inside a deployment: `/`-separated plain names, each 1..=255 bytes, no
/// `.` or `..`, no `\`, no control character, no reserved prefix; at most [`MAX_DEPTH`]
/// deep and [`MAX_PATH_BYTES`] long. Joined to any folder it names something under it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FilePath(String);

impl FilePath {
    /// The path if it is one; else a message saying why not (for a 400).
    pub fn parse(path: &str) -> Result<FilePath, String> {
        let shown = echo(path);
        if path.is_empty() {
            return Err("an empty file path".to_string());
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(format!(
                "{shown}: file paths are at most {MAX_PATH_BYTES} bytes"
            ));
        }
        if path.chars().any(char::is_control) {
            return Err(format!("{shown}: file paths have no control characters"));
        }
        if path.contains('\\') {
            return Err(format!(
                "{shown}: file paths separate folders with '/', not '\\'"
            ));
        }
        let components: Vec<&str> = path.split('/').collect();
        if components.len() > MAX_DEPTH {
            return Err(format!("{shown}: nested deeper than {MAX_DEPTH} folders"));
        }
        for name in components {
            match name {
                "" | "." | ".." => {
                    return Err(format!(
                        "{shown}: file paths must be relative and stay inside the deployment (no `..`, `.`, empty names or leading `/`)"
                    ));
                }
                _ if name.len() > MAX_COMPONENT_BYTES => {
                    return Err(format!(
                        "{shown}: a file or folder name is at most {MAX_COMPONENT_BYTES} bytes"
                    ));
                }
                _ if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) => {
                    return Err(format!(
                        "{shown}: names starting with {} are reserved",
                        RESERVED_PREFIXES.join(" or ")
                    ));
                }
                _ => {}
            }
        }
        Ok(FilePath(path.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folders that hold it, outermost first (`a/b/c` -> `a`, `a/b`).
    fn folders(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(i, _)| &self.0[..i])
    }

    /// Its folder, if it is in one.
    pub fn parent(&self) -> Option<&str> {
        self.0.rfind('/').map(|i| &self.0[..i])
    }
}

impl TryFrom<String> for FilePath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        FilePath::parse(&s)
    }
}

impl From<FilePath> for String {
    fn from(p: FilePath) -> String {
        p.0
    }
}

impl AsRef<Path> for FilePath {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

/// Checks that `paths` can all be files of one folder: none is also a folder of another
/// (`x` and `x/y`). The error names both.
pub fn check_tree<'a>(paths: impl IntoIterator<Item = &'a FilePath>) -> Result<(), String> {
    let paths: BTreeSet<&str> = paths.into_iter().map(FilePath::as_str).collect();
    for path in &paths {
        let path = FilePath(path.to_string());
        if let Some(folder) = path.folders().find(|f| paths.contains(f)) {
            return Err(format!(
                "{} is a file, so {} cannot be inside it: a path is a file or a folder, not both",
                echo(folder),
                echo(path.as_str())
            ));
        }
    }
    Ok(())
}

/// Puts every regular file under `dir` (an operator's `--deploy` folder) in the store;
/// symbolic links are left out (with a warning), as the loader would refuse to follow them.
pub fn import_dir(store: &Store, dir: &Path) -> Result<BTreeMap<FilePath, Digest>, StoreError> {
    let mut files = BTreeMap::new();
    walk(store, dir, dir, &mut files)?;
    Ok(files)
}

fn walk(
    store: &Store,
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<FilePath, Digest>,
) -> Result<(), StoreError> {
    // The operator's own folder: its paths are theirs to see (messages go to the CLI).
    let import = |path: &Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| StoreError::Import(format!("reading {path}: {e}"))
    };
    for entry in std::fs::read_dir(dir).map_err(import(dir))? {
        let entry = entry.map_err(import(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(import(&path))?;
        if kind.is_dir() {
            walk(store, root, &path, files)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .expect("walked under the root")
                .to_str()
                .ok_or_else(|| {
                    StoreError::Import(format!("{}: the name is not UTF-8", path.display()))
                })
                .and_then(|p| {
                    FilePath::parse(p).map_err(|e| StoreError::Import(format!("deploying: {e}")))
                })?;
            let bytes = std::fs::read(&path).map_err(import(&path))?;
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
    use proptest::prelude::*;
    use std::path::Component;

    #[test]
    fn paths_stay_inside() {
        for ok in [
            "deployment.json",
            "models/a.onnx",
            "a/b/c.txt",
            "a.tmp",
            "x.run-1",
        ] {
            FilePath::parse(ok).unwrap();
        }
        let long_name = "n".repeat(256);
        let long_path = ["a"; 600].join("/");
        let deep = ["a"; 17].join("/");
        let long_total = vec!["n".repeat(200); 6].join("/");
        for (bad, says) in [
            ("", "empty"),
            ("/etc/passwd", "relative"),
            ("../x", "relative"),
            ("a/../../x", "relative"),
            ("./a", "relative"),
            ("a/", "relative"),
            ("a//b", "relative"),
            (".tmp-x", "reserved"),
            ("a/.run-x", "reserved"),
            ("a\\b", "'\\'"),
            ("a\0b", "control"),
            ("a\nb", "control"),
            (&long_name, "255 bytes"),
            (&long_path, "1024 bytes"),
            (&deep, "deeper"),
            (&long_total, "1024 bytes"),
        ] {
            let e = FilePath::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_path_is_a_file_or_a_folder_not_both() {
        let paths = |ps: &[&str]| -> Vec<FilePath> {
            ps.iter().map(|p| FilePath::parse(p).unwrap()).collect()
        };
        check_tree(&paths(&["x", "y/x", "xy/z", "x.d/a"])).unwrap();
        let e = check_tree(&paths(&["x", "x/y"])).unwrap_err();
        assert!(e.contains("\"x\"") && e.contains("\"x/y\""), "{e}");
        let e = check_tree(&paths(&["a/b", "a/b/c/d", "z"])).unwrap_err();
        assert!(e.contains("\"a/b\"") && e.contains("\"a/b/c/d\""), "{e}");
    }

    proptest! {
        /// Every accepted path, joined to a root, names something strictly under it: only
        /// plain components, as many as it has names.
        #[test]
        fn an_accepted_path_stays_under_the_root(
            s in "\\PC{0,40}|[a./\\\\\\x00-]{0,24}|(\\.\\.?/|[a-z]{1,3}/){0,5}[a-z.]{0,4}"
        ) {
            if let Ok(p) = FilePath::parse(&s) {
                let root = Path::new("/store/live/d/v1");
                let joined = root.join(&p);
                prop_assert!(joined.starts_with(root));
                let below: Vec<Component> =
                    joined.strip_prefix(root).unwrap().components().collect();
                prop_assert!(!below.is_empty());
                prop_assert!(below.iter().all(|c| matches!(c, Component::Normal(_))));
                prop_assert_eq!(below.len(), p.as_str().split('/').count());
            }
        }
    }
}
