//! Connections before any route: slow-header and idle clients are closed by their timeouts
//! while a normal predict keeps answering promptly; a body that does not arrive is a 408;
//! past the connection cap new clients wait and the ones accepted keep flowing; shutdown
//! with a half-sent request ends within its grace period; a panicking handler is a 500 with
//! its request id and the server keeps serving; the port answers liveness while
//! deployments start; plain-text rejections come back as `{"error"}`.

use axum::Router;
use axum::routing::get;
use predictor_runtime::ApiKeys;
use predictor_runtime::ConnectionLimits;
use predictor_runtime::ServeOptions;
use predictor_tests::{DeploymentDir, TestServer, guests, shared_data_dir};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE_CLIENTS: usize = 1_000;
const SLOW_CLIENTS: usize = 50;

fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(1_000),
        idle_timeout: Duration::from_millis(2_000),
        body_read_timeout: Duration::from_millis(1_500),
        shutdown_grace: Duration::from_millis(500),
        ..ConnectionLimits::default()
    }
}

async fn iris_server(limits: ConnectionLimits) -> (TestServer, DeploymentDir) {
    let iris = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start_options(ServeOptions {
        data_dir: shared_data_dir(),
        deploy: vec![iris.path().to_path_buf()],
        connections: limits,
        ..ServeOptions::default()
    })
    .await;
    (server, iris)
}

fn iris_request() -> String {
    json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}).to_string()
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or an error answer before the close: keep reading to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed_while_predicts_keep_flowing() {
    let (server, _iris) = iris_server(short_limits()).await;
    let addr = server.server.addr;
    let url = format!("{}/v1/models/iris:predict", server.base);

    let mut idle = Vec::with_capacity(IDLE_CLIENTS);
    for _ in 0..IDLE_CLIENTS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Slow-header clients: a byte every 100 ms, never finishing the head.
    let head =
        b"POST /v1/models/iris:predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n";
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let started = Instant::now();
                for byte in head.iter().cycle() {
                    if stream.write_all(&[*byte]).await.is_err() {
                        return Some(started.elapsed());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if started.elapsed() > Duration::from_secs(20) {
                        return None;
                    }
                }
                None
            })
        })
        .collect();

    // While they are held, predicts answer promptly, each on a new connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let r = client.post(&url).body(iris_request()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    assert!(
        median < Duration::from_millis(100),
        "median predict {median:?} with {IDLE_CLIENTS} idle and {SLOW_CLIENTS} slow clients held"
    );

    // Both are closed by the header-read timeout (1 s): the silent ones owe their first head
    // from the moment they connected, the slow ones never finish theirs.
    for stream in &mut idle {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "an idle connection was not closed"
        );
    }
    for task in slow {
        let closed_after = task
            .await
            .unwrap()
            .expect("a slow-header client was not closed");
        assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_is_a_408() {
    let (server, _iris) = iris_server(short_limits()).await;
    let mut stream = TcpStream::connect(server.server.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/models/iris:predict HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"inst")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\""), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_new_clients_wait_and_accepted_ones_flow() {
    let limits = ConnectionLimits {
        max_connections: 4,
        idle_timeout: Duration::from_millis(1_500),
        ..short_limits()
    };
    let (server, _iris) = iris_server(limits).await;
    let addr = server.server.addr;
    // One kept-alive client doing predicts, three idle: the cap is reached.
    let keep_alive = reqwest::Client::new();
    let url = format!("{}/v1/models/iris:predict", server.base);
    let r = keep_alive
        .post(&url)
        .body(iris_request())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A new client waits (the kernel holds it in the backlog)...
    let waiting = tokio::spawn({
        let url = url.clone();
        async move {
            let started = Instant::now();
            let r = reqwest::Client::new()
                .post(&url)
                .body(iris_request())
                .send()
                .await;
            (r.map(|r| r.status().as_u16()), started.elapsed())
        }
    });
    // ...while the accepted one keeps being answered.
    for _ in 0..5 {
        let r = keep_alive
            .post(&url)
            .body(iris_request())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once the idle ones time out, the waiting one is served.
    let (status, waited) = waiting.await.unwrap();
    assert_eq!(status.unwrap(), 200);
    assert!(
        waited >= Duration::from_millis(800),
        "the client past the cap did not wait: {waited:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_grace_despite_a_half_sent_request() {
    let limits = ConnectionLimits {
        // Longer than the test: only the bounded drain can end this client.
        header_read_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        ..short_limits()
    };
    let (server, _iris) = iris_server(limits).await;
    let mut stream = TcpStream::connect(server.server.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/models/iris:predict HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("shutdown waited past its grace period");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
}

async fn boom() -> &'static str {
    panic!("a handler bug")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_500_with_its_request_id_and_serving_goes_on() {
    let routes = Router::new()
        .route("/boom", get(boom))
        .route("/fine", get(|| async { "fine" }));
    let router = predictor_runtime::with_layers(routes, Arc::new(ApiKeys::default()), 1 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(predictor_runtime::serve_connections(
        listener,
        router,
        short_limits(),
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .get(format!("http://{addr}/boom"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(&id), "{error} does not name request {id}");
        let r = client
            .get(format!("http://{addr}/fine"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_are_json_and_health_needs_no_key() {
    let iris = DeploymentDir::example("iris-onnx", None);
    let keys = ApiKeys::parse_file("predict 0123456789abcdef-predict\n").unwrap();
    let server = TestServer::start_options(ServeOptions {
        data_dir: shared_data_dir(),
        deploy: vec![iris.path().to_path_buf()],
        api_keys: keys,
        ..ServeOptions::default()
    })
    .await;
    let client = reqwest::Client::new();
    for path in ["/v2/health/live", "/v2/health/ready", "/"] {
        let r = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} without a key");
    }
    // Not a health probe: still needs the key.
    let r = client
        .get(format!("{}/v2/models/iris", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A path that is not UTF-8 once decoded: the extractor's rejection, as JSON.
    let r = client
        .get(format!("{}/v1/models/%FF%FE", server.base))
        .header("authorization", "ApiKey 0123456789abcdef-predict")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_answers_liveness_while_deployments_start() {
    // A deployment whose model takes 3 s to load (its init sleeps): the port must answer
    // meanwhile.
    let slow = DeploymentDir::new(&json!({
        "name": "slow-start", "component_file": "predictor.wasm",
        "env_vars": {"INIT_SLEEP_MS": "3000"}
    }))
    .with_file("predictor.wasm", std::fs::read(guests::ROWS).unwrap());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let options = ServeOptions {
        listen,
        data_dir: shared_data_dir(),
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: vec![slow.path().to_path_buf()],
        ..ServeOptions::default()
    };
    let starting = tokio::spawn(async move { predictor_runtime::start(&options).await });
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut saw_starting = false;
    while !starting.is_finished() && Instant::now() < deadline {
        if let Ok(r) = client
            .get(format!("http://{listen}/v2/health/live"))
            .send()
            .await
        {
            assert_eq!(r.status(), 200);
            let ready = client
                .get(format!("http://{listen}/v2/health/ready"))
                .send()
                .await
                .unwrap();
            if !starting.is_finished() {
                assert_eq!(ready.status(), 503, "ready while still starting");
                saw_starting = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let server = starting.await.unwrap().expect("server starts");
    assert!(
        saw_starting,
        "the port never answered while the deployment was starting"
    );
    let r = client
        .get(format!("http://{listen}/v2/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await.unwrap();
}
