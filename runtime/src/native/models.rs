//! The native models of one deployment, opened from its artifact folder by path (a file, or
//! a TensorFlow SavedModel folder): loaded and optimized once, then shared by its graph stage
//! and by every instance whose guest opens the same file through the `models` import.
//! Dropped when the deployment goes to zero.

use super::{ModelError, NativeModel};
use crate::artifacts::Artifacts;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Largest model file read.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// A deployment's models, by path in its artifact folder.
pub struct ModelCache {
    artifacts: Arc<Artifacts>,
    models: Mutex<HashMap<String, Arc<OnceCell<Arc<NativeModel>>>>>,
}

impl ModelCache {
    pub fn new(artifacts: Arc<Artifacts>) -> ModelCache {
        ModelCache {
            artifacts,
            models: Mutex::new(HashMap::new()),
        }
    }

    /// The folder the models are read from.
    pub fn artifacts(&self) -> &Arc<Artifacts> {
        &self.artifacts
    }

    /// The native model at `path`, loaded and optimized on first use, then shared.
    pub async fn model(self: &Arc<Self>, path: &str) -> Result<Arc<NativeModel>, ModelError> {
        let cell = Arc::clone(self.models.lock().entry(path.to_string()).or_default());
        cell.get_or_try_init(|| async {
            let cache = Arc::clone(self);
            let path = path.to_string();
            tokio::task::spawn_blocking(move || cache.load(&path))
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
    pub fn forget(&self, path: &str) {
        self.models.lock().remove(path);
    }

    /// Drops every cached model (every stage of the deployment is at zero); `true` if any.
    pub fn forget_all(&self) -> bool {
        let mut models = self.models.lock();
        let any = !models.is_empty();
        models.clear();
        any
    }

    /// Loads the model at `path` now, on this thread, uncached, measuring what it keeps
    /// (its deployment's memory limit counts it).
    fn load(&self, path: &str) -> Result<Arc<NativeModel>, ModelError> {
        let (model, kept) = crate::memory_meter::metered(|| self.load_unmetered(path));
        let mut model = model?;
        model.resident_bytes = kept.max(0) as u64;
        Ok(Arc::new(model))
    }

    /// A SavedModel folder, or a model file.
    fn load_unmetered(&self, path: &str) -> Result<NativeModel, ModelError> {
        if super::tensorflow::is_saved_model(&self.artifacts, path) {
            return super::tensorflow::load_saved_model(&self.artifacts, path);
        }
        let bytes = self
            .artifacts
            .read(path, MAX_MODEL_BYTES)
            .map_err(|e| ModelError::Load {
                source_name: path.to_string(),
                message: e.to_string(),
            })?;
        NativeModel::load(path, &bytes)
    }
}
