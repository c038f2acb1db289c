//! The host's `bindgen!`s: Rust types and traits for the `predictor` and `transformer`
//! worlds.
//!
//! Every import is async (native model runs go to the blocking pool) and trappable (resource
//! table errors trap the guest instead of panicking the host); every export is async. The
//! two worlds import the same interfaces, so the transformer's bindings reuse the
//! predictor's: one set of host implementations, one linker, one `PredictError` type.

/// What a guest's `model` resource holds: a graph the host loaded and shares.
pub type ModelResource = std::sync::Arc<crate::native::NativeModel>;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "predictor",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "predictor:runtime/models.model": crate::wasm::bindings::ModelResource,
    },
});

/// The `transformer` world (exports `transform`).
pub mod transformer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transformer",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "predictor:runtime/types": super::predictor::runtime::types,
            "predictor:runtime/models": super::predictor::runtime::models,
            "predictor:runtime/log": super::predictor::runtime::log,
        },
    });
}

pub use predictor::runtime::types::{
    Datatype as WitDatatype, PredictError, Tensor as WitTensor, TensorSpec as WitTensorSpec,
};
pub use transformer::{Transformer, TransformerPre};
