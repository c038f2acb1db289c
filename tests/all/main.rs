//! The integration tests: one binary (as in wasmtime), one module per capability. Every
//! test runs real components built from source by `build.rs` behind a real server on a
//! real socket.

// The server runs in this process, so its allocator is the one the `predictor` binary wraps
// (in mimalloc there): native graphs' memory limits count through it.
#[global_allocator]
static ALLOCATOR: predictor_runtime::memory_meter::Metered<std::alloc::System> =
    predictor_runtime::memory_meter::Metered(std::alloc::System);

mod auth;
mod bad_input;
mod batching;
mod cli;
mod connections;
mod deploy_failures;
mod end_to_end;
mod examples;
mod guest_failures;
mod hostile_sizes;
mod hostile_uploads;
mod inference_log;
mod limits;
mod manage;
mod memory_recycling;
mod module_graph;
mod native_models;
mod path_traversal;
mod protocol_v1;
mod protocol_v2;
mod python;
mod python_docs;
mod sandbox;
mod scaling;
mod serving_runtime;
mod tf_deployment;
mod tf_failures;
mod tf_models;
mod tf_serving_hostile;
mod tf_serving_rest;
mod tf_signatures;
mod tf_versions;
mod transformer_batching;
mod tree_hostile;
mod tree_models;
