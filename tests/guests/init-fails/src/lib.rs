//! Test guest: its `init` fails, like a `Predict.__init__` that cannot find its model.

use predictor_guest::{PredictError, Predictor, export_predictor, internal};

struct InitFails;

impl Predictor for InitFails {
    fn init() -> Result<Self, PredictError> {
        eprintln!(
            "looking for weights.bin in {}",
            predictor_guest::artifact_path().display()
        );
        Err(internal("weights.bin not found in the artifact"))
    }
}

export_predictor!(InitFails);
