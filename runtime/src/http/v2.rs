//! Open Inference Protocol routes: health, server and model metadata, readiness, inference
//! and the repository index. A TF Serving folder's versions are each served by
//! `/versions/N` (the highest without one) and listed in its metadata's `versions`.

use super::error::ApiError;
use super::{AppState, json_response, lookup, version_spec};
use crate::inference;
use crate::protocol::v2::{self, ModelMetadata, ServerMetadata, V2};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
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
    let (deployment, other) = lookup(&state, model, version)?;
    let predictor = inference::running(&deployment)?.predictor.predictor();
    let (inputs, outputs) = match version_spec(&deployment, other).await? {
        Some(spec) => (spec.inputs.clone(), spec.outputs.clone()),
        None => predictor.signature(),
    };
    // Every version a path may name.
    let versions = match deployment.versions() {
        Some(versions) => versions.all().map(|v| v.to_string()).collect(),
        None => vec![deployment.model_version().to_string()],
    };
    let body = serde_json::to_vec(&ModelMetadata {
        name: deployment.name(),
        versions,
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
    let (deployment, _) = lookup(&state, model, version)?;
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
    let json_length = binary_header(&headers)?;
    let (deployment, other) = lookup(&state, model, version)?;
    let spec = version_spec(&deployment, other).await?;
    let codec = V2::new(
        deployment.name(),
        other.unwrap_or_else(|| deployment.model_version()),
        json_length,
    );
    Ok(super::infer(&deployment, &headers, body, codec, spec.as_deref()).await)
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
                "version": d.model_version().to_string(),
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
