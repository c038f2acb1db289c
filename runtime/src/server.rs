//! `predictor serve`: build the process-wide state, bind and answer at once (liveness; the
//! readiness probe says "starting"), start the stored and given deployments side by side,
//! print where each one answers, serve until Ctrl-C/SIGTERM, then drain in-flight requests
//! for a bounded time.

use crate::capacity::NodeCapacity;
use crate::definition::DeploymentConfig;
use crate::deployment::folder;
use crate::deployment::registry::Registry;
use crate::http::auth::ApiKeys;
use crate::http::connections::{self, ConnectionLimits};
use crate::http::{AppState, app};
use crate::inference_log::sink::{KafkaConfig, SinkConfig, Writer};
use crate::process::ProcessState;
use crate::wasm::engine::EngineLimits;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;

/// What `serve` needs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Where uploaded and `--deploy`ed deployments are kept (default: `DATA_DIR/store`).
    pub store_dir: Option<PathBuf>,
    pub deploy: Vec<PathBuf>,
    /// The name to serve the one `deploy` folder under (KServe's InferenceService name),
    /// whatever its definition says; a folder without a definition is inferred from its files.
    pub model_name: Option<String>,
    pub max_body_bytes: usize,
    /// componentize-py, for `script_file` deployments (default: looked up).
    pub componentize_py: Option<PathBuf>,
    /// How long one guest call may run before it is stopped (answered 504).
    pub call_deadline: std::time::Duration,
    /// Requests a deployment lets wait for a busy instance; past it, 503 with Retry-After.
    pub max_queue: usize,
    /// Largest answer one guest call may hand the host.
    pub max_output_bytes: usize,
    /// What deployments may reserve with `resources.requests`.
    pub node: NodeCapacity,
    /// The broker inference logs go to; without one, JSON-lines files under the data dir.
    pub kafka: Option<KafkaConfig>,
    /// API keys every route then requires; without any, only loopback is listened on
    /// unless `allow_unauthenticated`.
    pub api_keys: ApiKeys,
    /// Listen beyond loopback without keys: something in front authenticates (a service
    /// mesh, KServe's ingress).
    pub allow_unauthenticated: bool,
    /// The connection cap and the header, idle, body and shutdown time limits.
    pub connections: ConnectionLimits,
}

impl Default for ServeOptions {
    /// Loopback on an ephemeral port, `.data`, nothing deployed, the default limits.
    fn default() -> Self {
        let limits = EngineLimits::default();
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: PathBuf::from(".data"),
            store_dir: None,
            deploy: Vec::new(),
            model_name: None,
            max_body_bytes: crate::http::DEFAULT_MAX_BODY_BYTES,
            componentize_py: None,
            call_deadline: limits.call_deadline,
            max_queue: limits.max_queue,
            max_output_bytes: limits.max_output_bytes,
            node: NodeCapacity::detect(),
            kafka: None,
            api_keys: ApiKeys::default(),
            allow_unauthenticated: false,
            connections: ConnectionLimits::default(),
        }
    }
}

/// A server bound and serving in the background.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    process: Arc<ProcessState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    autoscaler: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (for the shutdown grace period at
    /// most, then closes what remains), and waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        self.autoscaler.abort();
        // Deliver the inference log records still queued, within the flush deadline.
        if let Some(writer) = self.process.started_inference_log() {
            let writer = Arc::clone(writer);
            tokio::task::spawn_blocking(move || writer.shutdown()).await?;
        }
        Ok(())
    }
}

/// Starts the deployments and serves them on `options.listen`, in the background.
pub async fn start(options: &ServeOptions) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating the data dir {}", options.data_dir.display()))?;
    let process = ProcessState::new(
        &options.data_dir,
        &EngineLimits {
            call_deadline: options.call_deadline,
            max_queue: options.max_queue,
            max_output_bytes: options.max_output_bytes,
            ..EngineLimits::default()
        },
        options.componentize_py.clone(),
        options.node,
    )?;
    if let Some(kafka) = &options.kafka {
        let writer = Writer::start(SinkConfig::Kafka(kafka.clone()))
            .context("starting the Kafka producer for inference logs")?;
        let _ = process.set_inference_log(writer);
    }
    let registry = Arc::new(Registry::default());
    // The folders to deploy, by name: each becomes the current version of its deployment.
    if options.model_name.is_some() && options.deploy.len() != 1 {
        anyhow::bail!(
            "--model-name names the one --deploy folder; {} given",
            options.deploy.len()
        );
    }
    let mut folders: Vec<(String, &PathBuf, String)> = Vec::new();
    for dir in &options.deploy {
        let text = folder::definition_text(dir, options.model_name.as_deref())
            .with_context(|| format!("deploying {}", dir.display()))?;
        let config = DeploymentConfig::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}", e.0))
            .with_context(|| format!("deploying {}", dir.display()))?;
        if let Some((_, previous, _)) = folders.iter().find(|(n, _, _)| *n == config.name) {
            anyhow::bail!(
                "{} and {} both define deployment {:?}",
                previous.display(),
                dir.display(),
                config.name
            );
        }
        folders.push((config.name, dir, text));
    }
    // Every deployment the store holds comes back in its last desired state.
    let store_dir = options
        .store_dir
        .clone()
        .unwrap_or_else(|| options.data_dir.join("store"));
    let store = crate::store::Store::open(&store_dir).context("opening the store")?;
    let manager = Arc::new(crate::manage::Manager::new(
        store,
        Arc::clone(&process),
        Arc::clone(&registry),
    ));
    // The port opens before the deployments start (which may take a while: a new Python
    // script is componentized), so liveness probes pass and readiness says "starting".
    let listen = listen_address(options);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let started = Arc::new(AtomicBool::new(false));
    let router = app(
        AppState {
            registry: Arc::clone(&registry),
            metrics: Arc::clone(process.metrics()),
            manager: Arc::clone(&manager),
            keys: Arc::new(options.api_keys.clone()),
            started: Arc::clone(&started),
        },
        options.max_body_bytes,
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = options.connections.fitted_to_fd_limit();
    let task = tokio::spawn(connections::serve(listener, router, limits, async {
        let _ = rx.await;
    }));
    let autoscaler = crate::deployment::autoscale::spawn(Arc::downgrade(&registry));
    let mut server = RunningServer {
        addr,
        registry,
        process,
        shutdown: Some(tx),
        task,
        autoscaler,
    };
    if let Err(e) = start_deployments(&manager, folders).await {
        let _ = server.shutdown.take().map(|tx| tx.send(()));
        server.autoscaler.abort();
        return Err(e);
    }
    started.store(true, Ordering::Release);
    Ok(server)
}

/// The stored deployments and the `--deploy` folders, started side by side.
async fn start_deployments(
    manager: &crate::manage::Manager,
    folders: Vec<(String, &PathBuf, String)>,
) -> anyhow::Result<()> {
    let names: Vec<String> = folders.iter().map(|(n, _, _)| n.clone()).collect();
    let deploy_folders = futures_util::future::join_all(folders.into_iter().map(
        |(_, dir, definition)| async move {
            manager
                .deploy_folder(dir, &definition)
                .await
                .with_context(|| format!("deploying {}", dir.display()))
        },
    ));
    let (restored, deployed) = tokio::join!(manager.restore(&names), deploy_folders);
    restored.context("restoring the stored deployments")?;
    for result in deployed {
        result?;
    }
    Ok(())
}

/// Where to listen: as asked, except beyond loopback without API keys (unless allowed):
/// then loopback, same port, and the log says so.
fn listen_address(options: &ServeOptions) -> SocketAddr {
    let asked = options.listen;
    if asked.ip().is_loopback() || !options.api_keys.is_empty() {
        return asked;
    }
    if options.allow_unauthenticated {
        tracing::warn!(
            "listening on {asked} without API keys (--allow-unauthenticated): anyone who reaches it can predict and deploy"
        );
        return asked;
    }
    let loopback = SocketAddr::from(([127, 0, 0, 1], asked.port()));
    tracing::warn!(
        "no API keys configured: listening on {loopback} only, not {asked}; configure keys (--api-keys-file or PREDICTOR_API_KEYS) to serve beyond this machine"
    );
    loopback
}

/// Runs `serve` in the foreground until a shutdown signal.
pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let server = start(&options).await?;
    print_endpoints(&server);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    server.stop().await
}

fn print_endpoints(server: &RunningServer) {
    let base = format!("http://{}", server.addr);
    println!("predictor runtime listening on {base}");
    for d in server.registry.list() {
        match d.predictor() {
            Ok(p) => println!(
                "  {:<16} {:<15} {base}/v1/models/{}:predict   {base}/v2/models/{}/infer",
                d.name(),
                p.platform(),
                d.name(),
                d.name()
            ),
            Err(reason) => println!("  {:<16} FAILED          {reason}", d.name()),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
