//! Predictor components on wasmtime: the engine ([`engine`]), the compiled-code cache
//! ([`compile_cache`]), the bindings ([`bindings`]), what a guest is granted ([`sandbox`]),
//! the host side of its imports ([`host`]), what an instance may take ([`limits`]), warm
//! instances ([`pool`]) of a world ([`world`]), a deployed predictor component
//! ([`component`]) and a transformer in front of a predictor ([`transformer`]).

pub mod bindings;
pub mod compile_cache;
pub mod component;
pub mod engine;
pub mod host;
pub mod limits;
pub mod pool;
pub mod sandbox;
pub mod transformer;
pub mod world;
