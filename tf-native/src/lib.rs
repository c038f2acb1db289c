//! Native TensorFlow serving: reads a SavedModel (protos and variables bundle) without
//! TensorFlow, picks a signature, freezes it into a plain GraphDef, and runs it with
//! tract-tensorflow plus the ops Keras graphs need that it lacks. Files are read through
//! [`ModelFiles`], so the caller decides what the loader may open. A server loads every
//! signature at once with [`serving::saved_model_graphs`].

pub mod bundle;
pub mod crc32c;
pub mod error;
pub mod files;
pub mod freeze;
pub mod inline;
pub mod load;
pub mod loops;
pub mod missing;
pub mod model;
pub mod ops;
pub mod protos;
pub mod serving;
pub mod signature;
pub mod table;
pub mod variables;

pub use error::{Result, TfError};
pub use files::{DirFiles, ModelFiles};
pub use load::{TfGraph, frozen_graph_inferred, saved_model_graph};
pub use model::TfModel;
