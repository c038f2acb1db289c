//! Compiled components, cached by content.
//!
//! A component is compiled once: its sha256 (plus the engine's compatibility hash, so a new
//! wasmtime or new settings never load stale code) names `<dir>/<engine>/<sha256>.cwasm`.
//! This is the only module that loads native code, and it loads only files it wrote itself
//! (temp file + rename, so a crash never leaves half a file under the final name). Bytes a
//! user hands us that already are precompiled artifacts are refused: we never run native
//! code from outside.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Why bytes are not a component we accept. Messages are for the uploader.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("not a WebAssembly component: the file does not start with the `\\0asm` header")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component: build it with `--target wasm32-wasip2` \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("precompiled artifacts are not accepted: deploy the `.wasm` component itself")]
    Precompiled,
    #[error("invalid component: {0}")]
    Invalid(String),
}

/// Where a component's compiled code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache: no compilation.
    Hit,
    /// Compiled now, and stored for next time.
    Compiled,
}

/// A component ready to link, with its identity.
pub struct Compiled {
    pub component: Component,
    /// Hex sha256 of the component's bytes.
    pub digest: String,
    pub outcome: CacheOutcome,
}

/// The compiled-component cache of one engine.
pub struct CompileCache {
    engine: Engine,
    dir: PathBuf,
}

impl CompileCache {
    /// A cache under `root`, in a subfolder for this engine's configuration.
    pub fn new(engine: &Engine, root: &Path) -> anyhow::Result<CompileCache> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir)?;
        Ok(CompileCache {
            engine: engine.clone(),
            dir,
        })
    }

    /// The hex sha256 of `bytes`: the component's identity.
    fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Checks what `bytes` are before anything expensive happens.
    pub fn check_header(bytes: &[u8]) -> Result<(), ComponentError> {
        if Engine::detect_precompiled(bytes).is_some() {
            return Err(ComponentError::Precompiled);
        }
        if bytes.starts_with(b"\0asm") {
            return match bytes.get(4..8) {
                Some([1, 0, 0, 0]) => Err(ComponentError::CoreModule),
                _ => Ok(()),
            };
        }
        // The text format (WAT) is accepted too; anything else is not wasm.
        let text = std::str::from_utf8(bytes).unwrap_or("");
        if text.trim_start().starts_with("(component") {
            Ok(())
        } else if text.trim_start().starts_with("(module") {
            Err(ComponentError::CoreModule)
        } else {
            Err(ComponentError::NotWasm)
        }
    }

    /// The compiled component for `bytes`: from the cache, or compiled and cached. CPU-bound
    /// (seconds for a large component): call it off the async workers.
    pub fn load(&self, bytes: &[u8]) -> Result<Compiled, ComponentError> {
        Self::check_header(bytes)?;
        // Hashed once: a Python component is ~18 MB.
        let digest = Self::digest(bytes);
        let path = self.dir.join(format!("{digest}.cwasm"));
        if path.exists() {
            // SAFETY: the file is in our cache folder, named by the sha256 of the source we
            // compiled it from, and was written by `store` below with an atomic rename. wasmtime
            // also checks its header against this engine's configuration.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => {
                    return Ok(Compiled {
                        component,
                        digest,
                        outcome: CacheOutcome::Hit,
                    });
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "recompiling: cached artifact unusable: {e:#}")
                }
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
        if let Err(e) = self.store(&component, &path) {
            tracing::warn!(path = %path.display(), "could not cache the compiled component: {e:#}");
        }
        Ok(Compiled {
            component,
            digest,
            outcome: CacheOutcome::Compiled,
        })
    }

    /// The compiled component whose source had sha256 `digest`, if the cache holds it: the
    /// path of a start from zero, which skips hashing and compiling entirely.
    pub fn load_digest(&self, digest: &str) -> Option<Component> {
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = self.dir.join(format!("{digest}.cwasm"));
        // SAFETY: as in `load`: our folder, our file, named by the digest of its source.
        unsafe { Component::deserialize_file(&self.engine, &path) }.ok()
    }

    fn store(&self, component: &Component, path: &Path) -> anyhow::Result<()> {
        let serialized = component.serialize()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, serialized)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert!(matches!(
            CompileCache::check_header(b"hello"),
            Err(ComponentError::NotWasm)
        ));
        assert!(matches!(
            CompileCache::check_header(b"\0asm\x01\0\0\0"),
            Err(ComponentError::CoreModule)
        ));
        assert!(CompileCache::check_header(b"\0asm\x0d\0\x01\0").is_ok());
        assert!(matches!(
            CompileCache::check_header(b"(module)"),
            Err(ComponentError::CoreModule)
        ));
    }
}
