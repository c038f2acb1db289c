//! A transformer's stages batched (`transformer.inference_batcher`): concurrent V1 requests
//! made only of `instances` reach the Python transformer as one `preprocess` call and their
//! responses as one `postprocess` call, and every caller gets exactly its own answer; a
//! body with anything besides its rows goes through alone.

use predictor_tests::{DeploymentDir, TestServer};
use serde_json::{Value, json};

const NAME: &str = "named-batched";

fn batched_transformer() -> DeploymentDir {
    let dir = DeploymentDir::example("python-transformer", None);
    let path = dir.path().join("deployment.json");
    let mut definition: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    definition["name"] = json!(NAME);
    definition["transformer"]["inference_batcher"] =
        json!({"enabled": true, "max_batch_size": 32, "max_latency": 30});
    std::fs::write(&path, definition.to_string()).unwrap();
    dir
}

/// (batches, rows) a stage's batch queue has run so far.
async fn batches(server: &TestServer, stage: &str) -> (f64, f64) {
    let series = |what: &str| {
        format!("predictor_batch_size_{what}{{deployment=\"{NAME}\",stage=\"{stage}\"}}")
    };
    (
        server.metric(&series("count")).await,
        server.metric(&series("sum")).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transformer_gets_merged_rows_and_every_caller_its_own_answer() {
    let dir = batched_transformer();
    let server = TestServer::start(&[&dir]).await;
    let request: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("request.json")).unwrap()).unwrap();
    let flowers = request["instances"].as_array().unwrap().clone();
    let path = format!("/v1/models/{NAME}:predict");

    // Each flower alone (a batch of one each): the answers to compare with.
    let mut alone = Vec::new();
    for flower in &flowers {
        let (status, body) = server.post(&path, &json!({"instances": [flower]})).await;
        assert_eq!(status, 200, "{body}");
        alone.push(body);
    }
    let before = (
        batches(&server, "preprocess").await,
        batches(&server, "postprocess").await,
    );

    let calls = (0..12).map(|i| {
        let (server, path) = (&server, &path);
        let body = json!({"instances": [flowers[i % 3]]});
        async move { server.post(path, &body).await }
    });
    for (i, (status, body)) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, alone[i % 3], "caller {i} got its own answer");
    }
    for (stage, (runs0, rows0)) in [("preprocess", before.0), ("postprocess", before.1)] {
        let (runs, rows) = batches(&server, stage).await;
        assert_eq!(
            rows - rows0,
            12.0,
            "{stage}: every row went through its queue"
        );
        assert!(
            runs - runs0 < 12.0,
            "{stage}: rows were merged ({} calls for 12 requests)",
            runs - runs0
        );
    }

    // Anything besides the rows: served alone, outside the queue, the same answer.
    let (status, body) = server
        .post(&path, &json!({"instances": [flowers[0]], "id": 7}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, alone[0]);
    assert_eq!(batches(&server, "preprocess").await.1, before.0.1 + 12.0);
    server.stop().await;
}
