//! What a guest instance is granted, and nothing more: its artifact folder read-only at
//! [`GUEST_ARTIFACT_DIR`], the environment variables Hopsworks defines (plus the
//! deployment's own `env_vars`), stdout/stderr into the deployment's log, no network, none
//! of the host's environment, files or arguments.

use crate::deployment_log::{LogLevel, LogSource, StageLog};
use bytes::Bytes;
use parking_lot::Mutex;
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
    pub log: StageLog,
}

impl SandboxSpec {
    /// A fresh WASI context for one instance.
    pub fn wasi_ctx(&self) -> anyhow::Result<WasiCtx> {
        let mut b = WasiCtxBuilder::new();
        b.preopened_dir(&self.artifact_root, GUEST_ARTIFACT_DIR, FsPerms::ReadOnly)?;
        b.envs(&self.env);
        b.stdout(LogStream::new(self.log.clone(), LogSource::Stdout));
        b.stderr(LogStream::new(self.log.clone(), LogSource::Stderr));
        b.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        b.socket_addr_check(|_, _| Box::pin(async { false }));
        Ok(b.build())
    }
}

/// A guest output stream (stdout or stderr) that writes lines into the deployment's log.
/// Guests may open a fresh stream handle for every write (Rust's `std` does), so the
/// unfinished line lives here, shared by every handle of one instance.
#[derive(Clone)]
struct LogStream {
    lines: Arc<LineBuffer>,
}

impl LogStream {
    fn new(log: StageLog, source: LogSource) -> LogStream {
        LogStream {
            lines: Arc::new(LineBuffer {
                log,
                source,
                partial: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Bytes written but not yet ended by a newline; the rest goes to the log line by line.
struct LineBuffer {
    log: StageLog,
    source: LogSource,
    partial: Mutex<Vec<u8>>,
}

impl LineBuffer {
    /// Most bytes accepted per write; the guest's libc loops over larger writes.
    const WRITE_BUDGET: usize = 64 * 1024;

    fn push(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock();
        partial.extend_from_slice(bytes);
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if partial.len() > crate::deployment_log::MAX_LINE_BYTES {
            let line = std::mem::take(&mut *partial);
            self.emit(&line);
        }
    }

    fn emit(&self, line: &[u8]) {
        let level = match self.source {
            LogSource::Stderr => LogLevel::Error,
            _ => LogLevel::Info,
        };
        let text = String::from_utf8_lossy(line);
        self.log
            .push(self.source, level, text.trim_end_matches('\r'));
    }
}

impl Drop for LineBuffer {
    /// The instance is gone: its unfinished last line still belongs in the log.
    fn drop(&mut self) {
        let partial = std::mem::take(&mut *self.partial.lock());
        if !partial.is_empty() {
            self.emit(&partial);
        }
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.lines.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        // Lines are written as they end; a flush does not end a line.
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(LineBuffer::WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(LineBuffer::WRITE_BUDGET);
        self.lines.push(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
