//! The versions of a TensorFlow Serving model folder (`MODEL/1/`, `MODEL/2/`, … each a
//! SavedModel) a graph stage serves: the highest is the deployment's own, loaded at deploy and
//! served when a request names no version; every other one is served by `/versions/N`,
//! loaded on its first request (a cold start of the stage) under the deployment's run gate
//! (its cores, call deadline and memory budget, which counts its loaded size), and unloaded
//! with the served one when the stage goes to zero. The folder is listed once, at deploy.
//!
//! What a version takes and gives (its inputs, outputs and signature map) is kept once it
//! has loaded, so its metadata and request decoding need no load after it went to zero.

use super::NativeModel;
use crate::artifacts::Artifacts;
use crate::tensor::TensorSpec;
use crate::tensor::signature::Signatures;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A TF Serving folder's versions, and the ones other than the served one loaded now.
pub struct Versions {
    served: u64,
    /// Each version's folder in the artifacts, by version (ascending).
    paths: BTreeMap<u64, String>,
    /// The other versions loaded now.
    loaded: Mutex<BTreeMap<u64, Arc<NativeModel>>>,
    /// What each other version takes and gives, once it has loaded.
    specs: Mutex<BTreeMap<u64, Arc<VersionSpec>>>,
}

/// What one version of the folder takes and gives.
#[derive(Debug)]
pub struct VersionSpec {
    pub version: u64,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub signatures: Arc<Signatures>,
}

impl VersionSpec {
    fn of(version: u64, model: &NativeModel) -> VersionSpec {
        VersionSpec {
            version,
            inputs: model.inputs().cloned().collect(),
            outputs: model.outputs().to_vec(),
            signatures: Arc::clone(model.signatures()),
        }
    }
}

impl Versions {
    /// The versions of the model folder `folder` of `artifacts` (as
    /// [`super::tensorflow::versions`] found them, ascending and never empty); the highest is
    /// served by default.
    pub fn new(artifacts: &Artifacts, folder: &str, versions: &[u64]) -> Versions {
        let paths: BTreeMap<u64, String> = versions
            .iter()
            .map(|&v| (v, super::tensorflow::version_path(artifacts, folder, v)))
            .collect();
        Versions {
            served: paths.keys().next_back().copied().unwrap_or_default(),
            paths,
            loaded: Mutex::new(BTreeMap::new()),
            specs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The version served when a request names none (the highest).
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Every version of the folder, ascending.
    pub fn all(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.paths.keys().copied()
    }

    /// Whether the folder has `version`.
    pub fn contains(&self, version: u64) -> bool {
        self.paths.contains_key(&version)
    }

    /// The versions as a message lists them (`2, 7`).
    pub fn listed(&self) -> String {
        let names: Vec<String> = self.all().map(|v| v.to_string()).collect();
        names.join(", ")
    }

    /// The folder of `version` in the artifacts.
    pub fn path(&self, version: u64) -> Option<&str> {
        self.paths.get(&version).map(String::as_str)
    }

    /// `version`'s graph, when it is loaded.
    pub fn loaded(&self, version: u64) -> Option<Arc<NativeModel>> {
        self.loaded.lock().get(&version).cloned()
    }

    /// What `version` takes and gives, when it has loaded once.
    pub fn spec(&self, version: u64) -> Option<Arc<VersionSpec>> {
        self.specs.lock().get(&version).cloned()
    }

    /// Keeps `model` as `version`'s graph unless another load got there first; `admit`
    /// decides (the memory budget) before it is kept. The graph kept, and whether it is
    /// this one.
    pub fn keep<E>(
        &self,
        version: u64,
        model: Arc<NativeModel>,
        admit: impl FnOnce(&NativeModel) -> Result<(), E>,
    ) -> Result<(Arc<NativeModel>, bool), E> {
        let mut loaded = self.loaded.lock();
        if let Some(kept) = loaded.get(&version) {
            return Ok((Arc::clone(kept), false));
        }
        admit(&model)?;
        self.specs
            .lock()
            .entry(version)
            .or_insert_with(|| Arc::new(VersionSpec::of(version, &model)));
        loaded.insert(version, Arc::clone(&model));
        Ok((model, true))
    }

    /// Whether any other version is loaded.
    pub fn any_loaded(&self) -> bool {
        !self.loaded.lock().is_empty()
    }

    /// Unloads every other version: each one's folder and loaded size, for the caller to
    /// forget and give back. Runs in flight keep their graph until they finish.
    pub fn unload_all(&self) -> Vec<(String, u64)> {
        let unloaded = std::mem::take(&mut *self.loaded.lock());
        unloaded
            .into_iter()
            .map(|(v, model)| {
                let path = self.paths.get(&v).cloned().unwrap_or_default();
                (path, model.resident_bytes())
            })
            .collect()
    }
}
