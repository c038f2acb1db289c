//! TF Serving's `:classify` and `:regress` answers: which outputs hold the classes, scores or
//! regression values ([`Plan`]: a SavedModel's `classes`/`scores`/`outputs` keys of a
//! signature of that method; for any other model, outputs that can only mean that), and
//! `{"results": [[[label, score], ...], ...]}` or `{"results": [value, ...]}` from them.

use crate::request::InferenceError;
use crate::tensor::signature::{
    CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD, SignatureDef, SignatureTensor, Signatures,
};
use crate::tensor::{Datatype, Tensor, split_bytes};
use serde_json::{Value, json};

/// `:classify` or `:regress`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    Classify,
    Regress,
}

impl Method {
    /// The method of a `:verb` (case-insensitive, as TF Serving's paths).
    pub fn of_verb(verb: &str) -> Option<Method> {
        if verb.eq_ignore_ascii_case("classify") {
            Some(Method::Classify)
        } else if verb.eq_ignore_ascii_case("regress") {
            Some(Method::Regress)
        } else {
            None
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Method::Classify => "classify",
            Method::Regress => "regress",
        }
    }

    fn method_name(self) -> &'static str {
        match self {
            Method::Classify => CLASSIFY_METHOD,
            Method::Regress => REGRESS_METHOD,
        }
    }
}

/// The outputs an answer is made of.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Classes (`[batch, n]` strings) and/or scores (`[batch, n]` floats); without classes,
    /// labels are the class indices when `index_labels`, else empty (TF Serving's answer).
    Classify {
        classes: Option<String>,
        scores: Option<String>,
        index_labels: bool,
    },
    /// Values (`[batch]` or `[batch, 1]` floats).
    Regress { values: String },
}

fn is_float(t: &SignatureTensor) -> bool {
    matches!(
        t.dtype.as_str(),
        "DT_FLOAT" | "DT_DOUBLE" | "DT_HALF" | "DT_BFLOAT16"
    )
}

fn rank(t: &SignatureTensor) -> Option<usize> {
    t.shape.as_ref().map(Vec::len)
}

impl Plan {
    /// How `method` is answered with the served signature, or TF Serving's refusal: a
    /// SavedModel's signature must be of that method; another model's outputs must say it.
    pub fn of(method: Method, signatures: &Signatures) -> Result<Plan, String> {
        let def = signatures.served();
        let wrong_method = |why: &str| {
            let word = match method {
                Method::Classify => "classification",
                Method::Regress => "regression",
            };
            format!(
                "Expected {word} signature method_name to be {}. Was: {}{why}",
                method.method_name(),
                def.method_name
            )
        };
        if signatures.is_declared() {
            if def.method_name != method.method_name() {
                return Err(wrong_method(""));
            }
            return declared(method, def);
        }
        debug_assert_eq!(def.method_name, PREDICT_METHOD);
        inferred(method, def).ok_or_else(|| {
            wrong_method(match method {
                Method::Classify => {
                    " (this model has no one [batch, classes] float output to classify with)"
                }
                Method::Regress => {
                    " (this model has no one [batch] or [batch, 1] float output to regress with)"
                }
            })
        })
    }

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

/// A SavedModel's signature of the method: TF Serving's keys.
fn declared(method: Method, def: &SignatureDef) -> Result<Plan, String> {
    let has = |key: &str| def.outputs.iter().any(|t| t.key == key);
    match method {
        Method::Classify if has("classes") || has("scores") => Ok(Plan::Classify {
            classes: has("classes").then(|| "classes".into()),
            scores: has("scores").then(|| "scores".into()),
            index_labels: false,
        }),
        Method::Classify => Err(
            "Expected classification signature outputs to contain at least one of \"classes\" or \"scores\"."
                .into(),
        ),
        Method::Regress if def.outputs.len() == 1 && has("outputs") => Ok(Plan::Regress {
            values: "outputs".into(),
        }),
        Method::Regress => Err("No regression outputs found in SignatureDef: expected one output \"outputs\"".into()),
    }
}

/// Another model's outputs that can only mean the method's: a classifier's one float
/// `[batch, classes]` output (or the one named `scores`/`probabilities`), with string
/// `classes` of that shape if it has them; a regressor's one float output of one value per
/// example.
fn inferred(method: Method, def: &SignatureDef) -> Option<Plan> {
    let floats: Vec<&SignatureTensor> = def.outputs.iter().filter(|t| is_float(t)).collect();
    let only = |of_rank: &dyn Fn(&SignatureTensor) -> bool| -> Option<String> {
        let fitting: Vec<&&SignatureTensor> = floats.iter().filter(|t| of_rank(t)).collect();
        let named = fitting.iter().find(|t| {
            matches!(
                t.key.as_str(),
                "scores" | "probabilities" | "output_probability" | "outputs"
            )
        });
        match (named, fitting.as_slice()) {
            (Some(t), _) | (None, [t]) => Some(t.key.clone()),
            _ => None,
        }
    };
    match method {
        Method::Classify => {
            let scores = only(&|t| rank(t) == Some(2))?;
            let classes = def
                .outputs
                .iter()
                .find(|t| t.key == "classes" && t.dtype == "DT_STRING" && rank(t) == Some(2))
                .map(|t| t.key.clone());
            Some(Plan::Classify {
                index_labels: classes.is_none(),
                classes,
                scores: Some(scores),
            })
        }
        Method::Regress => {
            let one_value = |t: &SignatureTensor| match t.shape.as_deref() {
                Some([_]) => true,
                Some([_, last]) => *last == 1,
                _ => false,
            };
            let values = only(&one_value)?;
            Some(Plan::Regress { values })
        }
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
