//! Test guest: answers what the interface forbids, through the raw bindings: predictions
//! that are not JSON, and tensors whose bytes do not match their shape.

use predictor_guest::bindings::exports::predictor::runtime::predict::{Guest, ModelSignature};
use predictor_guest::{Datatype, PredictError, Tensor};

struct Malformed;

impl Guest for Malformed {
    fn init() -> Result<(), PredictError> {
        Ok(())
    }
    fn signature() -> ModelSignature {
        ModelSignature {
            inputs: vec![],
            outputs: vec![],
        }
    }
    fn predict(instances: String) -> Result<String, PredictError> {
        if instances.contains("valid") {
            return Ok("[1, 2, 3]".into());
        }
        Ok("{not json".into())
    }
    fn predict_tensors(_inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        Ok(vec![Tensor {
            name: "y".into(),
            datatype: Datatype::Fp32,
            shape: vec![2, 2],
            data: vec![0; 5],
        }])
    }
}

predictor_guest::bindings::export_bindings!(Malformed with_types_in predictor_guest::bindings);
