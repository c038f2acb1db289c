//! The one `bindgen!` of the host: Rust types and traits for the `predictor` world.
//!
//! Every import is async (native model runs go to the blocking pool) and trappable (resource
//! table errors trap the guest instead of panicking the host); every export is async.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "predictor",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "predictor:runtime/models.model": crate::wasm::host::ModelResource,
    },
});

pub use exports::predictor::runtime::predict::ModelSignature;
pub use predictor::runtime::types::{
    Datatype as WitDatatype, PredictError, Tensor as WitTensor, TensorSpec as WitTensorSpec,
};
