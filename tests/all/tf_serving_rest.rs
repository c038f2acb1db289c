//! TensorFlow Serving's REST API, as its clients use it, on TF SavedModels (the fixtures of
//! `tf_models`, and `methods_classify`/`methods_regress`: a classify and a regress
//! signature with TensorFlow's answers in `methods.json`), ONNX and tree models: `/metadata`
//! with the signature map, `signature_name`, `:classify` and `:regress` (TF Serving's result
//! shapes and method errors). `/labels/L` paths, b64 strings and `*_bytes` outputs, and the
//! hostile cases are in `tf_serving_hostile`.

use crate::tf_models::saved_model_deployment;
use predictor_tests::{DeploymentDir, TestServer, generated, reference, root};
use serde_json::{Value, json};

pub(crate) fn onnx(name: &str, fixture: &str) -> DeploymentDir {
    DeploymentDir::new(&json!({"name": name, "model_file": "model.onnx"})).with_file(
        "model.onnx",
        std::fs::read(generated(&format!("target/example-models/{fixture}"))).unwrap(),
    )
}

fn methods_expected() -> Value {
    fixture_json("methods.json")
}

/// A JSON file `tf-native/scripts/make.py` wrote beside the TF fixtures (TensorFlow's answers).
pub(crate) fn fixture_json(name: &str) -> Value {
    let path = root().join("target/tf-fixtures").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/setup.sh (tf-native/scripts/make.py makes it)",
            path.display()
        )
    });
    serde_json::from_slice(&bytes).unwrap()
}

/// Numbers within 1e-4 of TensorFlow's (relative past 1), through arrays and objects.
pub(crate) fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-4 * y.abs().max(1.0)
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| close(a, b)))
        }
        _ => a == b,
    }
}

pub(crate) fn assert_close(what: &str, ours: &Value, theirs: &Value) {
    assert!(close(ours, theirs), "{what}: {ours} vs {theirs}");
}

pub(crate) fn error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test]
async fn metadata_shows_a_saved_models_signature_map() {
    let export = saved_model_deployment("export", "mlp_export", json!({}));
    let tfsave = saved_model_deployment("tfsave", "mlp_tfsave", json!({}));
    let server = TestServer::start(&[&export, &tfsave]).await;
    let (status, meta) = server.get("/v1/models/export/metadata").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(
        meta["model_spec"],
        json!({"name": "export", "signature_name": "", "version": "1"})
    );
    let defs = &meta["metadata"]["signature_def"]["signature_def"];
    // Keras' export has `serve` besides `serving_default`; both are listed.
    let mut names: Vec<&String> = defs.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["serve", "serving_default"], "{meta}");
    let def = &defs["serving_default"];
    assert_eq!(def["method_name"], "tensorflow/serving/predict");
    let input = &def["inputs"]["features"];
    assert_eq!(input["dtype"], "DT_FLOAT", "{def}");
    assert_eq!(
        input["tensor_shape"],
        json!({"dim": [{"size": "-1", "name": ""}, {"size": "16", "name": ""}], "unknown_rank": false})
    );
    assert!(input["name"].as_str().unwrap().ends_with(":0"), "{input}");
    assert_eq!(def["outputs"]["output_0"]["dtype"], "DT_FLOAT");
    // The V2 metadata names the same inputs.
    let (_, v2) = server.get("/v2/models/export").await;
    assert_eq!(v2["inputs"][0]["name"], "features");

    let (status, versioned) = server.get("/v1/models/export/versions/1/metadata").await;
    assert_eq!((status, &versioned), (200, &meta));
    let (status, body) = server.get("/v1/models/export/versions/2/metadata").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get("/v1/models/nope/metadata").await;
    assert_eq!(status, 404, "{body}");
    let (status, meta) = server.get("/v1/models/tfsave/metadata").await;
    assert_eq!(status, 200, "{meta}");
    let defs = meta["metadata"]["signature_def"]["signature_def"]
        .as_object()
        .unwrap();
    assert_eq!(defs.keys().collect::<Vec<_>>(), ["serving_default"]);
    server.stop().await;
}

#[tokio::test]
async fn signature_name_is_a_signature_of_the_model_or_refused_as_tf_serving_does() {
    let dir = saved_model_deployment("mlp", "mlp_export", json!({}));
    let iris = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start(&[&dir, &iris]).await;
    let row = vec![0.5; 16];
    for (model, row) in [("mlp", json!(row)), ("iris", json!([5.1, 3.5, 1.4, 0.2]))] {
        let path = format!("/v1/models/{model}:predict");
        let (status, plain) = server.post(&path, &json!({"instances": [row]})).await;
        assert_eq!(status, 200, "{plain}");
        for signature in ["serving_default", ""] {
            for body in [
                json!({"signature_name": signature, "instances": [row]}),
                json!({"instances": [row], "signature_name": signature}),
            ] {
                let (status, answer) = server.post(&path, &body).await;
                assert_eq!((status, &answer), (200, &plain), "{body}");
            }
            let body = json!({"signature_name": signature, "inputs": [row]});
            let (status, answer) = server.post(&path, &body).await;
            assert_eq!(status, 200, "{answer}");
            assert!(answer.get("outputs").is_some(), "{answer}");
        }
        for body in [
            json!({"signature_name": "nope", "instances": [row]}),
            json!({"instances": [row], "signature_name": "nope"}),
            json!({"signature_name": "nope", "inputs": [row]}),
        ] {
            let (status, answer) = server.post(&path, &body).await;
            assert_eq!(status, 400, "{answer}");
            assert_eq!(
                error(&answer),
                "Serving signature name: \"nope\" not found in signature def"
            );
        }
    }
    // Keras' `serve` is another wrapper of the same function: served, by the same graph
    // (no second graph was made for it).
    let body = json!({"signature_name": "serve", "instances": [row]});
    let (status, answer) = server.post("/v1/models/mlp:predict", &body).await;
    let (_, plain) = server
        .post("/v1/models/mlp:predict", &json!({"instances": [row]}))
        .await;
    assert_eq!((status, &answer), (200, &plain));
    let log = server.deployment("mlp").log.tail(50);
    assert!(
        !log.iter().any(|l| l.message.contains("signature")),
        "{log:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn classify_and_regress_signatures_answer_as_tensorflow() {
    let classify = saved_model_deployment("classify", "methods_classify", json!({}));
    let regress = saved_model_deployment("regress", "methods_regress", json!({}));
    let server = TestServer::start(&[&classify, &regress]).await;
    let expected = methods_expected();
    let examples: Vec<Value> = expected["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| json!({"x": x}))
        .collect();

    let (status, body) = server
        .post(
            "/v1/models/classify:classify",
            &json!({"signature_name": "serving_default", "examples": examples}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let want: Vec<Value> = (0..examples.len())
        .map(|i| {
            let classes = &expected["classify"]["classes"][i];
            let scores = &expected["classify"]["scores"][i];
            (0..3).map(|c| json!([classes[c], scores[c]])).collect()
        })
        .collect();
    assert_close("classify", &body["results"], &json!(want));

    let (status, body) = server
        .post("/v1/models/regress:regress", &json!({"examples": examples}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_close("regress", &body["results"], &expected["regress"]["outputs"]);

    // A shared context feature, examples overriding it, and the versioned path.
    let x = &expected["x"];
    let body = json!({"context": {"x": x[0]}, "examples": [{}, {"x": x[1]}]});
    let (status, answer) = server
        .post("/v1/models/regress/versions/1:regress", &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    let outputs = &expected["regress"]["outputs"];
    assert_close(
        "context",
        &answer["results"],
        &json!([outputs[0], outputs[1]]),
    );

    // Predict still answers on a classify signature; the other method does not.
    let (status, answer) = server
        .post("/v1/models/classify:predict", &json!({"instances": [x[0]]}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_close(
        "predict",
        &answer["predictions"][0]["scores"],
        &expected["classify"]["scores"][0],
    );
    for (path, says) in [
        (
            "/v1/models/classify:regress",
            "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/classify",
        ),
        (
            "/v1/models/regress:classify",
            "Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/regress",
        ),
    ] {
        let (status, answer) = server.post(path, &json!({"examples": examples})).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(error(&answer), says);
    }
    // The metadata lists both signatures with their methods.
    let (_, meta) = server.get("/v1/models/classify/metadata").await;
    let defs = &meta["metadata"]["signature_def"]["signature_def"];
    assert_eq!(
        defs["serving_default"]["method_name"],
        "tensorflow/serving/classify"
    );
    assert_eq!(defs["logits"]["method_name"], "tensorflow/serving/predict");
    assert_eq!(
        defs["serving_default"]["outputs"]["classes"]["dtype"],
        "DT_STRING"
    );
    // `logits` is a predict signature: `:classify` naming it gets TF Serving's method error,
    // `:predict` naming it its logits (whose softmax is TensorFlow's classify scores).
    let body = json!({"signature_name": "logits", "examples": examples});
    let (status, answer) = server.post("/v1/models/classify:classify", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        error(&answer),
        "Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/predict"
    );
    let body = json!({"signature_name": "logits", "instances": expected["x"]});
    let (status, answer) = server.post("/v1/models/classify:predict", &body).await;
    assert_eq!(status, 200, "{answer}");
    let softmax: Vec<Value> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let row: Vec<f64> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let sum: f64 = row.iter().map(|v| v.exp()).sum();
            json!(row.iter().map(|v| v.exp() / sum).collect::<Vec<_>>())
        })
        .collect();
    assert_close("logits", &json!(softmax), &expected["classify"]["scores"]);
    server.stop().await;
}

#[tokio::test]
async fn onnx_and_tree_models_classify_and_regress_by_their_outputs() {
    let mlp = onnx("mlp", "mlp.onnx");
    let iris = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start(&[&mlp, &iris]).await;
    let (status, meta) = server.get("/v1/models/mlp/metadata").await;
    assert_eq!(status, 200, "{meta}");
    let def = &meta["metadata"]["signature_def"]["signature_def"]["serving_default"];
    assert_eq!(def["method_name"], "tensorflow/serving/predict");
    assert_eq!(def["inputs"]["input"]["dtype"], "DT_FLOAT");
    assert_eq!(
        def["outputs"]["probs"]["tensor_shape"]["dim"][1]["size"],
        "3"
    );

    let instances = reference()["instances"].clone();
    let examples: Vec<Value> = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|x| json!({"input": x}))
        .collect();
    let (status, body) = server
        .post("/v1/models/mlp:classify", &json!({"examples": examples}))
        .await;
    assert_eq!(status, 200, "{body}");
    let probabilities = &reference()["mlp_probabilities"];
    let want: Vec<Value> = probabilities
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (0..3).map(|c| json!([c.to_string(), p[c]])).collect())
        .collect();
    assert_close("mlp classify", &body["results"], &json!(want));
    let (status, body) = server
        .post("/v1/models/mlp:regress", &json!({"examples": examples}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error(&body).starts_with(
            "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/predict"
        ),
        "{body}"
    );
    // skl2onnx's classifier: `probabilities` are the scores, beside the label output.
    let (status, body) = server
        .post("/v1/models/iris:CLASSIFY", &json!({"examples": examples}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, predicted) = server
        .post("/v1/models/iris:predict", &json!({"instances": instances}))
        .await;
    for (row, result) in body["results"].as_array().unwrap().iter().enumerate() {
        let scores: Vec<Value> = result
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].clone())
            .collect();
        assert_close(
            "iris",
            &json!(scores),
            &predicted["predictions"][row]["probabilities"],
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_tree_regressor_regresses() {
    let dir = root().join("target/tree-fixtures");
    let x: Vec<f32> = std::fs::read(dir.join("xgb500_reg.native.x.bin"))
        .expect("tree fixtures: run scripts/setup.sh")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let want: Vec<f32> = std::fs::read(dir.join("xgb500_reg.lib_pred.bin"))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(x.len(), want.len() * 10, "1000 rows of 10 features");
    let deployment = DeploymentDir::new(
        &json!({"name": "reg", "model_file": "model.ubj", "model_framework": "XGBOOST"}),
    )
    .with_file(
        "model.ubj",
        std::fs::read(dir.join("xgb500_reg.ubj")).unwrap(),
    );
    let server = TestServer::start(&[&deployment]).await;
    let (_, meta) = server.get("/v2/models/reg").await;
    let input = meta["inputs"][0]["name"].as_str().unwrap().to_string();
    let examples: Vec<Value> = x
        .chunks(10)
        .take(50)
        .map(|r| json!({ &input: r }))
        .collect();
    // The rows have missing values: NaN, which Python's json.dumps writes bare.
    let body = json!({ "examples": examples })
        .to_string()
        .replace("null", "NaN");
    assert!(body.contains("NaN"), "the rows have missing values");
    let (status, answer) = server.post_raw("/v1/models/reg:regress", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_close("xgboost regress", &answer["results"], &json!(want[..50]));
    server.stop().await;
}
