//! Test guest: panics (a trap) when an instance is `"panic"`, otherwise echoes and counts
//! the calls this instance served, so tests can see instances being reused and replaced.

use predictor_guest::{PredictError, Predictor, Tensor, Value, export_predictor, json};
use std::cell::Cell;

struct Panics {
    calls: Cell<u64>,
}

impl Predictor for Panics {
    fn init() -> Result<Self, PredictError> {
        Ok(Panics {
            calls: Cell::new(0),
        })
    }

    fn predict(&self, instances: Value) -> Result<Value, PredictError> {
        self.calls.set(self.calls.get() + 1);
        if instances.get(0) == Some(&json!("panic")) {
            panic!("asked to panic");
        }
        if instances.get(0) == Some(&json!("bad")) {
            return Err(predictor_guest::bad_input("instance 0 is \"bad\""));
        }
        if instances.get(0) == Some(&json!("fail")) {
            return Err(predictor_guest::internal("the database is down"));
        }
        Ok(json!({"echo": instances, "calls": self.calls.get()}))
    }

    fn predict_tensors(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        if inputs.iter().any(|t| t.name == "panic") {
            panic!("asked to panic");
        }
        Ok(inputs)
    }
}

export_predictor!(Panics);
