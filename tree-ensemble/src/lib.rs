//! Fused tree-ensemble inference: one flattened engine ([`forest`]) fed by the ai.onnx.ml
//! tree operators ([`onnx_attrs`]), native XGBoost models ([`xgboost`]) and LightGBM text
//! models ([`lightgbm`]).
//!
//! Loading validates everything and returns [`TreeError`] on malformed input; evaluation
//! works on a row-major `f32` matrix and writes into caller-provided buffers.

pub mod error;
mod eval;
mod finalize;
pub mod forest;
pub mod lightgbm;
pub mod onnx_attrs;
mod onnx_v5;
mod predict;
mod shape;
mod ubjson;
pub mod xgboost;

pub use error::TreeError;
pub use forest::{
    Aggregate, Forest, ForestSpec, Labels, Mode, NativeTransform, PostTransform, RawNode, RawTree,
    Scratch, Semantics,
};
