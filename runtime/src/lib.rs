//! # predictor-runtime
//!
//! The host of the WebAssembly-sandboxed predictor runtime: it serves *deployments* over
//! KServe V1 and the Open Inference Protocol (V2). A deployment is a folder with a
//! `deployment.json` (Hopsworks predictor fields) beside its artifact files, and is served
//! either by a sandboxed **predictor component** (WIT world `predictor:runtime/predictor`;
//! a Hopsworks Python `Predict` script becomes one through componentize-py) or natively by
//! the host as an **ONNX graph** (tract), with no component. An optional **transformer**
//! component (world `transformer`) rewrites request and response bodies around it.
//!
//! The request path is one chain, `inference::serve`: preprocess → decode → dispatch →
//! encode → postprocess, drawn with the rooms and what each may import in
//! `docs/architecture.md`.
//!
//! ## Modules, by room (each imports only the rooms before it)
//!
//! - leaves: `request` (what travels down the request path and its errors, with their
//!   `error_kind`), `tensor`, `definition` (`deployment.json`), `artifacts` (a
//!   deployment's folder as a capability), `deployment_log` (its text log), `metrics`,
//!   `scaling` (Knative's autoscaling algorithm), `capacity`, `allocator`, `memory_meter`
//!   (bytes a thread's work holds, for native graphs' memory limits), `role`, `lifecycle`.
//! - formats: `protocol` (one codec per wire format), `inference_log` (requests and
//!   predictions as records, to Kafka or files), `store` (uploaded deployments kept by
//!   content), `python` (scripts componentized).
//! - views: `views` (the management API's bodies as types, shared by the server, the client
//!   and the generated OpenAPI document).
//! - engines: `native` (graphs with tract), `wasm` (engine, compile cache, bindings,
//!   sandbox, host imports, instance pools), `batching` (merging requests for any runner).
//! - stages: `process` (the process-wide state), `predictor`, `transformer`.
//! - assembly: `deployment` (start, registry, autoscaler loop).
//! - serving: `inference` (the chain), `manage` (the deployments' lifecycle).
//! - surface: `http` (connections under limits, routes, keys, errors), `server`,
//!   `cli`, `client`.
//!
//! ## Three lifetimes of state
//!
//! Process: `process::ProcessState` (the wasmtime `Engine`, the `Linker`, the compile
//! cache, the componentizer). Deployment: `deployment::Deployment` (its compiled component
//! and instance pool or its graph, artifacts, models, logs). Instance:
//! `wasm::host::InstanceState` (a `Store` with its WASI context and resource table). A stage
//! scaled to zero keeps only its definition and the digest of its compiled component.

mod allocator;
mod artifacts;
mod batching;
mod capacity;
mod cli;
mod client;
mod definition;
mod deployment;
mod deployment_log;
mod error_kind;
mod http;
mod inference;
mod inference_log;
mod lifecycle;
mod manage;
pub mod memory_meter;
mod metrics;
mod native;
mod predictor;
mod process;
mod protocol;
mod python;
mod request;
mod role;
mod scaling;
mod server;
mod store;
mod tensor;
mod transformer;
mod views;
mod wasm;

// What the binary, the tests and the bench use; everything else is private to the crate, so
// the compiler finds what nothing uses.
pub use capacity::NodeCapacity;
pub use cli::{BuildArgs, BuildKind, CheckArgs, Command, main, run};
pub use definition::RESERVED_ENV_VARS;
pub use deployment::Deployment;
pub use deployment_log::LogSource;
pub use http::auth::ApiKeys;
pub use http::connections::{ConnectionLimits, serve as serve_connections};
pub use http::{DEFAULT_MAX_BODY_BYTES, with_layers};
pub use inference_log::sink::KafkaConfig;
pub use native::NativeModel;
pub use predictor::Predictor;
pub use process::ProcessState;
pub use protocol::Codec;
pub use protocol::v1::V1;
pub use request::{Accepts, Output};
pub use scaling::TICK;
pub use server::{RunningServer, ServeOptions, start};
pub use tensor::json::decode_nested;
pub use tensor::{Datatype, Tensor};
pub use wasm::engine::EngineLimits;
