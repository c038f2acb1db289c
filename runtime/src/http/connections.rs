//! Accepting and serving HTTP/1.1 connections with limits, before any route or key is
//! looked at: a cap on open connections (past it, new ones wait in the listen backlog while
//! the connections already accepted keep flowing), a time limit on reading a request's head,
//! on a kept-alive connection's idleness and on reading a request's body, and a shutdown
//! that drains for a bounded time and then closes what remains.
//!
//! hyper's own header-read timer starts when the connection waits for a head and so cannot
//! tell an idle kept-alive connection from a slow head; each connection here tracks its own
//! activity instead ([`Activity`]): the bytes its socket moves and the requests in flight.
//! A watchdog beside the connection closes it when
//!
//! - a new connection's first head, or a later head once its first byte arrived, is not
//!   complete within `header_read_timeout` (a silent or slow-header client), or
//! - nothing is in flight and the socket moved nothing for `idle_timeout` (an idle or a
//!   stalled client, including one that stopped reading its answer).
//!
//! A request's body must arrive whole within `body_read_timeout` ([`DeadlineBody`]); past
//! it the handler's read fails and the request is answered 408.

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// Default cap on open client connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default time a client has to send a whole request head once it started one.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may sit with nothing in flight and nothing moving. Longer than
/// the 60 s idle timeouts of common proxies in front, so the proxy closes first.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default time a request's body has to arrive whole (64 MiB at ~10 Mbit/s).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time shutdown lets requests in flight finish before closing what remains
/// (inside Kubernetes' default 30 s termination grace period).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
/// File descriptors kept for everything but client sockets (artifacts, caches, the broker,
/// the store) when the cap is fitted to the process's descriptor limit.
const RESERVED_FDS: usize = 512;

/// The limits of [`serve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl ConnectionLimits {
    /// The cap, lowered to what the process's file descriptor limit allows (raised to its
    /// hard limit first, as Go's runtime does): a cap the process cannot reach would let the
    /// accept loop run out of descriptors instead of making clients wait.
    pub fn fitted_to_fd_limit(mut self) -> ConnectionLimits {
        if let Some(fds) = raise_fd_limit() {
            let usable = fds.saturating_sub(RESERVED_FDS).max(64);
            if usable < self.max_connections {
                tracing::warn!(
                    "max connections lowered from {} to {usable}: the process may open {fds} files (raise `ulimit -n` for more)",
                    self.max_connections
                );
                self.max_connections = usable;
            }
        }
        self
    }
}

/// Raises the soft open-files limit to the hard one; returns the limit in force.
fn raise_fd_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given; nothing else is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given; failing leaves the limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    usize::try_from(limit.rlim_cur).ok()
}

/// What a connection's watchdog needs to know, updated by its socket and its requests.
/// Times are milliseconds since the connection was accepted, plus one (0 = never).
struct Activity {
    born: Instant,
    in_flight: AtomicUsize,
    last_io: AtomicU64,
    head_started: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_io: AtomicU64::new(1),
            // A new connection owes its first request's head at once, as a slow head does:
            // connecting and sending nothing is how sockets are held for free.
            head_started: AtomicU64::new(1),
        }
    }

    fn now(&self) -> u64 {
        self.born.elapsed().as_millis() as u64 + 1
    }

    fn moved(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        // Bytes arriving while no request is in flight start the next request's head.
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ =
                self.head_started
                    .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// A request's head was read: it is in flight until its answer is ready.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// When the watchdog should look again, or `None` if the connection is past a limit.
    fn next_check(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let now = self.now();
        let ms = |d: Duration| d.as_millis() as u64;
        let due = if self.in_flight.load(Ordering::Relaxed) > 0 {
            // A handler runs: its own deadlines bound it; look again later.
            now + ms(limits.idle_timeout)
        } else {
            match self.head_started.load(Ordering::Relaxed) {
                0 => self.last_io.load(Ordering::Relaxed) + ms(limits.idle_timeout),
                started => started + ms(limits.header_read_timeout),
            }
        };
        (due > now).then(|| self.born + Duration::from_millis(due))
    }
}

/// One request in flight on a connection; dropped when its answer is ready (or the request
/// is abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_io.store(self.0.now(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, noting every byte it moves.
struct TrackedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.moved();
        }
        result
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity
                .last_io
                .store(self.activity.now(), Ordering::Relaxed);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity
                .last_io
                .store(self.activity.now(), Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The request body's read ran past `body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyReadTimeout(pub Duration);

/// A request body that fails once its time is up. The timer is only made when a read has
/// to wait: bodies that came with their head cost nothing.
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyReadTimeout(self.timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What shutdown has reached: connections drain, then the rest are closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Serving,
    Draining,
    Closing,
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (phase_tx, phase) = watch::channel(Phase::Serving);
    tokio::pin!(shutdown);
    loop {
        // A slot first: past the cap, clients wait in the listen backlog, not in our memory.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore stays open"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted: wait a
                // moment rather than spin, and keep serving.
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Answers are small and written whole: never hold them back for Nagle.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let phase = phase.clone();
        tokio::spawn(async move {
            serve_connection(stream, router, limits, phase).await;
            drop(slot);
        });
    }
    drop(listener);
    // Drain: idle connections close now, busy ones after their answer; past the grace
    // period, whatever remains is closed.
    let _ = phase_tx.send(Phase::Draining);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all)).await;
    if drained.is_err() {
        let open = limits.max_connections - slots.available_permits();
        tracing::warn!(
            "shutdown: closing {open} connections still open after {:?}",
            limits.shutdown_grace
        );
        let _ = phase_tx.send(Phase::Closing);
        let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut phase: watch::Receiver<Phase>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(TrackedIo {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = activity.begin();
            let router = router.clone();
            let timeout = limits.body_read_timeout;
            async move {
                let request = request.map(|inner| {
                    Body::new(DeadlineBody {
                        inner,
                        deadline: Instant::now() + timeout,
                        timeout,
                        sleep: None,
                    })
                });
                let response = router.oneshot(request).await;
                drop(in_flight);
                response
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        // The watchdog below times heads; hyper's timer would also end idle connections.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let Some(next_check) = activity.next_check(&limits) else {
            tracing::debug!("closing a connection past its header-read or idle timeout");
            return;
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = tokio::time::sleep_until(next_check.into()) => {}
            changed = phase.changed() => {
                let now = *phase.borrow_and_update();
                if changed.is_err() || now == Phase::Closing {
                    return;
                }
                if now == Phase::Draining && !draining {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_times_heads_and_idleness_but_not_requests() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            ..ConnectionLimits::default()
        };
        let activity = Arc::new(Activity::new());
        let born = activity.born;
        // Fresh: its first head is due within the header timeout, bytes or not.
        let due = activity.next_check(&limits).unwrap() - born;
        assert!(due >= Duration::from_millis(100) && due < Duration::from_millis(120));
        activity.moved();
        let due = activity.next_check(&limits).unwrap() - born;
        assert!(due < Duration::from_millis(120), "{due:?}");
        // In flight: no limit from the watchdog.
        let request = activity.begin();
        activity.moved();
        assert_eq!(activity.head_started.load(Ordering::Relaxed), 0);
        std::thread::sleep(Duration::from_millis(150));
        assert!(activity.next_check(&limits).is_some());
        drop(request);
        // Answered: idle, counted from the answer, until the next head's first byte.
        let due = activity.next_check(&limits).unwrap() - born;
        assert!(due >= Duration::from_millis(450), "{due:?}");
        // A head that started and stalled is past its limit.
        activity.moved();
        std::thread::sleep(Duration::from_millis(120));
        assert!(activity.next_check(&limits).is_none());
    }
}
