//! The command-line client of a running server's management API: `predictor deploy DIR`,
//! `list`, `describe`, `start`, `stop`, `restart`, `rollback`, `delete`, `logs [-f]` and
//! `predict`, against `--server URL` with `--api-key`. Tables for people ([`table`]),
//! `--output json` for scripts; a progress bar while an upload is sent and a spinner while
//! the server starts it (componentizing and compiling on a first upload).

pub mod options;
pub mod table;

pub use options::{ClientOptions, Output};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use futures_util::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::multipart::{Form, Part};
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
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        read(response).await
    }
}

async fn read(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("the server answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("(no message)");
        bail!("{status}: {message}");
    }
    Ok(body)
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
    let described = match command {
        ClientCommand::Deploy { dir, files, .. } => deploy(&client, &dir, &files, json).await?,
        ClientCommand::List { .. } => {
            let body = client
                .send(client.request(reqwest::Method::GET, "/api/deployments"))
                .await?;
            return print(json, &body, || table::list(&body));
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
            let body = client
                .send(client.request(reqwest::Method::DELETE, &path))
                .await?;
            return print(json, &body, || format!("deleted {name}\n"));
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
            let answer = client
                .send(client.request(post, &path).json(&request))
                .await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            return Ok(());
        }
    };
    print(json, &described, || table::describe(&described))
}

fn print(json: bool, body: &Value, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(body)?);
    } else {
        print!("{}", table());
    }
    Ok(())
}

async fn action(client: &Client, name: &str, action: &str) -> anyhow::Result<Value> {
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
) -> anyhow::Result<Value> {
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
        let body = client.send(request).await?;
        return print(json, &body, || {
            table::log_lines(body["lines"].as_array().map_or(&[][..], Vec::as_slice))
        });
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {}", client.base))?;
    if !response.status().is_success() {
        read(response).await?;
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
                let value: Value = serde_json::from_slice(&line)?;
                print!("{}", table::log_lines(std::slice::from_ref(&value)));
            }
        }
    }
    Ok(())
}
