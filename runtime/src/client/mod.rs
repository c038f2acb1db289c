//! The command-line client of a running server's management API: `predictor deploy DIR`,
//! `list`, `describe`, `start`, `stop`, `restart`, `rollback`, `delete`, `logs [-f]` and
//! `predict`, against `--server URL` with `--api-key`. Tables for people ([`table`]),
//! `--output json` for scripts; a progress bar while an upload is sent and a spinner while
//! the server starts it (componentizing and compiling on a first upload). Answers are read
//! as the server's own types ([`crate::views`]); `--output json` prints them as received.

pub mod options;
pub mod table;

pub use options::{ClientOptions, Output};

use crate::views::{Deleted, Deployment, DeploymentList, ErrorBody, LogLine, LogPage, Uploaded};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use futures_util::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The client's commands.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Upload a deployment folder (and more files) to the server: created, or a new version.
    Deploy {
        /// The folder holding `deployment.json` and its files.
        dir: PathBuf,
        /// More files, uploaded by their file name (a model kept elsewhere, a built component).
        files: Vec<PathBuf>,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// The server's deployments.
    List {
        #[command(flatten)]
        options: ClientOptions,
    },
    /// A deployment's state, definition, versions and endpoints.
    Describe {
        name: String,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Start a stopped deployment.
    Start {
        name: String,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Stop a deployment (its versions stay stored).
    Stop {
        name: String,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Restart a deployment.
    Restart {
        name: String,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Serve an earlier version again.
    Rollback {
        name: String,
        #[arg(long)]
        version: u32,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Delete a deployment.
    Delete {
        name: String,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// A deployment's log.
    Logs {
        name: String,
        /// Lines to show from the end.
        #[arg(long, default_value_t = 100)]
        tail: usize,
        /// Keep printing new lines as they are written.
        #[arg(short, long)]
        follow: bool,
        /// Only what this stage's guest wrote: `predictor` or `transformer`.
        #[arg(long)]
        component: Option<String>,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Send one V1 prediction request.
    Predict {
        name: String,
        /// The request body (`{"instances": [...]}`), or `@FILE`.
        #[arg(long)]
        data: String,
        #[command(flatten)]
        options: ClientOptions,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base.trim_end_matches('/')));
        match &self.key {
            Some(k) => request.header("authorization", format!("ApiKey {k}")),
            None => request,
        }
    }

    /// Sends and reads a JSON answer; an error status becomes the server's `error` message.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<Answer<T>> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        read(response).await
    }
}

/// A server's answer: as sent (for `--output json`) and read as its type.
struct Answer<T> {
    raw: Value,
    body: T,
}

async fn read<T: DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<Answer<T>> {
    let status = response.status();
    let raw: Value = response
        .json()
        .await
        .with_context(|| format!("the server answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        let message = ErrorBody::deserialize(&raw).map_or_else(
            |_| "(no message)".to_string(),
            |e| match e.kind.and_then(|k| serde_json::to_value(k).ok()) {
                Some(Value::String(kind)) => format!("{} ({kind})", e.error),
                _ => e.error,
            },
        );
        bail!("{status}: {message}");
    }
    let body = T::deserialize(&raw).with_context(|| {
        format!(
            "the server's answer is not the {} this client reads (a server of another version?)",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("body")
        )
    })?;
    Ok(Answer { raw, body })
}

/// Runs one client command.
pub async fn run(mut command: ClientCommand) -> anyhow::Result<()> {
    let options = command.options_mut().clone();
    let client = Client {
        http: reqwest::Client::new(),
        base: options.server.clone(),
        key: options.api_key.clone(),
    };
    let json = options.output == Output::Json;
    let post = reqwest::Method::POST;
    let described: Answer<Deployment> = match command {
        ClientCommand::Deploy { dir, files, .. } => {
            let answer = deploy(&client, &dir, &files, json).await?;
            let Uploaded {
                deployment,
                warnings,
            } = &answer.body;
            return print(json, &answer.raw, || table::describe(deployment, warnings));
        }
        ClientCommand::List { .. } => {
            let answer: Answer<DeploymentList> = client
                .send(client.request(reqwest::Method::GET, "/api/deployments"))
                .await?;
            return print(json, &answer.raw, || table::list(&answer.body));
        }
        ClientCommand::Describe { name, .. } => {
            client
                .send(client.request(reqwest::Method::GET, &format!("/api/deployments/{name}")))
                .await?
        }
        ClientCommand::Start { name, .. } => action(&client, &name, "start").await?,
        ClientCommand::Stop { name, .. } => action(&client, &name, "stop").await?,
        ClientCommand::Restart { name, .. } => action(&client, &name, "restart").await?,
        ClientCommand::Rollback { name, version, .. } => {
            action(&client, &name, &format!("rollback?version={version}")).await?
        }
        ClientCommand::Delete { name, .. } => {
            let path = format!("/api/deployments/{name}");
            let answer: Answer<Deleted> = client
                .send(client.request(reqwest::Method::DELETE, &path))
                .await?;
            return print(json, &answer.raw, || {
                format!("deleted {}\n", answer.body.deleted)
            });
        }
        ClientCommand::Logs {
            name,
            tail,
            follow,
            component,
            ..
        } => {
            let mut path = format!("/api/deployments/{name}/logs?tail={tail}&follow={follow}");
            if let Some(c) = component {
                path.push_str(&format!("&component={c}"));
            }
            return logs(&client, &path, follow, json).await;
        }
        ClientCommand::Predict { name, data, .. } => {
            let body = match data.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading the request body from {file}"))?,
                None => data,
            };
            let request: Value = serde_json::from_str(&body).context("--data is not JSON")?;
            let path = format!("/v1/models/{name}:predict");
            let answer: Answer<Value> = client
                .send(client.request(post, &path).json(&request))
                .await?;
            println!("{}", serde_json::to_string_pretty(&answer.body)?);
            return Ok(());
        }
    };
    print(json, &described.raw, || {
        table::describe(&described.body, &[])
    })
}

fn print(json: bool, body: &Value, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(body)?);
    } else {
        print!("{}", table());
    }
    Ok(())
}

async fn action(client: &Client, name: &str, action: &str) -> anyhow::Result<Answer<Deployment>> {
    let path = format!("/api/deployments/{name}/{action}");
    client
        .send(client.request(reqwest::Method::POST, &path))
        .await
}

/// Every regular file under `dir` (relative paths; hidden ones, `__pycache__` and `target`
/// left out), then `extra` by file name.
fn collect_files(dir: &Path, extra: &[PathBuf]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Hidden files and build leftovers are not the deployment's.
            if name.starts_with('.') || name == "__pycache__" || name == "target" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if path.is_file() {
                let relative = path
                    .strip_prefix(root)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, path));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    for file in extra {
        let name = file
            .file_name()
            .with_context(|| format!("{} is not a file", file.display()))?
            .to_string_lossy()
            .into_owned();
        files.retain(|(p, _)| *p != name);
        files.push((name, file.clone()));
    }
    files.sort();
    Ok(files)
}

/// Uploads a folder with a progress bar over its bytes, then a spinner while the server
/// starts the version.
async fn deploy(
    client: &Client,
    dir: &Path,
    extra: &[PathBuf],
    quiet: bool,
) -> anyhow::Result<Answer<Uploaded>> {
    let files = collect_files(dir, extra)?;
    let total: u64 = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("uploading {} files", files.len()));
    let mut form = Form::new();
    for (name, path) in &files {
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        let counted = bar.clone();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            bytes.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
        let stream = futures_util::stream::iter(chunks).inspect(move |c| {
            if let Ok(c) = c {
                counted.inc(c.len() as u64);
            }
        });
        let part = Part::stream_with_length(reqwest::Body::wrap_stream(stream), bytes.len() as u64)
            .file_name(name.clone());
        form = form.part("file", part);
    }
    let upload = client
        .request(reqwest::Method::POST, "/api/deployments")
        .multipart(form)
        .send();
    let waiting = bar.clone();
    let spinner = tokio::spawn(async move {
        // Once every byte is sent, the server is starting it: compiling, running init.
        while waiting.position() < waiting.length().unwrap_or(0) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        waiting.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"),
        );
        waiting.set_message(
            "the server is starting it (componentizing and compiling a new component)",
        );
        waiting.enable_steady_tick(Duration::from_millis(100));
    });
    let response = upload.await;
    spinner.abort();
    bar.finish_and_clear();
    let response =
        response.with_context(|| format!("cannot reach the server at {}", client.base))?;
    read(response).await
}

/// Prints a log (`path` is its API path with the query): at once, or followed.
async fn logs(client: &Client, path: &str, follow: bool, json: bool) -> anyhow::Result<()> {
    let request = client.request(reqwest::Method::GET, path);
    if !follow {
        let answer: Answer<LogPage> = client.send(request).await?;
        return print(json, &answer.raw, || table::log_lines(&answer.body.lines));
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {}", client.base))?;
    if !response.status().is_success() {
        read::<Value>(response).await?;
        return Ok(());
    }
    let mut stream = response.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = stream.next().await {
        pending.extend_from_slice(&chunk.context("the log stream broke off")?);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if json {
                print!("{}", String::from_utf8_lossy(&line));
            } else {
                let line: LogLine = serde_json::from_slice(&line)
                    .context("a line of the log stream is not a log line")?;
                print!("{}", table::log_lines(std::slice::from_ref(&line)));
            }
        }
    }
    Ok(())
}
