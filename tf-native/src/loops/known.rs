//! Small integer and boolean tensors whose values are known at load: loop counters, trip
//! limits, list indices. A handful of ops are evaluated on them so a loop's condition can be
//! decided while unrolling; anything else leaves the value unknown.

use std::collections::HashMap;

use crate::protos::tensor_shape_proto::Dim;
use crate::protos::{
    AttrValue, DataType, NodeDef, TensorProto, TensorShapeProto, attr_value::Value,
};

/// Known tensors larger than this are left to the graph.
pub const MAX_KNOWN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Known {
    pub dtype: DataType,
    pub shape: Vec<usize>,
    pub values: Vec<i64>,
}

impl Known {
    pub fn scalar(dtype: DataType, v: i64) -> Known {
        Known {
            dtype,
            shape: vec![],
            values: vec![v],
        }
    }

    /// The single value of a scalar (or one-element) tensor.
    pub fn as_scalar(&self) -> Option<i64> {
        match self.values.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// The value of a `Const` node, if it is a small integer or boolean tensor.
    pub fn from_const(node: &NodeDef) -> Option<Known> {
        let t = match node.attr.get("value").and_then(|a| a.value.as_ref()) {
            Some(Value::Tensor(t)) => t,
            _ => return None,
        };
        let dtype = DataType::try_from(t.dtype).ok()?;
        let dims = t
            .tensor_shape
            .as_ref()
            .map(|s| s.dim.as_slice())
            .unwrap_or(&[]);
        let mut shape = Vec::with_capacity(dims.len());
        let mut len = 1usize;
        for d in dims {
            let d = usize::try_from(d.size).ok()?;
            len = len.checked_mul(d).filter(|&l| l <= MAX_KNOWN)?;
            shape.push(d);
        }
        let raw = &t.tensor_content;
        let values: Vec<i64> = match dtype {
            DataType::DtInt32 if !raw.is_empty() => raw
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            DataType::DtInt64 if !raw.is_empty() => raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DataType::DtBool if !raw.is_empty() => raw.iter().map(|&b| (b != 0) as i64).collect(),
            DataType::DtInt32 => t.int_val.iter().map(|&v| v as i64).collect(),
            DataType::DtInt64 => t.int64_val.clone(),
            DataType::DtBool => t.bool_val.iter().map(|&b| b as i64).collect(),
            _ => return None,
        };
        // TF repeats the last value when fewer are stored than the shape holds.
        let values = match (values.len(), values.last()) {
            (n, _) if n == len => values,
            (n, Some(&last)) if n < len => {
                let mut v = values;
                v.resize(len, last);
                v
            }
            _ => return None,
        };
        Some(Known {
            dtype,
            shape,
            values,
        })
    }

    /// A `Const` node holding this value.
    pub fn to_const(&self, name: String) -> NodeDef {
        let tensor = TensorProto {
            dtype: self.dtype as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: self
                    .shape
                    .iter()
                    .map(|&d| Dim {
                        size: d as i64,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            int_val: match self.dtype {
                DataType::DtInt32 => self.values.iter().map(|&v| v as i32).collect(),
                _ => vec![],
            },
            int64_val: match self.dtype {
                DataType::DtInt64 => self.values.clone(),
                _ => vec![],
            },
            bool_val: match self.dtype {
                DataType::DtBool => self.values.iter().map(|&v| v != 0).collect(),
                _ => vec![],
            },
            ..Default::default()
        };
        let mut attr = HashMap::new();
        attr.insert(
            "dtype".to_string(),
            AttrValue {
                value: Some(Value::Type(self.dtype as i32)),
            },
        );
        attr.insert(
            "value".to_string(),
            AttrValue {
                value: Some(Value::Tensor(tensor)),
            },
        );
        NodeDef {
            name,
            op: "Const".into(),
            attr,
            ..Default::default()
        }
    }
}

/// Element-wise on equal shapes or a scalar against a tensor.
fn binary(
    a: &Known,
    b: &Known,
    dtype: DataType,
    f: impl Fn(i64, i64) -> Option<i64>,
) -> Option<Known> {
    let shape = if a.values.len() == 1 && a.shape.is_empty() {
        b.shape.clone()
    } else if b.values.len() == 1 && b.shape.is_empty() || a.shape == b.shape {
        a.shape.clone()
    } else {
        return None;
    };
    let n = a.values.len().max(b.values.len());
    let at = |k: &Known, i: usize| k.values[if k.values.len() == 1 { 0 } else { i }];
    let values = (0..n)
        .map(|i| f(at(a, i), at(b, i)))
        .collect::<Option<Vec<_>>>()?;
    Some(Known {
        dtype,
        shape,
        values,
    })
}

/// Reductions over no axis (the identity) or over every axis.
fn reduce(node: &NodeDef, input: &Known, axes: &Known, f: fn(i64, i64) -> i64) -> Option<Known> {
    if axes.values.is_empty() {
        return Some(input.clone());
    }
    let rank = input.shape.len() as i64;
    let mut all: Vec<i64> = axes
        .values
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a })
        .collect();
    all.sort_unstable();
    all.dedup();
    if all != (0..rank).collect::<Vec<_>>() {
        return None;
    }
    let value = input.values.iter().copied().reduce(f)?;
    let keep = matches!(
        node.attr.get("keep_dims").and_then(|a| a.value.as_ref()),
        Some(Value::B(true))
    );
    Some(Known {
        dtype: input.dtype,
        shape: if keep {
            vec![1; input.shape.len()]
        } else {
            vec![]
        },
        values: vec![value],
    })
}

fn attr_type(node: &NodeDef, name: &str) -> Option<DataType> {
    match node.attr.get(name).and_then(|a| a.value.as_ref()) {
        Some(Value::Type(t)) => DataType::try_from(*t).ok(),
        _ => None,
    }
}

/// Evaluates `node` on known inputs; `None` when the op is not one evaluated here.
pub fn eval(node: &NodeDef, inputs: &[&Known]) -> Option<Known> {
    let b = DataType::DtBool;
    let bool_of = |x: bool| Some(x as i64);
    match (node.op.as_str(), inputs) {
        ("AddV2" | "Add", [x, y]) => binary(x, y, x.dtype, i64::checked_add),
        ("Sub", [x, y]) => binary(x, y, x.dtype, i64::checked_sub),
        ("Mul", [x, y]) => binary(x, y, x.dtype, i64::checked_mul),
        ("Maximum", [x, y]) => binary(x, y, x.dtype, |p, q| Some(p.max(q))),
        ("Minimum", [x, y]) => binary(x, y, x.dtype, |p, q| Some(p.min(q))),
        ("Less", [x, y]) => binary(x, y, b, |p, q| bool_of(p < q)),
        ("LessEqual", [x, y]) => binary(x, y, b, |p, q| bool_of(p <= q)),
        ("Greater", [x, y]) => binary(x, y, b, |p, q| bool_of(p > q)),
        ("GreaterEqual", [x, y]) => binary(x, y, b, |p, q| bool_of(p >= q)),
        ("Equal", [x, y]) => binary(x, y, b, |p, q| bool_of(p == q)),
        ("NotEqual", [x, y]) => binary(x, y, b, |p, q| bool_of(p != q)),
        ("LogicalAnd", [x, y]) => binary(x, y, b, |p, q| bool_of(p != 0 && q != 0)),
        ("LogicalOr", [x, y]) => binary(x, y, b, |p, q| bool_of(p != 0 || q != 0)),
        ("LogicalNot", [x]) => Some(Known {
            values: x.values.iter().map(|&v| (v == 0) as i64).collect(),
            ..(*x).clone()
        }),
        ("Max", [x, axes]) => reduce(node, x, axes, i64::max),
        ("Min", [x, axes]) => reduce(node, x, axes, i64::min),
        ("Sum", [x, axes]) => reduce(node, x, axes, i64::wrapping_add),
        ("Cast", [x]) => {
            let to = attr_type(node, "DstT")?;
            let values = match to {
                DataType::DtBool => x.values.iter().map(|&v| (v != 0) as i64).collect(),
                DataType::DtInt32 => x.values.iter().map(|&v| v as i32 as i64).collect(),
                DataType::DtInt64 => x.values.clone(),
                _ => return None,
            };
            Some(Known {
                dtype: to,
                shape: x.shape.clone(),
                values,
            })
        }
        ("Range", [start, limit, delta]) => {
            let (s, l, d) = (start.as_scalar()?, limit.as_scalar()?, delta.as_scalar()?);
            if d == 0 {
                return None;
            }
            let n = l
                .checked_sub(s)?
                .checked_add(d - d.signum())?
                .checked_div(d)?
                .max(0);
            if n as usize > MAX_KNOWN {
                return None;
            }
            let values: Vec<i64> = (0..n).map(|i| s.wrapping_add(i.wrapping_mul(d))).collect();
            Some(Known {
                dtype: attr_type(node, "Tidx").unwrap_or(start.dtype),
                shape: vec![values.len()],
                values,
            })
        }
        _ => None,
    }
}
