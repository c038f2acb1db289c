//! TensorLists (TF2's TensorArrays) as load-time bookkeeping. A list made from a tensor
//! (`TensorListFromTensor`, Keras' unstacked input sequence) stays that tensor and an item read
//! is a `GatherV2` of it; a reserved or empty list is a vector of slots naming the tensors
//! written into them, and stacking it is a `Pack` of those. Indices must be known at load, which
//! they are once the loop around them is unrolled.
//!
//! Supported: TensorListReserve, EmptyTensorList, TensorListFromTensor, TensorListGetItem,
//! TensorListSetItem, TensorListPushBack, TensorListStack, TensorListLength. Reading or stacking
//! a slot never written is refused: its value (zeros) would need the element shape, which Keras
//! leaves unknown.

use std::collections::HashMap;
use std::rc::Rc;

use super::known::Known;
use super::{Item, Sym, Unroller, loop_error};
use crate::error::Result;
use crate::protos::{AttrValue, DataType, NodeDef, attr_value::Value};

/// Slots a list may hold.
const MAX_SLOTS: usize = super::MAX_TRIPS * 4;

#[derive(Debug, Clone)]
pub enum List {
    /// The rows of this tensor (along its first axis).
    Stacked(String),
    /// Written slots hold the tensor written there.
    Slots(Rc<Vec<Option<Item>>>),
}

pub fn is_list_op(op: &str) -> bool {
    op.starts_with("TensorList") || op == "EmptyTensorList"
}

fn attr(value: Value) -> AttrValue {
    AttrValue { value: Some(value) }
}

impl Unroller<'_> {
    /// Applies TensorList op `n` (to be emitted as `name`) to `inputs`.
    pub(super) fn list_op(
        &mut self,
        n: &NodeDef,
        name: &str,
        inputs: Vec<Sym>,
    ) -> Result<Vec<Sym>> {
        let index = |s: &Sym, what: &str| -> Result<i64> {
            match s {
                Sym::Known(k, _) => k
                    .as_scalar()
                    .ok_or_else(|| loop_error(n, format!("its {what} is not a scalar"))),
                _ => Err(loop_error(n, format!("its {what} is not known at load"))),
            }
        };
        let slot = |i: i64, len: usize| -> Result<usize> {
            usize::try_from(i)
                .ok()
                .filter(|&i| i < len)
                .ok_or_else(|| loop_error(n, format!("index {i} is outside the list of {len}")))
        };
        let slots = |s: &Sym| -> Result<Rc<Vec<Option<Item>>>> {
            match s {
                Sym::List(List::Slots(items)) => Ok(items.clone()),
                Sym::List(List::Stacked(_)) => Err(loop_error(
                    n,
                    "writing to a list made from a tensor is not supported",
                )),
                _ => Err(loop_error(n, "its first input is not a TensorList")),
            }
        };
        let element_dtype = || -> Result<i32> {
            match n.attr.get("element_dtype").and_then(|a| a.value.as_ref()) {
                Some(Value::Type(t)) => Ok(*t),
                _ => Err(loop_error(n, "it has no element_dtype")),
            }
        };
        let arity = |k: usize| -> Result<()> {
            if inputs.len() == k {
                Ok(())
            } else {
                Err(loop_error(
                    n,
                    format!("it takes {k} inputs, not {}", inputs.len()),
                ))
            }
        };
        let out = match n.op.as_str() {
            "TensorListReserve" => {
                arity(2)?;
                let len = index(&inputs[1], "number of elements")?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= MAX_SLOTS)
                    .ok_or_else(|| {
                        loop_error(
                            n,
                            format!(
                                "a list of {len} elements is not supported (at most {MAX_SLOTS})"
                            ),
                        )
                    })?;
                Sym::List(List::Slots(Rc::new(vec![None; len])))
            }
            "EmptyTensorList" => {
                arity(2)?;
                Sym::List(List::Slots(Rc::new(Vec::new())))
            }
            "TensorListFromTensor" => {
                arity(2)?;
                let t = self.tensor(inputs[0].clone(), &format!("{name}/tensor"), || {
                    loop_error(n, "a list of lists is not supported")
                })?;
                Sym::List(List::Stacked(t))
            }
            "TensorListGetItem" => {
                arity(3)?;
                let i = index(&inputs[1], "index")?;
                match &inputs[0] {
                    Sym::List(List::Slots(items)) => match &items[slot(i, items.len())?] {
                        Some(t) => Sym::Tensor(t.to_string()),
                        None => {
                            return Err(loop_error(
                                n,
                                format!(
                                    "element {i} is read before it is written (its value would need the element shape)"
                                ),
                            ));
                        }
                    },
                    Sym::List(List::Stacked(t)) => {
                        let dtype = element_dtype()?;
                        let i = i32::try_from(i)
                            .map_err(|_| loop_error(n, format!("index {i} is out of range")))?;
                        let on_list = || loop_error(n, "unreachable: an index is not a list");
                        let ix = Known::scalar(DataType::DtInt32, i as i64);
                        let ix =
                            self.tensor(Sym::Known(ix, None), &format!("{name}/index"), on_list)?;
                        let axis = Known::scalar(DataType::DtInt32, 0);
                        let axis =
                            self.tensor(Sym::Known(axis, None), &format!("{name}/axis"), on_list)?;
                        let mut attrs = HashMap::new();
                        attrs.insert("Tparams".to_string(), attr(Value::Type(dtype)));
                        attrs.insert(
                            "Tindices".to_string(),
                            attr(Value::Type(DataType::DtInt32 as i32)),
                        );
                        attrs.insert(
                            "Taxis".to_string(),
                            attr(Value::Type(DataType::DtInt32 as i32)),
                        );
                        attrs.insert("batch_dims".to_string(), attr(Value::I(0)));
                        let gather = NodeDef {
                            op: "GatherV2".into(),
                            input: vec![t.clone(), ix, axis],
                            attr: attrs,
                            ..Default::default()
                        };
                        Sym::Tensor(format!("{}:0", self.emit(gather, name, true)?))
                    }
                    _ => return Err(loop_error(n, "its first input is not a TensorList")),
                }
            }
            "TensorListSetItem" | "TensorListPushBack" => {
                let set = n.op == "TensorListSetItem";
                arity(if set { 3 } else { 2 })?;
                let mut items = slots(&inputs[0])?;
                let item = self.tensor(
                    inputs[inputs.len() - 1].clone(),
                    &format!("{name}/item"),
                    || loop_error(n, "a list of lists is not supported"),
                )?;
                let list = Rc::make_mut(&mut items);
                if set {
                    let i = index(&inputs[1], "index")?;
                    let grow = matches!(
                        n.attr
                            .get("resize_if_index_out_of_bounds")
                            .and_then(|a| a.value.as_ref()),
                        Some(Value::B(true))
                    );
                    if grow && i >= 0 && (i as usize) >= list.len() && (i as usize) < MAX_SLOTS {
                        list.resize(i as usize + 1, None);
                    }
                    let at = slot(i, list.len())?;
                    list[at] = Some(item.into());
                } else {
                    if list.len() >= MAX_SLOTS {
                        return Err(loop_error(
                            n,
                            format!("lists hold at most {MAX_SLOTS} elements"),
                        ));
                    }
                    list.push(Some(item.into()));
                }
                Sym::List(List::Slots(items))
            }
            "TensorListStack" => {
                arity(2)?;
                match &inputs[0] {
                    Sym::List(List::Stacked(t)) => Sym::Tensor(t.clone()),
                    Sym::List(List::Slots(items)) => {
                        if items.is_empty() {
                            return Err(loop_error(
                                n,
                                "stacking an empty list needs its element shape, which is not supported",
                            ));
                        }
                        let mut parts = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            parts.push(item.as_ref().map(|t| t.to_string()).ok_or_else(|| {
                                loop_error(n, format!("element {i} is never written (its value would need the element shape)"))
                            })?);
                        }
                        let mut attrs = HashMap::new();
                        attrs.insert("T".to_string(), attr(Value::Type(element_dtype()?)));
                        attrs.insert("N".to_string(), attr(Value::I(parts.len() as i64)));
                        attrs.insert("axis".to_string(), attr(Value::I(0)));
                        let pack = NodeDef {
                            op: "Pack".into(),
                            input: parts,
                            attr: attrs,
                            ..Default::default()
                        };
                        Sym::Tensor(format!("{}:0", self.emit(pack, name, true)?))
                    }
                    _ => return Err(loop_error(n, "its first input is not a TensorList")),
                }
            }
            "TensorListLength" => {
                arity(1)?;
                let len = slots(&inputs[0])
                    .map_err(|_| {
                        loop_error(
                            n,
                            "the length of a list made from a tensor is not supported",
                        )
                    })?
                    .len();
                Sym::Known(Known::scalar(DataType::DtInt32, len as i64), None)
            }
            _ => return Err(loop_error(n, "this TensorList op is not supported")),
        };
        Ok(vec![out])
    }
}
