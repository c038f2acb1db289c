//! What answers a deployment's predictions: a component's instance pool or a native graph.

use crate::native::stage::GraphStage;
use crate::tensor::TensorSpec;
use crate::wasm::component::ComponentPredictor;

/// V2 `platform` of component deployments (ours; the protocol lets servers add names).
pub const COMPONENT_PLATFORM: &str = "wasm_component";
/// V2 `platform` of ONNX graphs, as Triton names it.
pub const ONNX_PLATFORM: &str = "onnx_onnxv1";

pub enum Predictor {
    /// A sandboxed predictor component.
    Component(Box<ComponentPredictor>),
    /// A model graph run by the host, no component involved.
    Native(Box<GraphStage>),
}

impl Predictor {
    /// Inputs and outputs for V2 metadata.
    pub fn signature(&self) -> (Vec<TensorSpec>, Vec<TensorSpec>) {
        match self {
            Predictor::Component(c) => c.signature().clone(),
            Predictor::Native(g) => (g.inputs().to_vec(), g.outputs().to_vec()),
        }
    }

    /// V2 `platform`.
    pub fn platform(&self) -> &'static str {
        match self {
            Predictor::Component(_) => COMPONENT_PLATFORM,
            Predictor::Native(_) => ONNX_PLATFORM,
        }
    }
}
