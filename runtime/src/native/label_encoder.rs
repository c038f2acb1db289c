//! `LabelEncoder` (`ai.onnx.ml`), which tract-onnx does not have: every element of the input
//! looked up in a key list and replaced by the value at the same position, or by the default.
//! skl2onnx's IsolationForest maps each tree's leaf ids to path lengths with it (two per
//! tree), and its string/int category mappings use it too.
//!
//! Keys and values come as the lists of opsets 2 and 3 (`keys_int64s`, `values_floats`, ...)
//! or the tensors of opset 4 (`keys_tensor`, `values_tensor`, `default_tensor`); keys are
//! int64, float or string, values int64, float or string. Defaults are the operator's: -1,
//! -0.0 and `"_Unused"`.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// Adds `LabelEncoder` to a tract-onnx operator register.
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("LabelEncoder", label_encoder);
}

/// Key lookup: the position of a key in the key list.
#[derive(Debug)]
enum Keys {
    Int(HashMap<i64, usize>),
    /// By bit pattern, NaN made canonical so a NaN key matches a NaN input.
    Float(HashMap<u32, usize>),
    Str(HashMap<String, usize>),
}

fn float_key(v: f32) -> u32 {
    if v.is_nan() {
        f32::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

fn index<K: std::hash::Hash + Eq>(keys: impl IntoIterator<Item = K>) -> HashMap<K, usize> {
    let mut map = HashMap::new();
    for (i, k) in keys.into_iter().enumerate() {
        // The first of repeated keys wins, as a linear search would find it.
        map.entry(k).or_insert(i);
    }
    map
}

fn label_encoder(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let tensor_attr = |name: &str| -> TractResult<Option<Tensor>> {
        match node.get_attr_opt::<&tract_onnx::pb::TensorProto>(name)? {
            Some(proto) => Ok(Some(ctx.load_tensor(proto)?)),
            None => Ok(None),
        }
    };
    let (keys, n_keys) = if let Some(t) = tensor_attr("keys_tensor")? {
        let n = t.len();
        let keys = match t.datum_type() {
            DatumType::I64 => Keys::Int(index(
                t.try_as_plain_ram()?.as_slice::<i64>()?.iter().copied(),
            )),
            DatumType::F32 => Keys::Float(index(
                t.try_as_plain_ram()?
                    .as_slice::<f32>()?
                    .iter()
                    .map(|&v| float_key(v)),
            )),
            DatumType::String => Keys::Str(index(
                t.try_as_plain_ram()?.as_slice::<String>()?.iter().cloned(),
            )),
            other => bail!("LabelEncoder keys of type {other:?} are not supported"),
        };
        (keys, n)
    } else if let Some(k) = node.get_attr_opt_slice::<i64>("keys_int64s")? {
        (Keys::Int(index(k.iter().copied())), k.len())
    } else if let Some(k) = node.get_attr_opt_slice::<f32>("keys_floats")? {
        (Keys::Float(index(k.iter().map(|&v| float_key(v)))), k.len())
    } else if let Some(k) = node.get_attr_opt_tvec::<String>("keys_strings")? {
        (Keys::Str(index(k.iter().cloned())), k.len())
    } else {
        bail!("LabelEncoder has no keys")
    };
    let values = if let Some(t) = tensor_attr("values_tensor")? {
        t
    } else if let Some(v) = node.get_attr_opt_slice::<i64>("values_int64s")? {
        tensor1(v)
    } else if let Some(v) = node.get_attr_opt_slice::<f32>("values_floats")? {
        tensor1(v)
    } else if let Some(v) = node.get_attr_opt_tvec::<String>("values_strings")? {
        tensor1(&v)
    } else {
        bail!("LabelEncoder has no values")
    };
    ensure!(
        values.len() == n_keys,
        "LabelEncoder has {n_keys} keys but {} values",
        values.len()
    );
    let default = match tensor_attr("default_tensor")? {
        Some(t) => t.into_shape(&[])?,
        None => match values.datum_type() {
            DatumType::I64 => tensor0(node.get_attr_opt::<i64>("default_int64")?.unwrap_or(-1)),
            DatumType::F32 => tensor0(node.get_attr_opt::<f32>("default_float")?.unwrap_or(-0.0)),
            DatumType::String => tensor0(
                node.get_attr_opt::<String>("default_string")?
                    .unwrap_or_else(|| "_Unused".to_string()),
            ),
            other => bail!("LabelEncoder values of type {other:?} are not supported"),
        },
    };
    ensure!(
        default.datum_type() == values.datum_type(),
        "LabelEncoder's default is {:?} but its values are {:?}",
        default.datum_type(),
        values.datum_type()
    );
    let op = LabelEncoder {
        keys: Arc::new(keys),
        values: values.into_arc_tensor(),
        default: default.into_arc_tensor(),
    };
    Ok((expand(op), vec![]))
}

#[derive(Clone, Debug)]
struct LabelEncoder {
    keys: Arc<Keys>,
    values: Arc<Tensor>,
    default: Arc<Tensor>,
}

// The tables are immutable once parsed: the op is its tables.
impl PartialEq for LabelEncoder {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.keys, &other.keys)
    }
}
impl Eq for LabelEncoder {}
impl std::hash::Hash for LabelEncoder {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.keys) as usize).hash(state)
    }
}

impl LabelEncoder {
    /// The key list's position of every input element (`None`: not a key).
    fn positions(&self, input: &Tensor) -> TractResult<Vec<Option<usize>>> {
        Ok(match &*self.keys {
            Keys::Int(map) => {
                let x = input.cast_to::<i64>()?;
                x.try_as_plain_ram()?
                    .as_slice::<i64>()?
                    .iter()
                    .map(|k| map.get(k).copied())
                    .collect()
            }
            Keys::Float(map) => {
                let x = input.cast_to::<f32>()?;
                x.try_as_plain_ram()?
                    .as_slice::<f32>()?
                    .iter()
                    .map(|&k| map.get(&float_key(k)).copied())
                    .collect()
            }
            Keys::Str(map) => input
                .try_as_plain_ram()?
                .as_slice::<String>()?
                .iter()
                .map(|k| map.get(k).copied())
                .collect(),
        })
    }

    fn lookup<T: Datum + Clone>(
        &self,
        positions: &[Option<usize>],
        shape: &[usize],
    ) -> TractResult<Tensor> {
        let values = self.values.try_as_plain_ram()?.as_slice::<T>()?;
        let default = self.default.try_as_plain_ram()?.to_scalar::<T>()?;
        let out: Vec<T> = positions
            .iter()
            .map(|p| p.map_or_else(|| default.clone(), |i| values[i].clone()))
            .collect();
        Ok(tract_ndarray::ArrayD::from_shape_vec(shape, out)?.into_tensor())
    }
}

impl Expansion for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, self.values.datum_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

impl Op for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LabelEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let positions = self.positions(&input)?;
        let shape = input.shape();
        let out = match self.values.datum_type() {
            DatumType::I64 => self.lookup::<i64>(&positions, shape)?,
            DatumType::F32 => self.lookup::<f32>(&positions, shape)?,
            DatumType::String => self.lookup::<String>(&positions, shape)?,
            other => bail!("LabelEncoder values of type {other:?} are not supported"),
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for LabelEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.values.datum_type().fact(inputs[0].shape.iter())))
    }

    as_op!();
}
