//! KServe V1 routes, which are also TensorFlow Serving's REST API: status (TF Serving's
//! fields), `/metadata` (the signature map), `:predict`, `:classify` and `:regress`, each
//! also under `/versions/N` (the version served, or any version of a TF Serving folder) and
//! `/labels/L`. No deployment has version
//! labels, so a label path answers TF Serving's error for an unknown label (400), after the
//! model itself is found (404 otherwise).

use super::error::ApiError;
use super::{AppState, infer, lookup, version_spec};
use crate::deployment::Deployment;
use crate::inference;
use crate::protocol::v1::{Examples, Method, V1, metadata};
use crate::tensor::signature::Signatures;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

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

/// `GET /v1/models/{m}/labels/{l}` (and `/metadata`).
pub async fn status_label(
    State(state): State<AppState>,
    Path((model, label)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Err(unknown_label(&state, &model, &label))
}

/// `GET /v1/models/{m}/metadata`: TF Serving's model spec and signature map.
pub async fn metadata(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<Value>, ApiError> {
    model_metadata(&state, &model, None).await
}

/// `GET /v1/models/{m}/versions/{v}/metadata`.
pub async fn metadata_version(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    model_metadata(&state, &model, Some(&version)).await
}

async fn model_metadata(
    state: &AppState,
    model: &str,
    version: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let (deployment, other) = lookup(state, model, version)?;
    let (version, signatures) = match version_spec(&deployment, other).await? {
        Some(spec) => (spec.version, Arc::clone(&spec.signatures)),
        None => (deployment.model_version(), signatures(&deployment)?),
    };
    Ok(Json(metadata::model_metadata(
        deployment.name(),
        &version.to_string(),
        &signatures,
    )))
}

/// The served signature map, or the not-ready error.
fn signatures(deployment: &Deployment) -> Result<Arc<Signatures>, ApiError> {
    Ok(inference::running(deployment)?
        .predictor
        .predictor()
        .signatures())
}

/// TF Serving's answer for a version label it has not got (none are configured here), once
/// the model is known.
fn unknown_label(state: &AppState, model: &str, label: &str) -> ApiError {
    match lookup(state, model, None).map(|(deployment, _)| deployment) {
        Err(e) => e,
        Ok(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Unrecognized servable version label: {}",
                label.chars().take(128).collect::<String>()
            ),
        ),
    }
}

/// TF Serving's status: the version the path names, else every version (of a TF Serving
/// folder, highest first as TF Serving lists them; each is AVAILABLE, the ones not loaded
/// yet loading on their first request).
fn model_status(
    state: &AppState,
    model: &str,
    version: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let (deployment, other) = lookup(state, model, version)?;
    inference::running(&deployment)?;
    let versions: Vec<u64> = match (version, deployment.versions()) {
        (Some(_), _) => vec![other.unwrap_or_else(|| deployment.model_version())],
        (None, Some(versions)) => versions.all().rev().collect(),
        (None, None) => vec![deployment.model_version()],
    };
    let statuses: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.to_string(),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}
            })
        })
        .collect();
    Ok(Json(json!({
        "name": deployment.name(),
        "ready": true,
        "model_version_status": statuses
    })))
}

/// `POST /v1/models/{m}/labels/{l}:predict` (and the other verbs).
pub async fn action_label(
    State(state): State<AppState>,
    Path((model, label_action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (label, _) = split_action(&label_action)?;
    Err(unknown_label(&state, &model, label))
}

/// `POST /v1/models/{m}:predict` (`:classify`, `:regress`).
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
    let method = Method::of_verb(verb);
    if method.is_none() && !verb.eq_ignore_ascii_case("predict") {
        let shown: String = verb.chars().take(64).collect();
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                ":{shown} is not supported; this server answers :predict, :classify and :regress"
            ),
        ));
    }
    let (deployment, other) = lookup(state, model, version)?;
    // Another version of a TF Serving folder decodes into its own signatures.
    let spec = version_spec(&deployment, other).await?;
    let spec = spec.as_deref();
    Ok(match method {
        None => {
            // A graph's map is shared, not made per request; a component serves only
            // `serving_default`, which is the codec's default. A deployment that is not
            // running gets its error from the chain.
            let signatures = match spec {
                Some(spec) => Some(Arc::clone(&spec.signatures)),
                None => inference::running(&deployment)
                    .ok()
                    .and_then(|s| s.predictor.predictor().graph_signatures().cloned()),
            };
            let codec = signatures.map_or_else(V1::default, V1::serving);
            infer(&deployment, headers, body, codec, spec).await
        }
        Some(method) => {
            let signatures = match spec {
                Some(spec) => Arc::clone(&spec.signatures),
                None => signatures(&deployment)?,
            };
            let codec = Examples::new(method, signatures);
            infer(&deployment, headers, body, codec, spec).await
        }
    })
}
