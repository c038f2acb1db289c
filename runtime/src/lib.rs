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
//! - [`views`]: the management API's bodies as types, shared by the server, the client and
//!   the generated OpenAPI document.
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

pub mod allocator;
pub mod artifacts;
pub mod batching;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod definition;
pub mod deployment;
pub mod deployment_log;
pub mod http;
pub mod inference;
pub mod inference_log;
pub mod lifecycle;
pub mod manage;
pub mod metrics;
pub mod native;
pub mod predictor;
pub mod protocol;
pub mod python;
pub mod role;
pub mod scaling;
pub mod server;
pub mod store;
pub mod tensor;
pub mod views;
pub mod wasm;
