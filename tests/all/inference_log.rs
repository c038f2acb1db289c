//! Kafka inference logging against a real Kafka-protocol broker (tansu), read back by a
//! consumer that is not our code (confluent-kafka + fastavro with the seed's schema): each
//! mode writes exactly its records; a broker outage under load loses no record and fails no
//! inference; a buffer too small for the outage drops records and counts them exactly;
//! shutdown delivers what is queued. Faults librdkafka's mock cluster injects (request
//! errors, a slow broker) are retried without duplicates. A broker only TLS reaches gets
//! every record, through librdkafka's TLS options passed on.

use predictor_runtime::KafkaConfig;
use predictor_runtime::{RunningServer, ServeOptions, start};
use predictor_tests::broker::{Broker, TlsBroker};
use predictor_tests::{DeploymentDir, root, shared_data_dir};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A copy of the iris ONNX example named `name`, logging with `logger`.
fn iris(name: &str, logger: Value) -> DeploymentDir {
    let dir = DeploymentDir::example("iris-onnx", None);
    let mut definition: Value = serde_json::from_slice(
        &std::fs::read(root().join("examples/iris-onnx/deployment.json")).unwrap(),
    )
    .unwrap();
    definition["name"] = json!(name);
    definition["inference_logger"] = logger;
    std::fs::write(
        dir.path().join("deployment.json"),
        serde_json::to_vec(&definition).unwrap(),
    )
    .unwrap();
    dir
}

async fn serve(brokers: String, dirs: &[&DeploymentDir], buffer_messages: usize) -> RunningServer {
    start(&ServeOptions {
        data_dir: shared_data_dir(),
        // A store of its own: no test restores another's deployments.
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: dirs.iter().map(|d| d.path().to_path_buf()).collect(),
        kafka: Some(KafkaConfig {
            brokers,
            options: Vec::new(),
            buffer_messages,
            flush_timeout: Duration::from_secs(20),
        }),
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

/// A server logging deployment `name` (mode ALL, topic `name`) to `broker`, its first
/// inference already delivered (so the topic exists and the producer is connected).
async fn logging_to(
    broker: &Broker,
    name: &str,
    buffer_messages: usize,
) -> (DeploymentDir, RunningServer) {
    let dir = iris(name, json!({"mode": "ALL", "kafka_topic": {"name": name}}));
    let server = serve(broker.bootstrap(), &[&dir], buffer_messages).await;
    assert_eq!(predict(&server, name, GOOD).await.0, 200);
    settled(&server, name, 2, Duration::from_secs(30)).await;
    (dir, server)
}

const GOOD: &str = r#"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#;

async fn predict(server: &RunningServer, name: &str, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/models/{name}:predict", server.addr))
        .header("x-user", "alice")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `n` good predictions from 8 concurrent clients; every one must succeed.
async fn load(server: &RunningServer, name: &str, n: usize) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (addr, name) = (server.addr, name.to_string());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..n / 8 {
                    let r = client
                        .post(format!("http://{addr}/v1/models/{name}:predict"))
                        .body(GOOD)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "inference must not fail");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// (delivered, dropped) records of `name`, as `/metrics` says.
async fn counts(server: &RunningServer, name: &str) -> (u64, u64) {
    let text = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |outcome: &str| {
        let series = format!(
            "predictor_inference_log_records_total{{deployment=\"{name}\",outcome=\"{outcome}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |v| v.parse().unwrap())
    };
    (value("delivered"), value("dropped"))
}

/// Waits until delivered + dropped reaches `total`.
async fn settled(server: &RunningServer, name: &str, total: u64, within: Duration) -> (u64, u64) {
    let started = Instant::now();
    loop {
        let (delivered, dropped) = counts(server, name).await;
        if delivered + dropped >= total {
            return (delivered, dropped);
        }
        assert!(
            started.elapsed() < within,
            "{name}: {delivered} delivered + {dropped} dropped of {total} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn by_inference(records: &[Value]) -> HashMap<String, Vec<&Value>> {
    let mut pairs: HashMap<String, Vec<&Value>> = HashMap::new();
    for r in records {
        pairs
            .entry(r["inferenceId"].as_str().unwrap().to_string())
            .or_default()
            .push(r);
    }
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_writes_exactly_its_records_in_the_seed_schemas() {
    let broker = Broker::start();
    let dirs = [
        iris(
            "log-all",
            json!({"mode": "ALL", "kafka_topic": {"name": "all", "num_of_partitions": 2}}),
        ),
        iris(
            "log-inputs",
            json!({"mode": "MODEL_INPUTS", "kafka_topic": {"name": "inputs"}}),
        ),
        iris(
            "log-predictions",
            json!({"mode": "PREDICTIONS", "kafka_topic": {"name": "predictions"}}),
        ),
        iris(
            "log-docker",
            json!({"mode": "ALL", "schema": "DOCKER", "headers": ["x-user"], "kafka_topic": {"name": "docker"}}),
        ),
        iris(
            "log-json",
            json!({"mode": "ALL", "format": "JSON", "kafka_topic": {"name": "json"}}),
        ),
        iris(
            "log-none",
            json!({"mode": "NONE", "kafka_topic": {"name": "none"}}),
        ),
    ];
    let server = serve(broker.bootstrap(), &dirs.iter().collect::<Vec<_>>(), 10_000).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut answers = HashMap::new();
    for name in [
        "log-all",
        "log-inputs",
        "log-predictions",
        "log-docker",
        "log-json",
        "log-none",
    ] {
        for _ in 0..2 {
            let (status, body) = predict(&server, name, GOOD).await;
            assert_eq!(status, 200, "{body}");
            answers.insert(name, body);
        }
        // Errors are logged too, with their status (KServe's logger drops them).
        let (status, _) = predict(&server, name, r#"{"instances": "nope"}"#).await;
        assert_eq!(status, 400);
    }
    let all = broker.consume("all", "kserve", "avro", 6);
    assert_eq!(all.len(), 6, "{all:?}");
    let pairs = by_inference(&all);
    assert_eq!(pairs.len(), 3);
    for pair in pairs.values() {
        let kinds: Vec<&str> = pair
            .iter()
            .map(|r| r["messageType"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"request") && kinds.contains(&"response"),
            "{pair:?}"
        );
        let request = pair.iter().find(|r| r["messageType"] == "request").unwrap();
        let response = pair
            .iter()
            .find(|r| r["messageType"] == "response")
            .unwrap();
        assert_eq!(request["modelName"], "iris");
        assert_eq!(request["modelVersion"], 1);
        assert_eq!(request["servingId"], response["servingId"]);
        assert_eq!(request["_key"], request["inferenceId"]);
        assert_eq!(request["responseHttpCode"], response["responseHttpCode"]);
        let at = request["requestTimestamp"].as_i64().unwrap();
        assert!(at >= before && at < before + 60_000, "{at} vs {before}");
        match request["responseHttpCode"].as_i64().unwrap() {
            200 => {
                assert_eq!(request["payload"], GOOD);
                assert_eq!(response["payload"].as_str().unwrap(), answers["log-all"]);
            }
            400 => assert!(
                response["payload"].as_str().unwrap().contains("\"error\""),
                "{response}"
            ),
            other => panic!("unexpected status {other}"),
        }
    }
    let inputs = broker.consume("inputs", "kserve", "avro", 3);
    assert_eq!(inputs.len(), 3);
    assert!(inputs.iter().all(|r| r["messageType"] == "request"));
    let predictions = broker.consume("predictions", "kserve", "avro", 3);
    assert_eq!(predictions.len(), 3);
    assert!(predictions.iter().all(|r| r["messageType"] == "response"));
    let docker = broker.consume("docker", "docker", "avro", 3);
    assert_eq!(docker.len(), 3);
    for r in &docker {
        assert_eq!(r["modelServer"], "PYTHON");
        assert_eq!(r["servingTool"], "KSERVE");
        assert_eq!(r["_headers"]["x-user"], "alice");
        assert!(!r["inferenceRequest"].as_str().unwrap().is_empty());
        assert!(!r["inferenceResponse"].as_str().unwrap().is_empty());
    }
    let json_records = broker.consume("json", "kserve", "json", 6);
    assert_eq!(json_records.len(), 6);
    assert_eq!(by_inference(&json_records).len(), 3);

    for (name, records) in [
        ("log-all", 6),
        ("log-inputs", 3),
        ("log-predictions", 3),
        ("log-docker", 3),
        ("log-json", 6),
        ("log-none", 0),
    ] {
        assert_eq!(counts(&server, name).await, (records, 0), "{name}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_under_load_fails_no_inference_and_loses_no_record() {
    let broker = Broker::start();
    let (_dir, server) = logging_to(&broker, "outage", 100_000).await;

    broker.pause();
    load(&server, "outage", 400).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        counts(&server, "outage").await,
        (2, 0),
        "nothing delivered while down"
    );
    broker.resume();

    let (delivered, dropped) = settled(&server, "outage", 802, Duration::from_secs(60)).await;
    assert_eq!((delivered, dropped), (802, 0));
    let records = broker.consume("outage", "kserve", "avro", 802);
    assert_eq!(records.len(), 802, "each record once");
    let pairs = by_inference(&records);
    assert_eq!(pairs.len(), 401);
    assert!(pairs.values().all(|p| p.len() == 2));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffer_too_small_for_the_outage_drops_records_and_counts_them_exactly() {
    let broker = Broker::start();
    let (_dir, server) = logging_to(&broker, "small", 50).await;

    broker.pause();
    load(&server, "small", 200).await;
    broker.resume();
    let (delivered, dropped) = settled(&server, "small", 402, Duration::from_secs(60)).await;
    assert_eq!(delivered + dropped, 402);
    assert!(
        dropped >= 300,
        "a buffer of 50 holds at most 50: {dropped} dropped"
    );
    let records = broker.consume("small", "kserve", "avro", delivered as usize);
    assert_eq!(
        records.len() as u64,
        delivered,
        "what was counted delivered arrived"
    );
    let deployment = server.registry.get("small").unwrap();
    let warned = deployment
        .log
        .tail(100)
        .iter()
        .any(|l| l.message.contains("record(s) dropped so far"));
    assert!(warned, "the drops are in the deployment log");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_the_records_still_queued() {
    let broker = Broker::start();
    let (_dir, server) = logging_to(&broker, "closing", 100_000).await;

    broker.pause();
    load(&server, "closing", 80).await;
    let registry = std::sync::Arc::clone(&server.registry);
    // The broker comes back while the server is already stopping: the flush waits for it.
    let resume = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        broker.resume();
        broker
    });
    server.stop().await.unwrap();
    let broker = resume.await.unwrap();
    drop(registry);
    let records = broker.consume("closing", "kserve", "avro", 162);
    assert_eq!(records.len(), 162);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_and_a_slow_broker_are_retried_without_duplicates() {
    use rdkafka::Message;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("faults", 1, 1).unwrap();
    // A slow broker, and produce requests failing with retriable errors.
    mock.broker_round_trip_time(1, Duration::from_millis(200))
        .unwrap();
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        ],
    );
    let dir = iris(
        "faults",
        json!({"mode": "ALL", "kafka_topic": {"name": "faults"}}),
    );
    let server = serve(mock.bootstrap_servers(), &[&dir], 100_000).await;
    load(&server, "faults", 200).await;
    let (delivered, dropped) = settled(&server, "faults", 400, Duration::from_secs(60)).await;
    assert_eq!((delivered, dropped), (400, 0));

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "faults-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["faults"]).unwrap();
    let mut keys: HashMap<Vec<u8>, usize> = HashMap::new();
    let started = Instant::now();
    while keys.values().sum::<usize>() < 400 && started.elapsed() < Duration::from_secs(30) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            *keys.entry(m.key().unwrap().to_vec()).or_default() += 1;
        }
    }
    assert_eq!(keys.len(), 200, "one pair per inference");
    assert!(keys.values().all(|&n| n == 2), "no record twice");
    server.stop().await.unwrap();
}

/// Hopsworks' brokers are reached over TLS: `--kafka-option` passes librdkafka's TLS settings
/// on (OpenSSL is built in), and every record reaches a broker no plaintext client reaches,
/// then reads back over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_a_broker_only_tls_reaches() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};

    let tls = TlsBroker::start();
    let ca = tls.ca_file.to_str().unwrap().to_string();
    let options = vec![
        ("security.protocol".to_string(), "SSL".to_string()),
        ("ssl.ca.location".to_string(), ca.clone()),
    ];
    let dir = iris(
        "secure",
        json!({"mode": "ALL", "kafka_topic": {"name": "secure"}}),
    );
    let server = start(&ServeOptions {
        data_dir: shared_data_dir(),
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: vec![dir.path().to_path_buf()],
        kafka: Some(KafkaConfig {
            brokers: tls.addr.to_string(),
            options,
            buffer_messages: 1000,
            flush_timeout: Duration::from_secs(20),
        }),
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    for _ in 0..10 {
        assert_eq!(predict(&server, "secure", GOOD).await.0, 200);
    }
    let (delivered, dropped) = settled(&server, "secure", 20, Duration::from_secs(30)).await;
    assert_eq!((delivered, dropped), (20, 0));
    server.stop().await.unwrap();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", tls.addr.to_string())
        .set("security.protocol", "SSL")
        .set("ssl.ca.location", &ca)
        .set("group.id", "secure-reader")
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset("secure", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let mut keys: HashMap<Vec<u8>, usize> = HashMap::new();
    let started = Instant::now();
    while keys.values().sum::<usize>() < 20 && started.elapsed() < Duration::from_secs(30) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            *keys.entry(m.key().unwrap().to_vec()).or_default() += 1;
        }
    }
    assert_eq!(
        keys.len(),
        10,
        "a request and a response record per inference"
    );
    assert!(keys.values().all(|&n| n == 2), "{keys:?}");
}

#[tokio::test]
async fn without_a_broker_the_same_records_go_to_a_file_per_deployment() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = iris("local", json!({"mode": "ALL"}));
    let server = start(&ServeOptions {
        data_dir: data_dir.path().to_path_buf(),
        deploy: vec![dir.path().to_path_buf()],
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(predict(&server, "local", GOOD).await.0, 200);
    }
    let (delivered, dropped) = settled(&server, "local", 6, Duration::from_secs(10)).await;
    assert_eq!((delivered, dropped), (6, 0));
    server.stop().await.unwrap();
    let text = std::fs::read_to_string(data_dir.path().join("inference-log/local.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 6);
    assert_eq!(by_inference(&records).len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r["modelName"] == "iris" && r["responseHttpCode"] == 200)
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r["messageType"] == "request")
            .count(),
        3
    );
}
