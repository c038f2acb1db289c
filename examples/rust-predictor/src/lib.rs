//! A Gaussian naive Bayes iris classifier as a predictor component.
//!
//! `init` reads the fitted parameters from `gaussian_nb.json` in the read-only artifact
//! folder (made by `examples/models/make_models.py` from scikit-learn's `GaussianNB`), so the
//! component is the algorithm and the artifact is the model, as in Hopsworks.
//!
//! - V1 `:predict`: `instances` are rows of 4 numbers or objects keyed by feature name;
//!   each prediction is `{"class": name, "probabilities": [..]}`.
//! - V2 `/infer`: a `[N, 4]` FP32/FP64 tensor in; `label` (INT64 `[N]`) and `probabilities`
//!   (FP32 `[N, 3]`) out.

use predictor_guest::{
    Datatype, PredictError, Predictor, Signature, Tensor, TensorSpec, Value, bad_input,
    export_predictor, internal, json, log,
};
use serde::Deserialize;

/// The fitted parameters, as scikit-learn names them.
#[derive(Deserialize)]
struct NaiveBayes {
    feature_names: Vec<String>,
    class_names: Vec<String>,
    /// Per class, the log of its prior probability.
    class_prior: Vec<f64>,
    /// Per class and feature, the mean.
    theta: Vec<Vec<f64>>,
    /// Per class and feature, the variance.
    var: Vec<Vec<f64>>,
}

impl NaiveBayes {
    /// Class probabilities for one row: Gaussian log-likelihoods, then a stable softmax.
    fn probabilities(&self, row: &[f64]) -> Vec<f64> {
        let joint: Vec<f64> = (0..self.class_names.len())
            .map(|c| {
                let log_likelihood: f64 = row
                    .iter()
                    .zip(&self.theta[c])
                    .zip(&self.var[c])
                    .map(|((x, mean), var)| {
                        -0.5 * (2.0 * std::f64::consts::PI * var).ln()
                            - (x - mean).powi(2) / (2.0 * var)
                    })
                    .sum();
                self.class_prior[c].ln() + log_likelihood
            })
            .collect();
        let max = joint.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = joint.iter().map(|j| (j - max).exp()).collect();
        let total: f64 = exp.iter().sum();
        exp.into_iter().map(|e| e / total).collect()
    }

    /// Reads one instance: `[x1, x2, x3, x4]` or `{"sepal_length": x1, ...}`.
    fn row(&self, index: usize, instance: &Value) -> Result<Vec<f64>, PredictError> {
        let n = self.feature_names.len();
        let values: Vec<Option<f64>> = match instance {
            Value::Array(items) if items.len() == n => items.iter().map(Value::as_f64).collect(),
            Value::Object(map) => self
                .feature_names
                .iter()
                .map(|f| map.get(f).and_then(Value::as_f64))
                .collect(),
            _ => {
                return Err(bad_input(format!(
                    "instance {index}: expected {n} numbers or an object with {:?}",
                    self.feature_names
                )));
            }
        };
        values
            .into_iter()
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| bad_input(format!("instance {index}: every feature must be a number")))
    }

    fn argmax(p: &[f64]) -> usize {
        (0..p.len()).fold(0, |best, i| if p[i] > p[best] { i } else { best })
    }
}

impl Predictor for NaiveBayes {
    fn init() -> Result<Self, PredictError> {
        let path = predictor_guest::artifact_path().join("gaussian_nb.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| internal(format!("reading {}: {e}", path.display())))?;
        let model: NaiveBayes = serde_json::from_str(&text)
            .map_err(|e| internal(format!("parsing {}: {e}", path.display())))?;
        let name = std::env::var("MODEL_NAME").unwrap_or_default();
        let version = std::env::var("MODEL_VERSION").unwrap_or_default();
        log::info(&format!(
            "loaded naive Bayes model {name} v{version}: {} classes, {} features",
            model.class_names.len(),
            model.feature_names.len()
        ));
        Ok(model)
    }

    fn signature(&self) -> Signature {
        let n = self.feature_names.len() as i64;
        let c = self.class_names.len() as i64;
        Signature {
            inputs: vec![spec("input", Datatype::Fp32, &[-1, n])],
            outputs: vec![
                spec("label", Datatype::Int64, &[-1]),
                spec("probabilities", Datatype::Fp32, &[-1, c]),
            ],
        }
    }

    fn predict(&self, instances: Value) -> Result<Value, PredictError> {
        let instances = instances
            .as_array()
            .ok_or_else(|| bad_input("instances must be a list"))?;
        let predictions = instances
            .iter()
            .enumerate()
            .map(|(i, instance)| {
                let p = self.probabilities(&self.row(i, instance)?);
                let class = &self.class_names[Self::argmax(&p)];
                Ok(json!({"class": class, "probabilities": p}))
            })
            .collect::<Result<Vec<Value>, PredictError>>()?;
        Ok(Value::Array(predictions))
    }

    fn predict_tensors(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        let [input] = inputs.as_slice() else {
            return Err(bad_input("expected exactly one input tensor"));
        };
        let n = self.feature_names.len();
        if input.shape.len() != 2 || input.shape[1] as usize != n {
            return Err(bad_input(format!(
                "input shape {:?}: expected [N, {n}]",
                input.shape
            )));
        }
        let values: Vec<f64> = match input.datatype {
            Datatype::Fp64 => input.to_vec::<f64>()?,
            _ => input.to_f32()?.into_iter().map(f64::from).collect(),
        };
        let rows = input.shape[0];
        let mut labels = Vec::with_capacity(rows as usize);
        let mut probabilities = Vec::with_capacity(rows as usize * self.class_names.len());
        for row in values.chunks_exact(n) {
            let p = self.probabilities(row);
            labels.push(Self::argmax(&p) as i64);
            probabilities.extend(p.iter().map(|&v| v as f32));
        }
        let classes = self.class_names.len() as u64;
        Ok(vec![
            Tensor::from_slice("label", &[rows], &labels),
            Tensor::from_slice("probabilities", &[rows, classes], &probabilities),
        ])
    }
}

fn spec(name: &str, datatype: Datatype, shape: &[i64]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        datatype,
        shape: shape.to_vec(),
    }
}

export_predictor!(NaiveBayes);
