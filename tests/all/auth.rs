//! API keys: with keys configured every route refuses a request without one (401) or with a
//! wrong one (401), a predict key cannot manage (403), and a manage key can do everything;
//! the health probes answer without a key unless `--health-requires-key`.
//! Without keys the server listens on loopback only, unless told something in front
//! authenticates.

use predictor_runtime::ApiKeys;
use predictor_runtime::{ServeOptions, start};
use predictor_tests::{DeploymentDir, TestServer, shared_data_dir};
use reqwest::Method;

const MANAGE: &str = "manage-0123456789abcdef";
const PREDICT: &str = "predict-0123456789abcdef";
/// Kubernetes' probes: answered without a key by default.
const HEALTH: [&str; 3] = ["/", "/v2/health/live", "/v2/health/ready"];

/// Every route the server has, as (method, path), with a body where it takes one.
fn routes() -> Vec<(Method, &'static str, &'static str)> {
    let predict = r#"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#;
    let infer = r#"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}"#;
    vec![
        (Method::GET, "/", ""),
        (Method::GET, "/v1/models", ""),
        (Method::GET, "/v1/models/iris", ""),
        (Method::GET, "/v1/models/iris/versions/1", ""),
        (Method::POST, "/v1/models/iris:predict", predict),
        (Method::POST, "/v1/models/iris/versions/1:predict", predict),
        (Method::GET, "/v2", ""),
        (Method::GET, "/v2/health/live", ""),
        (Method::GET, "/v2/health/ready", ""),
        (Method::GET, "/v2/models/iris", ""),
        (Method::GET, "/v2/models/iris/versions/1", ""),
        (Method::GET, "/v2/models/iris/ready", ""),
        (Method::GET, "/v2/models/iris/versions/1/ready", ""),
        (Method::POST, "/v2/models/iris/infer", infer),
        (Method::POST, "/v2/models/iris/versions/1/infer", infer),
        (Method::POST, "/v2/repository/index", ""),
        (Method::GET, "/metrics", ""),
        (Method::GET, "/api/openapi.json", ""),
        (Method::GET, "/api/deployments", ""),
        (Method::POST, "/api/deployments", ""),
        (Method::GET, "/api/deployments/iris", ""),
        (Method::GET, "/api/deployments/iris/logs", ""),
        (Method::POST, "/api/deployments/iris/restart", ""),
        (Method::DELETE, "/api/deployments/nothing", ""),
        (Method::GET, "/no/such/route", ""),
    ]
}

async fn status(
    server: &TestServer,
    method: &Method,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> u16 {
    let mut request = server
        .client
        .request(method.clone(), format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        request = request.header("authorization", format!("ApiKey {k}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 401 {
        assert_eq!(response.headers()["www-authenticate"], "ApiKey");
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_a_key_of_its_scope() {
    let dir = DeploymentDir::example("iris-onnx", None);
    let keys = ApiKeys::parse_file(&format!("manage {MANAGE}\npredict {PREDICT}\n")).unwrap();
    let server = TestServer::start_options(ServeOptions {
        data_dir: shared_data_dir(),
        deploy: vec![dir.path().to_path_buf()],
        api_keys: keys,
        ..ServeOptions::default()
    })
    .await;
    for (method, path, body) in routes() {
        let without_key = status(&server, &method, path, body, None).await;
        if HEALTH.contains(&path) {
            assert_eq!(without_key, 200, "{method} {path} (a probe) without a key");
        } else {
            assert_eq!(without_key, 401, "{method} {path} without a key");
        }
        // A probe ignores keys; every other route refuses a wrong one.
        let with_wrong_key =
            status(&server, &method, path, body, Some("not-a-key-0123456789")).await;
        assert_eq!(
            with_wrong_key,
            if HEALTH.contains(&path) { 200 } else { 401 },
            "{method} {path} with a wrong key"
        );
        let with_predict = status(&server, &method, path, body, Some(PREDICT)).await;
        if path.starts_with("/api") {
            assert_eq!(with_predict, 403, "{method} {path} with a predict key");
        } else {
            assert!(
                ![401, 403].contains(&with_predict),
                "{method} {path}: {with_predict}"
            );
        }
        let with_manage = status(&server, &method, path, body, Some(MANAGE)).await;
        assert!(
            ![401, 403].contains(&with_manage),
            "{method} {path}: {with_manage}"
        );
    }
    // The scheme is Hopsworks': a bearer token is not an API key.
    let r = server
        .client
        .get(format!("{}/v1/models", server.base))
        .header("authorization", format!("Bearer {MANAGE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    server.stop().await;

    // Probes behind a key too, when asked.
    let mut keys = ApiKeys::parse_file(&format!("manage {MANAGE}\n")).unwrap();
    keys.require_key_for_health(true);
    let server = TestServer::start_options(ServeOptions {
        data_dir: shared_data_dir(),
        api_keys: keys,
        ..ServeOptions::default()
    })
    .await;
    for path in HEALTH {
        assert_eq!(status(&server, &Method::GET, path, "", None).await, 401);
        assert_eq!(
            status(&server, &Method::GET, path, "", Some(MANAGE)).await,
            200
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_only_loopback_is_listened_on() {
    let store = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        listen: "0.0.0.0:0".parse().unwrap(),
        data_dir: shared_data_dir(),
        store_dir: Some(store.path().to_path_buf()),
        ..ServeOptions::default()
    };
    let server = start(&options).await.unwrap();
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    server.stop().await.unwrap();
    let server = start(&ServeOptions {
        allow_unauthenticated: true,
        ..options
    })
    .await
    .unwrap();
    assert!(server.addr.ip().is_unspecified(), "{}", server.addr);
    server.stop().await.unwrap();
}
