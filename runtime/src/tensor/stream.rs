//! V1 instances of a float input decoded straight from the JSON text: nested arrays of
//! numbers are read in one pass into the tensor's bytes, with no `serde_json::Value` per
//! element (a 784-wide row is 784 fewer allocations). Anything else (other datatypes,
//! strings such as `"NaN"`, empty or ragged arrays) is left to [`super::json::decode_nested`],
//! which also words the errors. A whole V1 body can be read this way too
//! ([`decode_v1_floats`]), so a graph's request is parsed once, not kept as text and reread.

use super::{Datatype, Tensor};
use serde::Deserialize;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

/// The tensor `text` (nested arrays of numbers) holds as `datatype` FP32 or FP64, or `None`
/// when this fast path does not apply and the general decoder must run.
pub fn decode_nested_floats(name: &str, datatype: Datatype, text: &str) -> Option<Tensor> {
    let mut state = State::new(datatype, text.len())?;
    let mut de = serde_json::Deserializer::from_str(text);
    Level {
        state: &mut state,
        depth: 0,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    state.finish(name, datatype)
}

/// A V1 `:predict` body whose `instances` (or `inputs` as nested arrays: the one input's
/// columns) are one float tensor, read in one pass over the body, with whether it came as
/// `inputs`. `None` when anything else is there: the general decoder then runs (and words
/// the errors). The common shape is read by hand (`scan`), the rest through serde.
pub fn decode_v1_floats(name: &str, datatype: Datatype, body: &[u8]) -> Option<(Tensor, bool)> {
    super::scan::v1_floats(name, datatype, body)
        .or_else(|| decode_v1_floats_serde(name, datatype, body))
}

/// [`decode_v1_floats`] through serde alone: any key order, other keys, escapes.
pub(super) fn decode_v1_floats_serde(
    name: &str,
    datatype: Datatype,
    body: &[u8],
) -> Option<(Tensor, bool)> {
    let mut state = State::new(datatype, body.len())?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let columnar = V1Body { state: &mut state }.deserialize(&mut de).ok()??;
    de.end().ok()?;
    Some((state.finish(name, datatype)?, columnar))
}

/// The keys of a V1 request body (TensorFlow Serving's `signature_name` among the others).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Instances,
    Inputs,
    #[serde(other)]
    Other,
}

/// A V1 body: its one `instances` or `inputs` read as nested floats, the rest skipped.
struct V1Body<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for V1Body<'_> {
    /// Whether the tensor came as `inputs`; `None` without either.
    type Value = Option<bool>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<bool>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for V1Body<'_> {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a V1 request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<bool>, A::Error> {
        let state = self.state;
        let mut columnar = None;
        while let Some(key) = map.next_key::<Key>()? {
            let inputs = match key {
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ if columnar.is_some() => return Err(A::Error::custom("instances twice")),
                Key::Instances => false,
                Key::Inputs => true,
            };
            map.next_value_seed(Level {
                state: &mut *state,
                depth: 0,
            })?;
            columnar = Some(inputs);
        }
        Ok(columnar)
    }
}

#[derive(Clone, Copy)]
enum Width {
    F32,
    F64,
}

pub(super) struct State {
    width: Width,
    /// Array lengths by depth, outermost first (inner arrays end first, so a depth may be
    /// unknown for a while): every array at a depth must have the same.
    shape: Vec<Option<usize>>,
    /// How deep numbers sit; all must sit at the same depth.
    leaf_depth: Option<usize>,
    data: Vec<u8>,
}

impl State {
    /// For FP32 or FP64; `capacity`: the text's length, more than its numbers' bytes.
    pub(super) fn new(datatype: Datatype, capacity: usize) -> Option<State> {
        let width = match datatype {
            Datatype::Fp32 => Width::F32,
            Datatype::Fp64 => Width::F64,
            _ => return None,
        };
        Some(State {
            width,
            shape: Vec::new(),
            leaf_depth: None,
            data: Vec::with_capacity(capacity),
        })
    }

    /// A number at `depth`; `false` if numbers sit at another depth (ragged).
    pub(super) fn number(&mut self, depth: usize, v: f64) -> bool {
        if *self.leaf_depth.get_or_insert(depth) != depth {
            return false;
        }
        match self.width {
            Width::F32 => self.data.extend_from_slice(&(v as f32).to_le_bytes()),
            Width::F64 => self.data.extend_from_slice(&v.to_le_bytes()),
        }
        true
    }

    /// Whether an array may start at `depth` (not where numbers sit, nor below).
    pub(super) fn may_open(&self, depth: usize) -> bool {
        self.leaf_depth.is_none_or(|leaf| depth < leaf)
    }

    /// The array at `depth` ended with `len` elements; `false` if empty or its length
    /// differs from another array's at the same depth.
    pub(super) fn close(&mut self, depth: usize, len: usize) -> bool {
        if len == 0 {
            return false;
        }
        if self.shape.len() <= depth {
            self.shape.resize(depth + 1, None);
        }
        *self.shape[depth].get_or_insert(len) == len
    }

    pub(super) fn finish(self, name: &str, datatype: Datatype) -> Option<Tensor> {
        // Scalars and empty arrays: the general decoder knows what they mean.
        if self.leaf_depth != Some(self.shape.len()) || self.shape.is_empty() {
            return None;
        }
        let shape = self.shape.into_iter().collect::<Option<Vec<usize>>>()?;
        Tensor::new(name, datatype, shape, self.data).ok()
    }
}

/// One nesting level of the value being read.
struct Level<'s> {
    state: &'s mut State,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Level<'_> {
    fn number<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        if self.state.number(self.depth, v) {
            Ok(())
        } else {
            Err(E::custom("ragged"))
        }
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("nested arrays of numbers")
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.number(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.number(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.number(v as f64)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (state, depth) = (self.state, self.depth);
        if !state.may_open(depth) {
            return Err(A::Error::custom("ragged"));
        }
        let mut len = 0;
        while seq
            .next_element_seed(Level {
                state: &mut *state,
                depth: depth + 1,
            })?
            .is_some()
        {
            len += 1;
        }
        if state.close(depth, len) {
            Ok(())
        } else {
            Err(A::Error::custom("ragged or empty"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::json::decode_nested;

    #[test]
    fn agrees_with_the_general_decoder() {
        for text in [
            "[[1, 2.5, -3], [4e2, 0.1, 6]]",
            "[0.30000001192092896]",
            "[[[1], [2]], [[3], [4]]]",
            "[[1.7976931348623157e308]]",
        ] {
            for datatype in [Datatype::Fp32, Datatype::Fp64] {
                let fast = decode_nested_floats("x", datatype, text).unwrap();
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                assert_eq!(
                    fast,
                    decode_nested("x", datatype, &value).unwrap(),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn leaves_the_rest_to_the_general_decoder() {
        for text in [
            "[[1, 2], [3]]",
            "[[1, 2], 3]",
            "[1, [2, 3]]",
            "[[], []]",
            "[]",
            "7",
            r#"["NaN", 1]"#,
            "[[1, 2]] x",
            "[true]",
        ] {
            assert_eq!(
                decode_nested_floats("x", Datatype::Fp32, text),
                None,
                "{text}"
            );
        }
        assert_eq!(decode_nested_floats("x", Datatype::Int64, "[1]"), None);
    }

    #[test]
    fn a_v1_body_is_read_in_one_pass_when_it_can_be() {
        let rows = "[[1, 2.5], [3, 4]]";
        let want = decode_nested_floats("x", Datatype::Fp32, rows).unwrap();
        for (body, columnar) in [
            (format!(r#"{{"instances": {rows}}}"#), false),
            (
                format!(r#"{{"signature_name": "serving_default", "inputs": {rows}}}"#),
                true,
            ),
            (
                format!(r#" {{"meta": {{"a": [1, "b"]}}, "instances": {rows}, "x": null}} "#),
                false,
            ),
        ] {
            assert_eq!(
                decode_v1_floats("x", Datatype::Fp32, body.as_bytes()),
                Some((want.clone(), columnar)),
                "{body}"
            );
        }
        for body in [
            format!(r#"{{"instances": {rows}, "inputs": {rows}}}"#),
            format!(r#"{{"instances": {rows}, "instances": {rows}}}"#),
            r#"{"inputs": {"x": [[1, 2]]}}"#.to_string(),
            r#"{"instances": [[1, 2], [3]]}"#.to_string(),
            r#"{"instances": ["NaN"]}"#.to_string(),
            r#"{"other": [[1]]}"#.to_string(),
            format!(r#"{{"instances": {rows}}} trailing"#),
            format!("[{rows}]"),
        ] {
            assert_eq!(
                decode_v1_floats("x", Datatype::Fp32, body.as_bytes()),
                None,
                "{body}"
            );
        }
    }
}
