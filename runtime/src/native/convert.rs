//! Tensors in and out of tract: every datatype tract supports maps to a V2 datatype.
//!
//! | tract                  | V2     |
//! |------------------------|--------|
//! | Bool                   | BOOL   |
//! | U8/U16/U32/U64         | UINT8/16/32/64 |
//! | I8/I16/I32/I64         | INT8/16/32/64  |
//! | F16/F32/F64            | FP16/FP32/FP64 |
//! | String, Blob           | BYTES  |
//! | TDim (symbolic dims)   | INT64  |
//! | QI8/QU8/QI32 (quantized) | INT8/UINT8/INT32 (the stored integers) |
//!
//! BF16 has no tract type: a native model cannot take it (components can).

use crate::tensor::{Datatype, Tensor, TensorError, join_bytes};
use tract_onnx::prelude::{DatumType, TDim, Tensor as TractTensor, tract_ndarray};

/// The V2 datatype of a tract datum type, if it has one.
pub fn datatype_of(dt: DatumType) -> Option<Datatype> {
    Some(match dt {
        DatumType::Bool => Datatype::Bool,
        DatumType::U8 | DatumType::QU8(_) => Datatype::Uint8,
        DatumType::U16 => Datatype::Uint16,
        DatumType::U32 => Datatype::Uint32,
        DatumType::U64 => Datatype::Uint64,
        DatumType::I8 | DatumType::QI8(_) => Datatype::Int8,
        DatumType::I16 => Datatype::Int16,
        DatumType::I32 | DatumType::QI32(_) => Datatype::Int32,
        DatumType::I64 | DatumType::TDim => Datatype::Int64,
        DatumType::F16 => Datatype::Fp16,
        DatumType::F32 => Datatype::Fp32,
        DatumType::F64 => Datatype::Fp64,
        DatumType::String | DatumType::Blob => Datatype::Bytes,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Converts a request tensor into the graph's input type `want`.
pub fn to_tract(t: &Tensor, want: DatumType) -> Result<TractTensor, TensorError> {
    if datatype_of(want) != Some(t.datatype) {
        return Err(TensorError::new(format!(
            "input {:?} is {}, the model takes {}",
            t.name,
            t.datatype,
            datatype_of(want).map_or_else(|| format!("{want:?}"), |d| d.to_string())
        )));
    }
    let tensor = match want {
        DatumType::String => {
            let strings = t
                .byte_elements()?
                .into_iter()
                .map(|b| String::from_utf8(b.to_vec()))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| {
                    TensorError::new(format!("input {:?}: BYTES element is not UTF-8", t.name))
                })?;
            tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), strings)
                .map_err(|e| TensorError::new(e.to_string()))?
                .into()
        }
        DatumType::Blob | DatumType::TDim => {
            return Err(TensorError::new(format!(
                "input {:?}: the model takes {want:?}",
                t.name
            )));
        }
        DatumType::Bool => {
            // A bool must be 0 or 1 in memory; normalise before tract reinterprets the bytes.
            let data: Vec<u8> = t.data.iter().map(|&b| (b != 0) as u8).collect();
            raw(want, &t.shape, &data)?
        }
        _ => raw(want, &t.shape, &t.data)?,
    };
    Ok(tensor)
}

fn raw(dt: DatumType, shape: &[usize], data: &[u8]) -> Result<TractTensor, TensorError> {
    // SAFETY: `dt` is a plain-old-data type for which every bit pattern is valid (bools were
    // normalised by the caller), and `from_raw_dt` checks that `data` fills `shape`.
    unsafe { TractTensor::from_raw_dt(dt, shape, data) }
        .map_err(|e| TensorError::new(e.to_string()))
}

/// Converts a graph output into a response tensor called `name`.
pub fn from_tract(name: &str, t: &TractTensor) -> Result<Tensor, TensorError> {
    let dt = t.datum_type();
    let datatype = datatype_of(dt).ok_or_else(|| {
        TensorError::new(format!(
            "output {name:?} has type {dt:?}, which has no V2 datatype"
        ))
    })?;
    let data = match dt {
        DatumType::String => {
            let s = t
                .to_plain_array_view::<String>()
                .map_err(|e| TensorError::new(e.to_string()))?;
            join_bytes(s.iter().map(|s| s.as_bytes()))
        }
        DatumType::Blob => {
            let s = t
                .to_plain_array_view::<tract_onnx::prelude::Blob>()
                .map_err(|e| TensorError::new(e.to_string()))?;
            join_bytes(s.iter().map(|b| b.as_bytes()))
        }
        DatumType::TDim => {
            let dims = t
                .to_plain_array_view::<TDim>()
                .map_err(|e| TensorError::new(e.to_string()))?;
            let mut out = Vec::with_capacity(dims.len() * 8);
            for d in dims {
                let v = d.to_i64().map_err(|_| {
                    TensorError::new(format!("output {name:?}: symbolic dimension {d}"))
                })?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            out
        }
        // Plain-old-data: tract stores elements natively, which is little-endian here.
        _ => t.as_bytes().to_vec(),
    };
    Tensor::new(name, datatype, t.shape().to_vec(), data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::json;
    use serde_json::json;

    #[test]
    fn numeric_tensors_round_trip_through_tract() {
        for (datatype, dt, data) in [
            (Datatype::Fp32, DatumType::F32, json!([1.5, -2.0])),
            (Datatype::Int64, DatumType::I64, json!([7, -9])),
            (Datatype::Bool, DatumType::Bool, json!([true, false])),
            (Datatype::Fp16, DatumType::F16, json!([0.5, 2.0])),
            (Datatype::Bytes, DatumType::String, json!(["a", "bc"])),
        ] {
            let t = json::decode("x", datatype, vec![2], &data).unwrap();
            let back = from_tract("x", &to_tract(&t, dt).unwrap()).unwrap();
            assert_eq!(back, t, "{datatype}");
        }
    }

    #[test]
    fn a_wrong_datatype_is_named() {
        let t = json::decode("x", Datatype::Fp64, vec![1], &json!([1.0])).unwrap();
        let err = to_tract(&t, DatumType::F32).unwrap_err();
        assert_eq!(err.0, "input \"x\" is FP64, the model takes FP32");
    }
}
