//! V1 instances of a float input decoded straight from the JSON text: nested arrays of
//! numbers are read in one pass into the tensor's bytes, with no `serde_json::Value` per
//! element (a 784-wide row is 784 fewer allocations). Anything else (other datatypes,
//! strings such as `"NaN"`, empty or ragged arrays) is left to [`super::json::decode_nested`],
//! which also words the errors. The [`State`] accumulator and the [`Level`] reader are what
//! the protocols' one-pass body readers build on (`protocol::v1`).

use super::{Datatype, Tensor};
use serde::de::{DeserializeSeed, Deserializer, Error as _, SeqAccess, Visitor};

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

#[derive(Clone, Copy)]
enum Width {
    F32,
    F64,
}

pub(crate) struct State {
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
    pub(crate) fn new(datatype: Datatype, capacity: usize) -> Option<State> {
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
    pub(crate) fn number(&mut self, depth: usize, v: f64) -> bool {
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
    pub(crate) fn may_open(&self, depth: usize) -> bool {
        self.leaf_depth.is_none_or(|leaf| depth < leaf)
    }

    /// The array at `depth` ended with `len` elements; `false` if empty or its length
    /// differs from another array's at the same depth.
    pub(crate) fn close(&mut self, depth: usize, len: usize) -> bool {
        if len == 0 {
            return false;
        }
        if self.shape.len() <= depth {
            self.shape.resize(depth + 1, None);
        }
        *self.shape[depth].get_or_insert(len) == len
    }

    pub(crate) fn finish(self, name: &str, datatype: Datatype) -> Option<Tensor> {
        // Scalars and empty arrays: the general decoder knows what they mean.
        if self.leaf_depth != Some(self.shape.len()) || self.shape.is_empty() {
            return None;
        }
        let shape = self.shape.into_iter().collect::<Option<Vec<usize>>>()?;
        Tensor::new(name, datatype, shape, self.data).ok()
    }
}

/// One nesting level of the value being read.
pub(crate) struct Level<'s> {
    pub(crate) state: &'s mut State,
    pub(crate) depth: usize,
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
}
