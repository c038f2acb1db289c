//! Tensors in the protocols' JSON: decoding V2 `data` (flat or nested) and V1 instances
//! (nesting gives the shape), and serializing back without building `serde_json::Value`
//! trees (FP32 prints in its shortest form: `0.9`, not `0.8999999761581421`).

use super::{Datatype, Tensor, TensorError, check_request_shape, join_bytes, split_bytes};
use base64::Engine as _;
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// TF Serving's suffix of a string output that holds binary data (answered base64 in V1).
pub const BYTES_SUFFIX: &str = "_bytes";

/// Decodes V2 `data`, flat or nested, checked against the declared `shape`. The shape is
/// the client's: nothing is sized from it; the values sent are counted first and must
/// match it exactly.
pub fn decode(
    name: &str,
    datatype: Datatype,
    shape: Vec<usize>,
    data: &Value,
) -> Result<Tensor, TensorError> {
    let count = check_request_shape(name, &shape)?;
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    if flat.len() != count {
        return Err(TensorError::new(format!(
            "input {name:?}: {} values do not fill shape {shape:?} ({count} expected)",
            flat.len()
        )));
    }
    let bytes = encode_elements(name, datatype, &flat)?;
    Tensor::new(name, datatype, shape, bytes)
}

/// Decodes nested arrays whose nesting is the shape (V1 `instances`: one row per instance).
pub fn decode_nested(name: &str, datatype: Datatype, value: &Value) -> Result<Tensor, TensorError> {
    let mut shape = Vec::new();
    let mut probe = value;
    while let Value::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    check_request_shape(name, &shape)?;
    let mut flat = Vec::new();
    check_regular(name, value, &shape, &mut flat)?;
    let bytes = encode_elements(name, datatype, &flat)?;
    Tensor::new(name, datatype, shape, bytes)
}

fn check_regular<'a>(
    name: &str,
    value: &'a Value,
    shape: &[usize],
    out: &mut Vec<&'a Value>,
) -> Result<(), TensorError> {
    match (value, shape.split_first()) {
        (Value::Array(items), Some((&len, rest))) if items.len() == len => items
            .iter()
            .try_for_each(|v| check_regular(name, v, rest, out)),
        (Value::Array(_), _) | (_, Some(_)) => Err(TensorError::new(format!(
            "input {name:?}: rows are ragged; every instance must have the same shape"
        ))),
        (leaf, None) => {
            out.push(leaf);
            Ok(())
        }
    }
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        leaf => out.push(leaf),
    }
}

fn encode_elements(
    name: &str,
    datatype: Datatype,
    values: &[&Value],
) -> Result<Vec<u8>, TensorError> {
    let bad = |i: usize, v: &Value| {
        TensorError::new(format!(
            "input {name:?}: element {i} ({v}) is not a valid {datatype}"
        ))
    };
    // `values` were parsed from the body, so this is bounded by what the client sent.
    let mut out = Vec::with_capacity(values.len().saturating_mul(datatype.size().unwrap_or(8)));
    macro_rules! ints {
        ($t:ty) => {
            for (i, v) in values.iter().enumerate() {
                let x = as_integer(v)
                    .and_then(|x| <$t>::try_from(x).ok())
                    .ok_or_else(|| bad(i, v))?;
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match datatype {
        Datatype::Bool => {
            for (i, v) in values.iter().enumerate() {
                let b = match v {
                    Value::Bool(b) => *b,
                    _ => match as_integer(v) {
                        Some(0) => false,
                        Some(1) => true,
                        _ => return Err(bad(i, v)),
                    },
                };
                out.push(b as u8);
            }
        }
        Datatype::Uint8 => ints!(u8),
        Datatype::Uint16 => ints!(u16),
        Datatype::Uint32 => ints!(u32),
        Datatype::Uint64 => ints!(u64),
        Datatype::Int8 => ints!(i8),
        Datatype::Int16 => ints!(i16),
        Datatype::Int32 => ints!(i32),
        Datatype::Int64 => ints!(i64),
        Datatype::Fp16 | Datatype::Bf16 | Datatype::Fp32 | Datatype::Fp64 => {
            for (i, v) in values.iter().enumerate() {
                let x = as_float(v).ok_or_else(|| bad(i, v))?;
                match datatype {
                    Datatype::Fp16 => out.extend_from_slice(&half::f16::from_f64(x).to_le_bytes()),
                    Datatype::Bf16 => out.extend_from_slice(&half::bf16::from_f64(x).to_le_bytes()),
                    Datatype::Fp32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
                    _ => out.extend_from_slice(&x.to_le_bytes()),
                }
            }
        }
        Datatype::Bytes => {
            let mut elements = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                elements.push(match v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    // TF Serving's rule: a binary string is an object of one key, `b64`.
                    Value::Object(map) if map.len() == 1 => match map.get("b64") {
                        Some(Value::String(b64)) => base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .map_err(|e| {
                                TensorError::new(format!(
                                    "input {name:?}: element {i}: bad base64: {e}"
                                ))
                            })?,
                        _ => return Err(bad(i, v)),
                    },
                    _ => return Err(bad(i, v)),
                });
            }
            return Ok(join_bytes(elements.iter().map(Vec::as_slice)));
        }
    }
    Ok(out)
}

/// An integer, also from a float with no fractional part (`3.0`), as clients often send.
fn as_integer(v: &Value) -> Option<i128> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.into());
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 2f64.powi(63)).then_some(f as i128)
}

/// A float; also the strings `NaN`, `Infinity` and `-Infinity` (JSON has no literal for
/// them), and `null` for a missing value (NaN: what pandas writes for one, and what tree
/// models route down their missing-value branch).
fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Null => Some(f64::NAN),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Read access to a tensor's elements by flat index.
struct Elements<'a> {
    tensor: &'a Tensor,
    bytes: Vec<&'a [u8]>,
    /// Bytes always as `{"b64": ...}`, text or not.
    always_b64: bool,
}

impl<'a> Elements<'a> {
    fn new(tensor: &'a Tensor) -> Result<Self, TensorError> {
        let bytes = match tensor.datatype {
            Datatype::Bytes => split_bytes(&tensor.data)?,
            _ => Vec::new(),
        };
        Ok(Elements {
            tensor,
            bytes,
            always_b64: false,
        })
    }

    /// For V1: TF Serving's rule that a string output named `*_bytes` is binary, so always
    /// `{"b64": ...}` (other strings too when they are not UTF-8).
    fn v1(tensor: &'a Tensor) -> Result<Self, TensorError> {
        let mut elements = Self::new(tensor)?;
        elements.always_b64 = tensor.name.ends_with(BYTES_SUFFIX);
        Ok(elements)
    }

    fn serialize_element<S: Serializer>(&self, i: usize, s: S) -> Result<S::Ok, S::Error> {
        let d = &self.tensor.data;
        macro_rules! le {
            ($t:ty) => {{
                const N: usize = size_of::<$t>();
                <$t>::from_le_bytes(d[i * N..(i + 1) * N].try_into().expect("checked size"))
            }};
        }
        match self.tensor.datatype {
            Datatype::Bool => s.serialize_bool(d[i] != 0),
            Datatype::Uint8 => s.serialize_u8(d[i]),
            Datatype::Uint16 => s.serialize_u16(le!(u16)),
            Datatype::Uint32 => s.serialize_u32(le!(u32)),
            Datatype::Uint64 => s.serialize_u64(le!(u64)),
            Datatype::Int8 => s.serialize_i8(d[i] as i8),
            Datatype::Int16 => s.serialize_i16(le!(i16)),
            Datatype::Int32 => s.serialize_i32(le!(i32)),
            Datatype::Int64 => s.serialize_i64(le!(i64)),
            Datatype::Fp16 => s.serialize_f32(half::f16::from_bits(le!(u16)).to_f32()),
            Datatype::Bf16 => s.serialize_f32(half::bf16::from_bits(le!(u16)).to_f32()),
            Datatype::Fp32 => s.serialize_f32(le!(f32)),
            Datatype::Fp64 => s.serialize_f64(le!(f64)),
            Datatype::Bytes => match std::str::from_utf8(self.bytes[i]) {
                Ok(text) if !self.always_b64 => s.serialize_str(text),
                _ => {
                    let mut map = s.serialize_map(Some(1))?;
                    map.serialize_entry(
                        "b64",
                        &base64::engine::general_purpose::STANDARD.encode(self.bytes[i]),
                    )?;
                    map.end()
                }
            },
        }
    }

    /// Serializes the block of `dims` starting at flat index `offset`, nested.
    fn serialize_nested<S: Serializer>(
        &self,
        dims: &[usize],
        offset: usize,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match dims.split_first() {
            None => self.serialize_element(offset, s),
            Some((&n, rest)) => {
                let stride = super::saturating_count(rest);
                let mut seq = s.serialize_seq(Some(n))?;
                for i in 0..n {
                    seq.serialize_element(&Nested {
                        elements: self,
                        dims: rest,
                        offset: offset + i * stride,
                    })?;
                }
                seq.end()
            }
        }
    }
}

struct Nested<'e, 'a> {
    elements: &'e Elements<'a>,
    dims: &'e [usize],
    offset: usize,
}

impl Serialize for Nested<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.elements.serialize_nested(self.dims, self.offset, s)
    }
}

/// Serializes a tensor's elements as one flat array (V2 `data`).
pub struct FlatData<'a>(pub &'a Tensor);

impl Serialize for FlatData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let elements = Elements::new(self.0).map_err(S::Error::custom)?;
        elements.serialize_nested(&[self.0.len()], 0, s)
    }
}

/// Serializes a tensor as nested arrays following its shape (V1 columnar `outputs`).
pub struct NestedData<'a>(pub &'a Tensor);

impl Serialize for NestedData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let elements = Elements::v1(self.0).map_err(S::Error::custom)?;
        elements.serialize_nested(&self.0.shape, 0, s)
    }
}

/// Serializes V1 `predictions` from a model's outputs: one entry per row of the outermost
/// dimension; with one output each entry is that output's row, with several it is an object
/// keyed by output name (TensorFlow Serving's row format).
pub struct Rows<'a>(pub &'a [Tensor]);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let outputs: Vec<Elements<'_>> = self
            .0
            .iter()
            .map(Elements::v1)
            .collect::<Result<_, _>>()
            .map_err(S::Error::custom)?;
        let rows = self
            .0
            .first()
            .and_then(|t| t.shape.first().copied())
            .unwrap_or(0);
        if let Some(t) = self.0.iter().find(|t| t.shape.first() != Some(&rows)) {
            return Err(S::Error::custom(format!(
                "output {:?} has shape {:?}, which does not share the batch dimension {rows}",
                t.name, t.shape
            )));
        }
        let mut seq = s.serialize_seq(Some(rows))?;
        for row in 0..rows {
            if let [only] = outputs.as_slice() {
                seq.serialize_element(&row_of(only, row))?;
            } else {
                seq.serialize_element(&RowObject {
                    outputs: &outputs,
                    row,
                })?;
            }
        }
        seq.end()
    }
}

fn row_of<'e, 'a>(elements: &'e Elements<'a>, row: usize) -> Nested<'e, 'a> {
    let dims = &elements.tensor.shape[1..];
    Nested {
        elements,
        dims,
        offset: row.saturating_mul(super::saturating_count(dims)),
    }
}

struct RowObject<'e, 'a> {
    outputs: &'e [Elements<'a>],
    row: usize,
}

impl Serialize for RowObject<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.outputs.len()))?;
        for e in self.outputs {
            map.serialize_entry(&e.tensor.name, &row_of(e, self.row))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_answers_outputs_named_bytes_in_base64() {
        let t = |name: &str| {
            let data = join_bytes([&b"hi"[..], &[0xff, 0]]);
            Tensor::new(name, Datatype::Bytes, vec![2], data).unwrap()
        };
        let plain = serde_json::to_value(NestedData(&t("text"))).unwrap();
        assert_eq!(plain, json!(["hi", {"b64": "/wA="}]));
        let binary = serde_json::to_value(NestedData(&t("image_bytes"))).unwrap();
        assert_eq!(binary, json!([{"b64": "aGk="}, {"b64": "/wA="}]));
        let rows = serde_json::to_value(Rows(&[t("image_bytes")])).unwrap();
        assert_eq!(rows, binary);
        let v2 = serde_json::to_value(FlatData(&t("image_bytes"))).unwrap();
        assert_eq!(v2, plain, "V2 keeps its own rule");
    }

    #[test]
    fn decodes_flat_and_nested_data_alike() {
        let flat = decode("x", Datatype::Fp32, vec![2, 2], &json!([1, 2, 3, 4])).unwrap();
        let nested = decode("x", Datatype::Fp32, vec![2, 2], &json!([[1, 2], [3, 4]])).unwrap();
        assert_eq!(flat, nested);
        let err = decode("x", Datatype::Fp32, vec![2, 2], &json!([1, 2, 3])).unwrap_err();
        assert!(err.0.contains("3 values"), "{err}");
    }

    #[test]
    fn a_declared_shape_is_checked_against_the_values_before_anything_is_sized_by_it() {
        // Reserving room for 2^55 elements first aborted the process (issue 14).
        let err = decode("x", Datatype::Fp32, vec![1 << 55], &json!([1])).unwrap_err();
        assert!(err.0.contains("1 values do not fill shape"), "{err}");
        for (shape, says) in [
            (vec![1 << 62, 4], "too large"),
            (vec![0], "zero dimension"),
            (vec![1; 33], "at most 32 dimensions"),
        ] {
            let err = decode("x", Datatype::Fp32, shape.clone(), &json!([1])).unwrap_err();
            assert!(err.0.contains(says), "{shape:?}: {err}");
        }
        let err = decode_nested("x", Datatype::Fp32, &json!([])).unwrap_err();
        assert!(err.0.contains("zero dimension"), "{err}");
    }

    #[test]
    fn missing_and_special_floats_are_read_as_ieee_values() {
        let t = decode_nested("x", Datatype::Fp32, &json!([[null, "NaN", "Infinity", 1]])).unwrap();
        let v: Vec<f32> = t
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert!(v[0].is_nan() && v[1].is_nan(), "{v:?}");
        assert_eq!(&v[2..], &[f32::INFINITY, 1.0]);
        // A missing value has no integer form.
        let err = decode_nested("x", Datatype::Int64, &json!([null])).unwrap_err();
        assert!(err.0.contains("not a valid INT64"), "{err}");
    }

    #[test]
    fn integers_are_range_checked() {
        assert!(decode("x", Datatype::Uint8, vec![1], &json!([255])).is_ok());
        let err = decode("x", Datatype::Uint8, vec![1], &json!([256])).unwrap_err();
        assert!(err.0.contains("not a valid UINT8"), "{err}");
        assert!(decode("x", Datatype::Int32, vec![1], &json!([1.5])).is_err());
        assert!(decode("x", Datatype::Int32, vec![1], &json!([2.0])).is_ok());
    }

    #[test]
    fn every_datatype_round_trips_through_json() {
        let cases = [
            (Datatype::Bool, json!([true, false])),
            (Datatype::Uint8, json!([0, 255])),
            (Datatype::Uint16, json!([0, 65535])),
            (Datatype::Uint32, json!([0, 4294967295u64])),
            (Datatype::Uint64, json!([0, u64::MAX])),
            (Datatype::Int8, json!([-128, 127])),
            (Datatype::Int16, json!([-32768, 32767])),
            (Datatype::Int32, json!([-5, 7])),
            (Datatype::Int64, json!([i64::MIN, i64::MAX])),
            (Datatype::Fp16, json!([0.5, -2.0])),
            (Datatype::Bf16, json!([0.5, -2.0])),
            (Datatype::Fp32, json!([0.9, -1.25])),
            (Datatype::Fp64, json!([0.1, 1e300])),
            (Datatype::Bytes, json!(["hello", ""])),
        ];
        for (datatype, data) in cases {
            let t = decode("x", datatype, vec![2], &data).unwrap();
            // Through text: FP32 must print in its shortest form (0.9, not 0.8999999761581421).
            let text = serde_json::to_string(&FlatData(&t)).unwrap();
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                data,
                "{datatype}: {text}"
            );
        }
    }

    #[test]
    fn instances_give_the_shape_and_ragged_rows_are_refused() {
        let t = decode_nested("x", Datatype::Fp32, &json!([[1, 2, 3], [4, 5, 6]])).unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(
            serde_json::to_value(NestedData(&t)).unwrap(),
            json!([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        );
        let err = decode_nested("x", Datatype::Fp32, &json!([[1, 2], [3]])).unwrap_err();
        assert!(err.0.contains("ragged"), "{err}");
    }

    #[test]
    fn rows_follow_tensorflow_serving_row_format() {
        let label = decode("label", Datatype::Int64, vec![2], &json!([0, 2])).unwrap();
        let p = decode(
            "p",
            Datatype::Fp32,
            vec![2, 2],
            &json!([[0.75, 0.25], [0.5, 0.5]]),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(Rows(std::slice::from_ref(&label))).unwrap(),
            json!([0, 2])
        );
        assert_eq!(
            serde_json::to_value(Rows(&[label, p])).unwrap(),
            json!([{"label": 0, "p": [0.75, 0.25]}, {"label": 2, "p": [0.5, 0.5]}])
        );
    }
}
