//! The `predictor` command line: arguments parsed cheaply first (every flag also an env
//! var), then dispatched.

use crate::allocator::{self, DEFAULT_PURGE_DELAY_MS};
use crate::capacity::NodeCapacity;
use crate::client::{ClientCommand, ClientOptions};
use crate::deployment::Deployment;
use crate::http::DEFAULT_MAX_BODY_BYTES;
use crate::http::auth::ApiKeys;
use crate::http::connections::{
    ConnectionLimits, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE,
};
use crate::inference_log::sink::{DEFAULT_BUFFER_MESSAGES, DEFAULT_FLUSH_TIMEOUT, KafkaConfig};
use crate::process::ProcessState;
use crate::python::Componentizer;
use crate::role::Role;
use crate::server::{ServeOptions, serve};
use crate::wasm::engine::{
    DEFAULT_CALL_DEADLINE, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_QUEUE, EngineLimits,
};
use anyhow::Context as _;
use clap::builder::TypedValueParser as _;
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "predictor",
    version,
    about = "WebAssembly-sandboxed predictor runtime (KServe V1/V2)",
    mut_arg("server", |a: clap::Arg| a.hide(true)),
    mut_arg("api_key", |a: clap::Arg| a.hide(true)),
    mut_arg("output", |a: clap::Arg| a.hide(true))
)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `predictor_runtime=debug`.
    #[arg(long, env = "PREDICTOR_LOG", default_value = "info", global = true)]
    pub log: String,
    /// The client commands' flags when typed before the subcommand (hidden: each client
    /// command shows its own; see [`parse_from`]).
    #[command(flatten)]
    pub client: ClientOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve deployments over KServe V1 and the Open Inference Protocol.
    Serve(Box<ServeArgs>),
    /// Validate a deployment folder: definition, files, component or model, guest init.
    Check(CheckArgs),
    /// Componentize a Python `Predict` script (and a `Transformer` script) into components.
    Build(BuildArgs),
    /// The management API's client commands (`--server URL`).
    #[command(flatten)]
    Client(ClientCommand),
}

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
    /// throughput cost on small requests (~25 % fewer requests/s to a component here).
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

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The deployment folder (holding `deployment.json`).
    pub dir: PathBuf,
    /// Where the compiled-component and script-build caches live.
    #[arg(long, env = "PREDICTOR_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// The componentize-py executable, for `script_file` deployments.
    #[arg(long, env = "PREDICTOR_COMPONENTIZE_PY")]
    pub componentize_py: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The Python script: a Hopsworks `Predict` class (or, with `--kind transformer`, a
    /// `Transformer` class).
    pub script: PathBuf,
    /// Which class the script provides.
    #[arg(
        long,
        env = "PREDICTOR_BUILD_KIND",
        value_enum,
        default_value = "predictor"
    )]
    pub kind: BuildKind,
    /// Also build this `Transformer` script, into `<its name>.wasm` beside the output.
    #[arg(long, env = "PREDICTOR_BUILD_TRANSFORMER")]
    pub transformer: Option<PathBuf>,
    /// The component to write (default: the script's name with `.wasm`).
    #[arg(short, long, env = "PREDICTOR_BUILD_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Where built components are cached.
    #[arg(long, env = "PREDICTOR_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// The componentize-py executable.
    #[arg(long, env = "PREDICTOR_COMPONENTIZE_PY")]
    pub componentize_py: Option<PathBuf>,
}

/// The class a script provides.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum BuildKind {
    Predictor,
    Transformer,
}

/// Parses the arguments. The client flags typed before the subcommand (`predictor --server
/// URL list`) are the subcommand's unless it was given its own; before `serve`, `check` or
/// `build` they are an error, as they mean nothing there.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(args)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    match (&mut cli.command, matches.subcommand()) {
        (Command::Client(c), Some((_, own))) => {
            c.options_mut().take_leading(&cli.client, &matches, own)
        }
        (_, Some((name, _))) if ClientOptions::given(&matches) => {
            return Err(command.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--server, --api-key and --output are for the client commands (list, \
                     deploy, ...), not `{name}`"
                ),
            ));
        }
        _ => {}
    }
    Ok(cli)
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}

/// Runs one command.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(a) => {
            let a = *a;
            allocator::set_purge_delay(a.memory_purge_delay_ms);
            serve(ServeOptions {
                listen: a.listen,
                data_dir: a.data_dir,
                store_dir: a.store_dir,
                deploy: a.deploy,
                model_name: a.model_name,
                max_body_bytes: a.max_body_bytes,
                componentize_py: a.componentize_py,
                call_deadline: std::time::Duration::from_millis(a.call_deadline_ms),
                max_queue: a.max_queue,
                max_output_bytes: a.max_output_bytes,
                node: {
                    let detected = NodeCapacity::detect();
                    NodeCapacity {
                        cores: a.node_cores.unwrap_or(detected.cores),
                        memory_mb: a.node_memory_mb.unwrap_or(detected.memory_mb),
                    }
                },
                api_keys: {
                    let mut keys = api_keys(a.api_keys_file.as_deref())?;
                    keys.require_key_for_health(a.health_requires_key);
                    keys
                },
                allow_unauthenticated: a.allow_unauthenticated,
                connections: ConnectionLimits {
                    max_connections: a.max_connections,
                    header_read_timeout: ms(a.header_read_timeout_ms),
                    idle_timeout: ms(a.idle_timeout_ms),
                    body_read_timeout: ms(a.body_read_timeout_ms),
                    shutdown_grace: ms(a.shutdown_grace_ms),
                },
                kafka: a.kafka_brokers.map(|brokers| KafkaConfig {
                    brokers,
                    options: a.kafka_options,
                    buffer_messages: a.inference_log_buffer,
                    flush_timeout: std::time::Duration::from_millis(a.kafka_flush_timeout_ms),
                }),
            })
            .await
        }
        Command::Build(a) => build(a).await,
        Command::Client(c) => crate::client::run(c).await,
        Command::Check(a) => {
            let process = ProcessState::new(
                &a.data_dir,
                &EngineLimits::default(),
                a.componentize_py,
                NodeCapacity::detect(),
            )?;
            let report = Deployment::check(&process, &a.dir).await?;
            for w in &report.warnings {
                println!("warning: {w}");
            }
            println!(
                "ok: deployment {:?} in {} would serve",
                report.config.name,
                a.dir.display()
            );
            Ok(())
        }
    }
}

/// `predictor build`: componentizes the script(s) and writes the components.
async fn build(a: BuildArgs) -> anyhow::Result<()> {
    let componentizer = Componentizer::new(a.componentize_py, &a.data_dir.join("python"));
    let output = a.output.unwrap_or_else(|| a.script.with_extension("wasm"));
    let kind = match a.kind {
        BuildKind::Predictor => Role::Predictor,
        BuildKind::Transformer => Role::Transformer,
    };
    let mut jobs = vec![(kind, a.script, output.clone())];
    if let Some(t) = a.transformer {
        let name = t.with_extension("wasm");
        let name = name
            .file_name()
            .context("the transformer script has no file name")?;
        let out = output.with_file_name(name);
        jobs.push((Role::Transformer, t, out));
    }
    for (kind, script, out) in jobs {
        let source = std::fs::read_to_string(&script)
            .with_context(|| format!("reading {}", script.display()))?;
        let filename = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("the script has no file name")?;
        eprintln!("componentizing {} ({kind:?})...", script.display());
        let built = componentizer
            .build(kind, &filename, &source)
            .with_context(|| format!("building {}", script.display()))?;
        std::fs::write(&out, &built.bytes).with_context(|| format!("writing {}", out.display()))?;
        println!(
            "wrote {} ({:.1} MB) in {:.1} s{}",
            out.display(),
            built.bytes.len() as f64 / 1e6,
            built.elapsed.as_secs_f64(),
            if built.cached {
                " (from the build cache)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn init_tracing(filter: &str) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
}

/// Whether logs are coloured: only for a terminal (escape codes are noise in a file, a pipe
/// or a log collector), and never with `NO_COLOR` set to something (https://no-color.org).
fn colour(terminal: bool, no_color: Option<OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_flag_has_an_env_var() {
        fn check(cmd: &clap::Command) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if arg.is_positional() || builtin {
                    continue;
                }
                assert!(
                    arg.get_env().is_some(),
                    "`{} --{}` has no env var",
                    cmd.get_name(),
                    arg.get_id()
                );
            }
            // The client commands' own flags (`--tail`, `--data`...) are per call, not
            // settings: only the server's commands and the global options need env vars.
            cmd.get_subcommands()
                .filter(|c| ["serve", "check", "build"].contains(&c.get_name()))
                .for_each(check);
        }
        check(&Cli::command());
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some("".into())),
            "an empty NO_COLOR is as if unset"
        );
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "predictor",
            "serve",
            "--listen",
            "127.0.0.1:9000",
            "--deploy",
            "a",
            "--deploy",
            "b",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen.port(), 9000);
        assert_eq!(args.deploy, [PathBuf::from("a"), PathBuf::from("b")]);
    }
}
