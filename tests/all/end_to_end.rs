//! The platform from the outside: a real server process on its own port, driven by the
//! `predictor` client commands. A user uploads a Rust component, a Python script and a native
//! ONNX model, watches them become Running, predicts, stops one, restarts the server, finds
//! everything back and reads the logs. Then the store's promise under `kill -9`: a server
//! killed at random moments of an update always comes back serving the old version or the
//! new one, never a broken one.

use predictor_tests::{root, shared_data_dir};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_predictor-e2e");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `predictor serve` process. The compile cache is the tests' shared one (a Python script
/// compiles once across runs); the store is the test's own.
struct Server {
    child: Child,
    url: String,
}

/// A test that fails midway must not leave its server running (it would hold its port and
/// its files past the run).
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(port: u16, store: &Path) -> Server {
        let child = Command::new(BINARY)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(shared_data_dir())
            .arg("--store-dir")
            .arg(store)
            .env("PREDICTOR_LOG", "warn")
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        // The port opens at once; the stored deployments are started once it is ready.
        let ready = format!("{url}/v2/health/ready");
        loop {
            let status = reqwest::blocking::get(&ready).map(|r| r.status().as_u16());
            // 400 is the protocol's "not ready": a deployment failed to start (then Failed).
            if matches!(status, Ok(200 | 400)) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the server did not become ready: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, url }
    }

    /// SIGTERM (a clean stop) or SIGKILL.
    fn stop(mut self, kill: bool) {
        if kill {
            self.child.kill().unwrap();
        } else {
            Command::new("kill")
                .arg(self.child.id().to_string())
                .status()
                .unwrap();
        }
        self.child.wait().unwrap();
    }

    /// Runs a client command against this server: its exit status and standard output.
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(BINARY)
            .args(args)
            .args(["--server", &self.url])
            .current_dir(root())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let (ok, out) = self.cli(&all);
        assert!(ok, "{args:?}: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    fn states(&self) -> Vec<(String, String)> {
        self.json(&["list"])["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap().into(),
                    d["state"].as_str().unwrap().into(),
                )
            })
            .collect()
    }
}

fn states(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

#[test]
fn a_user_deploys_predicts_stops_restarts_and_reads_logs_from_the_cli() {
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(port, store.path());
    for example in [
        "examples/rust-predictor",
        "examples/python-iris",
        "examples/iris-onnx",
    ] {
        let described = server.json(&["deploy", example]);
        assert_eq!(described["state"], "Running", "{example}: {described}");
    }
    assert_eq!(
        server.states(),
        states(&[
            ("iris", "Running"),
            ("iris-bayes", "Running"),
            ("iris-python", "Running")
        ])
    );
    let request = r#"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#;
    for name in ["iris", "iris-bayes", "iris-python"] {
        let answer = server.json(&["predict", name, "--data", request]);
        assert!(answer["predictions"].is_array(), "{name}: {answer}");
    }
    let (ok, table) = server.cli(&["list"]);
    assert!(ok && table.starts_with("NAME"), "{table}");
    assert!(table.contains("iris-python  Running"), "{table}");

    let stopped = server.json(&["stop", "iris-bayes"]);
    assert_eq!(stopped["state"], "Stopped");
    let (ok, out) = server.cli(&["predict", "iris-bayes", "--data", request]);
    assert!(!ok && out.contains("404"), "{out}");

    // Restarted: everything back as it was, nothing redeployed.
    server.stop(false);
    let server = Server::start(port, store.path());
    assert_eq!(
        server.states(),
        states(&[
            ("iris", "Running"),
            ("iris-bayes", "Stopped"),
            ("iris-python", "Running")
        ])
    );
    let answer = server.json(&["predict", "iris-python", "--data", request]);
    assert!(answer["predictions"].is_array(), "{answer}");
    let (ok, logs) = server.cli(&["logs", "iris-python", "--tail", "50"]);
    assert!(
        ok && logs.contains("iris model loaded for iris-python"),
        "{logs}"
    );
    // A transformer's own lines, by component.
    let described = server.json(&["deploy", "examples/python-transformer"]);
    assert_eq!(described["state"], "Running", "{described}");
    let lines = server.json(&["logs", "iris-named", "--component", "transformer"]);
    let lines = lines["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "transformer ready for iris-named"),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l["component"] == "transformer"),
        "{lines:?}"
    );
    let lines = server.json(&["logs", "iris-named", "--component", "predictor"]);
    assert_eq!(lines["lines"], json!([]), "a native graph writes nothing");
    let (ok, described) = server.cli(&["describe", "iris-bayes"]);
    assert!(
        ok && described.contains("component_file predictor.wasm"),
        "{described}"
    );

    // Following a log: the kept lines come at once, as JSON lines.
    let mut follow = Command::new(BINARY)
        .args([
            "logs",
            "iris",
            "--follow",
            "--output",
            "json",
            "--server",
            &server.url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(follow.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let line: Value = serde_json::from_str(&first).unwrap();
    assert!(line["message"].is_string(), "{first}");
    follow.kill().unwrap();
    follow.wait().unwrap();
    server.stop(false);
}

/// The iris ONNX deployment with `description`, and a padding file that makes the upload
/// long enough to be killed in the middle of.
fn iris_upload(description: &str, padding: usize) -> reqwest::blocking::multipart::Form {
    let mut definition: Value = serde_json::from_slice(
        &std::fs::read(root().join("examples/iris-onnx/deployment.json")).unwrap(),
    )
    .unwrap();
    definition["description"] = json!(description);
    let part = |name: &str, bytes: Vec<u8>| {
        reqwest::blocking::multipart::Part::bytes(bytes).file_name(name.to_string())
    };
    reqwest::blocking::multipart::Form::new()
        .part(
            "file",
            part("deployment.json", definition.to_string().into_bytes()),
        )
        .part(
            "file",
            part(
                "model.onnx",
                std::fs::read(root().join("examples/iris-onnx/model.onnx")).unwrap(),
            ),
        )
        .part(
            "file",
            part("padding.bin", vec![description.len() as u8; padding]),
        )
}

#[test]
fn kill_9_during_updates_leaves_the_old_or_the_new_version() {
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Server::start(port, store.path());
    let client = reqwest::blocking::Client::new();
    let url = |s: &Server| format!("{}/api/deployments", s.url);
    let r = client
        .post(url(&server))
        .multipart(iris_upload("v0", 1 << 20))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    // How long one whole update takes here: the kills are spread over it (and a bit past).
    let started = Instant::now();
    let r = client
        .post(url(&server))
        .multipart(iris_upload("v0", 24 << 20))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let update = started.elapsed();
    let mut served = "v0".to_string();
    let mut outcomes = (0, 0);
    let rounds = 12;
    for i in 1..=rounds {
        let description = format!("v{i}");
        let (target, form) = (url(&server), iris_upload(&description, 24 << 20));
        let upload = std::thread::spawn(move || {
            let _ = reqwest::blocking::Client::new()
                .post(target)
                .multipart(form)
                .send();
        });
        // Somewhere in the upload, the blob writes, the record's rename or the start.
        std::thread::sleep(update.mul_f64(1.2 * f64::from(i) / f64::from(rounds)));
        server.stop(true);
        upload.join().unwrap();
        server = Server::start(port, store.path());
        let r = client
            .get(format!("{}/api/deployments/iris", server.url))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "round {i}");
        let d: Value = r.json().unwrap();
        assert_eq!(d["state"], "Running", "round {i}: {d}");
        let now = d["definition"]["description"].as_str().unwrap().to_string();
        assert!(
            now == served || now == description,
            "round {i}: {now} (was {served})"
        );
        if now == description {
            outcomes.1 += 1;
        } else {
            outcomes.0 += 1;
        }
        served = now;
        let r = client
            .post(format!("{}/v1/models/iris:predict", server.url))
            .json(&json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "round {i}");
    }
    eprintln!(
        "an update takes {update:?}; killed during it, the old version came back {} times, the new one {} times",
        outcomes.0, outcomes.1
    );
    server.stop(false);
}
