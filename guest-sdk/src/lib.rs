//! Rust SDK for predictor components.
//!
//! A predictor is a small struct, an impl of [`Predictor`] and one [`export_predictor!`]:
//!
//! ```ignore
//! use predictor_guest::{export_predictor, Predictor, PredictError, Value};
//!
//! struct Echo;
//!
//! impl Predictor for Echo {
//!     fn init() -> Result<Self, PredictError> {
//!         Ok(Echo)
//!     }
//!     fn predict(&self, instances: Value) -> Result<Value, PredictError> {
//!         Ok(instances)
//!     }
//! }
//!
//! export_predictor!(Echo);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component to deploy.
//!
//! Map of the crate:
//! - [`Predictor`]: the trait a predictor implements (the Hopsworks `Predict` class).
//! - [`tensor`]: [`Tensor`] constructors and typed views for the V2 path.
//! - [`models`]: native models the host runs for the guest ([`Model`]).
//! - [`log`]: writing to the deployment's log.
//! - [`artifact_path`]: where the read-only artifact files are mounted.
//! - [`bindings`]: the raw `wit-bindgen` output, for what the wrappers do not cover.

pub mod log;
pub mod models;
pub mod tensor;

/// The raw bindings of the `predictor:runtime/predictor` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "predictor",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "predictor_guest::bindings",
    });
}

pub use bindings::exports::predictor::runtime::predict::ModelSignature as Signature;
pub use bindings::predictor::runtime::types::{Datatype, PredictError, Tensor, TensorSpec};
pub use models::Model;
pub use serde_json::{self, Value, json};

/// The environment variable that holds the artifact folder's path (as in Hopsworks).
pub const ARTIFACT_FILES_PATH: &str = "ARTIFACT_FILES_PATH";

/// A predictor component: built once per instance by [`Predictor::init`], then asked for
/// many predictions. Implement the path(s) your predictor serves; the other answers a
/// `bad-input` error naming the path to use.
pub trait Predictor: Sized + 'static {
    /// Loads what the predictor needs (like `Predict.__init__`): artifact files, models.
    fn init() -> Result<Self, PredictError>;

    /// The tensors [`Predictor::predict_tensors`] takes and gives, for V2 model metadata.
    fn signature(&self) -> Signature {
        Signature {
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// KServe V1 `:predict`: `instances` is the request's `instances` (or `inputs`) value;
    /// the returned value becomes `predictions` (or `outputs`); an object is the response body
    /// itself, as KServe treats a predictor's dict.
    fn predict(&self, instances: Value) -> Result<Value, PredictError> {
        let _ = instances;
        Err(PredictError::BadInput(
            "this predictor serves tensors: use the V2 /infer endpoint".into(),
        ))
    }

    /// Open Inference Protocol `/infer`: named tensors in, named tensors out.
    fn predict_tensors(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        let _ = inputs;
        Err(PredictError::BadInput(
            "this predictor serves JSON instances: use the V1 :predict endpoint".into(),
        ))
    }
}

/// The artifact folder (read-only), from `ARTIFACT_FILES_PATH`.
pub fn artifact_path() -> std::path::PathBuf {
    std::env::var_os(ARTIFACT_FILES_PATH)
        .map(Into::into)
        .unwrap_or_else(|| "/artifacts".into())
}

/// Shorthand for a `bad-input` error (the client gets a 400).
pub fn bad_input(message: impl std::fmt::Display) -> PredictError {
    PredictError::BadInput(message.to_string())
}

/// Shorthand for an `internal` error (the client gets a 500).
pub fn internal(message: impl std::fmt::Display) -> PredictError {
    PredictError::Internal(message.to_string())
}

/// Glue used by [`export_predictor!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub fn predict_json<P: Predictor>(p: &P, instances: String) -> Result<String, PredictError> {
        let value: Value = serde_json::from_str(&instances)
            .map_err(|e| bad_input(format!("instances are not valid JSON: {e}")))?;
        let out = p.predict(value)?;
        serde_json::to_string(&out).map_err(|e| internal(format!("predictions: {e}")))
    }
}

/// Exports `$ty` (an implementation of [`Predictor`]) as this component's predictor. The
/// value is built by `init` once per instance and lives as long as the instance.
#[macro_export]
macro_rules! export_predictor {
    ($ty:ty) => {
        const _: () = {
            use $crate::bindings::exports::predictor::runtime::predict as __predict;

            ::std::thread_local! {
                static __INSTANCE: ::std::cell::OnceCell<$ty> = const { ::std::cell::OnceCell::new() };
            }

            fn __with<R>(
                f: impl FnOnce(&$ty) -> ::std::result::Result<R, $crate::PredictError>,
            ) -> ::std::result::Result<R, $crate::PredictError> {
                __INSTANCE.with(|cell| {
                    if cell.get().is_none() {
                        let value = <$ty as $crate::Predictor>::init()?;
                        let _ = cell.set(value);
                    }
                    f(cell.get().expect("initialised above"))
                })
            }

            struct __Export;

            impl __predict::Guest for __Export {
                fn init() -> ::std::result::Result<(), $crate::PredictError> {
                    __with(|_| Ok(()))
                }
                fn signature() -> $crate::Signature {
                    match __with(|p| Ok($crate::Predictor::signature(p))) {
                        Ok(s) => s,
                        Err(_) => $crate::Signature { inputs: Vec::new(), outputs: Vec::new() },
                    }
                }
                fn predict(
                    instances: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::PredictError> {
                    __with(|p| $crate::__private::predict_json(p, instances))
                }
                fn predict_tensors(
                    inputs: ::std::vec::Vec<$crate::Tensor>,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::Tensor>, $crate::PredictError> {
                    __with(|p| $crate::Predictor::predict_tensors(p, inputs))
                }
            }

            $crate::bindings::export_bindings!(__Export with_types_in $crate::bindings);
        };
    };
}
