//! Tensors as the host moves them between protocols, guests and native graphs.
//!
//! One representation everywhere: a V2 datatype, a shape and the elements as little-endian
//! bytes (BYTES elements as a 4-byte length and the bytes, as Triton's binary extension lays
//! them out). That is the WIT `tensor` record's layout too, so a V2 request reaches a guest
//! with one copy and no JSON. [`json`] converts to and from the protocols' JSON.

pub mod json;
pub mod nesting;
pub mod signature;
pub mod stream;

use serde::{Deserialize, Serialize};

/// The element type of a tensor, named as in the Open Inference Protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Datatype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Fp32,
    Fp64,
    Bf16,
    Bytes,
}

impl Datatype {
    /// Every datatype, in the protocol's order.
    pub const ALL: [Datatype; 14] = [
        Datatype::Bool,
        Datatype::Uint8,
        Datatype::Uint16,
        Datatype::Uint32,
        Datatype::Uint64,
        Datatype::Int8,
        Datatype::Int16,
        Datatype::Int32,
        Datatype::Int64,
        Datatype::Fp16,
        Datatype::Fp32,
        Datatype::Fp64,
        Datatype::Bf16,
        Datatype::Bytes,
    ];

    /// The wire name (`"FP32"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp16 => "FP16",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bf16 => "BF16",
            Datatype::Bytes => "BYTES",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Datatype> {
        Datatype::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Bytes per element, or `None` for variable-size BYTES.
    pub fn size(self) -> Option<usize> {
        Some(match self {
            Datatype::Bool | Datatype::Uint8 | Datatype::Int8 => 1,
            Datatype::Uint16 | Datatype::Int16 | Datatype::Fp16 | Datatype::Bf16 => 2,
            Datatype::Uint32 | Datatype::Int32 | Datatype::Fp32 => 4,
            Datatype::Uint64 | Datatype::Int64 | Datatype::Fp64 => 8,
            Datatype::Bytes => return None,
        })
    }
}

impl std::fmt::Display for Datatype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor whose bytes are known to match its datatype and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Input or output name.
    pub name: String,
    /// Element type.
    pub datatype: Datatype,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements, row-major, little-endian (see the module doc for BYTES).
    pub data: Vec<u8>,
}

/// A tensor a model takes or gives, as V2 metadata declares it (`-1`: any size).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: Datatype,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    pub fn new(name: &str, datatype: Datatype, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            datatype,
            shape: shape.to_vec(),
        }
    }
}

/// Why bytes, JSON or a graph value cannot be a tensor. The message is for the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TensorError(pub String);

impl TensorError {
    pub fn new(message: impl Into<String>) -> Self {
        TensorError(message.into())
    }
}

/// The most dimensions a tensor may have (ONNX's and NumPy's limit). Deeper shapes are
/// refused, so the recursions that follow a shape (nested JSON, Python lists) stay shallow.
pub const MAX_RANK: usize = 32;

/// The number of elements `shape` holds. Refuses more than [`MAX_RANK`] dimensions and
/// shapes whose non-zero dimensions multiply past `isize::MAX` (ndarray's and tract's rule):
/// then every product of some of the dimensions (a row's size, a stride) is representable
/// too, even when a zero dimension makes the whole count 0.
pub fn element_count(shape: &[usize]) -> Result<usize, TensorError> {
    if shape.len() > MAX_RANK {
        return Err(TensorError::new(format!(
            "a shape has at most {MAX_RANK} dimensions, not {}",
            shape.len()
        )));
    }
    let non_zero = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| isize::try_from(n).is_ok());
    match non_zero {
        None => Err(TensorError::new(format!("shape {shape:?} is too large"))),
        Some(_) if shape.contains(&0) => Ok(0),
        Some(n) => Ok(n),
    }
}

/// The product of `dims`, saturating: for tensors already checked by [`Tensor::new`] (where
/// it is exact), in code that must not panic on a tensor built by hand.
pub(crate) fn saturating_count(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

/// Checks a shape a client declared for a request tensor: [`element_count`]'s rules, and no
/// zero dimension (an input with no element has nothing to predict on, and would let the
/// other dimensions claim any size with no data behind them).
pub fn check_request_shape(name: &str, shape: &[usize]) -> Result<usize, TensorError> {
    if shape.contains(&0) {
        return Err(TensorError::new(format!(
            "input {name:?}: shape {shape:?} has a zero dimension; every dimension must be at least 1"
        )));
    }
    element_count(shape).map_err(|e| TensorError::new(format!("input {name:?}: {e}")))
}

impl Tensor {
    /// Checks that `data` holds exactly the elements `shape` and `datatype` describe.
    pub fn new(
        name: impl Into<String>,
        datatype: Datatype,
        shape: Vec<usize>,
        data: Vec<u8>,
    ) -> Result<Tensor, TensorError> {
        let name = name.into();
        let count =
            element_count(&shape).map_err(|e| TensorError::new(format!("tensor {name:?}: {e}")))?;
        match datatype.size() {
            Some(size) => {
                if Some(data.len()) != count.checked_mul(size) {
                    return Err(TensorError::new(format!(
                        "tensor {name:?}: {} bytes do not hold {count} {datatype} elements of shape {shape:?}",
                        data.len()
                    )));
                }
            }
            None => {
                let found = split_bytes(&data)
                    .map_err(|e| TensorError::new(format!("tensor {name:?}: {e}")))?
                    .len();
                if found != count {
                    return Err(TensorError::new(format!(
                        "tensor {name:?}: {found} BYTES elements for shape {shape:?} ({count} expected)"
                    )));
                }
            }
        }
        Ok(Tensor {
            name,
            datatype,
            shape,
            data,
        })
    }

    /// The number of elements (saturating: the fields are public, so a tensor built by hand
    /// may not have passed [`element_count`]).
    pub fn len(&self) -> usize {
        saturating_count(&self.shape)
    }

    /// Whether the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements of a BYTES tensor.
    pub fn byte_elements(&self) -> Result<Vec<&[u8]>, TensorError> {
        split_bytes(&self.data)
    }

    /// Slices the outermost dimension into `[start, end)`, as one tensor.
    pub fn slice_rows(&self, start: usize, end: usize) -> Result<Tensor, TensorError> {
        let rows = *self
            .shape
            .first()
            .ok_or_else(|| TensorError::new(format!("tensor {:?} is a scalar", self.name)))?;
        if start > end || end > rows {
            return Err(TensorError::new(format!("rows {start}..{end} of {rows}")));
        }
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        let per_row = element_count(&self.shape[1..])?;
        let out_of_range = || TensorError::new(format!("rows {start}..{end} of {rows}"));
        let data = match self.datatype.size() {
            Some(size) => {
                let at = |row: usize| row.checked_mul(per_row)?.checked_mul(size);
                let (a, b) = at(start).zip(at(end)).ok_or_else(out_of_range)?;
                self.data.get(a..b).ok_or_else(out_of_range)?.to_vec()
            }
            None => {
                let elements = self.byte_elements()?;
                let at = |row: usize| row.checked_mul(per_row);
                let (a, b) = at(start).zip(at(end)).ok_or_else(out_of_range)?;
                join_bytes(elements.get(a..b).ok_or_else(out_of_range)?.iter().copied())
            }
        };
        Ok(Tensor {
            name: self.name.clone(),
            datatype: self.datatype,
            shape,
            data,
        })
    }
}

/// Splits length-prefixed BYTES data into its elements.
pub fn split_bytes(mut data: &[u8]) -> Result<Vec<&[u8]>, TensorError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (len, rest) = data
            .split_first_chunk::<4>()
            .ok_or_else(|| TensorError::new("BYTES data ends inside a length prefix"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(TensorError::new("BYTES data ends inside an element"));
        }
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    Ok(out)
}

/// Lays elements out as length-prefixed BYTES data.
pub fn join_bytes<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in elements {
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_data_that_does_not_match_the_shape() {
        let err = Tensor::new("x", Datatype::Fp32, vec![2, 2], vec![0; 12]).unwrap_err();
        assert!(err.0.contains("12 bytes"), "{err}");
        assert!(Tensor::new("x", Datatype::Fp32, vec![2, 2], vec![0; 16]).is_ok());
    }

    #[test]
    fn bytes_round_trip_and_slice() {
        let data = join_bytes([b"ab".as_slice(), b"", b"xyz"]);
        let t = Tensor::new("s", Datatype::Bytes, vec![3], data).unwrap();
        assert_eq!(
            t.byte_elements().unwrap(),
            vec![b"ab".as_slice(), b"", b"xyz"]
        );
        let tail = t.slice_rows(1, 3).unwrap();
        assert_eq!(tail.byte_elements().unwrap(), vec![b"".as_slice(), b"xyz"]);
        assert!(Tensor::new("s", Datatype::Bytes, vec![3], vec![9, 0, 0, 0]).is_err());
    }

    #[test]
    fn element_counts_never_overflow() {
        assert_eq!(element_count(&[1 << 55]).unwrap(), 1 << 55);
        assert_eq!(element_count(&[0, 5]).unwrap(), 0);
        assert_eq!(element_count(&[]).unwrap(), 1);
        assert_eq!(element_count(&[1; MAX_RANK]).unwrap(), 1);
        for shape in [
            vec![1 << 62, 4],
            vec![usize::MAX, 1],
            // Zero elements, but a row (or stride) of 2^80 cannot be represented.
            vec![0, 1 << 40, 1 << 40],
            vec![1; MAX_RANK + 1],
        ] {
            assert!(element_count(&shape).is_err(), "{shape:?}");
        }
        let err = check_request_shape("x", &[2, 0]).unwrap_err();
        assert!(err.0.contains("zero dimension"), "{err}");
        let err = Tensor::new("x", Datatype::Uint8, vec![1; 40], vec![0]).unwrap_err();
        assert!(err.0.contains("at most 32 dimensions"), "{err}");
    }

    #[test]
    fn slicing_a_tensor_that_lies_about_its_shape_is_an_error() {
        // The fields are public: a hand-made tensor may not match its data.
        let t = Tensor {
            name: "x".into(),
            datatype: Datatype::Fp32,
            shape: vec![4, 1 << 62],
            data: vec![0; 8],
        };
        assert!(t.slice_rows(1, 3).is_err());
        assert_eq!(t.len(), usize::MAX);
        let t = Tensor {
            shape: vec![4, 1],
            ..t
        };
        assert!(t.slice_rows(1, 3).is_err());
        assert!(t.slice_rows(0, 2).is_ok());
    }

    #[test]
    fn every_datatype_has_a_round_tripping_name() {
        for d in Datatype::ALL {
            assert_eq!(Datatype::parse(d.name()), Some(d));
        }
    }
}
