//! A model's signatures as TensorFlow Serving describes them: a map of SignatureDefs by
//! name (inputs and outputs by key, each with its graph tensor, `DT_*` dtype and shape, and
//! the signature's `method_name`), and which one this deployment serves. A TensorFlow
//! SavedModel brings its own map; every other model gets one `serving_default` predict
//! signature made from its V2 inputs and outputs ([`Signatures::from_specs`]).
//!
//! A request picks a signature by name ([`Signatures::resolve`]), as TF Serving's
//! `signature_name` does: a SavedModel's signatures other than the served one are each
//! [`Servable`] by a graph of their own (whose inputs the request is decoded into), or
//! refused with the reason their graph could not be made.

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

/// How a signature other than the served one is answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Servable {
    /// By the served signature's graph (the same computation under another name).
    Served,
    /// By a graph of its own, taking these inputs.
    Graph { inputs: Vec<TensorSpec> },
    /// Not at all, for this reason (its graph could not be made).
    Refused(String),
}

/// A model's signature map and the one served.
#[derive(Clone, Debug, PartialEq)]
pub struct Signatures {
    served: String,
    defs: BTreeMap<String, SignatureDef>,
    /// Whether the model declared its methods (a SavedModel) rather than having a predict
    /// signature made up for it.
    declared: bool,
    /// How each other signature is served; one missing is not served.
    others: BTreeMap<String, Servable>,
}

impl Signatures {
    /// The map of a model that declares its signatures; `served` must be one of them.
    pub fn declared(served: &str, defs: BTreeMap<String, SignatureDef>) -> Option<Signatures> {
        defs.contains_key(served).then(|| Signatures {
            served: served.to_string(),
            defs,
            declared: true,
            others: BTreeMap::new(),
        })
    }

    /// Says how signature `name` (not the served one) is served.
    pub fn set_servable(&mut self, name: &str, servable: Servable) {
        if name != self.served && self.defs.contains_key(name) {
            self.others.insert(name.to_string(), servable);
        }
    }

    /// The signatures that cannot be served, with why.
    pub fn refused(&self) -> impl Iterator<Item = (&str, &str)> {
        self.others.iter().filter_map(|(name, s)| match s {
            Servable::Refused(why) => Some((name.as_str(), why.as_str())),
            _ => None,
        })
    }

    /// The signatures answered by a graph of their own.
    pub fn with_graphs(&self) -> impl Iterator<Item = &str> {
        self.others.iter().filter_map(|(name, s)| match s {
            Servable::Graph { .. } => Some(name.as_str()),
            _ => None,
        })
    }

    /// The signature a request names: `Ok(None)` for the served graph (no name, an empty
    /// one, the served one or its twin), `Ok(Some((name, inputs)))` for another signature's
    /// graph, or the refusal: TF Serving's words for an unknown name, the reason for a
    /// signature that cannot be served.
    pub fn resolve(
        &self,
        requested: Option<&str>,
    ) -> Result<Option<(&str, &[TensorSpec])>, String> {
        let name = match requested {
            None | Some("") => return Ok(None),
            Some(name) if name == self.served => return Ok(None),
            Some(name) => name,
        };
        match self.others.get_key_value(name) {
            Some((_, Servable::Served)) => Ok(None),
            Some((name, Servable::Graph { inputs })) => Ok(Some((name.as_str(), inputs))),
            Some((_, Servable::Refused(why))) => Err(format!(
                "Serving signature name: \"{}\" cannot be served by this server: {why}",
                shown(name)
            )),
            None => check_requested(&self.served, self.defs.contains_key(name), requested)
                .map(|()| None),
        }
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
            others: BTreeMap::new(),
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
}

/// Refuses a request naming a signature other than the served one (an absent or empty name
/// is the served one), in TF Serving's words, knowing only the served name and whether the
/// requested one exists in the model.
pub fn check_requested(served: &str, exists: bool, requested: Option<&str>) -> Result<(), String> {
    let name = match requested {
        None | Some("") => return Ok(()),
        Some(name) if name == served => return Ok(()),
        Some(name) => name,
    };
    let mut message = format!(
        "Serving signature name: \"{}\" not found in signature def",
        shown(name)
    );
    if exists {
        message.push_str(&format!(
            " served by this deployment (the model has it, but only \"{served}\" is served)"
        ));
    }
    Err(message)
}

/// A requested name as echoed in errors: cut to [`MAX_ECHOED_NAME`] bytes, `...` marking a cut.
fn shown(name: &str) -> String {
    let mut end = name.len().min(MAX_ECHOED_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < name.len() { "..." } else { "" };
    format!("{}{cut}", &name[..end])
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
        TensorSpec::new(name, datatype, shape)
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
    fn a_made_up_map_serves_its_one_signature() {
        let s = Signatures::from_specs(&[], &[]);
        assert_eq!(s.resolve(None), Ok(None));
        assert_eq!(s.resolve(Some("")), Ok(None));
        assert_eq!(s.resolve(Some(DEFAULT_SIGNATURE)), Ok(None));
        assert_eq!(
            s.resolve(Some("x")).unwrap_err(),
            "Serving signature name: \"x\" not found in signature def"
        );
        let long = "é".repeat(10_000);
        let err = s.resolve(Some(&long)).unwrap_err();
        assert!(err.len() < 300 && err.contains("...\" not found"), "{err}");
        let other = check_requested("serving_default", true, Some("classify")).unwrap_err();
        assert!(
            other.contains("only \"serving_default\" is served"),
            "{other}"
        );
    }

    #[test]
    fn a_declared_map_resolves_each_signature_to_its_graph_or_its_refusal() {
        let def = |key: &str| SignatureDef {
            method_name: PREDICT_METHOD.into(),
            inputs: vec![],
            outputs: vec![SignatureTensor {
                key: key.into(),
                tensor: format!("{key}:0"),
                dtype: "DT_FLOAT".into(),
                shape: None,
            }],
        };
        let defs = ["serving_default", "serve", "other", "broken", "unset"]
            .into_iter()
            .map(|n| (n.to_string(), def(n)))
            .collect();
        let mut s = Signatures::declared(DEFAULT_SIGNATURE, defs).unwrap();
        let inputs = vec![spec("z", Datatype::Fp32, &[-1, 3])];
        s.set_servable("serve", Servable::Served);
        s.set_servable(
            "other",
            Servable::Graph {
                inputs: inputs.clone(),
            },
        );
        s.set_servable("broken", Servable::Refused("it uses Cumsum".into()));
        s.set_servable("absent", Servable::Served);
        assert_eq!(s.resolve(Some("serve")), Ok(None));
        assert_eq!(s.resolve(Some("other")), Ok(Some(("other", &inputs[..]))));
        assert_eq!(
            s.resolve(Some("broken")).unwrap_err(),
            "Serving signature name: \"broken\" cannot be served by this server: it uses Cumsum"
        );
        assert!(
            s.resolve(Some("absent"))
                .unwrap_err()
                .ends_with("not found in signature def")
        );
        assert!(
            s.resolve(Some("unset"))
                .unwrap_err()
                .contains("only \"serving_default\" is served")
        );
        assert_eq!(
            s.refused().collect::<Vec<_>>(),
            [("broken", "it uses Cumsum")]
        );
        assert_eq!(s.with_graphs().collect::<Vec<_>>(), ["other"]);
    }
}
