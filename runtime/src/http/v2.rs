//! Open Inference Protocol routes: health, server and model metadata, readiness, inference
//! and the repository index.

use super::error::ApiError;
use super::{AppState, json_response, lookup, with_batch_timing, with_inference_log};
use crate::deployment::Deployment;
use crate::inference;
use crate::protocol::v2::{self, ModelMetadata, ServerMetadata};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

/// `GET /v2`.
pub async fn server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: "predictor-runtime",
        version: env!("CARGO_PKG_VERSION"),
        extensions: vec!["model_repository"],
    })
}

/// `GET /v2/health/live`.
pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// `GET /v2/health/ready`: 200 when every deployment serves, 400 (the protocol's "false")
/// naming the ones that do not, 503 while the server is still starting them.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !state.started.load(std::sync::atomic::Ordering::Acquire) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the deployments are still starting",
        ));
    }
    let failed: Vec<String> = state
        .registry
        .list()
        .iter()
        .filter(|d| d.predictor().is_err())
        .map(|d| d.name().to_string())
        .collect();
    if failed.is_empty() {
        Ok(Json(json!({"ready": true})))
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("not ready: {}", failed.join(", ")),
        ))
    }
}

/// `GET /v2/models/{m}[/versions/{v}]`.
pub async fn metadata(
    State(state): State<AppState>,
    Path(path): Path<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (model, version) = model_version(&path)?;
    let deployment = lookup(&state, model, version)?;
    let predictor = inference::running(&deployment)?;
    let (inputs, outputs) = predictor.signature();
    let body = serde_json::to_vec(&ModelMetadata {
        name: deployment.name(),
        versions: vec![deployment.config.model_version.to_string()],
        platform: predictor.platform(),
        inputs,
        outputs,
    })
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(json_response(body))
}

/// `GET /v2/models/{m}[/versions/{v}]/ready`: 200, or 400 with the reason.
pub async fn model_ready(
    State(state): State<AppState>,
    Path(path): Path<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let (model, version) = model_version(&path)?;
    let deployment = lookup(&state, model, version)?;
    match deployment.predictor() {
        Ok(_) => Ok(Json(json!({"name": deployment.name(), "ready": true}))),
        Err(reason) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("deployment {model:?} is not ready: {reason}"),
        )),
    }
}

/// `POST /v2/models/{m}[/versions/{v}]/infer`.
pub async fn infer(
    State(state): State<AppState>,
    Path(path): Path<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let (model, version) = model_version(&path)?;
    let deployment = lookup(&state, model, version)?;
    Ok(with_inference_log(&deployment, &headers, body, |body| {
        infer_on(&deployment, &headers, body)
    })
    .await)
}

async fn infer_on(
    deployment: &Deployment,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let json_length = binary_header(headers)?;
    inference::running(deployment)?;
    if deployment.transformer().is_some() && json_length.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "deployment {:?} has a transformer, which takes and gives JSON: send the request without the binary tensor extension ({})",
                deployment.name(),
                v2::BINARY_HEADER
            ),
        ));
    }
    let body = inference::preprocess(deployment, body).await?;
    let mut decoded = v2::decode(&body, json_length)?;
    if deployment.transformer().is_some() {
        // The transformer's postprocess reads JSON: outputs cannot be binary.
        decoded.binary_outputs = v2::BinaryOutputs::default();
    }
    let answer = inference::dispatch(deployment, decoded.payload).await?;
    let encoded = v2::encode(
        deployment.name(),
        deployment.config.model_version,
        decoded.id.as_deref(),
        &decoded.binary_outputs,
        &answer.output,
    )?;
    let Some(json_length) = encoded.json_length else {
        return Ok(with_batch_timing(
            json_response(inference::postprocess(deployment, encoded.body).await?),
            answer.batch,
        ));
    };
    let mut response = Response::new(axum::body::Body::from(encoded.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(v2::BINARY_HEADER, HeaderValue::from(json_length));
    Ok(with_batch_timing(response, answer.batch))
}

/// `POST /v2/repository/index`.
pub async fn repository_index(State(state): State<AppState>) -> Json<Value> {
    let entries: Vec<Value> = state
        .registry
        .list()
        .iter()
        .map(|d| {
            json!({
                "name": d.name(),
                "version": d.config.model_version.to_string(),
                "state": d.state(),
                "reason": d.predictor().err().unwrap_or(""),
            })
        })
        .collect();
    Json(Value::Array(entries))
}

/// The binary extension's JSON length, when the client sent the header.
fn binary_header(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    let Some(value) = headers.get(v2::BINARY_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{} must be a byte count", v2::BINARY_HEADER),
            )
        })
}

fn model_version(path: &[(String, String)]) -> Result<(&str, Option<&str>), ApiError> {
    let get = |key: &str| path.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let model = get("model").ok_or_else(|| ApiError::not_found("no model in the path"))?;
    Ok((model, get("version")))
}
