//! Operations added to tract-tensorflow's registry for common Keras graphs: fixes (a last-axis
//! Softmax, ConcatV2 with a negative axis) and ops it lacks (see `math`, `array`, `einsum`, `reduce`).

mod array;
mod einsum;
mod math;
mod reduce;

use tract_tensorflow::model::TfOpRegister;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::nn::LayerSoftmax;

/// Registers our ops, replacing tract-tensorflow's where it is wrong for TensorFlow graphs.
pub fn register(reg: &mut TfOpRegister) {
    // TF's Softmax normalises over the last axis only, at any rank.
    reg.insert("Softmax", |_, _| Ok(expand(LayerSoftmax::new(-1, false))));
    array::register(reg);
    einsum::register(reg);
    math::register(reg);
    reduce::register(reg);
}
