//! Native models: ONNX graphs of the artifact, run by the host at native speed.
//!
//! ```ignore
//! let model = Model::open("model.onnx")?;
//! let out = model.run(&[Tensor::from_f32("input", &[1, 4], &[5.1, 3.5, 1.4, 0.2])])?;
//! ```

use crate::bindings::predictor::runtime::models;
use crate::{PredictError, Tensor, TensorSpec};

/// A model graph of the deployment's artifact, loaded once per deployment by the host.
pub struct Model {
    inner: models::Model,
}

impl Model {
    /// Opens the model file at `path`, relative to the artifact folder.
    pub fn open(path: &str) -> Result<Model, PredictError> {
        Ok(Model {
            inner: models::Model::open(path)?,
        })
    }

    /// The graph's inputs.
    pub fn inputs(&self) -> Vec<TensorSpec> {
        self.inner.inputs()
    }

    /// The graph's outputs.
    pub fn outputs(&self) -> Vec<TensorSpec> {
        self.inner.outputs()
    }

    /// Runs the graph. Inputs are matched by name (or by position when a name is empty).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, PredictError> {
        self.inner.run(inputs)
    }

    /// Runs the graph and returns only the outputs named in `outputs`, in that order (the
    /// others are never copied into the guest).
    pub fn run_outputs(
        &self,
        inputs: &[Tensor],
        outputs: &[String],
    ) -> Result<Vec<Tensor>, PredictError> {
        self.inner.run_outputs(inputs, outputs)
    }

    /// Runs the graph and returns the output called `name`.
    pub fn run_one(&self, inputs: &[Tensor], name: &str) -> Result<Tensor, PredictError> {
        self.run_outputs(inputs, &[name.to_string()])?
            .pop()
            .ok_or_else(|| PredictError::Internal(format!("the model has no output {name:?}")))
    }
}
