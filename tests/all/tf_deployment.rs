//! A TensorFlow Serving deployment is a deployment like any other: the Keras churn example
//! behind a Hopsworks Python transformer (named features in, a churn flag out), with its
//! requests batched, logged in the seed's Docker schema with `modelServer`
//! `TENSORFLOW_SERVING`, and its graph unloaded at zero and loaded again, every answer
//! TensorFlow's own (`target/example-models/tf_reference.json`).

use crate::tf_models::copy_tree;
use predictor_runtime::ServeOptions;
use predictor_tests::{DeploymentDir, TestServer, generated, root};
use serde_json::{Value, json};
use std::time::Duration;

const FEATURES: [&str; 12] = [
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "late_payments",
    "contract_years",
    "data_gb",
    "discount",
    "age",
    "devices",
    "dropped_calls",
    "satisfaction",
    "referrals",
];

/// Named features in, the model's rows out; a probability and a flag back.
const TRANSFORMER: &str = r#"
FEATURES = %FEATURES%


class Transformer(object):
    def __init__(self):
        pass

    def preprocess(self, inputs):
        return {"instances": [[float(c[name]) for name in FEATURES] for c in inputs["instances"]]}

    def postprocess(self, outputs):
        return {"predictions": [{"churn_probability": row[0], "churns": row[0] > 0.5}
                                for row in outputs["predictions"]]}
"#;

fn deployment() -> DeploymentDir {
    let features: Vec<String> = FEATURES.iter().map(|f| format!("{f:?}")).collect();
    let script = TRANSFORMER.replace("%FEATURES%", &format!("[{}]", features.join(", ")));
    let dir = DeploymentDir::new(&json!({
        "name": "churn", "model_file": "model",
        "model_server": "TENSORFLOW_SERVING", "model_framework": "KERAS",
        "resources": {"requests": {"cores": 0.1, "memory": 32}},
        "inference_batcher": {"enabled": true, "max_batch_size": 16, "max_latency": 30},
        "scaling_configuration": {"min_instances": 0, "scale_to_zero_retention_seconds": 1},
        "inference_logger": {"mode": "ALL", "schema": "DOCKER", "format": "JSON"},
        "transformer": {"script_file": "transformer.py",
            "resources": {"requests": {"cores": 0.1, "memory": 64}, "limits": {"cores": 1, "memory": 256}}}
    }))
    .with_file("transformer.py", script);
    let model = generated("examples/keras-churn/model/1/saved_model.pb");
    copy_tree(
        model.parent().unwrap().parent().unwrap(),
        &dir.path().join("model"),
    );
    dir
}

/// The example's request rows as named customers, and TensorFlow's probability for each.
fn customers() -> Vec<(Value, f64)> {
    let request: Value = serde_json::from_slice(
        &std::fs::read(root().join("examples/keras-churn/request.json")).unwrap(),
    )
    .unwrap();
    let reference: Value = serde_json::from_slice(
        &std::fs::read(generated("target/example-models/tf_reference.json")).unwrap(),
    )
    .unwrap();
    request["instances"]
        .as_array()
        .unwrap()
        .iter()
        .zip(reference["churn_predictions"].as_array().unwrap())
        .map(|(row, p)| {
            let named: serde_json::Map<String, Value> = FEATURES
                .iter()
                .zip(row.as_array().unwrap())
                .map(|(f, v)| (f.to_string(), v.clone()))
                .collect();
            (Value::Object(named), p[0].as_f64().unwrap())
        })
        .collect()
}

async fn ask(server: &TestServer, customer: &Value) -> (u16, Value) {
    let client = server.client.clone();
    let r = client
        .post(format!("{}/v1/models/churn:predict", server.base))
        .json(&json!({"instances": [customer]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn check(answer: &Value, want: f64) {
    let p = &answer["predictions"][0];
    let got = p["churn_probability"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-4, "{got} vs TensorFlow's {want}");
    assert_eq!(p["churns"], json!(want > 0.5), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tf_serving_deployment_transforms_batches_logs_and_scales_to_zero() {
    let dir = deployment();
    let data_dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_options(ServeOptions {
        data_dir: data_dir.path().to_path_buf(),
        deploy: vec![dir.path().to_path_buf()],
        ..ServeOptions::default()
    })
    .await;
    let customers = customers();

    // Sixteen one-customer requests at once: merged into fewer graph runs.
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let (customer, want) = customers[i % customers.len()].clone();
            let (client, base) = (server.client.clone(), server.base.clone());
            tokio::spawn(async move {
                let r = client
                    .post(format!("{base}/v1/models/churn:predict"))
                    .json(&json!({"instances": [customer]}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap(), want)
            })
        })
        .collect();
    for call in calls {
        let (status, body, want) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        check(&body, want);
    }
    let batches = server
        .metric("predictor_batch_size_count{deployment=\"churn\",stage=\"predict\"}")
        .await;
    assert!(
        (1.0..16.0).contains(&batches),
        "{batches} batches for 16 requests"
    );

    // The graph goes to zero after its retention; the next request loads it again. On a slow
    // machine the graph may already have gone to zero once before the first requests (the
    // transformer's start outlasts the 1 s retention), so cold starts are counted from here.
    let instances = "predictor_instances{deployment=\"churn\",component=\"predictor\"}";
    let cold = "predictor_cold_start_seconds_count{deployment=\"churn\",component=\"predictor\"}";
    server
        .wait_for_metric(
            instances,
            0.0,
            Duration::from_secs(20),
            "never went to zero",
        )
        .await;
    let cold_before = server.metric(cold).await;
    let (status, body) = ask(&server, &customers[1].0).await;
    assert_eq!(status, 200, "{body}");
    check(&body, customers[1].1);
    assert_eq!(
        server.metric(cold).await,
        cold_before + 1.0,
        "one cold start"
    );
    server.stop().await;

    // One record per inference in the seed's Docker schema, naming TF Serving.
    let log = data_dir.path().join("inference-log/churn.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 17, "{text}");
    for r in &records {
        assert_eq!(r["modelServer"], "TENSORFLOW_SERVING", "{r}");
        assert_eq!(r["responseHttpCode"], 200, "{r}");
        assert!(
            r["inferenceResponse"]
                .as_str()
                .unwrap()
                .contains("churn_probability"),
            "{r}"
        );
    }
}
