//! TensorFlow models served as TF Serving serves them, with no TensorFlow: a SavedModel
//! folder in TF Serving's layout (`MODEL/VERSION/saved_model.pb` + `variables/`, the highest
//! numeric version served by default and the others by `/versions/N`, [`super::versions`];
//! or `saved_model.pb` directly in the folder) or a frozen GraphDef
//! (`.pb`). The `tf-native` crate reads, freezes and types the graphs; every file it reads
//! goes through the deployment's [`Artifacts`] (capability-scoped, size-checked). The served
//! signature is `serving_default`; inputs and outputs carry its keys, as TF Serving names
//! them. A served graph with an operation we cannot run is refused here, at load (at deploy),
//! with the missing ops and the nodes using them. Every other signature is loaded with it, as
//! a graph of its own (requests pick it by `signature_name`), the served graph when it
//! computes the same thing (Keras' `serve`), or kept with the reason it cannot be served
//! (logged at deploy, and the answer to a request naming it); all are in the signature map,
//! for TF Serving's metadata and method checks.

use super::format::ModelFormat;
use super::{ModelError, NativeModel};
use crate::artifacts::Artifacts;
use crate::deployment_log::DeploymentLog;
use crate::tensor::signature::{Servable, SignatureDef, SignatureTensor, Signatures};
use std::sync::Arc;
use tf_native::ModelFiles;
use tf_native::serving::Other;

/// Entries of a model folder looked at when finding its versions.
const MAX_FOLDER_ENTRIES: usize = 10_000;
const SAVED_MODEL_PB: &str = tf_native::load::SAVED_MODEL_PB;

/// The files of one SavedModel folder of the artifacts.
struct ArtifactFiles<'a> {
    artifacts: &'a Artifacts,
    /// The SavedModel folder, relative to the artifacts (`.` for the folder itself).
    dir: String,
}

impl ArtifactFiles<'_> {
    fn path(&self, file: &str) -> String {
        join(&self.dir, file)
    }
}

impl ModelFiles for ArtifactFiles<'_> {
    fn len(&self, path: &str) -> std::io::Result<u64> {
        self.artifacts.file_len(&self.path(path))
    }

    fn read(&self, path: &str, max_bytes: u64) -> std::io::Result<Vec<u8>> {
        self.artifacts.read(&self.path(path), max_bytes)
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        self.artifacts.read_at(&self.path(path), offset, len)
    }
}

fn join(dir: &str, file: &str) -> String {
    match dir.trim_end_matches('/') {
        "" | "." => file.to_string(),
        dir => format!("{dir}/{file}"),
    }
}

/// Whether `path` of `artifacts` is a SavedModel to load with [`load_saved_model`]: a folder,
/// or a file named `saved_model.pb` (its folder is served).
pub fn is_saved_model(artifacts: &Artifacts, path: &str) -> bool {
    artifacts.is_dir(path) || path.rsplit('/').next() == Some(SAVED_MODEL_PB)
}

/// The SavedModel folder `path` names: itself when it holds `saved_model.pb`, else its
/// highest numeric version subfolder holding one (TF Serving's `MODEL/VERSION`).
pub fn version_folder(artifacts: &Artifacts, path: &str) -> Result<String, String> {
    if let Some(dir) = path.strip_suffix(SAVED_MODEL_PB) {
        let dir = dir.trim_end_matches('/');
        return Ok(if dir.is_empty() { "." } else { dir }.to_string());
    }
    match versions(artifacts, path)? {
        None => Ok(path.to_string()),
        Some(versions) => {
            let highest = *versions.last().expect("a version list is never empty");
            Ok(version_path(artifacts, path, highest))
        }
    }
}

/// The versions of the TF Serving model folder `path`, ascending: its numeric subfolders
/// holding `saved_model.pb` (as TF Serving reads them, `007` is version 7). `None` when
/// `path` is not such a folder but a SavedModel itself (`saved_model.pb`, or a folder holding
/// it); an error for a folder that is neither.
pub fn versions(artifacts: &Artifacts, path: &str) -> Result<Option<Vec<u64>>, String> {
    if path.rsplit('/').next() == Some(SAVED_MODEL_PB)
        || artifacts.is_file(&join(path, SAVED_MODEL_PB))
    {
        return Ok(None);
    }
    let entries = artifacts
        .list(path, MAX_FOLDER_ENTRIES)
        .map_err(|e| format!("cannot list {path}: {e}"))?;
    let mut versions: Vec<u64> = entries
        .iter()
        .filter(|(name, is_dir)| *is_dir && !name.is_empty())
        .filter_map(|(name, _)| {
            let v = name
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| name.parse::<u64>().ok())??;
            artifacts
                .is_file(&join(&join(path, name), SAVED_MODEL_PB))
                .then_some(v)
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.is_empty() {
        return Err(format!(
            "{path} is a folder without {SAVED_MODEL_PB}, nor a numeric version folder holding one (TF Serving's layout: {path}/1/{SAVED_MODEL_PB} and {path}/1/variables/)"
        ));
    }
    Ok(Some(versions))
}

/// The folder of `version` in the TF Serving model folder `path`, as it is spelled there
/// (`007` for version 7; of two spellings of one number, the plain one).
pub fn version_path(artifacts: &Artifacts, path: &str, version: u64) -> String {
    let plain = join(path, &version.to_string());
    if artifacts.is_file(&join(&plain, SAVED_MODEL_PB)) {
        return plain;
    }
    artifacts
        .list(path, MAX_FOLDER_ENTRIES)
        .ok()
        .and_then(|entries| {
            entries.into_iter().find(|(name, is_dir)| {
                *is_dir
                    && name.bytes().all(|b| b.is_ascii_digit())
                    && name.parse::<u64>().ok() == Some(version)
                    && artifacts.is_file(&join(&join(path, name), SAVED_MODEL_PB))
            })
        })
        .map_or(plain, |(name, _)| join(path, &name))
}

/// Loads the SavedModel at `path` (a folder in TF Serving's layout, or its
/// `saved_model.pb`): its `serving_default` signature, which must load, and every other
/// signature it can ([`tf_native::serving`]), each kept as a graph of its own or as the reason
/// it cannot be served.
pub fn load_saved_model(artifacts: &Artifacts, path: &str) -> Result<NativeModel, ModelError> {
    let err = |source_name: &str, message: String| ModelError::Load {
        source_name: source_name.to_string(),
        message,
    };
    let dir = version_folder(artifacts, path).map_err(|m| err(path, m))?;
    let files = ArtifactFiles { artifacts, dir };
    let graphs = tf_native::serving::saved_model_graphs(&files, None)
        .map_err(|e| err(&files.dir, e.to_string()))?;
    let graph = graphs.served;
    let served = graph.signature.name.clone();
    let defs = graph
        .signatures
        .iter()
        .map(|s| (s.name.clone(), signature_def(s)))
        .collect();
    let mut model =
        NativeModel::from_optimized(&files.dir, ModelFormat::TensorflowSavedModel, graph.model)
            .map_err(|e| err(&files.dir, format!("{e:#}")))?;
    // The map always holds the served signature; a map without it would be a reader bug,
    // and the made-up predict signature is then the honest answer.
    let Some(mut signatures) = Signatures::declared(&served, defs) else {
        return Ok(model);
    };
    for (name, other) in graphs.others {
        let servable = match other {
            Other::SameAs(twin) if twin == served => Servable::Served,
            Other::SameAs(twin) => match model.signature_graphs.get(&twin).cloned() {
                Some(graph) => {
                    let inputs = graph.inputs().cloned().collect();
                    model.signature_graphs.insert(name.clone(), graph);
                    Servable::Graph { inputs }
                }
                None => Servable::Refused(format!("its twin {twin:?} cannot be served")),
            },
            Other::Graph(graph) => {
                let format = ModelFormat::TensorflowSavedModel;
                match NativeModel::from_optimized(&files.dir, format, graph.model) {
                    Ok(graph) => {
                        let inputs = graph.inputs().cloned().collect();
                        model.signature_graphs.insert(name.clone(), Arc::new(graph));
                        Servable::Graph { inputs }
                    }
                    Err(e) => Servable::Refused(format!("{e:#}")),
                }
            }
            Other::Refused(e) => Servable::Refused(e.to_string()),
        };
        signatures.set_servable(&name, servable);
    }
    model.signatures = Arc::new(signatures);
    Ok(model)
}

impl NativeModel {
    /// The graph of signature `name` other than the served one, when it has its own.
    pub fn signature_graph(&self, name: &str) -> Option<&Arc<NativeModel>> {
        self.signature_graphs.get(name)
    }

    /// The graphs of the other signatures (a graph shared by twins appears once per name).
    pub fn signature_graphs(&self) -> impl Iterator<Item = &Arc<NativeModel>> {
        self.signature_graphs.values()
    }
}

/// Writes to the deployment log how `model`'s signatures are served: each one that cannot
/// be, with why (a request naming it is refused with the same reason).
pub fn log_signatures(model: &NativeModel, log: &DeploymentLog) {
    let signatures = model.signatures();
    let own: Vec<&str> = signatures.with_graphs().collect();
    if !own.is_empty() {
        log.info(format!(
            "signature(s) {} served besides {:?}, each by a graph of its own",
            own.join(", "),
            signatures.served_name()
        ));
    }
    for (name, why) in signatures.refused() {
        log.warn(format!(
            "signature {name:?} cannot be served (requests naming it get a 400): {why}"
        ));
    }
}

/// A SavedModel signature as TF Serving's metadata shows it.
fn signature_def(s: &tf_native::signature::Signature) -> SignatureDef {
    let tensors = |specs: &[tf_native::signature::TensorSpec]| {
        specs
            .iter()
            .map(|t| SignatureTensor {
                key: t.key.clone(),
                tensor: t.tensor.clone(),
                dtype: t.dtype.as_str_name().to_string(),
                shape: t.shape.clone(),
            })
            .collect()
    };
    SignatureDef {
        method_name: s.method_name.clone(),
        inputs: tensors(&s.inputs),
        outputs: tensors(&s.outputs),
    }
}

/// A frozen GraphDef as a typed graph: its placeholders are the inputs, the outputs of the
/// nodes nothing reads the outputs, each named by its node.
pub fn graph_def(
    source_name: &str,
    bytes: &[u8],
) -> anyhow::Result<tract_onnx::prelude::TypedModel> {
    let graph = tf_native::load::decode_graph(source_name, bytes)?;
    Ok(tf_native::frozen_graph_inferred(graph)?.model)
}
