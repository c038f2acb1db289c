//! Hopsworks Python scripts: `Predict` and `Transformer` classes componentized by
//! componentize-py at deploy time (cached by content hash), served from warm instances,
//! sandboxed like any component.

use predictor_tests::{DeploymentDir, TestServer, assert_close, column, reference, root};
use serde_json::{Value, json};

fn request(example: &str) -> Value {
    let path = root().join("examples").join(example).join("request.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn log_text(server: &TestServer, name: &str) -> String {
    server
        .deployment(name)
        .log
        .tail(200)
        .iter()
        .map(|l| l.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_python_iris_script_answers_what_sklearn_predicts() {
    let dir = DeploymentDir::example("python-iris", None);
    let server = TestServer::start(&[&dir]).await;

    let (status, body) = server
        .post("/v1/models/iris-python:predict", &request("python-iris"))
        .await;
    assert_eq!(status, 200, "{body}");
    let body = server.predict_reference("iris-python").await;
    assert_eq!(body["predictions"], reference()["logreg_labels"]);

    // V2: the one input tensor reaches predict() as its nested list; the answer is output-0.
    let v2 = json!({"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP32", "data": reference()["instances"]}]});
    let (status, body) = server.post("/v2/models/iris-python/infer", &v2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["name"], "output-0");
    assert_eq!(body["outputs"][0]["datatype"], "INT64");
    assert_eq!(body["outputs"][0]["data"], reference()["logreg_labels"]);

    // A wrong shape is the client's error, reported by the host model through the SDK.
    let (status, body) = server
        .post(
            "/v1/models/iris-python:predict",
            &json!({"instances": [[1.0, 2.0]]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("[-1, 4]"),
        "{body}"
    );

    // print() in __init__ is in the deployment's log.
    assert!(
        log_text(&server, "iris-python").contains("iris model loaded for iris-python"),
        "{}",
        log_text(&server, "iris-python")
    );
    server.stop().await;

    // Deployed again: neither componentize-py nor Cranelift runs.
    let again = TestServer::start(&[&dir]).await;
    let log = log_text(&again, "iris-python");
    assert!(
        log.contains("script predictor.py found in the build cache"),
        "{log}"
    );
    assert!(log.contains("loaded from the compile cache"), "{log}");
    assert_eq!(
        again.predict_reference("iris-python").await["predictions"],
        reference()["logreg_labels"]
    );
    again.stop().await;
}

#[tokio::test]
async fn a_transformer_script_wraps_a_native_model() {
    let dir = DeploymentDir::example("python-transformer", None);
    let server = TestServer::start(&[&dir]).await;

    let (status, body) = server
        .post(
            "/v1/models/iris-named:predict",
            &request("python-transformer"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The reference flowers, by name: the model's probabilities come back through it.
    let features = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
    let flowers: Vec<Value> = reference()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let named = features.iter().zip(row.as_array().unwrap());
            Value::Object(named.map(|(k, v)| (k.to_string(), v.clone())).collect())
        })
        .collect();
    let (status, body) = server
        .post(
            "/v1/models/iris-named:predict",
            &json!({"instances": flowers}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        column(&body["predictions"], "species"),
        json!(["setosa", "versicolor", "virginica"])
    );
    let best: Vec<f64> = reference()["logreg_probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap())
                .fold(0.0, f64::max)
        })
        .collect();
    assert_close(
        &column(&body["predictions"], "probability"),
        &json!(best),
        1e-4,
    );

    // A request the transformer cannot read: its exception names the transformer.
    let (status, body) = server
        .post(
            "/v1/models/iris-named:predict",
            &json!({"instances": [{"petal": 1}]}),
        )
        .await;
    assert_eq!(status, 500, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("the transformer failed: Transformer.preprocess raised KeyError"),
        "{message}"
    );
    assert!(log_text(&server, "iris-named").contains("transformer ready for iris-named"));

    // The binary tensor extension cannot go through a JSON transformer: a clear 400.
    let r = server
        .client
        .post(format!("{}/v2/models/iris-named/infer", server.base))
        .header("inference-header-content-length", "2")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("has a transformer"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pure_python_predictor_returns_its_dict_as_the_body() {
    let dir = DeploymentDir::example("python-sentiment", None);
    let server = TestServer::start(&[&dir]).await;
    let (status, body) = server
        .post("/v1/models/sentiment:predict", &request("python-sentiment"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "sentiment-lexicon");
    assert_eq!(
        column(&body["predictions"], "label"),
        json!(["positive", "negative", "neutral"])
    );
    let (status, body) = server
        .post("/v1/models/sentiment:predict", &json!({"instances": [42]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "each instance must be a text string");
    server.stop().await;
}

/// A deployment serving `source` as its `script_file`.
fn script(name: &str, source: &str) -> DeploymentDir {
    DeploymentDir::new(&json!({"name": name, "script_file": "predictor.py"}))
        .with_file("predictor.py", source)
}

#[tokio::test]
async fn scripts_that_cannot_become_components_say_why() {
    let syntax = script(
        "syntax",
        "class Predict:\n    def predict(self, inputs)\n        return inputs\n",
    );
    let no_class = script(
        "no-class",
        "class Model:\n    def predict(self, inputs):\n        return inputs\n",
    );
    let numpy = script(
        "numpy",
        "import numpy as np\n\nclass Predict:\n    def predict(self, inputs):\n        return np.array(inputs)\n",
    );
    let unknown = script(
        "unknown",
        "import fraud_rules\n\nclass Predict:\n    def predict(self, inputs):\n        return inputs\n",
    );
    let no_method = script("no-method", "class Predict:\n    pass\n");
    let good = DeploymentDir::example("iris-onnx", None);
    let server =
        TestServer::start(&[&syntax, &no_class, &numpy, &unknown, &no_method, &good]).await;
    for (name, reason) in [
        (
            "syntax",
            "predictor.py, line 2: syntax error: expected ':': def predict(self, inputs)",
        ),
        (
            "no-class",
            "predictor.py defines no class Predict or class Predictor",
        ),
        (
            "numpy",
            "predictor.py, line 1: imports numpy, which the sandbox cannot provide",
        ),
        ("numpy", "predictor_runtime.Model.load(path)"),
        (
            "unknown",
            "predictor.py, line 1: imports fraud_rules, which the sandbox does not have",
        ),
        (
            "no-method",
            "class Predict in predictor.py has no method predict",
        ),
    ] {
        let (status, body) = server
            .post(
                &format!("/v1/models/{name}:predict"),
                &json!({"instances": [1]}),
            )
            .await;
        assert_eq!(status, 503, "{name}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains("script_file \"predictor.py\""),
            "{message}"
        );
        assert!(message.contains(reason), "{name}: {message}");
        assert!(log_text(&server, name).contains(reason), "{name}");
    }
    assert_eq!(
        server.predict_reference("iris").await["predictions"][0]["label"],
        0
    );
    server.stop().await;
}

fn hostile(name: &str, env: Value) -> DeploymentDir {
    DeploymentDir::new(&json!({
        "name": name,
        "script_file": "hostile.py",
        "env_vars": env,
        "resources": {"limits": {"cores": 1, "memory": 256}},
    }))
    .with_file(
        "hostile.py",
        std::fs::read(root().join("tests/python/hostile.py")).unwrap(),
    )
    .with_file("note.txt", "read-only note")
}

#[tokio::test]
async fn a_failing_script_fails_its_request_only_and_stays_in_its_sandbox() {
    let dir = hostile("hostile", json!({}));
    let init_fails = hostile(
        "init-fails-py",
        json!({"FAIL_INIT": "weights.bin is corrupt"}),
    );
    let server = TestServer::start(&[&dir, &init_fails]).await;
    let predict = |instances: Value| {
        let server = &server;
        async move {
            server
                .post(
                    "/v1/models/hostile:predict",
                    &json!({ "instances": instances }),
                )
                .await
        }
    };

    // An exception answers 500 naming it and where it was raised; the instance serves on
    // (an exception is not a trap: the same instance's counter keeps counting).
    assert_eq!(
        predict(json!(["calls"])).await,
        (200, json!({"predictions": [1]}))
    );
    let (status, body) = predict(json!(["raise"])).await;
    assert_eq!(status, 500, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message
            .contains("Predict.predict raised ValueError: the model is not fitted (at hostile.py:"),
        "{message}"
    );
    assert_eq!(
        predict(json!(["calls"])).await,
        (200, json!({"predictions": [3]}))
    );
    let log = log_text(&server, "hostile");
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert!(log.contains("ValueError: the model is not fitted"), "{log}");

    let (status, body) = predict(json!(["bad-input"])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("instances must be numbers"))
    );

    // Files: the artifact folder is readable and read-only; nothing else exists.
    assert_eq!(
        predict(json!(["read-artifact"])).await,
        (200, json!({"predictions": ["read-only note"]}))
    );
    for (action, error) in [
        ("read-outside", "FileNotFoundError"),
        ("escape", "PermissionError"),
        ("write-artifact", "PermissionError"),
    ] {
        let (status, body) = predict(json!([action])).await;
        assert_eq!(status, 500, "{action}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(error), "{action}: {message}");
        assert!(!message.contains("root:"), "{action}: {message}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("note.txt")).unwrap(),
        "read-only note"
    );

    // No network: creating a socket is refused (even to a port that listens on the host),
    // and so is resolving a name.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for (instances, error) in [
        (json!(["connect", port]), "PermissionError"),
        (json!(["resolve"]), "gaierror"),
    ] {
        let (status, body) = predict(instances.clone()).await;
        assert_eq!(status, 500, "{instances}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(error), "{instances}: {message}");
    }

    // Results that are not JSON are the predictor's fault, said plainly.
    for action in ["not-json", "nan"] {
        let (status, body) = predict(json!([action])).await;
        assert_eq!(status, 500, "{action}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Predict.predict returned a value that is not JSON-serializable"),
            "{action}: {body}"
        );
    }

    // Exactly Hopsworks' variables (and the deployment's env_vars) are visible.
    let (status, body) = predict(json!(["env"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["predictions"],
        json!([
            "ARTIFACT_FILES_PATH",
            "ARTIFACT_VERSION",
            "DEPLOYMENT_NAME",
            "MODEL_NAME",
            "MODEL_VERSION"
        ])
    );

    // An exception in __init__: the deployment is Failed with it, the traceback is logged.
    let (status, body) = server
        .post(
            "/v1/models/init-fails-py:predict",
            &json!({"instances": [1]}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains(
            "Predict.__init__ raised RuntimeError: cannot load weights: weights.bin is corrupt"
        ),
        "{body}"
    );
    let log = log_text(&server, "init-fails-py");
    assert!(log.contains("hostile predictor starting"), "{log}");
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert_eq!(predict(json!(["calls"])).await.0, 200);
    server.stop().await;
}

/// `Model` from a script on the graphs torch.onnx and tf2onnx export (an MLP ending in
/// Softmax): `predict_proba` and `run` give scikit-learn's probabilities; a regressor-like
/// single output comes back one value per row.
#[tokio::test]
async fn scripts_use_torch_and_tf2onnx_exports_through_the_host() {
    let source = r#"
import os
from predictor_runtime import Model, artifact_path

class Predict(object):
    def __init__(self):
        self.torch = Model.load(os.environ["ARTIFACT_FILES_PATH"] + "/mlp.onnx")
        self.keras = Model.load(artifact_path("mlp_keras.onnx"))
        with open(os.environ["CONFIG_FILE_PATH"]) as f:
            self.config = f.read().strip()

    def predict(self, inputs):
        torch_outputs = self.torch.run(inputs)
        return {
            "torch": self.torch.predict_proba(inputs).tolist(),
            "keras": self.keras.predict_proba(inputs),
            "torch_run": torch_outputs[self.torch.outputs[0].name],
            "inputs": [[s.name, s.datatype, list(s.shape)] for s in self.torch.inputs],
            "config": self.config,
        }
"#;
    let dir = DeploymentDir::new(&json!({
        "name": "mlps", "script_file": "predictor.py", "config_file": "settings.txt"
    }))
    .with_file("predictor.py", source)
    .with_file("settings.txt", "threshold=0.5\n")
    .with_file(
        "mlp.onnx",
        std::fs::read(predictor_tests::generated("target/example-models/mlp.onnx")).unwrap(),
    )
    .with_file(
        "mlp_keras.onnx",
        std::fs::read(predictor_tests::generated(
            "target/example-models/mlp_keras.onnx",
        ))
        .unwrap(),
    );
    let server = TestServer::start(&[&dir]).await;
    let body = server.predict_reference("mlps").await;
    let expected = &reference()["mlp_probabilities"];
    assert_close(&body["torch"], expected, 1e-5);
    assert_close(&body["keras"], expected, 1e-5);
    assert_close(&body["torch_run"], expected, 1e-5);
    assert_eq!(body["inputs"][0][1], "FP32");
    assert_eq!(
        body["inputs"][0][2][0], -1,
        "the batch dimension is free: {body}"
    );
    assert_eq!(body["config"], "threshold=0.5");
    server.stop().await;
}

/// A transformer in front of a predictor *component* (the Python iris script): the
/// transformer renames the request's field and decorates the answer, each stage on its own
/// instances, with no network hop.
#[tokio::test]
async fn a_transformer_script_wraps_a_component_predictor() {
    let transformer = r#"
class Transformer(object):
    def preprocess(self, inputs):
        return {"instances": inputs["flowers"]}

    def postprocess(self, outputs):
        return {"predictions": outputs["predictions"], "stage": "postprocessed"}
"#;
    let dir = DeploymentDir::example("python-iris", None).with_file("transformer.py", transformer);
    let mut definition: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("deployment.json")).unwrap())
            .unwrap();
    definition["name"] = json!("iris-wrapped");
    definition["transformer"] = json!({"script_file": "transformer.py"});
    let dir = dir.with_file("deployment.json", definition.to_string());
    let server = TestServer::start(&[&dir]).await;
    let (status, body) = server
        .post(
            "/v1/models/iris-wrapped:predict",
            &json!({"flowers": reference()["instances"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"], reference()["logreg_labels"]);
    assert_eq!(body["stage"], "postprocessed");
    let Ok(serving) = server.deployment("iris-wrapped").serving().map(|s| {
        (
            s.transformer
                .as_ref()
                .map(|t| t.component().pool().metrics.instances.get()),
            s.predictor.predictor().platform(),
        )
    }) else {
        panic!("iris-wrapped is running")
    };
    assert_eq!(serving, (Some(1), "wasm_component"));
    server.stop().await;
}
