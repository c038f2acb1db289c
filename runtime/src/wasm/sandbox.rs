//! What a guest instance is granted, and nothing more: its artifact folder read-only at
//! [`GUEST_ARTIFACT_DIR`], the environment variables Hopsworks defines (plus the
//! deployment's own `env_vars`), stdout/stderr into the deployment's log, no network, none
//! of the host's environment, files or arguments.

use crate::deployment::log::{DeploymentLog, LogLevel, LogSource};
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// Where the artifact folder appears inside the guest (`ARTIFACT_FILES_PATH`).
pub const GUEST_ARTIFACT_DIR: &str = "/mnt/artifacts";

/// The grants of every instance of one deployment.
#[derive(Debug)]
pub struct SandboxSpec {
    /// Host folder mounted read-only at [`GUEST_ARTIFACT_DIR`].
    pub artifact_root: std::path::PathBuf,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// Where stdout/stderr lines go.
    pub log: Arc<DeploymentLog>,
}

impl SandboxSpec {
    /// A fresh WASI context for one instance.
    pub fn wasi_ctx(&self) -> anyhow::Result<WasiCtx> {
        let mut b = WasiCtxBuilder::new();
        b.preopened_dir(&self.artifact_root, GUEST_ARTIFACT_DIR, FsPerms::ReadOnly)?;
        b.envs(&self.env);
        b.stdout(LogStream {
            log: self.log.clone(),
            source: LogSource::Stdout,
        });
        b.stderr(LogStream {
            log: self.log.clone(),
            source: LogSource::Stderr,
        });
        b.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        b.socket_addr_check(|_, _| Box::pin(async { false }));
        Ok(b.build())
    }
}

/// A guest output stream that writes lines into the deployment's log.
#[derive(Clone)]
struct LogStream {
    log: Arc<DeploymentLog>,
    source: LogSource,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter::new(self.clone()))
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter::new(self.clone()))
    }
}

/// Splits writes into lines; a partial line waits for its end (or a flush).
struct LineWriter {
    stream: LogStream,
    partial: Vec<u8>,
}

impl LineWriter {
    /// Most bytes accepted per write; the guest's libc loops over larger writes.
    const WRITE_BUDGET: usize = 64 * 1024;

    fn new(stream: LogStream) -> Self {
        LineWriter {
            stream,
            partial: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.partial.len() > crate::deployment::log::MAX_LINE_BYTES {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }

    fn flush_partial(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }

    fn emit(&self, line: &[u8]) {
        let level = match self.stream.source {
            LogSource::Stderr => LogLevel::Error,
            _ => LogLevel::Info,
        };
        let text = String::from_utf8_lossy(line);
        self.stream
            .log
            .push(self.stream.source, level, text.trim_end_matches('\r'));
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_partial();
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        self.flush_partial();
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(Self::WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(Self::WRITE_BUDGET);
        self.push(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_partial();
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
