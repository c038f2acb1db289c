//! The seed's "multiple models" case: one predictor whose artifact holds two ONNX models, a
//! logistic regression and a random forest (both exported by skl2onnx from scikit-learn,
//! see `examples/models/make_models.py`). The host loads each graph once per deployment and
//! runs it natively; this component only feeds them and averages their class probabilities
//! (soft voting).

use predictor_guest::{
    Datatype, Model, PredictError, Predictor, Signature, Tensor, TensorSpec, Value, bad_input,
    export_predictor, json, log,
};

const CLASS_NAMES: [&str; 3] = ["setosa", "versicolor", "virginica"];
const FEATURES: usize = 4;

struct Ensemble {
    members: Vec<(&'static str, Model)>,
}

impl Ensemble {
    /// Soft vote: the mean of every member's probabilities, `[rows, classes]` row-major.
    fn vote(&self, input: &Tensor) -> Result<Vec<f32>, PredictError> {
        let mut sum: Vec<f32> = Vec::new();
        for (name, model) in &self.members {
            let p = model
                .run_one(std::slice::from_ref(input), "probabilities")?
                .to_f32()?;
            if sum.is_empty() {
                sum = p;
            } else if sum.len() == p.len() {
                sum.iter_mut().zip(&p).for_each(|(s, v)| *s += v);
            } else {
                return Err(predictor_guest::internal(format!(
                    "{name}: unexpected output size"
                )));
            }
        }
        let n = self.members.len() as f32;
        Ok(sum.into_iter().map(|s| s / n).collect())
    }
}

impl Predictor for Ensemble {
    fn init() -> Result<Self, PredictError> {
        let members = vec![
            ("logistic regression", Model::open("logreg.onnx")?),
            ("random forest", Model::open("forest.onnx")?),
        ];
        log::info(&format!("ensemble of {} models ready", members.len()));
        Ok(Ensemble { members })
    }

    fn signature(&self) -> Signature {
        let spec = |name: &str, datatype, shape: &[i64]| TensorSpec {
            name: name.into(),
            datatype,
            shape: shape.to_vec(),
        };
        Signature {
            inputs: vec![spec("input", Datatype::Fp32, &[-1, FEATURES as i64])],
            outputs: vec![spec("probabilities", Datatype::Fp32, &[-1, 3])],
        }
    }

    fn predict(&self, instances: Value) -> Result<Value, PredictError> {
        let rows = instances
            .as_array()
            .ok_or_else(|| bad_input("instances must be a list of rows"))?;
        let mut values = Vec::with_capacity(rows.len() * FEATURES);
        for (i, row) in rows.iter().enumerate() {
            let row = row
                .as_array()
                .filter(|r| r.len() == FEATURES)
                .ok_or_else(|| {
                    bad_input(format!(
                        "instance {i}: expected a row of {FEATURES} numbers"
                    ))
                })?;
            for v in row {
                let v = v
                    .as_f64()
                    .ok_or_else(|| bad_input(format!("instance {i}: not a number: {v}")))?;
                values.push(v as f32);
            }
        }
        let input = Tensor::from_f32("input", &[rows.len() as u64, FEATURES as u64], &values);
        let p = self.vote(&input)?;
        let predictions = p
            .chunks_exact(CLASS_NAMES.len())
            .map(|p| {
                let best = (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
                json!({"class": CLASS_NAMES[best], "probabilities": p})
            })
            .collect();
        Ok(Value::Array(predictions))
    }

    fn predict_tensors(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        let [input] = inputs.as_slice() else {
            return Err(bad_input("expected exactly one input tensor"));
        };
        let rows = *input.shape.first().unwrap_or(&0);
        let input = Tensor::from_f32("input", &input.shape, &input.to_f32()?);
        let p = self.vote(&input)?;
        Ok(vec![Tensor::from_f32("probabilities", &[rows, 3], &p)])
    }
}

export_predictor!(Ensemble);
