//! A planned, runnable model: a [`TfGraph`] made into a tract plan, run with its inputs in
//! the signature's order. Loading goes through [`crate::load`]; the path-taking constructors
//! here are for tools and tests ([`DirFiles`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use tract_tensorflow::tract_hir::internal::*;

use crate::error::{Result, TfError};
use crate::files::{DirFiles, ModelFiles};
use crate::load::{TfGraph, decode_graph, frozen_graph, panic_text, saved_model_graph};
use crate::signature::Signature;

/// A servable TensorFlow model.
#[derive(Debug)]
pub struct TfModel {
    pub signature: Signature,
    plan: std::sync::Arc<TypedSimplePlan>,
}

impl TfModel {
    /// Loads signature `signature` (default `serving_default`) of the SavedModel in `files`.
    pub fn load_saved_model(files: &dyn ModelFiles, signature: Option<&str>) -> Result<TfModel> {
        Self::plan(saved_model_graph(files, signature)?)
    }

    /// [`TfModel::load_saved_model`] of a directory on the local file system.
    pub fn load_dir(dir: &Path, signature: Option<&str>) -> Result<TfModel> {
        Self::load_saved_model(&DirFiles::new(dir), signature)
    }

    /// Loads a frozen GraphDef, its inputs and outputs given as `node[:index]` tensor names.
    pub fn load_frozen(bytes: &[u8], inputs: &[&str], outputs: &[&str]) -> Result<TfModel> {
        Self::plan(frozen_graph(
            decode_graph("frozen graph", bytes)?,
            inputs,
            outputs,
        )?)
    }

    /// Plans a typed graph.
    pub fn plan(graph: TfGraph) -> Result<TfModel> {
        let plan = catch_unwind(AssertUnwindSafe(|| graph.model.into_runnable()))
            .map_err(|p| TfError::Tract(format!("planning panicked: {}", panic_text(&p))))?
            .map_err(TfError::tract)?;
        Ok(TfModel {
            signature: graph.signature,
            plan,
        })
    }

    /// Runs the model; inputs in the order of `signature.inputs`, outputs in that of
    /// `signature.outputs`.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>> {
        if inputs.len() != self.signature.inputs.len() {
            return Err(TfError::Input(format!(
                "the signature takes {} inputs, got {}",
                self.signature.inputs.len(),
                inputs.len()
            )));
        }
        let values = inputs.into_iter().map(|t| t.into_tvalue()).collect();
        let out = catch_unwind(AssertUnwindSafe(|| self.plan.run(values)))
            .map_err(|p| TfError::Tract(format!("run panicked: {}", panic_text(&p))))?
            .map_err(TfError::tract)?;
        Ok(out.into_iter().map(|v| v.into_tensor()).collect())
    }
}
