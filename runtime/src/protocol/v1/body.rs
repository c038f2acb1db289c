//! A V1 `:predict` body read in one pass into a graph's one float input: `instances` (or
//! `inputs` as nested arrays: the input's columns) straight into the tensor's bytes, so the
//! request is parsed once, not kept as text and reread. The common shape is read by hand
//! ([`super::scan`]); any key order, other keys and escapes go through serde here.

use crate::tensor::signature::DEFAULT_SIGNATURE;
use crate::tensor::stream::{Level, State};
use crate::tensor::{Datatype, Tensor};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};

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

/// The keys of a V1 request body.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Instances,
    Inputs,
    /// TensorFlow Serving's signature selector: the default one (or an empty name) is read
    /// here; any other leaves the body to the general decoder, which decodes it into that
    /// signature's inputs (or words the refusal).
    SignatureName,
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
                Key::SignatureName => {
                    let name: std::borrow::Cow<'de, str> = map.next_value()?;
                    if !name.is_empty() && name != DEFAULT_SIGNATURE {
                        return Err(A::Error::custom("another signature"));
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::stream::decode_nested_floats;

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
                format!(r#"{{"signature_name": "", "instances": {rows}}}"#),
                false,
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
            format!(r#"{{"signature_name": "other", "inputs": {rows}}}"#),
            format!(r#"{{"signature_name": 1, "inputs": {rows}}}"#),
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
