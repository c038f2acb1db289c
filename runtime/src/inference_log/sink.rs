//! The writer thread and where it writes: a Kafka producer (librdkafka through rdkafka), or
//! JSON-lines files under the data dir when no broker is configured.
//!
//! Kafka: `linger.ms` 5 for low latency; the producer's queue (`queue.buffering.max.messages`)
//! holds records while the broker is away, and librdkafka retries them until
//! `message.timeout.ms`; each record's delivery report counts it delivered or dropped. At
//! shutdown the producer is flushed within a deadline; what remains is purged and counted.

use super::record::{self, Encoded};
use super::{Job, LogSender, Target};
use crate::definition::LogFormat;
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// Exchanges waiting for the writer thread, across deployments.
pub const CHANNEL_BOUND: usize = 16 * 1024;
/// Records librdkafka may hold (waiting for the broker) by default.
pub const DEFAULT_BUFFER_MESSAGES: usize = 100_000;
/// How long shutdown waits for queued records to be delivered, by default.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server's inference logs go.
#[derive(Clone, Debug)]
pub enum SinkConfig {
    Kafka(KafkaConfig),
    /// One `NAME.jsonl` per deployment in this folder.
    Files(PathBuf),
}

/// The broker connection; `options` pass through to librdkafka (TLS, SASL, timeouts).
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    pub brokers: String,
    pub options: Vec<(String, String)>,
    pub buffer_messages: usize,
    pub flush_timeout: Duration,
}

impl KafkaConfig {
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "5")
            // Retries (the broker away, a retriable error) never write a record twice.
            .set("enable.idempotence", "true")
            .set(
                "queue.buffering.max.messages",
                self.buffer_messages.to_string(),
            )
            .set("queue.buffering.max.kbytes", "1048576");
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }
}

/// Counts each record delivered or dropped when librdkafka reports on it.
struct Delivery;

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = Arc<Target>;

    fn delivery(&self, result: &DeliveryResult<'_>, target: Arc<Target>) {
        match result {
            Ok(_) => {
                target.counters.delivered.inc();
            }
            Err((e, _)) => target.dropped(1, &format!("not delivered: {e}")),
        }
    }
}

/// The writer thread and the channel into it.
pub struct Writer {
    config: SinkConfig,
    tx: Mutex<Option<SyncSender<Job>>>,
    /// Set at shutdown: the thread drains the channel and stops, loggers stop sending.
    closed: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    admin: Option<AdminClient<DefaultClientContext>>,
}

impl Writer {
    /// Starts the writer thread (and, for Kafka, the producer: it connects in the background).
    pub fn start(config: SinkConfig) -> anyhow::Result<Arc<Writer>> {
        let (tx, rx) = sync_channel::<Job>(CHANNEL_BOUND);
        let (output, admin) = match &config {
            SinkConfig::Kafka(k) => {
                let producer: ThreadedProducer<Delivery> =
                    k.client_config().create_with_context(Delivery)?;
                let admin: AdminClient<DefaultClientContext> = k.client_config().create()?;
                (
                    Output::Kafka {
                        producer,
                        flush_timeout: k.flush_timeout,
                    },
                    Some(admin),
                )
            }
            SinkConfig::Files(dir) => {
                std::fs::create_dir_all(dir)?;
                (
                    Output::Files {
                        dir: dir.clone(),
                        files: HashMap::new(),
                    },
                    None,
                )
            }
        };
        let closed = Arc::new(AtomicBool::new(false));
        let thread = {
            let closed = Arc::clone(&closed);
            std::thread::Builder::new()
                .name("inference-log".into())
                .spawn(move || run(rx, output, &closed))?
        };
        Ok(Arc::new(Writer {
            config,
            tx: Mutex::new(Some(tx)),
            closed,
            thread: Mutex::new(Some(thread)),
            admin,
        }))
    }

    /// Where records go, for the deployment log.
    pub fn describe(&self, topic: &str, deployment: &str) -> String {
        match &self.config {
            SinkConfig::Kafka(k) => format!("Kafka topic {topic:?} at {}", k.brokers),
            SinkConfig::Files(dir) => {
                format!(
                    "{} (no Kafka broker configured)",
                    file_of(dir, deployment).display()
                )
            }
        }
    }

    /// The channel into the writer thread (none once stopping).
    pub fn sender(&self) -> Option<LogSender> {
        let tx = self.tx.lock().clone()?;
        Some(LogSender {
            tx,
            closed: Arc::clone(&self.closed),
        })
    }

    /// Creates the topic when it is missing (Kafka only). An unreachable broker is not an
    /// error: records wait in the buffer.
    pub async fn ensure_topic(
        &self,
        name: &str,
        partitions: u32,
        replicas: u32,
    ) -> Result<&'static str, String> {
        let Some(admin) = &self.admin else {
            return Ok("files");
        };
        let topic = NewTopic::new(
            name,
            partitions.max(1) as i32,
            TopicReplication::Fixed(replicas.max(1) as i32),
        );
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
        match admin.create_topics(&[topic], &options).await {
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) => Ok("created"),
                Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok("exists"),
                Some(Err((_, code))) => Err(format!("cannot create topic {name:?}: {code}")),
                None => Ok("exists"),
            },
            Err(e) => Err(format!("cannot create topic {name:?}: {e}")),
        }
    }

    /// Stops taking records, writes or delivers what is queued (Kafka: within the flush
    /// deadline), and waits for the thread.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.tx.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

enum Output {
    Kafka {
        producer: ThreadedProducer<Delivery>,
        flush_timeout: Duration,
    },
    Files {
        dir: PathBuf,
        files: HashMap<String, std::io::BufWriter<std::fs::File>>,
    },
}

fn file_of(dir: &std::path::Path, deployment: &str) -> PathBuf {
    dir.join(format!("{deployment}.jsonl"))
}

/// Writes jobs until shutdown, then what is still in the channel, then flushes. The thread
/// wakes on a 1 ms tick and drains the channel rather than blocking on it: a handler's send
/// then never has a sleeping reader to wake (a futex call on every request otherwise).
/// Deployment loggers hold senders too, so the channel does not disconnect: `closed` says
/// when to stop.
fn run(rx: Receiver<Job>, mut output: Output, closed: &AtomicBool) {
    let mut quiet_ticks = 0u32;
    loop {
        let mut wrote = false;
        loop {
            match rx.try_recv() {
                Ok((target, exchange)) => {
                    output.write(&target, &exchange);
                    wrote = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    output.finish();
                    return;
                }
            }
        }
        if closed.load(Ordering::SeqCst) {
            break;
        }
        quiet_ticks = if wrote { 0 } else { quiet_ticks + 1 };
        // After 100 quiet ticks, make file records visible.
        if quiet_ticks == 100 {
            output.idle();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    while let Ok((target, exchange)) = rx.try_recv() {
        output.write(&target, &exchange);
    }
    output.finish();
}

impl Output {
    fn write(&mut self, target: &Arc<Target>, exchange: &super::Exchange) {
        match self {
            Output::Kafka { producer, .. } => {
                for Encoded { key, value } in
                    record::records(&target.context, exchange, target.context.format)
                {
                    let mut record = BaseRecord::with_opaque_to(&target.topic, Arc::clone(target))
                        .key(&key)
                        .payload(&value);
                    // Headers cost an allocation in librdkafka: only when asked for.
                    if !exchange.headers.is_empty() {
                        let mut headers = OwnedHeaders::new_with_capacity(exchange.headers.len());
                        for (name, value) in &exchange.headers {
                            headers = headers.insert(Header {
                                key: name,
                                value: Some(value),
                            });
                        }
                        record = record.headers(headers);
                    }
                    if let Err((e, _)) = producer.send(record) {
                        target.dropped(1, &format!("the Kafka producer refused it: {e}"));
                    }
                }
            }
            Output::Files { dir, files } => {
                let file = match files.entry(target.deployment.clone()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        match std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(file_of(dir, &target.deployment))
                        {
                            Ok(f) => e.insert(std::io::BufWriter::new(f)),
                            Err(err) => {
                                target.dropped(
                                    record::count(&target.context),
                                    &format!("cannot open the log file: {err}"),
                                );
                                return;
                            }
                        }
                    }
                };
                for Encoded { value, .. } in
                    record::records(&target.context, exchange, LogFormat::Json)
                {
                    match file.write_all(&value).and_then(|()| file.write_all(b"\n")) {
                        Ok(()) => {
                            target.counters.delivered.inc();
                        }
                        Err(e) => target.dropped(1, &format!("cannot write the log file: {e}")),
                    }
                }
            }
        }
    }

    /// Nothing arrived for a while: make file records visible.
    fn idle(&mut self) {
        if let Output::Files { files, .. } = self {
            for f in files.values_mut() {
                let _ = f.flush();
            }
        }
    }

    fn finish(self) {
        match self {
            Output::Kafka {
                producer,
                flush_timeout,
            } => {
                if let Err(e) = producer.flush(flush_timeout) {
                    tracing::warn!(
                        "inference log: {} record(s) not delivered within {} ms at shutdown: {e}",
                        producer.in_flight_count(),
                        flush_timeout.as_millis()
                    );
                }
                // Dropping the producer purges what is left; each purged record's delivery
                // report counts it dropped.
            }
            Output::Files { mut files, .. } => {
                for f in files.values_mut() {
                    let _ = f.flush();
                }
            }
        }
    }
}
