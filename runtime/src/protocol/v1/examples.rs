//! TF Serving's `:classify` and `:regress` bodies in: `{"signature_name"?, "context"?,
//! "examples": [{feature: value | [values]}, ...]}`. A graph's inputs are taken from the
//! examples' features of the same name (one row per example, the context's features shared
//! by every example, an example's own winning), values as TF Serving takes them: numbers,
//! booleans, strings, `{"b64": ...}` for binary strings, bare `NaN`/`Infinity`.

use crate::request::InferenceError;
use crate::tensor::{Tensor, TensorSpec, json};
use serde_json::{Map, Value};

/// A classify or regress body, parsed.
pub struct ExamplesRequest {
    pub signature_name: Option<String>,
    context: Map<String, Value>,
    examples: Vec<Map<String, Value>>,
}

fn bad(message: impl Into<String>) -> InferenceError {
    InferenceError::BadRequest(message.into())
}

/// What a JSON value is, in TF Serving's words.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "BOOL",
        Value::Number(_) => "NUMBER",
        Value::String(_) => "STRING",
        Value::Array(_) => "ARRAY",
        Value::Object(_) => "OBJECT",
    }
}

impl ExamplesRequest {
    /// Parses a body; `verb` (`classify` or `regress`) names the method in errors.
    pub fn parse(body: &[u8], verb: &str) -> Result<ExamplesRequest, InferenceError> {
        super::super::require_object(body)?;
        super::super::check_depth(body)?;
        let quoted = super::nonfinite::quote_non_finite(body);
        let mut doc: Map<String, Value> = serde_json::from_slice(quoted.as_deref().unwrap_or(body))
            .map_err(|e| bad(format!("JSON Parse error: {e}")))?;
        let signature_name = match doc.remove("signature_name") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(bad("'signature_name' key must be a string value.")),
        };
        let context = match doc.remove("context") {
            None => Map::new(),
            Some(v) => example(v)?,
        };
        let examples = match doc.remove("examples") {
            None => {
                return Err(bad(format!(
                    "When method is {verb}, key 'examples' is expected and was not found"
                )));
            }
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(bad("'examples' value is an empty array"));
            }
            Some(Value::Array(a)) => a.into_iter().map(example).collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("Expecting 'examples' value to be an list/array")),
        };
        Ok(ExamplesRequest {
            signature_name,
            context,
            examples,
        })
    }

    /// How many examples (the batch).
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// The graph's inputs, one row per example from the feature named like each input.
    pub fn tensors(&self, specs: &[TensorSpec]) -> Result<Vec<Tensor>, InferenceError> {
        specs.iter().map(|spec| self.tensor(spec)).collect()
    }

    fn tensor(&self, spec: &TensorSpec) -> Result<Tensor, InferenceError> {
        let name = &spec.name;
        let mut flat: Vec<Value> = Vec::new();
        let mut per_example = None;
        for (i, example) in self.examples.iter().enumerate() {
            let feature = example
                .get(name)
                .or_else(|| self.context.get(name))
                .ok_or_else(|| {
                    bad(format!(
                        "example {i} has no feature {name:?}, an input of the model (features are matched to inputs by name)"
                    ))
                })?;
            let before = flat.len();
            match feature {
                Value::Array(values) => {
                    for v in values {
                        flat.push(scalar(name, v)?.clone());
                    }
                }
                v => flat.push(scalar(name, v)?.clone()),
            }
            let count = flat.len() - before;
            if *per_example.get_or_insert(count) != count {
                return Err(bad(format!(
                    "feature {name:?} has {count} value(s) in example {i} but {} in example 0",
                    per_example.unwrap_or(0)
                )));
            }
        }
        let shape = row_shape(spec, self.examples.len(), per_example.unwrap_or(0))?;
        json::decode(name, spec.datatype, shape, &Value::Array(flat)).map_err(|e| bad(e.0))
    }
}

/// An example (or the context): a JSON object of features.
fn example(v: Value) -> Result<Map<String, Value>, InferenceError> {
    match v {
        Value::Object(map) => Ok(map),
        other => Err(bad(format!(
            "Example must be JSON object but got JSON {}",
            json_type(&other)
        ))),
    }
}

/// One value of a feature: a number, boolean, string or `{"b64": "..."}` object.
fn scalar<'v>(feature: &str, v: &'v Value) -> Result<&'v Value, InferenceError> {
    let is_b64 =
        |m: &Map<String, Value>| m.len() == 1 && m.get("b64").is_some_and(Value::is_string);
    match v {
        Value::Number(_) | Value::Bool(_) | Value::String(_) => Ok(v),
        Value::Object(m) if is_b64(m) => Ok(v),
        other => Err(bad(format!(
            "Feature: {feature} has element with unexpected JSON type: {}",
            json_type(other)
        ))),
    }
}

/// The input's shape for `rows` examples of `count` values each: `[rows]` for a rank-1
/// input (one value each), else `[rows, ...]` with the input's fixed dimensions and at most
/// one unknown one, told by the count.
fn row_shape(spec: &TensorSpec, rows: usize, count: usize) -> Result<Vec<usize>, InferenceError> {
    let name = &spec.name;
    let unfit = || {
        bad(format!(
            "feature {name:?} has {count} value(s) per example, which do not fit input shape {:?} (-1: any size)",
            spec.shape
        ))
    };
    let Some((_, rest)) = spec.shape.split_first() else {
        return Err(bad(format!(
            "input {name:?} is a scalar; examples need a batch dimension"
        )));
    };
    let known: usize = rest
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as usize)
        .product();
    let unknown = rest.iter().filter(|&&d| d < 0).count();
    let fill = match unknown {
        0 if known == count => 0,
        1 if known > 0 && count.is_multiple_of(known) && count > 0 => count / known,
        _ => return Err(unfit()),
    };
    let mut shape = vec![rows];
    shape.extend(rest.iter().map(|&d| if d < 0 { fill } else { d as usize }));
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Datatype;

    fn spec(name: &str, datatype: Datatype, shape: &[i64]) -> TensorSpec {
        TensorSpec::new(name, datatype, shape)
    }

    #[test]
    fn features_become_rows_of_the_inputs_of_the_same_name() {
        let body = br#"{"context": {"w": 2, "x": [0, 0]}, "examples": [
            {"x": [1, 2.5], "s": {"b64": "aGk="}}, {"x": [3, NaN], "s": "yo", "w": 7}]}"#;
        let r = ExamplesRequest::parse(body, "classify").unwrap();
        assert_eq!(r.len(), 2);
        let t = r
            .tensors(&[
                spec("x", Datatype::Fp32, &[-1, 2]),
                spec("s", Datatype::Bytes, &[-1]),
                spec("w", Datatype::Int64, &[-1, 1]),
            ])
            .unwrap();
        assert_eq!(t[0].shape, [2, 2]);
        let x: Vec<f32> = t[0]
            .data
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(&x[..3], &[1.0, 2.5, 3.0]);
        assert!(x[3].is_nan());
        assert_eq!(
            crate::tensor::split_bytes(&t[1].data).unwrap(),
            [&b"hi"[..], b"yo"]
        );
        assert_eq!(t[2].shape, [2, 1]);
        assert_eq!(t[2].data[8..16], 7i64.to_le_bytes());
    }

    #[test]
    fn malformed_examples_are_refused_with_a_reason() {
        for (body, says) in [
            (&br#"{"instances": [1]}"#[..], "key 'examples' is expected"),
            (br#"{"examples": []}"#, "empty array"),
            (br#"{"examples": {}}"#, "list/array"),
            (br#"{"examples": [1]}"#, "must be JSON object"),
            (
                br#"{"examples": [{}], "signature_name": 3}"#,
                "must be a string",
            ),
            (
                br#"{"examples": [{}], "context": []}"#,
                "must be JSON object",
            ),
            (b"{\"examples\": [{\"x\": [1", "JSON Parse error"),
        ] {
            let err = ExamplesRequest::parse(body, "classify").err().unwrap();
            assert!(err.to_string().contains(says), "{err}");
        }
        let x = [spec("x", Datatype::Fp32, &[-1, 2])];
        for (body, says) in [
            (&br#"{"examples": [{"y": 1}]}"#[..], "no feature \"x\""),
            (
                br#"{"examples": [{"x": [1, 2]}, {"x": [1]}]}"#,
                "1 value(s) in example 1",
            ),
            (br#"{"examples": [{"x": [1, 2, 3]}]}"#, "do not fit"),
            (
                br#"{"examples": [{"x": [null, 1]}]}"#,
                "unexpected JSON type: NULL",
            ),
            (
                br#"{"examples": [{"x": [[1], [2]]}]}"#,
                "unexpected JSON type: ARRAY",
            ),
            (br#"{"examples": [{"x": ["a", "b"]}]}"#, "x"),
            (br#"{"examples": [{"x": [{"b64": "%%"}, 1]}]}"#, "x"),
        ] {
            let r = ExamplesRequest::parse(body, "classify").unwrap();
            let err = r.tensors(&x).err().unwrap();
            assert!(err.to_string().contains(says), "{body:?}: {err}");
        }
    }
}
