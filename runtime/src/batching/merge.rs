//! Merging requests into one batch and splitting its answer back, for every payload form:
//! V1 `instances` (rows), V1 `inputs` (one array, or an object of equal-length columns) and
//! V2 tensors (concatenated on the first dimension).
//!
//! Only requests with the same [`BatchKey`] are merged: same V1 form and column names, or the
//! same V2 inputs (names, datatypes, every dimension but the first), requested outputs,
//! SavedModel signature and model version (each signature and version has its own graph).
//! An answer splits only when every part of it has one row per merged row; anything else is
//! a [`SplitError`] and the batcher answers each member on its own instead.

use crate::request::{Output, Payload};
use crate::tensor::{Datatype, Tensor};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Which requests may share a batch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BatchKey {
    /// V1 `instances`: a JSON array of rows.
    Instances,
    /// V1 `inputs` given as one array of rows.
    ColumnsArray,
    /// V1 `inputs` as an object of columns, by sorted name.
    Columns(Vec<String>),
    /// V2 tensors: each input's name, datatype and non-batch dimensions; the outputs asked
    /// for; the signature and the model version whose graph runs them.
    Tensors {
        inputs: Vec<(String, Datatype, Vec<usize>)>,
        outputs: Option<Vec<String>>,
        signature: Option<String>,
        version: Option<u64>,
    },
}

/// A request's batch key and its number of rows, or `None` when it cannot be merged
/// (not an array, no rows, columns of different lengths, a scalar tensor...): such a
/// request runs alone.
pub fn shape_of(payload: &Payload) -> Option<(BatchKey, usize)> {
    match payload {
        Payload::Json { columnar, body } => {
            if let Ok(rows) = serde_json::from_str::<Vec<&RawValue>>(body.get()) {
                let key = if *columnar {
                    BatchKey::ColumnsArray
                } else {
                    BatchKey::Instances
                };
                return (!rows.is_empty()).then_some((key, rows.len()));
            }
            if !*columnar {
                return None;
            }
            let columns: BTreeMap<&str, Vec<&RawValue>> = serde_json::from_str(body.get()).ok()?;
            let rows = columns.values().next()?.len();
            if rows == 0 || columns.values().any(|c| c.len() != rows) {
                return None;
            }
            Some((
                BatchKey::Columns(columns.keys().map(|k| k.to_string()).collect()),
                rows,
            ))
        }
        Payload::Tensors {
            inputs,
            outputs,
            signature,
            version,
        } => {
            let rows = *inputs.first()?.shape.first()?;
            if rows == 0 || inputs.iter().any(|t| t.shape.first() != Some(&rows)) {
                return None;
            }
            let inputs = inputs
                .iter()
                .map(|t| (t.name.clone(), t.datatype, t.shape[1..].to_vec()))
                .collect();
            Some((
                BatchKey::Tensors {
                    inputs,
                    outputs: outputs.clone(),
                    signature: signature.clone(),
                    version: *version,
                },
                rows,
            ))
        }
    }
}

/// One payload holding every member's rows, in order. The members all have `key` (as
/// [`shape_of`] gave it), so the forms match.
pub fn merge(key: &BatchKey, members: &[&Payload]) -> Payload {
    match key {
        BatchKey::Instances | BatchKey::ColumnsArray => {
            let parts = members.iter().map(|p| json_body(p)).map(|body| {
                // Non-empty arrays (checked by `shape_of`): drop the brackets, keep the rows.
                let text = body.trim();
                &text[1..text.len() - 1]
            });
            json(
                matches!(key, BatchKey::ColumnsArray),
                format!("[{}]", parts.collect::<Vec<_>>().join(",")),
            )
        }
        BatchKey::Columns(names) => {
            let mut columns: BTreeMap<&str, Vec<&RawValue>> =
                names.iter().map(|n| (n.as_str(), Vec::new())).collect();
            for p in members {
                let parts: BTreeMap<&str, Vec<&RawValue>> = serde_json::from_str(json_body(p))
                    .expect("a member's columns parsed when it was keyed");
                for (name, rows) in parts {
                    columns.entry(name).or_default().extend(rows);
                }
            }
            json(
                true,
                serde_json::to_string(&columns).expect("raw JSON values serialize"),
            )
        }
        BatchKey::Tensors {
            outputs,
            signature,
            version,
            ..
        } => {
            fn tensors(p: &Payload) -> &[Tensor] {
                match p {
                    Payload::Tensors { inputs, .. } => inputs,
                    Payload::Json { .. } => unreachable!("a JSON payload keyed as tensors"),
                }
            }
            let first = tensors(members[0]);
            let inputs = (0..first.len())
                .map(|i| {
                    let mut merged = Tensor {
                        name: first[i].name.clone(),
                        datatype: first[i].datatype,
                        shape: first[i].shape.clone(),
                        data: Vec::new(),
                    };
                    merged.shape[0] = 0;
                    for p in members {
                        let t = &tensors(p)[i];
                        merged.shape[0] += t.shape[0];
                        // BYTES elements carry their own length prefix: concatenating is
                        // joining, for fixed-size types and BYTES alike.
                        merged.data.extend_from_slice(&t.data);
                    }
                    merged
                })
                .collect();
            Payload::Tensors {
                inputs,
                outputs: outputs.clone(),
                signature: signature.clone(),
                version: *version,
            }
        }
    }
}

/// Why a merged answer cannot be handed back row by row.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SplitError(pub String);

/// Splits an answer for `rows.len()` members having `rows[i]` rows each.
pub fn split(output: Output, rows: &[usize]) -> Result<Vec<Output>, SplitError> {
    let total: usize = rows.iter().sum();
    match output {
        Output::Json(raw) => split_json(&raw, rows, total),
        Output::Tensors(tensors) => {
            for t in &tensors {
                if t.shape.first() != Some(&total) {
                    return Err(SplitError(format!(
                        "output {:?} has shape {:?}, not one row per merged row ({total})",
                        t.name, t.shape
                    )));
                }
            }
            let mut parts = Vec::with_capacity(rows.len());
            let mut start = 0;
            for &n in rows {
                let part = tensors
                    .iter()
                    .map(|t| t.slice_rows(start, start + n))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| SplitError(e.0))?;
                parts.push(Output::Tensors(part));
                start += n;
            }
            Ok(parts)
        }
    }
}

fn split_json(raw: &RawValue, rows: &[usize], total: usize) -> Result<Vec<Output>, SplitError> {
    if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
        if items.len() != total {
            return Err(SplitError(format!(
                "the predictor answered {} predictions for {total} merged rows",
                items.len()
            )));
        }
        let mut start = 0;
        return Ok(rows
            .iter()
            .map(|&n| {
                let part = join_rows(&items[start..start + n]);
                start += n;
                Output::Json(part)
            })
            .collect());
    }
    // Columnar predictions: an object of equal-length arrays, split column by column.
    let columns: BTreeMap<&str, Vec<&RawValue>> =
        serde_json::from_str(raw.get()).map_err(|_| {
            SplitError(
                "the predictor's answer is neither a list of predictions nor an object of columns"
                    .into(),
            )
        })?;
    if let Some((name, c)) = columns.iter().find(|(_, c)| c.len() != total) {
        return Err(SplitError(format!(
            "output column {name:?} has {} rows for {total} merged rows",
            c.len()
        )));
    }
    let mut start = 0;
    Ok(rows
        .iter()
        .map(|&n| {
            let part: BTreeMap<&str, &[&RawValue]> = columns
                .iter()
                .map(|(name, c)| (*name, &c[start..start + n]))
                .collect();
            start += n;
            let text = serde_json::to_string(&part).expect("raw JSON values serialize");
            Output::Json(RawValue::from_string(text).expect("serialized JSON is JSON"))
        })
        .collect())
}

fn join_rows(items: &[&RawValue]) -> Box<RawValue> {
    let mut text =
        String::with_capacity(items.iter().map(|i| i.get().len() + 1).sum::<usize>() + 2);
    text.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(item.get());
    }
    text.push(']');
    RawValue::from_string(text).expect("a list of JSON values is JSON")
}

fn json_body(payload: &Payload) -> &str {
    match payload {
        Payload::Json { body, .. } => body.get(),
        Payload::Tensors { .. } => unreachable!("a tensor payload keyed as JSON"),
    }
}

fn json(columnar: bool, text: String) -> Payload {
    Payload::Json {
        columnar,
        body: RawValue::from_string(text).expect("merged JSON rows are JSON"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_payload(columnar: bool, text: &str) -> Payload {
        Payload::Json {
            columnar,
            body: RawValue::from_string(text.to_string()).unwrap(),
        }
    }

    fn fp32(name: &str, rows: usize, cols: usize, first: f32) -> Tensor {
        let data = (0..rows * cols)
            .flat_map(|i| (first + i as f32).to_le_bytes())
            .collect();
        Tensor {
            name: name.into(),
            datatype: Datatype::Fp32,
            shape: vec![rows, cols],
            data,
        }
    }

    #[test]
    fn keys_tell_forms_and_shapes_apart() {
        let rows = json_payload(false, "[[1,2],[3,4]]");
        let cols = json_payload(true, r#"{"b":[1,2,3],"a":["x","y","z"]}"#);
        assert_eq!(shape_of(&rows), Some((BatchKey::Instances, 2)));
        assert_eq!(
            shape_of(&cols),
            Some((BatchKey::Columns(vec!["a".into(), "b".into()]), 3))
        );
        assert_eq!(
            shape_of(&json_payload(true, "[[1]]")).unwrap().0,
            BatchKey::ColumnsArray
        );
        for unmergeable in [
            json_payload(false, "[]"),
            json_payload(false, r#"{"a":[1]}"#),
            json_payload(true, r#"{"a":[1,2],"b":[1]}"#),
            json_payload(true, "7"),
        ] {
            assert_eq!(shape_of(&unmergeable), None);
        }
        let versioned = |cols, signature: Option<&str>, version| Payload::Tensors {
            inputs: vec![fp32("x", 2, cols, 0.0)],
            outputs: None,
            signature: signature.map(str::to_string),
            version,
        };
        let tensors = |cols, signature| versioned(cols, signature, None);
        let key = |p: Payload| shape_of(&p).unwrap().0;
        assert_ne!(key(tensors(3, None)), key(tensors(4, None)));
        // Each signature runs its own graph: never merged with another's requests.
        assert_ne!(key(tensors(3, None)), key(tensors(3, Some("other"))));
        assert_eq!(
            key(tensors(3, Some("other"))),
            key(tensors(3, Some("other")))
        );
        // Each version of a TF Serving folder too; a merged batch runs on its members'.
        let two = || versioned(3, None, Some(2));
        assert_ne!(key(tensors(3, None)), key(two()));
        assert_ne!(key(versioned(3, None, Some(5))), key(two()));
        let members = [two(), two()];
        let refs: Vec<&Payload> = members.iter().collect();
        let merged = merge(&key(two()), &refs);
        assert!(matches!(
            merged,
            Payload::Tensors {
                version: Some(2),
                ..
            }
        ));
    }

    #[test]
    fn an_answer_without_a_row_per_row_does_not_split() {
        let answer = Output::Json(RawValue::from_string("[1,2,3]".into()).unwrap());
        assert!(split(answer, &[2, 2]).is_err());
        let answer = Output::Json(RawValue::from_string(r#"{"label":"x"}"#.into()).unwrap());
        assert!(split(answer, &[1, 1]).is_err());
        let answer = Output::Tensors(vec![fp32("y", 1, 3, 0.0)]);
        assert!(split(answer, &[1, 1]).is_err());
    }

    #[test]
    fn columns_merge_and_split_by_name() {
        let a = json_payload(true, r#"{"a":[1],"b":["p"]}"#);
        let b = json_payload(true, r#"{"b":["q","r"],"a":[2,3]}"#);
        let (key, _) = shape_of(&a).unwrap();
        let Payload::Json { body, .. } = merge(&key, &[&a, &b]) else {
            panic!("JSON in, JSON out")
        };
        assert_eq!(body.get(), r#"{"a":[1,2,3],"b":["p","q","r"]}"#);
        let parts = split(Output::Json(body), &[1, 2]).unwrap();
        let texts: Vec<String> = parts
            .iter()
            .map(|p| match p {
                Output::Json(j) => j.get().to_string(),
                Output::Tensors(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            texts,
            [r#"{"a":[1],"b":["p"]}"#, r#"{"a":[2,3],"b":["q","r"]}"#]
        );
    }

    proptest! {
        /// Merging any members and splitting an answer with one row per row (here the
        /// merged input itself) gives each member back exactly its own rows.
        #[test]
        fn rows_come_back_to_their_request(sizes in prop::collection::vec(1usize..6, 1..12), cols in 1usize..4) {
            let mut next = 0;
            let members: Vec<Payload> = sizes.iter().map(|&n| {
                let rows: Vec<String> = (0..n).map(|_| {
                    next += 1;
                    format!("[{}]", vec![next.to_string(); cols].join(","))
                }).collect();
                json_payload(false, &format!("[{}]", rows.join(",")))
            }).collect();
            let refs: Vec<&Payload> = members.iter().collect();
            let (key, _) = shape_of(refs[0]).unwrap();
            let Payload::Json { body, .. } = merge(&key, &refs) else { unreachable!() };
            let parts = split(Output::Json(body), &sizes).unwrap();
            for (part, member) in parts.iter().zip(&members) {
                let (Output::Json(got), Payload::Json { body: want, .. }) = (part, member) else { unreachable!() };
                prop_assert_eq!(got.get(), want.get());
            }

            let tensors: Vec<Payload> = sizes.iter().enumerate().map(|(i, &n)| Payload::Tensors {
                inputs: vec![fp32("x", n, cols, (i * 100) as f32)],
                outputs: Some(vec!["x".into()]),
                signature: None,
                version: None,
            }).collect();
            let refs: Vec<&Payload> = tensors.iter().collect();
            let keys: Vec<_> = refs.iter().map(|p| shape_of(p).unwrap()).collect();
            prop_assert!(keys.iter().all(|(k, _)| *k == keys[0].0));
            let Payload::Tensors { inputs, .. } = merge(&keys[0].0, &refs) else { unreachable!() };
            let parts = split(Output::Tensors(inputs), &sizes).unwrap();
            for (part, member) in parts.iter().zip(&tensors) {
                let (Output::Tensors(got), Payload::Tensors { inputs: want, .. }) = (part, member) else { unreachable!() };
                prop_assert_eq!(got, want);
            }
        }
    }
}
