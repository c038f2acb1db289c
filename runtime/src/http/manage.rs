//! The management API (`/api/deployments`), described by `/api/openapi.json`: upload a
//! deployment (multipart: `deployment.json` and its files), list, describe, start, stop,
//! restart, roll back, delete, read its log.

use super::AppState;
use super::error::ApiError;
use crate::deployment::DEFINITION_FILE;
use crate::deployment::log::LogComponent;
use crate::manage::upload::Upload;
use crate::manage::{ManageError, Manager};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        let status = match &e {
            ManageError::Invalid(_) => StatusCode::BAD_REQUEST,
            ManageError::CannotStart(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ManageError::NotFound(_) => StatusCode::NOT_FOUND,
            ManageError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

fn manager(state: &AppState) -> &Arc<Manager> {
    &state.manager
}

/// `POST /api/deployments`: creates a deployment, or a new version of it.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("multipart/form-data") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "send the deployment as multipart/form-data ({DEFINITION_FILE} and its files), not {content_type:?}"
            ),
        ));
    }
    let mut multipart = multipart.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let mut files = Vec::new();
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            ApiError::new(
                e.status(),
                format!("reading the multipart body: {}", e.body_text()),
            )
        })?;
        let Some(field) = field else { break };
        let path = match (field.file_name(), field.name()) {
            (Some(file), _) => file.to_string(),
            (None, Some("definition")) => DEFINITION_FILE.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "a multipart part has neither a file name nor a name",
                ));
            }
        };
        let bytes = field.bytes().await.map_err(|e| {
            ApiError::new(
                e.status(),
                format!(
                    "reading {path:?} from the multipart body: {}",
                    e.body_text()
                ),
            )
        })?;
        files.push((path, bytes));
    }
    let upload = Upload::check(files)?;
    let warnings = upload.warnings.clone();
    let mut described = manager(&state).deploy(upload).await?;
    described["warnings"] = json!(warnings);
    Ok((StatusCode::CREATED, Json(described)))
}

/// `GET /api/deployments`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"deployments": manager(&state).list()?})))
}

/// `GET /api/deployments/{name}`.
pub async fn describe(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(manager(&state).describe(&name)?))
}

/// `POST /api/deployments/{name}/{action}`: start, stop, restart, rollback (`?version=N`).
pub async fn action(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    Query(query): Query<ActionQuery>,
) -> Result<Json<Value>, ApiError> {
    let m = manager(&state);
    let described = match action.as_str() {
        "start" => m.start(&name).await?,
        "stop" => m.stop(&name).await?,
        "restart" => m.restart(&name).await?,
        "rollback" => {
            let version = query.version.ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "rollback needs ?version=N")
            })?;
            m.rollback(&name, version).await?
        }
        other => {
            return Err(ApiError::not_found(format!(
                "no action {other:?}: start, stop, restart or rollback"
            )));
        }
    };
    Ok(Json(described))
}

#[derive(Deserialize)]
pub struct ActionQuery {
    version: Option<u32>,
}

/// `DELETE /api/deployments/{name}`.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    manager(&state).delete(&name).await?;
    Ok(Json(json!({"deleted": name})))
}

#[derive(Deserialize)]
pub struct LogQuery {
    tail: Option<usize>,
    #[serde(default)]
    follow: bool,
    /// Only the lines this stage's guest wrote: `predictor` or `transformer`.
    component: Option<LogComponent>,
}

/// How often a follower looks for new lines.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `GET /api/deployments/{name}/logs?tail=N` (default 100): `{"name", "lines"}`. With
/// `&follow=true`: the lines as JSON lines (`application/x-ndjson`), then each new one as it
/// is written, until the deployment stops or is replaced.
pub async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let tail = query.tail.unwrap_or(100);
    let m = manager(&state);
    if !query.follow {
        let lines = m.logs(&name, tail, query.component)?;
        return Ok(Json(json!({"name": name, "lines": lines})).into_response());
    }
    let deployment = m.serving(&name)?;
    let component = query.component;
    let first = match m.logs(&name, tail, component)?.first() {
        Some(line) => line["seq"].as_u64().unwrap_or(0),
        None => deployment.log.since(0).last().map_or(0, |l| l.seq + 1),
    };
    let manager = Arc::clone(m);
    let lines = futures_util::stream::unfold(
        (deployment, first, manager),
        move |(deployment, mut next, manager)| async move {
            loop {
                let all = deployment.log.since(next);
                next = all.last().map_or(next, |l| l.seq + 1);
                let lines: Vec<_> = all
                    .into_iter()
                    .filter(|l| component.is_none() || l.component == component)
                    .collect();
                if !lines.is_empty() {
                    let mut text = Vec::new();
                    for line in &lines {
                        serde_json::to_writer(&mut text, line).expect("log lines serialize");
                        text.push(b'\n');
                    }
                    let chunk = Ok::<_, std::convert::Infallible>(Bytes::from(text));
                    return Some((chunk, (deployment, next, manager)));
                }
                if !manager.is_serving(&deployment) {
                    return None;
                }
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        },
    );
    let mut response = Response::new(Body::from_stream(lines));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// `GET /api/openapi.json`: this API, described.
pub async fn openapi() -> Json<Value> {
    Json(
        serde_json::from_str(include_str!("openapi.json"))
            .expect("the committed OpenAPI document is JSON"),
    )
}
