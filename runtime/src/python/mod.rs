//! Python scripts as components. A Hopsworks `Predict` (or `Transformer`) script plus the
//! Python guest SDK ([`sdk`], embedded in this binary) are componentized by componentize-py
//! into a component of our `predictor` (or `transformer`) world. Builds are cached by the
//! hash of everything that goes into them, so a script is componentized once.
//!
//! componentize-py runs as a child process: it embeds CPython and a pre-initializer, and is
//! installed from PyPI (`componentize-py==0.25.1`) next to the runtime.

pub mod sdk;

use crate::role::Role;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The componentize-py release the SDK is written and tested against.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The class a script of each role provides (`class Predict` or `Predictor`; `class
/// Transformer`) becomes the WIT world of that role's name.
fn world(role: Role) -> &'static str {
    role.as_str()
}

fn app(role: Role) -> &'static str {
    match role {
        Role::Predictor => "predictor_app",
        Role::Transformer => "transformer_app",
    }
}

/// Why a script did not become a component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The script itself is wrong (syntax, missing class, an import the sandbox lacks).
    #[error("{0}")]
    Script(String),
    #[error(
        "Python scripts are componentized by componentize-py {COMPONENTIZE_PY_VERSION}, which was not found ({0}): \
         install it (pip install componentize-py=={COMPONENTIZE_PY_VERSION}) or point PREDICTOR_COMPONENTIZE_PY at it, \
         or build the component elsewhere with `predictor build` and deploy it as component_file"
    )]
    Missing(String),
    #[error("componentize-py failed: {0}")]
    Tool(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A script turned into a component.
pub struct Built {
    pub bytes: Vec<u8>,
    /// The build's cache key (sha256 of script, SDK, WIT and componentize-py version).
    pub key: String,
    /// Whether it came from the cache rather than from componentize-py.
    pub cached: bool,
    pub elapsed: Duration,
}

/// Runs componentize-py, with a cache of what it built.
pub struct Componentizer {
    program: Result<PathBuf, String>,
    cache_dir: PathBuf,
    version: OnceLock<Result<String, String>>,
}

impl Componentizer {
    /// `program` is the componentize-py executable; when `None` it is looked up on `PATH`,
    /// then in a `.venv/bin` above the running executable (a source checkout).
    pub fn new(program: Option<PathBuf>, cache_dir: &Path) -> Componentizer {
        Componentizer {
            // Made absolute now: componentize-py runs in a scratch folder, where a path
            // relative to the server's working directory would not resolve.
            program: program
                .map(|p| Ok(std::path::absolute(&p).unwrap_or(p)))
                .unwrap_or_else(find_program),
            cache_dir: cache_dir.to_path_buf(),
            version: OnceLock::new(),
        }
    }

    fn program(&self) -> Result<&Path, BuildError> {
        self.program
            .as_deref()
            .map_err(|e| BuildError::Missing(e.clone()))
    }

    /// `componentize-py --version`, asked once.
    fn version(&self) -> Result<&str, BuildError> {
        let program = self.program()?;
        self.version
            .get_or_init(|| {
                let out = Command::new(program)
                    .arg("--version")
                    .output()
                    .map_err(|e| format!("{}: {e}", program.display()))?;
                if !out.status.success() {
                    return Err(format!("{} --version failed", program.display()));
                }
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            })
            .as_deref()
            .map_err(|e| BuildError::Missing(e.clone()))
    }

    /// Componentizes `source` (named `filename` in errors and tracebacks) as `kind`, or
    /// returns the cached build. Blocking (seconds on a miss): call it off the async workers.
    pub fn build(&self, kind: Role, filename: &str, source: &str) -> Result<Built, BuildError> {
        let started = Instant::now();
        let version = self.version()?.to_string();
        let key = build_key(kind, filename, source, &version);
        let cached_path = self.cache_dir.join(format!("{key}.wasm"));
        if let Ok(bytes) = std::fs::read(&cached_path) {
            return Ok(Built {
                bytes,
                key,
                cached: true,
                elapsed: started.elapsed(),
            });
        }
        std::fs::create_dir_all(&self.cache_dir)?;
        let work = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(&self.cache_dir)?;
        let wit_dir = work.path().join("wit");
        let py_dir = work.path().join("python");
        for (dir, files) in [(&wit_dir, sdk::WIT), (&py_dir, sdk::PYTHON)] {
            for (name, contents) in files {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().expect("files have a parent"))?;
                std::fs::write(path, contents)?;
            }
        }
        // The script travels as a string literal (a JSON string is a valid Python one), so
        // its tracebacks name the user's file rather than a build path.
        let build_module = format!(
            "FILENAME = {}\nSOURCE = {}\n",
            serde_json::to_string(filename).expect("strings serialize"),
            serde_json::to_string(source).expect("strings serialize"),
        );
        std::fs::write(py_dir.join("_predictor_build.py"), build_module)?;
        let out_path = work.path().join("component.wasm");
        let output = Command::new(self.program()?)
            .arg("-d")
            .arg(&wit_dir)
            .args(["-w", world(kind), "componentize", app(kind), "-p"])
            .arg(&py_dir)
            .arg("-o")
            .arg(&out_path)
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .current_dir(work.path())
            .output()
            .map_err(|e| BuildError::Missing(format!("running componentize-py: {e}")))?;
        if !output.status.success() {
            return Err(failure(&String::from_utf8_lossy(&output.stderr)));
        }
        let bytes = std::fs::read(&out_path)?;
        // Atomic publish: a concurrent build of the same script writes the same bytes.
        std::fs::rename(&out_path, &cached_path)?;
        Ok(Built {
            bytes,
            key,
            cached: false,
            elapsed: started.elapsed(),
        })
    }
}

fn build_key(kind: Role, filename: &str, source: &str, version: &str) -> String {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(world(kind).as_bytes());
    field(filename.as_bytes());
    field(source.as_bytes());
    field(version.as_bytes());
    for (name, contents) in sdk::WIT.iter().chain(sdk::PYTHON) {
        field(name.as_bytes());
        field(contents.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The user-facing reason of a failed build: the SDK's `ScriptError` message when there is
/// one (what the user must fix), else the end of componentize-py's report.
fn failure(stderr: &str) -> BuildError {
    const MARKER: &str = "ScriptError: ";
    if let Some(line) = stderr.lines().rev().find(|l| l.contains(MARKER)) {
        let at = line.find(MARKER).expect("found above") + MARKER.len();
        return BuildError::Script(line[at..].trim().to_string());
    }
    let report = stderr.split("Stack backtrace:").next().unwrap_or(stderr);
    let lines: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n");
    BuildError::Tool(tail)
}

fn find_program() -> Result<PathBuf, String> {
    const NAME: &str = "componentize-py";
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join(".venv/bin").join(NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err("not on PATH, nor in a .venv/bin above the predictor executable".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_componentize_py_is_taken_from_the_working_directory() {
        let c = Componentizer::new(Some(".venv/bin/componentize-py".into()), Path::new("cache"));
        let program = c.program().unwrap();
        assert!(program.is_absolute(), "{}", program.display());
        assert_eq!(
            program,
            std::env::current_dir()
                .unwrap()
                .join(".venv/bin/componentize-py")
        );
    }

    #[test]
    fn a_script_error_is_reported_alone() {
        let stderr = "Traceback (most recent call last):\n  File \"x\"\nAssertionError: Traceback\n\
            predictor_runtime._script.ScriptError: p.py defines no class Predict\n\nCaused by:\n    \
            ScriptError: p.py defines no class Predict\n\nStack backtrace:\n   0: anyhow\n";
        let BuildError::Script(message) = failure(stderr) else {
            panic!("not a script error")
        };
        assert_eq!(message, "p.py defines no class Predict");
    }

    #[test]
    fn other_failures_keep_the_report_without_the_backtrace() {
        let stderr =
            "error: something broke\nCaused by:\n    disk full\n\nStack backtrace:\n   0: anyhow\n";
        let BuildError::Tool(message) = failure(stderr) else {
            panic!("not a tool error")
        };
        assert!(message.contains("disk full"), "{message}");
        assert!(!message.contains("anyhow"), "{message}");
    }

    #[test]
    fn the_key_depends_on_the_script_and_its_kind() {
        let a = build_key(Role::Predictor, "p.py", "x", "0.25.1");
        assert_eq!(a, build_key(Role::Predictor, "p.py", "x", "0.25.1"));
        assert_ne!(a, build_key(Role::Predictor, "p.py", "y", "0.25.1"));
        assert_ne!(a, build_key(Role::Transformer, "p.py", "x", "0.25.1"));
        assert_ne!(a, build_key(Role::Predictor, "p.py", "x", "0.26.0"));
    }
}
