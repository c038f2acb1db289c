//! Tensors as the host moves them between protocols, guests and native graphs.
//!
//! One representation everywhere: a V2 datatype, a shape and the elements as little-endian
//! bytes (BYTES elements as a 4-byte length and the bytes, as Triton's binary extension lays
//! them out). That is the WIT `tensor` record's layout too, so a V2 request reaches a guest
//! with one copy and no JSON. [`json`] converts to and from the protocols' JSON.

pub mod json;
pub mod scan;
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

/// Why bytes, JSON or a graph value cannot be a tensor. The message is for the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TensorError(pub String);

impl TensorError {
    pub fn new(message: impl Into<String>) -> Self {
        TensorError(message.into())
    }
}

/// The number of elements `shape` holds, refusing overflow.
pub fn element_count(shape: &[usize]) -> Result<usize, TensorError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| TensorError::new(format!("shape {shape:?} is too large")))
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
        let count = element_count(&shape)?;
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

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
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
        let per_row: usize = self.shape[1..].iter().product();
        let data = match self.datatype.size() {
            Some(size) => self.data[start * per_row * size..end * per_row * size].to_vec(),
            None => {
                let elements = self.byte_elements()?;
                join_bytes(elements[start * per_row..end * per_row].iter().copied())
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
    fn every_datatype_has_a_round_tripping_name() {
        for d in Datatype::ALL {
            assert_eq!(Datatype::parse(d.name()), Some(d));
        }
    }
}
