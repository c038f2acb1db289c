//! Model graphs the host runs itself, with tract: ONNX files (scikit-learn via skl2onnx with
//! its `ai.onnx.ml` operators, PyTorch, Keras via tf2onnx), XGBoost and LightGBM models as
//! their libraries save them (one tree-ensemble node, [`trees`]), TensorFlow SavedModels and
//! frozen GraphDefs ([`tensorflow`]), served with no component at all, and the graphs guests
//! open through the `models` import.
//!
//! A model is loaded, optimized and made runnable once ([`NativeModel::load`]); runs share
//! the plan. Running is CPU work, scheduled by [`NativeModel::run_async`]: on tokio's
//! blocking pool, except for graphs whose measured run time is below
//! [`INLINE_RUN_BUDGET`], which run in place (handing a few microseconds of work to another
//! thread costs more than the work, and such a run is shorter than decoding its request).

pub mod budget;
pub mod convert;
pub mod format;
pub mod gate;
pub mod label_encoder;
pub mod ml;
pub mod models;
pub mod ops;
mod run;
pub mod stage;
pub mod tensorflow;
pub mod trees;
pub mod versions;

pub(crate) use run::DeadlinePassed;

use crate::request::InferenceError;
use crate::tensor::TensorSpec;
use crate::tensor::signature::Signatures;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// Why a model cannot load or run. `Input` is the client's fault (400); the others are the
/// deployment's (500).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot load model {source_name}: {message}")]
    Load {
        source_name: String,
        message: String,
    },
    #[error("{0}")]
    Input(String),
    #[error("model {source_name} failed: {message}")]
    Run {
        source_name: String,
        message: String,
    },
    /// The run took longer than the deployment's call deadline (504).
    #[error("model {source_name} ran past the call deadline of {limit:?} and was stopped")]
    Timeout {
        source_name: String,
        limit: Duration,
    },
    /// The run grew past the deployment's memory limit (500, kind `memory_limit`).
    #[error("model {source_name} was stopped: {over}")]
    MemoryLimit {
        source_name: String,
        over: budget::OverBudget,
    },
    /// Loading another version would take the deployment's loaded models past its memory
    /// limit (500, kind `memory_limit`).
    #[error("cannot load model {source_name}: {message}")]
    OverLimit {
        source_name: String,
        message: String,
    },
    /// Every run slot is taken and the queue is full (503).
    #[error("all {slots} run slot(s) of the graph are busy and {waiting} runs are waiting")]
    Overloaded { slots: usize, waiting: usize },
}

/// Runs measured (moving average) below this stay on the async worker.
pub const INLINE_RUN_BUDGET: Duration = Duration::from_micros(50);
/// Requests with more input elements than this never run in place, whatever the estimate
/// (a large batch costs more than the small requests the estimate was learnt from).
pub const INLINE_MAX_ELEMENTS: usize = 4096;

impl ModelError {
    /// The error as the client sees it: bad input is the client's, a full queue a 503, the
    /// rest the deployment's.
    pub fn for_client(self, deployment: &str) -> InferenceError {
        match self {
            ModelError::Input(m) => InferenceError::BadRequest(m),
            e @ ModelError::Overloaded { .. } => InferenceError::Overloaded {
                deployment: deployment.to_string(),
                message: format!("{e}; retry shortly"),
            },
            e @ ModelError::Timeout { .. } => InferenceError::Timeout {
                deployment: deployment.to_string(),
                message: e.to_string(),
            },
            e @ (ModelError::MemoryLimit { .. } | ModelError::OverLimit { .. }) => {
                InferenceError::MemoryLimit {
                    deployment: deployment.to_string(),
                    message: e.to_string(),
                }
            }
            other => InferenceError::PredictorFailed {
                deployment: deployment.to_string(),
                message: other.to_string(),
            },
        }
    }
}

/// A runnable graph and its signature.
pub struct NativeModel {
    /// Where it came from (a file name), for messages.
    source_name: String,
    format: format::ModelFormat,
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<(TensorSpec, DatumType)>,
    outputs: Vec<TensorSpec>,
    /// The graphs of a SavedModel's other signatures, by name ([`tensorflow`]).
    signature_graphs: std::collections::BTreeMap<String, Arc<NativeModel>>,
    /// Its signature map: a SavedModel's own, else one predict signature of the above.
    signatures: Arc<Signatures>,
    /// Whether a run can use more than one thread (a tree ensemble splits a large batch).
    splits_work: bool,
    /// What the model holds once loaded (plan and weights), as measured while it loaded on
    /// a metered allocator; 0 when not measured.
    resident_bytes: u64,
    /// Moving average of a run's duration, in nanoseconds; `u64::MAX` until measured.
    average_run_nanos: AtomicU64,
    /// Bounds the runs on the blocking pool when the graph serves a deployment.
    gate: std::sync::OnceLock<Arc<gate::Gate>>,
}

impl std::fmt::Debug for NativeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeModel")
            .field("source", &self.source_name)
            .finish()
    }
}

impl NativeModel {
    /// Reads a model file (ONNX, XGBoost JSON/UBJSON, LightGBM text or a frozen TensorFlow
    /// GraphDef, told by its content and name), optimizes the graph and plans it.
    pub fn load(source_name: &str, bytes: &[u8]) -> Result<NativeModel, ModelError> {
        let load_err = |e: anyhow::Error| ModelError::Load {
            source_name: source_name.to_string(),
            message: format!("{e:#}"),
        };
        let trees = |forest: Result<tree_ensemble::Forest, tree_ensemble::TreeError>| {
            trees::saved_model_graph(forest.map_err(|e| load_err(e.into()))?).map_err(load_err)
        };
        let format =
            format::detect(source_name, bytes).map_err(|m| load_err(anyhow::anyhow!(m)))?;
        let graph = match format {
            format::ModelFormat::Onnx => onnx_graph(bytes).map_err(load_err)?,
            format::ModelFormat::XgboostJson => trees(tree_ensemble::xgboost::from_json(bytes))?,
            format::ModelFormat::XgboostUbjson => {
                trees(tree_ensemble::xgboost::from_ubjson(bytes))?
            }
            format::ModelFormat::LightgbmText => {
                let text = std::str::from_utf8(bytes).map_err(|e| {
                    load_err(anyhow::anyhow!("a LightGBM text model must be UTF-8: {e}"))
                })?;
                trees(tree_ensemble::lightgbm::from_text(text))?
            }
            format::ModelFormat::TensorflowGraphDef => {
                let graph = tensorflow::graph_def(source_name, bytes).map_err(load_err)?;
                return Self::from_optimized(source_name, format, graph).map_err(load_err);
            }
            format::ModelFormat::TensorflowSavedModel => {
                return Err(load_err(anyhow::anyhow!(
                    "a SavedModel is a folder, read by native::tensorflow"
                )));
            }
        };
        Self::from_graph(source_name, format, graph).map_err(load_err)
    }

    /// Optimizes and plans a graph whose inputs have concrete types and shapes (the batch
    /// dimension a symbol).
    fn from_graph(
        source_name: &str,
        format: format::ModelFormat,
        graph: TypedModel,
    ) -> anyhow::Result<NativeModel> {
        Self::from_optimized(source_name, format, graph.into_optimized()?)
    }

    /// Plans an optimized graph.
    fn from_optimized(
        source_name: &str,
        format: format::ModelFormat,
        typed: TypedModel,
    ) -> anyhow::Result<NativeModel> {
        let inputs: Vec<(TensorSpec, DatumType)> =
            signature(&typed, typed.input_outlets()?, Names::Node)?;
        let outputs: Vec<TensorSpec> = signature(&typed, typed.output_outlets()?, Names::Label)?
            .into_iter()
            .map(|(spec, _)| spec)
            .collect();
        let input_specs: Vec<TensorSpec> = inputs.iter().map(|(s, _)| s.clone()).collect();
        let signatures = Arc::new(Signatures::from_specs(&input_specs, &outputs));
        if tracing::enabled!(tracing::Level::TRACE) {
            for node in typed.nodes() {
                tracing::trace!(
                    model = source_name,
                    "node {} {}: {:?}",
                    node.id,
                    node.name,
                    node.op
                );
            }
        }
        let splits_work = typed
            .nodes()
            .iter()
            .any(|n| trees::splits_work(n.op.as_ref()));
        let plan = typed.into_runnable()?;
        Ok(NativeModel {
            source_name: source_name.to_string(),
            format,
            plan,
            inputs,
            outputs,
            signature_graphs: Default::default(),
            signatures,
            splits_work,
            resident_bytes: 0,
            average_run_nanos: AtomicU64::new(u64::MAX),
            gate: std::sync::OnceLock::new(),
        })
    }

    /// What the model holds once loaded (0 when its load was not metered).
    pub fn resident_bytes(&self) -> u64 {
        self.resident_bytes
    }

    /// Bounds this graph's runs on the blocking pool (once; a deployment's predictor).
    pub fn set_gate(&self, gate: Arc<gate::Gate>) {
        let _ = self.gate.set(gate);
    }

    /// V2 `platform`: Triton's name for ONNX and TensorFlow graphs, the library's for saved
    /// tree models.
    pub fn platform(&self) -> &'static str {
        match self.format {
            format::ModelFormat::Onnx => "onnx_onnxv1",
            format::ModelFormat::TensorflowSavedModel => "tensorflow_savedmodel",
            format::ModelFormat::TensorflowGraphDef => "tensorflow_graphdef",
            format::ModelFormat::XgboostJson | format::ModelFormat::XgboostUbjson => "xgboost",
            format::ModelFormat::LightgbmText => "lightgbm",
        }
    }

    /// The graph's inputs.
    pub fn inputs(&self) -> impl ExactSizeIterator<Item = &TensorSpec> {
        self.inputs.iter().map(|(spec, _)| spec)
    }

    /// The graph's outputs.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// Its signature map (TF Serving's metadata), the served signature's keys being the
    /// inputs and outputs above.
    pub fn signatures(&self) -> &Arc<Signatures> {
        &self.signatures
    }
}

/// Parses an ONNX model with our operators, and fixes its unknown dimensions to symbols
/// (the batch).
fn onnx_graph(bytes: &[u8]) -> anyhow::Result<TypedModel> {
    let mut onnx = tract_onnx::onnx();
    ops::register(&mut onnx.op_register);
    ml::register(&mut onnx.op_register);
    trees::register(&mut onnx.op_register);
    label_encoder::register(&mut onnx.op_register);
    let mut model = onnx
        .model_for_read(&mut &*bytes)
        .map_err(|e| e.context("not a readable ONNX model"))?;
    for i in 0..model.inputs.len() {
        let fact = model.input_fact(i)?.clone();
        let dt = fact
            .datum_type
            .concretize()
            .ok_or_else(|| anyhow::anyhow!("input {i} has no element type"))?;
        let dims = fact.shape.dims().enumerate().map(|(axis, d)| {
            d.concretize().unwrap_or_else(|| {
                // skl2onnx and torch.onnx leave the batch dimension unnamed; name it.
                let name = if axis == 0 {
                    "N".to_string()
                } else {
                    format!("d{i}_{axis}")
                };
                model.symbols.sym(&name).to_dim()
            })
        });
        let dims: TVec<TDim> = dims.collect();
        model.set_input_fact(i, InferenceFact::dt_shape(dt, dims))?;
    }
    model.into_typed()
}

/// Where a tensor's public name comes from: an input is its source node (its outlet may
/// also be an output and carry the output's label); an output is its outlet label.
enum Names {
    Node,
    Label,
}

fn signature(
    model: &TypedModel,
    outlets: &[OutletId],
    names: Names,
) -> anyhow::Result<Vec<(TensorSpec, DatumType)>> {
    outlets
        .iter()
        .map(|&outlet| {
            let fact = model.outlet_fact(outlet)?;
            let node_name = &model.node(outlet.node).name;
            let name = match names {
                Names::Node => node_name,
                Names::Label => model.outlet_label(outlet).unwrap_or(node_name),
            }
            .to_string();
            let datatype = convert::datatype_of(fact.datum_type).ok_or_else(|| {
                anyhow::anyhow!(
                    "{name:?} has type {:?}, which has no V2 datatype",
                    fact.datum_type
                )
            })?;
            let shape = fact
                .shape
                .iter()
                .map(|d| d.to_i64().unwrap_or(-1))
                .collect();
            Ok((
                TensorSpec {
                    name,
                    datatype,
                    shape,
                },
                fact.datum_type,
            ))
        })
        .collect()
}
