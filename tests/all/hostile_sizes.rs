//! Sizes a client declares, against a real server: shapes no body could fill (the 90-byte
//! V2 request that aborted the process), zero and too many dimensions, `binary_data_size`
//! and BYTES lengths past the body, nesting past the depth limit, every datatype (BF16 on a
//! Python predictor) and truncated bodies. A native graph, a Rust component and a Python
//! script each get a few hundred generated bodies: every answer is a 4xx with an error or
//! a success, except a Python model's own failure; and each still answers a good request.

use predictor_tests::{DeploymentDir, TestServer, guests, resident_mib};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

/// Generated bodies per deployment and protocol.
const CASES: usize = 150;
/// What the hostile requests may leave resident (bodies are small; instances that grew are
/// recycled): a leak per request would pass it within the few hundred requests.
const MAX_RSS_GROWTH_MIB: f64 = 64.0;
/// A good request is checked after every this many hostile ones.
const GOOD_EVERY: usize = 50;

/// The request of issue 14: 2^55 FP32 elements declared, one sent.
const SHAPE_BOMB: &str =
    r#"{"inputs":[{"name":"x","shape":[36028797018963968],"datatype":"FP32","data":[1]}]}"#;

/// A hostile request: V1 or V2, its bytes, and the binary extension's JSON length.
#[derive(Clone, Debug)]
struct Hostile {
    v2: bool,
    body: Vec<u8>,
    json_length: Option<usize>,
}

fn dim() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 1u64..5,
        1 => Just(0u64),
        1 => Just(1u64 << 55),
        1 => Just(1u64 << 62),
        1 => Just(u64::MAX),
    ]
}

fn shape() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        5 => prop::collection::vec(dim(), 0..5),
        1 => prop::collection::vec(Just(1u64), 33..40),
    ]
}

fn datatype() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
        "FP32", "FP64", "BF16", "BYTES", "FP33", "",
    ])
    .prop_map(str::to_string)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (-10.0f64..10.0).prop_map(|f| json!(f)),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => "[a-z]{0,3}".prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

/// Arrays of leaves, regular or ragged, wrapped in up to 100 more levels (past the limit).
fn nested() -> impl Strategy<Value = Value> {
    let arrays = leaf().prop_recursive(3, 48, 5, |inner| {
        prop::collection::vec(inner, 0..5).prop_map(Value::Array)
    });
    (arrays, prop_oneof![6 => Just(0usize), 1 => 1usize..100])
        .prop_map(|(v, wrap)| (0..wrap).fold(v, |v, _| json!([v])))
}

/// Bytes for the binary extension, sometimes a BYTES element claiming 2 GiB.
fn binary() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u8>(), 0..48), any::<bool>()).prop_map(|(mut bytes, huge)| {
        if huge {
            bytes.splice(0..0, [0xff, 0xff, 0xff, 0x7f]);
        }
        bytes
    })
}

fn v2_input() -> impl Strategy<Value = (Value, Vec<u8>)> {
    let name = prop::sample::select(vec!["input", "x"]);
    let size = prop_oneof![Just(None), Just(Some(u64::MAX)), (0u64..64).prop_map(Some)];
    (
        name,
        shape(),
        datatype(),
        nested(),
        any::<bool>(),
        binary(),
        size,
    )
        .prop_map(|(name, shape, datatype, data, use_binary, bytes, size)| {
            if use_binary {
                // The declared size: the bytes sent, or a lie.
                let size = size.unwrap_or(bytes.len() as u64);
                let input = json!({"name": name, "shape": shape, "datatype": datatype,
                    "parameters": {"binary_data_size": size}});
                (input, bytes)
            } else {
                let input =
                    json!({"name": name, "shape": shape, "datatype": datatype, "data": data});
                (input, Vec::new())
            }
        })
}

fn truncated(body: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = body.len();
    prop_oneof![4 => Just(len), 1 => 0..len + 1].prop_map(move |n| body[..n].to_vec())
}

fn v2_request() -> impl Strategy<Value = Hostile> {
    prop::collection::vec(v2_input(), 1..3).prop_flat_map(|inputs| {
        let header =
            json!({"inputs": inputs.iter().map(|(j, _)| j).collect::<Vec<_>>()}).to_string();
        let binary: Vec<u8> = inputs.iter().flat_map(|(_, b)| b.clone()).collect();
        let uses_binary = inputs
            .iter()
            .any(|(j, _)| j.pointer("/parameters/binary_data_size").is_some());
        let json_length = uses_binary.then_some(header.len());
        let mut body = header.into_bytes();
        body.extend_from_slice(&binary);
        truncated(body).prop_map(move |body| Hostile {
            v2: true,
            body,
            json_length,
        })
    })
}

fn v1_request() -> impl Strategy<Value = Hostile> {
    (prop::sample::select(vec!["instances", "inputs"]), nested()).prop_flat_map(|(key, data)| {
        truncated(json!({ key: data }).to_string().into_bytes()).prop_map(|body| Hostile {
            v2: false,
            body,
            json_length: None,
        })
    })
}

/// `n` values of `strategy`, the same on every run.
fn generate<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Sends `request` to `model`; the status and the error message, if any.
async fn send(
    server: &TestServer,
    model: &str,
    request: &Hostile,
) -> Result<(u16, String), String> {
    let path = if request.v2 {
        format!("/v2/models/{model}/infer")
    } else {
        format!("/v1/models/{model}:predict")
    };
    let mut post = server
        .client
        .post(format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .body(request.body.clone());
    if let Some(n) = request.json_length {
        post = post.header("inference-header-content-length", n);
    }
    let response = post.send().await.map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("cut off: {e}"))?;
    if status < 400 {
        return Ok((status, String::new()));
    }
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "{status} without a JSON body: {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    let error = body["error"]
        .as_str()
        .ok_or_else(|| format!("{status} without an error: {body}"))?;
    Ok((status, error.to_string()))
}

async fn good_predict(server: &TestServer, model: &str) {
    let (status, body) = server
        .post(
            &format!("/v1/models/{model}:predict"),
            &json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}),
        )
        .await;
    assert_eq!(status, 200, "{model} after hostile requests: {body}");
}

fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(300).collect()
}

#[tokio::test]
async fn declared_sizes_never_take_the_server_down() {
    let onnx = DeploymentDir::example("iris-onnx", None);
    let bayes = DeploymentDir::example("rust-predictor", Some(guests::IRIS_NAIVE_BAYES));
    let python = DeploymentDir::example("python-iris", None);
    let server = TestServer::start(&[&onnx, &bayes, &python]).await;
    let models = ["iris", "iris-bayes", "iris-python"];

    for model in models {
        // The 90-byte request that aborted the process.
        let bomb = Hostile {
            v2: true,
            body: SHAPE_BOMB.as_bytes().to_vec(),
            json_length: None,
        };
        let (status, error) = send(&server, model, &bomb).await.unwrap();
        assert_eq!(status, 400, "{model}: {error}");
        assert!(
            error.contains("do not fill shape [36028797018963968]"),
            "{model}: {error}"
        );
        // 1,000 levels of nesting never reach a guest.
        let deep = Hostile {
            v2: false,
            body: format!(
                r#"{{"instances": {}1{}}}"#,
                "[".repeat(1000),
                "]".repeat(1000)
            )
            .into_bytes(),
            json_length: None,
        };
        let (status, error) = send(&server, model, &deep).await.unwrap();
        assert_eq!(status, 400, "{model}: {error}");
        assert!(error.contains("levels deep"), "{model}: {error}");
        good_predict(&server, model).await;
    }

    // BF16 reaches a Python predictor as floats (it trapped the instance before).
    let bf16 = json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BF16",
        "data": [5.1, 3.5, 1.4, 0.2]}]});
    let (status, body) = server.post("/v2/models/iris-python/infer", &bf16).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["data"], json!([0]), "{body}");
    let (status, body) = server.post("/v2/models/iris/infer", &bf16).await;
    assert_eq!(status, 400, "{body}");

    let mut requests = generate(v1_request(), CASES);
    requests.extend(generate(v2_request(), CASES));
    // Every stage warm: what stays resident past here is what the hostile requests left.
    let rss_before = resident_mib();
    let mut failures = Vec::new();
    for model in models {
        let mut model_failures = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            match send(&server, model, request).await {
                Ok((status, _)) if status < 500 => {}
                // A Python script may raise on what it is given: its own failure, reported.
                Ok((500, error))
                    if model == "iris-python" && error.contains("the predictor failed") =>
                {
                    model_failures.push(error)
                }
                Ok((status, error)) => failures.push(format!(
                    "{model} {status} {error}: {}",
                    shown(&request.body)
                )),
                Err(e) => failures.push(format!("{model} {e}: {}", shown(&request.body))),
            }
            if (i + 1) % GOOD_EVERY == 0 {
                good_predict(&server, model).await;
            }
        }
        model_failures.sort();
        model_failures.dedup();
        eprintln!(
            "{model}: {} hostile requests; the model's own failures: {model_failures:#?}",
            requests.len()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let rss_after = resident_mib();
    eprintln!("RSS {rss_before:.1} -> {rss_after:.1} MiB");
    assert!(
        rss_after < rss_before + MAX_RSS_GROWTH_MIB,
        "RSS {rss_before:.1} -> {rss_after:.1} MiB after {} hostile requests",
        requests.len() * models.len()
    );

    let (status, _) = server.get("/v2/health/live").await;
    assert_eq!(status, 200);
    server.stop().await;
}
