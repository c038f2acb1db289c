//! A real Kafka-protocol broker for the inference log tests: tansu (a Kafka-compatible
//! broker in Rust, installed by `scripts/test.sh`) on a loopback port with in-memory
//! storage, and the consumer that reads what our server wrote: a separate process,
//! `tests/python/consume_inference_log.py` (confluent-kafka, fastavro), not our code.

use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker process, killed on drop.
pub struct Broker {
    child: Child,
    pub addr: SocketAddr,
}

/// The tansu executable: on PATH, or where `cargo install` puts it.
fn tansu() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let installed = home.map(|h| h.join("bin/tansu"));
    match installed.filter(|p| p.exists()) {
        Some(p) => p,
        None => PathBuf::from("tansu"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    pub fn start() -> Broker {
        let port = free_port();
        Self::start_advertising(port, port)
    }

    /// A broker on `port` that tells clients to connect to `advertised` (a front).
    fn start_advertising(port: u16, advertised: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu runs (scripts/test.sh installs it: cargo install tansu --features dynostore)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the broker did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, addr }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the broker process (SIGSTOP): connections stay open and nothing answers, as
    /// with a broker that hangs or a network partition; its data is kept.
    pub fn pause(&self) {
        signal(self.child.id(), "-STOP");
    }

    /// Lets it run again (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.id(), "-CONT");
    }

    /// Reads `count` records of `topic` with the external consumer; `schema` is `kserve` or
    /// `docker`, `encoding` `avro` or `json`. Panics if fewer arrive within the timeout.
    pub fn consume(&self, topic: &str, schema: &str, encoding: &str, count: usize) -> Vec<Value> {
        let out = Command::new(crate::root().join(".venv/bin/python"))
            .arg(crate::root().join("tests/python/consume_inference_log.py"))
            .args([
                &self.bootstrap(),
                topic,
                schema,
                encoding,
                &count.to_string(),
                "60",
            ])
            .output()
            .expect("the venv's python runs (scripts/setup.sh makes it)");
        let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            out.status.success(),
            "consuming {topic}: {}\n{} record(s) read",
            String::from_utf8_lossy(&out.stderr),
            records.len()
        );
        records
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A broker reachable only over TLS: tansu behind `tests/python/tls_proxy.py`, which holds a
/// throwaway CA's certificate for 127.0.0.1 and relays each TLS session to the broker, and
/// the broker advertising the front, so no client connection bypasses TLS.
pub struct TlsBroker {
    pub broker: Broker,
    front: Child,
    /// The front's address: the bootstrap server.
    pub addr: SocketAddr,
    /// The CA that signed the front's certificate (`ssl.ca.location`).
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsBroker {
    pub fn start() -> TlsBroker {
        let (port, front_port) = (free_port(), free_port());
        let broker = Broker::start_advertising(port, front_port);
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        let mut front = Command::new(crate::root().join(".venv/bin/python"))
            .arg(crate::root().join("tests/python/tls_proxy.py"))
            .args([front_port.to_string(), port.to_string()])
            .arg(&ca_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the venv's python runs (scripts/setup.sh makes it)");
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(front.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready.trim(), "ready", "the TLS front started");
        TlsBroker {
            broker,
            front,
            addr: format!("127.0.0.1:{front_port}").parse().unwrap(),
            ca_file,
            _dir: dir,
        }
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.front.kill();
        let _ = self.front.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
