//! Operators that models users bring need and tract lacks, registered beside tract-onnx's
//! own (which already include the `ai.onnx.ml` LinearRegressor and CategoryMapper that
//! skl2onnx emits; `ml` replaces its LinearClassifier and Normalizer with fused ones, `trees`
//! its tree ensembles).
//!
//! - `ZipMap` (`ai.onnx.ml`): skl2onnx appends it to every classifier unless exported with
//!   `options={"zipmap": False}`; it turns the `[N, classes]` probability tensor into a list
//!   of `{class: probability}` maps. A sequence of maps has no tensor form in V1/V2, so it is
//!   served as the probability tensor itself: `output_probability` answers `[N, classes]`
//!   in the order of the model's class labels.

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::TractResult;
use tract_onnx::tract_hir::infer::InferenceOp;
use tract_onnx::tract_hir::ops::identity::Identity;

/// Adds our operators to a tract-onnx operator register.
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("ZipMap", zip_map);
}

fn zip_map(
    _ctx: &ParsingContext,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((Box::<Identity>::default(), vec![]))
}
