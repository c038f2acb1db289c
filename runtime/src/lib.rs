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
//! ## The request path
//!
//! ```text
//! http::connections (cap, timeouts) → http (axum: routes, request id, keys, limits, errors)
//!   → inference::preprocess               transformer (if any): request body → body
//!   → protocol::{v1, v2}::decode          JSON body → inference::Payload
//!   → inference::dispatch                 → predictor: component pool | native graph
//!   → protocol::{v1, v2}::encode          inference::Output → JSON body
//!   → inference::postprocess              transformer (if any): response body → body
//! ```
//!
//! ## Modules
//!
//! - [`cli`], [`server`]: the `predictor` command and the serve loop; [`client`]: its
//!   commands against a running server's management API.
//! - [`http`]: connections under limits (cap, header/idle/body timeouts, bounded drain),
//!   routes, keys, and the one error type clients see.
//! - [`protocol`]: V1 and V2 wire formats.
//! - [`inference`]: the dispatch stage and the errors of the request path.
//! - [`batching`]: merging requests into batches (`inference_batcher`, also per transformer
//!   stage) and splitting answers.
//! - [`predictor`]: what answers a deployment (component or graph).
//! - [`deployment`]: definitions, artifact folders, the loader, logs, the registry.
//! - [`store`], [`manage`]: uploaded deployments kept by content across restarts (reached
//!   through one `cap_std` capability, every name, path and digest parsed first), and their
//!   lifecycle (start, stop, update, roll back) behind the management API.
//! - [`wasm`]: engine, compile cache, bindings, sandbox, host imports, instance pools.
//! - [`scaling`]: the autoscaler (Knative's algorithm) deciding how many instances stay warm.
//! - [`capacity`]: what the node has, and what deployments' `requests` reserved of it.
//! - [`metrics`]: the series on `/metrics`.
//! - [`allocator`]: freed memory back to the OS (purge delay; at once when a stage goes to zero).
//! - [`inference_log`]: requests and predictions as `inferencelog` records, to Kafka or files.
//! - [`python`]: Python scripts (and the embedded Python SDK) componentized, with a cache.
//! - [`native`]: ONNX graphs with tract, and tensor conversion to and from tract.
//! - [`tensor`]: the one tensor representation, and its JSON forms.
//!
//! ## Three lifetimes of state
//!
//! Process: the wasmtime `Engine`, the `Linker`, the compile cache (`deployment::loader`).
//! Deployment: its compiled component (`InstancePre`), instance pool, artifacts, native
//! models and log. Instance: a `Store` with its WASI context and resource table. A stage
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
mod wasm;

// What the binary, the tests and the bench use; everything else is private to the crate, so
// the compiler finds what nothing uses.
pub use capacity::NodeCapacity;
pub use cli::{BuildArgs, BuildKind, CheckArgs, Command, main, run};
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
