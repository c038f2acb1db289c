//! TF Serving's `:classify` and `:regress` answers from the outputs a [`Plan`] names:
//! `{"results": [[[label, score], ...], ...]}` or `{"results": [value, ...]}`.

use super::method::Plan;
use crate::request::InferenceError;
use crate::tensor::{Datatype, Tensor, split_bytes};
use serde_json::{Value, json};

impl Plan {
    /// Turns the model's outputs for `rows` examples into the `results` answer.
    pub fn answer(&self, outputs: &[Tensor], rows: usize) -> Result<Vec<u8>, InferenceError> {
        let output = |name: &str| {
            outputs.iter().find(|t| t.name == name).ok_or_else(|| {
                InferenceError::BadRequest(format!("the model gave no output {name:?}"))
            })
        };
        let results = match self {
            Plan::Classify {
                classes,
                scores,
                index_labels,
            } => {
                let classes = classes.as_deref().map(output).transpose()?;
                let scores = scores.as_deref().map(output).transpose()?;
                classifications(classes, scores, *index_labels, rows)?
            }
            Plan::Regress { values } => regressions(output(values)?, rows)?,
        };
        serde_json::to_vec(&json!({ "results": results }))
            .map_err(|e| InferenceError::BadRequest(format!("cannot encode the answer: {e}")))
    }
}

/// Element `i` of a float tensor.
fn float_at(t: &Tensor, i: usize) -> Option<f64> {
    let d = &t.data;
    let word = |n: usize| d.get(i * n..(i + 1) * n);
    Some(match t.datatype {
        Datatype::Fp32 => f32::from_le_bytes(word(4)?.try_into().ok()?) as f64,
        Datatype::Fp64 => f64::from_le_bytes(word(8)?.try_into().ok()?),
        Datatype::Fp16 => half::f16::from_le_bytes(word(2)?.try_into().ok()?).to_f64(),
        Datatype::Bf16 => half::bf16::from_le_bytes(word(2)?.try_into().ok()?).to_f64(),
        _ => return None,
    })
}

/// A float as TF Serving writes it (FP32 in its shortest form).
fn number(t: &Tensor, i: usize) -> Value {
    match (t.datatype, float_at(t, i)) {
        (Datatype::Fp32, Some(v)) => json!(v as f32),
        (_, Some(v)) => json!(v),
        (_, None) => Value::Null,
    }
}

fn unfit(t: &Tensor, want: &str) -> InferenceError {
    InferenceError::BadRequest(format!(
        "output {:?} has shape {:?} and type {}; expected {want}",
        t.name, t.shape, t.datatype
    ))
}

fn classifications(
    classes: Option<&Tensor>,
    scores: Option<&Tensor>,
    index_labels: bool,
    rows: usize,
) -> Result<Value, InferenceError> {
    let n = |t: &Tensor, want: &str| match t.shape.as_slice() {
        [r, n] if *r == rows => Ok(*n),
        _ => Err(unfit(t, want)),
    };
    let labels = match classes {
        Some(t) if t.datatype == Datatype::Bytes => {
            let n = n(t, "[batch, classes] strings")?;
            let all = split_bytes(&t.data).map_err(|e| InferenceError::BadRequest(e.0))?;
            Some((n, all))
        }
        Some(t) => return Err(unfit(t, "[batch, classes] strings")),
        None => None,
    };
    let width = match (scores, &labels) {
        (Some(t), labels) => {
            let w = n(t, "[batch, classes] floats")?;
            if float_at(t, 0).is_none() && w > 0 {
                return Err(unfit(t, "[batch, classes] floats"));
            }
            if labels.as_ref().is_some_and(|(n, _)| *n != w) {
                return Err(unfit(t, "as many scores as classes"));
            }
            w
        }
        (None, Some((n, _))) => *n,
        (None, None) => 0,
    };
    let rows: Vec<Value> = (0..rows)
        .map(|r| {
            let pairs: Vec<Value> = (0..width)
                .map(|c| {
                    let i = r * width + c;
                    let label = match &labels {
                        Some((_, all)) => String::from_utf8_lossy(all[i]).into_owned(),
                        None if index_labels => c.to_string(),
                        None => String::new(),
                    };
                    let score = scores.map_or(json!(0.0), |t| number(t, i));
                    json!([label, score])
                })
                .collect();
            Value::Array(pairs)
        })
        .collect();
    Ok(Value::Array(rows))
}

fn regressions(values: &Tensor, rows: usize) -> Result<Value, InferenceError> {
    let fits = match values.shape.as_slice() {
        [r] | [r, 1] => *r == rows,
        _ => false,
    };
    if !fits || (rows > 0 && float_at(values, 0).is_none()) {
        return Err(unfit(values, "[batch] or [batch, 1] floats"));
    }
    Ok(Value::Array((0..rows).map(|i| number(values, i)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fp32(name: &str, shape: Vec<usize>, values: &[f32]) -> Tensor {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(name, Datatype::Fp32, shape, data).unwrap()
    }

    #[test]
    fn answers_have_tf_servings_shapes() {
        let classes = Tensor::new(
            "classes",
            Datatype::Bytes,
            vec![2, 2],
            crate::tensor::join_bytes([&b"a"[..], b"b", b"a", b"b"]),
        )
        .unwrap();
        let scores = fp32("scores", vec![2, 2], &[0.25, 0.75, 1.0, 0.0]);
        let plan = Plan::Classify {
            classes: Some("classes".into()),
            scores: Some("scores".into()),
            index_labels: false,
        };
        let body = plan.answer(&[classes, scores.clone()], 2).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"results": [[["a", 0.25], ["b", 0.75]], [["a", 1.0], ["b", 0.0]]]})
        );
        let plan = Plan::Classify {
            classes: None,
            scores: Some("scores".into()),
            index_labels: true,
        };
        let body = plan.answer(std::slice::from_ref(&scores), 2).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["results"][0], json!([["0", 0.25], ["1", 0.75]]));
        assert!(
            plan.answer(std::slice::from_ref(&scores), 3).is_err(),
            "batch mismatch"
        );
        let plan = Plan::Regress { values: "y".into() };
        let y = fp32("y", vec![2, 1], &[0.5, -1.5]);
        let body = plan.answer(&[y], 2).unwrap();
        assert_eq!(body, br#"{"results":[0.5,-1.5]}"#);
        assert!(plan.answer(&[fp32("y", vec![2, 2], &[0.0; 4])], 2).is_err());
        assert!(plan.answer(&[], 2).is_err());
    }
}
