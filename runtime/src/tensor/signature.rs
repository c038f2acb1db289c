//! A model's signatures as TensorFlow Serving describes them: a map of SignatureDefs by
//! name (inputs and outputs by key, each with its graph tensor, `DT_*` dtype and shape, and
//! the signature's `method_name`), and which one this deployment serves. A TensorFlow
//! SavedModel brings its own map; every other model gets one `serving_default` predict
//! signature made from its V2 inputs and outputs ([`Signatures::from_specs`]).

use super::{Datatype, TensorSpec};
use std::collections::BTreeMap;

/// The signature served when a request names none.
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// TF Serving's `method_name` of a predict signature.
pub const PREDICT_METHOD: &str = "tensorflow/serving/predict";
/// TF Serving's `method_name` of a classify signature.
pub const CLASSIFY_METHOD: &str = "tensorflow/serving/classify";
/// TF Serving's `method_name` of a regress signature.
pub const REGRESS_METHOD: &str = "tensorflow/serving/regress";
/// Requested signature names are echoed in errors up to this many bytes.
const MAX_ECHOED_NAME: usize = 128;

/// One input or output of a signature.
#[derive(Clone, Debug, PartialEq)]
pub struct SignatureTensor {
    /// The key clients use.
    pub key: String,
    /// The graph tensor it stands for (`node:0`).
    pub tensor: String,
    /// TensorFlow's dtype name (`DT_FLOAT`).
    pub dtype: String,
    /// Dimensions, -1 for unknown; `None` when the rank is unknown.
    pub shape: Option<Vec<i64>>,
}

/// One SignatureDef.
#[derive(Clone, Debug, PartialEq)]
pub struct SignatureDef {
    pub method_name: String,
    /// Sorted by key.
    pub inputs: Vec<SignatureTensor>,
    /// Sorted by key.
    pub outputs: Vec<SignatureTensor>,
}

/// A model's signature map and the one served.
#[derive(Clone, Debug, PartialEq)]
pub struct Signatures {
    served: String,
    defs: BTreeMap<String, SignatureDef>,
    /// Whether the model declared its methods (a SavedModel) rather than having a predict
    /// signature made up for it.
    declared: bool,
}

impl Signatures {
    /// The map of a model that declares its signatures; `served` must be one of them.
    pub fn declared(served: &str, defs: BTreeMap<String, SignatureDef>) -> Option<Signatures> {
        defs.contains_key(served).then(|| Signatures {
            served: served.to_string(),
            defs,
            declared: true,
        })
    }

    /// One `serving_default` predict signature of a model's V2 inputs and outputs.
    pub fn from_specs(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Signatures {
        let tensors = |specs: &[TensorSpec]| {
            let mut tensors: Vec<SignatureTensor> = specs
                .iter()
                .map(|s| SignatureTensor {
                    key: s.name.clone(),
                    tensor: s.name.clone(),
                    dtype: dtype_name(s.datatype).to_string(),
                    shape: Some(s.shape.clone()),
                })
                .collect();
            tensors.sort_by(|a, b| a.key.cmp(&b.key));
            tensors
        };
        let def = SignatureDef {
            method_name: PREDICT_METHOD.to_string(),
            inputs: tensors(inputs),
            outputs: tensors(outputs),
        };
        Signatures {
            served: DEFAULT_SIGNATURE.to_string(),
            defs: BTreeMap::from([(DEFAULT_SIGNATURE.to_string(), def)]),
            declared: false,
        }
    }

    /// The name of the signature served.
    pub fn served_name(&self) -> &str {
        &self.served
    }

    /// The signature served.
    pub fn served(&self) -> &SignatureDef {
        &self.defs[&self.served]
    }

    /// Every signature, by name.
    pub fn defs(&self) -> &BTreeMap<String, SignatureDef> {
        &self.defs
    }

    /// Whether the model declared its signatures' methods (a SavedModel).
    pub fn is_declared(&self) -> bool {
        self.declared
    }

    /// Refuses a request naming a signature other than the one served (an absent or empty
    /// name is the served one), in TF Serving's words.
    pub fn check_requested(&self, requested: Option<&str>) -> Result<(), String> {
        check_requested(
            &self.served,
            self.defs.contains_key(requested.unwrap_or("")),
            requested,
        )
    }
}

/// [`Signatures::check_requested`] knowing only the served name and whether the requested
/// one exists in the model.
pub fn check_requested(served: &str, exists: bool, requested: Option<&str>) -> Result<(), String> {
    let name = match requested {
        None | Some("") => return Ok(()),
        Some(name) if name == served => return Ok(()),
        Some(name) => name,
    };
    let mut shown = name;
    if shown.len() > MAX_ECHOED_NAME {
        let mut end = MAX_ECHOED_NAME;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown = &shown[..end];
    }
    let cut = if shown.len() < name.len() { "..." } else { "" };
    let mut message =
        format!("Serving signature name: \"{shown}{cut}\" not found in signature def");
    if exists {
        message.push_str(&format!(
            " served by this deployment (the model has it, but only \"{served}\" is served)"
        ));
    }
    Err(message)
}

/// TensorFlow's name of a V2 datatype.
pub fn dtype_name(datatype: Datatype) -> &'static str {
    match datatype {
        Datatype::Bool => "DT_BOOL",
        Datatype::Uint8 => "DT_UINT8",
        Datatype::Uint16 => "DT_UINT16",
        Datatype::Uint32 => "DT_UINT32",
        Datatype::Uint64 => "DT_UINT64",
        Datatype::Int8 => "DT_INT8",
        Datatype::Int16 => "DT_INT16",
        Datatype::Int32 => "DT_INT32",
        Datatype::Int64 => "DT_INT64",
        Datatype::Fp16 => "DT_HALF",
        Datatype::Fp32 => "DT_FLOAT",
        Datatype::Fp64 => "DT_DOUBLE",
        Datatype::Bf16 => "DT_BFLOAT16",
        Datatype::Bytes => "DT_STRING",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, datatype: Datatype, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            datatype,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn specs_make_one_predict_signature_sorted_by_key() {
        let s = Signatures::from_specs(
            &[spec("x", Datatype::Fp32, &[-1, 4])],
            &[
                spec("probabilities", Datatype::Fp64, &[-1, 3]),
                spec("label", Datatype::Bytes, &[-1]),
            ],
        );
        assert_eq!(s.served_name(), DEFAULT_SIGNATURE);
        assert!(!s.is_declared());
        let def = s.served();
        assert_eq!(def.method_name, PREDICT_METHOD);
        assert_eq!(def.inputs[0].dtype, "DT_FLOAT");
        assert_eq!(def.inputs[0].shape, Some(vec![-1, 4]));
        let keys: Vec<&str> = def.outputs.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["label", "probabilities"]);
        assert_eq!(def.outputs[0].dtype, "DT_STRING");
    }

    #[test]
    fn only_the_served_signature_is_accepted() {
        let s = Signatures::from_specs(&[], &[]);
        assert!(s.check_requested(None).is_ok());
        assert!(s.check_requested(Some("")).is_ok());
        assert!(s.check_requested(Some(DEFAULT_SIGNATURE)).is_ok());
        assert_eq!(
            s.check_requested(Some("x")).unwrap_err(),
            "Serving signature name: \"x\" not found in signature def"
        );
        let long = "é".repeat(10_000);
        let err = s.check_requested(Some(&long)).unwrap_err();
        assert!(err.len() < 300 && err.contains("...\" not found"), "{err}");
        let other = check_requested("serving_default", true, Some("classify")).unwrap_err();
        assert!(
            other.contains("only \"serving_default\" is served"),
            "{other}"
        );
    }
}
