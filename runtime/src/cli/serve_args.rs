//! `predictor serve`'s flags (each also an env var), checked, and the server options they
//! make.

use crate::allocator::DEFAULT_PURGE_DELAY_MS;
use crate::capacity::NodeCapacity;
use crate::http::DEFAULT_MAX_BODY_BYTES;
use crate::http::auth::ApiKeys;
use crate::http::connections::{
    ConnectionLimits, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE,
};
use crate::inference_log::sink::{DEFAULT_BUFFER_MESSAGES, DEFAULT_FLUSH_TIMEOUT, KafkaConfig};
use crate::server::ServeOptions;
use crate::wasm::engine::{DEFAULT_CALL_DEADLINE, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_QUEUE};
use anyhow::Context as _;
use clap::Args;
use clap::builder::TypedValueParser as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PREDICTOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the runtime keeps its state (the compiled-component cache).
    #[arg(long, env = "PREDICTOR_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// Where deployments (uploaded, or from `--deploy` folders) are kept across restarts
    /// (default: `DATA_DIR/store`).
    #[arg(long, env = "PREDICTOR_STORE_DIR")]
    pub store_dir: Option<PathBuf>,
    /// A deployment folder to serve (repeatable; comma-separated in the env var): its files
    /// become the deployment's current version in the store.
    #[arg(long = "deploy", env = "PREDICTOR_DEPLOY", value_delimiter = ',')]
    pub deploy: Vec<PathBuf>,
    /// Serve the one `--deploy` folder under this name, whatever its definition says (as
    /// KServe passes the InferenceService's name). A folder without a `deployment.json` is
    /// then served from what it holds: one .wasm component, .py Predict script or .onnx model.
    #[arg(long, env = "PREDICTOR_MODEL_NAME")]
    pub model_name: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "PREDICTOR_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// The componentize-py executable, for `script_file` deployments (default: on PATH, or
    /// in a `.venv/bin` above this executable).
    #[arg(long, env = "PREDICTOR_COMPONENTIZE_PY")]
    pub componentize_py: Option<PathBuf>,
    /// How long one call into a guest (init, predict, a transformer stage) may run, in
    /// milliseconds; past it the call is stopped, its instance discarded, and the request
    /// answered 504.
    #[arg(long, env = "PREDICTOR_CALL_DEADLINE_MS", default_value_t = DEFAULT_CALL_DEADLINE.as_millis() as u64)]
    pub call_deadline_ms: u64,
    /// Requests a deployment lets wait for a busy instance; past it they are answered 503
    /// with Retry-After at once.
    #[arg(long, env = "PREDICTOR_MAX_QUEUE", default_value_t = DEFAULT_MAX_QUEUE)]
    pub max_queue: usize,
    /// Largest answer one guest call may hand the host, in bytes (predictions JSON, tensor
    /// data, a transformed body); a larger one is answered 500 and its instance stopped.
    #[arg(long, env = "PREDICTOR_MAX_OUTPUT_BYTES", default_value_t = DEFAULT_MAX_OUTPUT_BYTES)]
    pub max_output_bytes: usize,
    /// Cores deployments may reserve with `resources.requests` (default: this machine's).
    #[arg(long, env = "PREDICTOR_NODE_CORES")]
    pub node_cores: Option<f64>,
    /// Memory deployments may reserve, in MB (default: this machine's).
    #[arg(long, env = "PREDICTOR_NODE_MEMORY_MB")]
    pub node_memory_mb: Option<u64>,
    /// Kafka bootstrap servers for inference logs (`host:port,...`). Without them, each
    /// deployment's inference log is a JSON-lines file under the data dir.
    #[arg(long, env = "PREDICTOR_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// A librdkafka producer setting, `KEY=VALUE` (repeatable; comma-separated in the env
    /// var): TLS and SASL (`security.protocol`, `ssl.ca.location`, `sasl.mechanism`, ...),
    /// `message.timeout.ms`, and so on.
    #[arg(long = "kafka-option", env = "PREDICTOR_KAFKA_OPTIONS", value_delimiter = ',', value_parser = key_value)]
    pub kafka_options: Vec<(String, String)>,
    /// Inference log records the producer may hold while the broker is away; past it they
    /// are dropped and counted.
    #[arg(long, env = "PREDICTOR_INFERENCE_LOG_BUFFER", default_value_t = DEFAULT_BUFFER_MESSAGES)]
    pub inference_log_buffer: usize,
    /// API keys (`Authorization: ApiKey <key>`), one `SCOPE KEY` per line (scope `predict`
    /// or `manage`). With keys (here or in PREDICTOR_API_KEYS as `SCOPE:KEY,...`), every
    /// route needs one; without, only loopback is listened on.
    #[arg(long, env = "PREDICTOR_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
    /// Listen beyond loopback without API keys, when something in front authenticates.
    #[arg(long, env = "PREDICTOR_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
    /// How long freed memory waits before the allocator returns it to the OS, in ms
    /// (mimalloc's default: 1000). A stage going to zero returns its memory at once whatever
    /// this is; low values (0 to 10) return memory sooner under changing load, at a
    /// throughput cost on small requests (measured in docs/benchmarks.md, "Memory at zero").
    #[arg(long, env = "PREDICTOR_MEMORY_PURGE_DELAY_MS", default_value_t = DEFAULT_PURGE_DELAY_MS)]
    pub memory_purge_delay_ms: u32,
    /// Client connections open at once; past it, new ones wait to be accepted (lowered to
    /// what the process's open-files limit allows).
    #[arg(long, env = "PREDICTOR_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|n| n as usize))]
    pub max_connections: usize,
    /// Time a client has to send a whole request head once it started one, in ms; past it
    /// the connection is closed.
    #[arg(long, env = "PREDICTOR_HEADER_READ_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    pub header_read_timeout_ms: u64,
    /// Time a kept-alive connection may stay idle (nothing in flight, nothing sent or
    /// received), in ms; past it the connection is closed.
    #[arg(long, env = "PREDICTOR_IDLE_TIMEOUT_MS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    pub idle_timeout_ms: u64,
    /// Time a request's body has to arrive whole, in ms; past it the request is answered 408.
    #[arg(long, env = "PREDICTOR_BODY_READ_TIMEOUT_MS", default_value_t = DEFAULT_BODY_READ_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    pub body_read_timeout_ms: u64,
    /// Time shutdown lets requests in flight finish, in ms; then the remaining connections
    /// are closed.
    #[arg(long, env = "PREDICTOR_SHUTDOWN_GRACE_MS", default_value_t = DEFAULT_SHUTDOWN_GRACE.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=MAX_TIMEOUT_MS))]
    pub shutdown_grace_ms: u64,
    /// The health probes (`/`, `/v2/health/live`, `/v2/health/ready`) need an API key too
    /// (by default they answer without one, as Kubernetes' probes send none).
    #[arg(long, env = "PREDICTOR_HEALTH_REQUIRES_KEY")]
    pub health_requires_key: bool,
    /// How long shutdown waits for queued inference log records to be delivered, in ms.
    #[arg(long, env = "PREDICTOR_KAFKA_FLUSH_TIMEOUT_MS", default_value_t = DEFAULT_FLUSH_TIMEOUT.as_millis() as u64)]
    pub kafka_flush_timeout_ms: u64,
}

/// Longest time limit a flag takes (a day), so no setting overflows a deadline.
const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// The keys of `--api-keys-file` and `PREDICTOR_API_KEYS`, together.
fn api_keys(file: Option<&std::path::Path>) -> anyhow::Result<ApiKeys> {
    let mut keys = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the API keys file {}", path.display()))?;
            ApiKeys::parse_file(&text)
                .map_err(|e| anyhow::anyhow!("API keys file {}: {e}", path.display()))?
        }
        None => ApiKeys::default(),
    };
    if let Ok(text) = std::env::var("PREDICTOR_API_KEYS") {
        let env =
            ApiKeys::parse_env(&text).map_err(|e| anyhow::anyhow!("PREDICTOR_API_KEYS: {e}"))?;
        keys.extend(env);
    }
    Ok(keys)
}

fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

impl ServeArgs {
    /// The server's options: flags resolved, keys read, the node's capacity detected where
    /// no flag gives it.
    pub fn options(self) -> anyhow::Result<ServeOptions> {
        Ok(ServeOptions {
            listen: self.listen,
            data_dir: self.data_dir,
            store_dir: self.store_dir,
            deploy: self.deploy,
            model_name: self.model_name,
            max_body_bytes: self.max_body_bytes,
            componentize_py: self.componentize_py,
            call_deadline: std::time::Duration::from_millis(self.call_deadline_ms),
            max_queue: self.max_queue,
            max_output_bytes: self.max_output_bytes,
            node: {
                let detected = NodeCapacity::detect();
                NodeCapacity {
                    cores: self.node_cores.unwrap_or(detected.cores),
                    memory_mb: self.node_memory_mb.unwrap_or(detected.memory_mb),
                }
            },
            api_keys: {
                let mut keys = api_keys(self.api_keys_file.as_deref())?;
                keys.require_key_for_health(self.health_requires_key);
                keys
            },
            allow_unauthenticated: self.allow_unauthenticated,
            connections: ConnectionLimits {
                max_connections: self.max_connections,
                header_read_timeout: ms(self.header_read_timeout_ms),
                idle_timeout: ms(self.idle_timeout_ms),
                body_read_timeout: ms(self.body_read_timeout_ms),
                shutdown_grace: ms(self.shutdown_grace_ms),
            },
            kafka: self.kafka_brokers.map(|brokers| KafkaConfig {
                brokers,
                options: self.kafka_options,
                buffer_messages: self.inference_log_buffer,
                flush_timeout: std::time::Duration::from_millis(self.kafka_flush_timeout_ms),
            }),
        })
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
