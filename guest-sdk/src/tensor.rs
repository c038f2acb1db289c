//! Building and reading [`Tensor`]s: raw little-endian bytes in, typed vectors out.

use crate::{Datatype, PredictError, Tensor, bad_input};

/// Element types that map to a fixed-size V2 datatype.
pub trait Element: Copy {
    /// The V2 datatype of this element type.
    const DATATYPE: Datatype;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
    /// Reads one element from exactly `size_of::<Self>()` bytes.
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($($t:ty => $d:ident),* $(,)?) => {$(
        impl Element for $t {
            const DATATYPE: Datatype = Datatype::$d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
        }
    )*};
}

element!(u8 => Uint8, u16 => Uint16, u32 => Uint32, u64 => Uint64, i8 => Int8, i16 => Int16,
    i32 => Int32, i64 => Int64, f32 => Fp32, f64 => Fp64);

impl Tensor {
    /// A tensor of `shape` holding `values` (row-major).
    pub fn from_slice<T: Element>(name: &str, shape: &[u64], values: &[T]) -> Tensor {
        let mut data = Vec::with_capacity(values.len() * size_of::<T>());
        for v in values {
            v.put(&mut data);
        }
        Tensor {
            name: name.into(),
            datatype: T::DATATYPE,
            shape: shape.to_vec(),
            data,
        }
    }

    /// A FP32 tensor of `shape` holding `values` (row-major).
    pub fn from_f32(name: &str, shape: &[u64], values: &[f32]) -> Tensor {
        Tensor::from_slice(name, shape, values)
    }

    /// The number of elements the shape holds.
    pub fn len(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// Whether the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `T`, if the datatype is `T`'s.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, PredictError> {
        if self.datatype != T::DATATYPE {
            return Err(bad_input(format!(
                "tensor {:?} is {:?}, expected {:?}",
                self.name,
                self.datatype,
                T::DATATYPE
            )));
        }
        let size = size_of::<T>();
        if self.data.len() != self.len() * size {
            return Err(bad_input(format!(
                "tensor {:?} holds {} bytes for shape {:?}",
                self.name,
                self.data.len(),
                self.shape
            )));
        }
        Ok(self.data.chunks_exact(size).map(T::get).collect())
    }

    /// The elements converted to `f32`, from any numeric datatype.
    pub fn to_f32(&self) -> Result<Vec<f32>, PredictError> {
        Ok(match self.datatype {
            Datatype::Fp32 => self.to_vec::<f32>()?,
            Datatype::Fp64 => self
                .to_vec::<f64>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            Datatype::Int64 => self
                .to_vec::<i64>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            Datatype::Int32 => self
                .to_vec::<i32>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            other => return Err(bad_input(format!("cannot read {other:?} as numbers"))),
        })
    }
}
