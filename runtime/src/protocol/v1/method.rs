//! Which outputs answer TF Serving's `:classify` and `:regress` ([`Plan`]): a SavedModel's
//! `classes`/`scores`/`outputs` keys of a signature of that method; for any other model,
//! outputs that can only mean that. Otherwise TF Serving's method error.

use crate::tensor::signature::{
    CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD, SignatureDef, SignatureTensor, Signatures,
};

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
    #[cfg(test)]
    pub fn of(method: Method, signatures: &Signatures) -> Result<Plan, String> {
        Self::of_signature(method, signatures, None)
    }

    /// [`Plan::of`] with signature `name` of the map (the served one when `None` or not in
    /// the map: the caller resolved the name first).
    pub fn of_signature(
        method: Method,
        signatures: &Signatures,
        name: Option<&str>,
    ) -> Result<Plan, String> {
        let def = name
            .and_then(|n| signatures.defs().get(n))
            .unwrap_or_else(|| signatures.served());
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
            // `[batch, 1]` is one value per example (a regression, or a sigmoid's single
            // score): which class it scores cannot be told.
            let scores = only(&|t| matches!(t.shape.as_deref(), Some([_, last]) if *last != 1))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Datatype, TensorSpec};
    use std::collections::BTreeMap;

    fn spec(name: &str, datatype: Datatype, shape: &[i64]) -> TensorSpec {
        TensorSpec::new(name, datatype, shape)
    }

    #[test]
    fn other_models_are_planned_by_their_outputs() {
        let x = [spec("x", Datatype::Fp32, &[-1, 4])];
        let classifier = Signatures::from_specs(
            &x,
            &[
                spec("label", Datatype::Int64, &[-1]),
                spec("probabilities", Datatype::Fp32, &[-1, 3]),
            ],
        );
        assert_eq!(
            Plan::of(Method::Classify, &classifier),
            Ok(Plan::Classify {
                classes: None,
                scores: Some("probabilities".into()),
                index_labels: true
            })
        );
        let err = Plan::of(Method::Regress, &classifier).unwrap_err();
        assert!(err.starts_with("Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/predict ("), "{err}");
        let regressor = Signatures::from_specs(&x, &[spec("y", Datatype::Fp64, &[-1, 1])]);
        assert_eq!(
            Plan::of(Method::Regress, &regressor),
            Ok(Plan::Regress { values: "y".into() })
        );
        assert!(Plan::of(Method::Classify, &regressor).is_err());
        // Two float [batch, k] outputs, none named: which one is meant cannot be told.
        let two = Signatures::from_specs(
            &x,
            &[
                spec("a", Datatype::Fp32, &[-1, 3]),
                spec("b", Datatype::Fp32, &[-1, 3]),
            ],
        );
        assert!(Plan::of(Method::Classify, &two).is_err());
    }

    #[test]
    fn a_declared_signature_must_be_of_the_method() {
        let info = |key: &str, dtype: &str| SignatureTensor {
            key: key.into(),
            tensor: format!("{key}:0"),
            dtype: dtype.into(),
            shape: Some(vec![-1, 3]),
        };
        let def = |method: &str, outputs| SignatureDef {
            method_name: method.into(),
            inputs: vec![info("x", "DT_FLOAT")],
            outputs,
        };
        let defs = BTreeMap::from([
            (
                "serving_default".to_string(),
                def(CLASSIFY_METHOD, vec![info("scores", "DT_FLOAT")]),
            ),
            (
                "p".to_string(),
                def(PREDICT_METHOD, vec![info("y", "DT_FLOAT")]),
            ),
        ]);
        let s = Signatures::declared("serving_default", defs).unwrap();
        assert!(matches!(
            Plan::of(Method::Classify, &s),
            Ok(Plan::Classify {
                index_labels: false,
                ..
            })
        ));
        assert_eq!(
            Plan::of(Method::Regress, &s).unwrap_err(),
            "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/classify"
        );
        assert!(Signatures::declared("missing", BTreeMap::new()).is_none());
    }
}
