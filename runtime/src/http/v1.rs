//! KServe V1 routes (with TensorFlow Serving's status fields and versioned paths).

use super::error::ApiError;
use super::{AppState, infer, lookup};
use crate::inference;
use crate::protocol::v1::V1;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// `GET /`: the server is live.
pub async fn root() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

/// `GET /v1/models`.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let names: Vec<String> = state
        .registry
        .list()
        .iter()
        .map(|d| d.name().to_string())
        .collect();
    Json(json!({ "models": names }))
}

/// `GET /v1/models/{m}`: KServe's `{"name", "ready"}` plus TF Serving's version status.
pub async fn status(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<Value>, ApiError> {
    model_status(&state, &model, None)
}

/// `GET /v1/models/{m}/versions/{v}`.
pub async fn status_version(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    model_status(&state, &model, Some(&version))
}

fn model_status(
    state: &AppState,
    model: &str,
    version: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let deployment = lookup(state, model, version)?;
    inference::running(&deployment)?;
    Ok(Json(json!({
        "name": deployment.name(),
        "ready": true,
        "model_version_status": [{
            "version": deployment.config.model_version.to_string(),
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}
        }]
    })))
}

/// `POST /v1/models/{m}:predict`.
pub async fn action(
    State(state): State<AppState>,
    Path(model_action): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (model, verb) = split_action(&model_action)?;
    run(&state, model, None, verb, &headers, body?).await
}

/// `POST /v1/models/{m}/versions/{v}:predict`.
pub async fn action_version(
    State(state): State<AppState>,
    Path((model, version_action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (version, verb) = split_action(&version_action)?;
    run(&state, &model, Some(version), verb, &headers, body?).await
}

fn split_action(path: &str) -> Result<(&str, &str), ApiError> {
    path.rsplit_once(':')
        .ok_or_else(|| ApiError::not_found(format!("no route for {path:?}: expected NAME:predict")))
}

async fn run(
    state: &AppState,
    model: &str,
    version: Option<&str>,
    verb: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if verb != "predict" {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(":{verb} is not supported; this server answers :predict"),
        ));
    }
    let deployment = lookup(state, model, version)?;
    Ok(infer(&deployment, headers, body, V1).await)
}
