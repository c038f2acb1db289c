//! The management API (`/api/deployments`), described by `/api/openapi.json`: upload a
//! deployment (multipart: `deployment.json` and its files), list, describe, start, stop,
//! restart, roll back, delete, read its log.
//!
//! The `{name}` of every `/api/deployments/{name}[/...]` route is parsed as a
//! [`DeploymentName`] before any store or file operation; path and query-string rejections
//! answer 400 `{"error"}` like every other client error.

use super::AppState;
use super::connections::BodyReadTimeout;
use super::error::{ApiError, find_source};
use crate::deployment::DEFINITION_FILE;
use crate::manage::upload::{MAX_UPLOAD_FILES, Upload};
use crate::manage::{ManageError, Manager};
use crate::role::Role;
use crate::store::DeploymentName;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{PathRejection, QueryRejection};
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
            ManageError::NotFound(_) | ManageError::NoVersion { .. } => StatusCode::NOT_FOUND,
            ManageError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

fn manager(state: &AppState) -> &Arc<Manager> {
    &state.manager
}

/// A path the router matched but whose parameters do not decode (bad percent-encoding,
/// not UTF-8): the client's fault, answered in JSON.
fn path_rejected(r: PathRejection) -> ApiError {
    let status = if r.status().is_server_error() {
        r.status()
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::new(status, format!("the request path: {}", r.body_text()))
}

fn query_rejected(r: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("the query string: {}", r.body_text()),
    )
}

/// The route's `{name}`, by the deployment-name rule (400 naming the rule otherwise).
fn name(raw: &str) -> Result<DeploymentName, ApiError> {
    DeploymentName::parse(raw).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))
}

/// The `{name}` of a `/api/deployments/{name}` route.
fn name_param(path: Result<Path<String>, PathRejection>) -> Result<DeploymentName, ApiError> {
    let Path(raw) = path.map_err(path_rejected)?;
    name(&raw)
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
    let mut too_many = 0usize;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(&e, "reading the multipart body"))?;
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
            multipart_error(&e, &format!("reading {path:?} from the multipart body"))
        })?;
        // Past the limit the parts are read (so the client gets its answer, not a reset)
        // but not kept.
        if files.len() < MAX_UPLOAD_FILES {
            files.push((path, bytes));
        } else {
            too_many += 1;
        }
    }
    if too_many > 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the upload has {} files: at most {MAX_UPLOAD_FILES} are taken",
                files.len() + too_many
            ),
        ));
    }
    let upload = Upload::check(files)?;
    let warnings = upload.warnings.clone();
    let m = Arc::clone(manager(&state));
    let mut described = to_completion(async move { m.deploy(upload).await }).await?;
    described["warnings"] = json!(warnings);
    Ok((StatusCode::CREATED, Json(described)))
}

/// Runs a management call on a task of its own, to its end even when the client leaves
/// (hyper then drops the handler): a mutation dropped halfway would leave its staging
/// folder, a state (`Updating`) that never clears and a capacity reservation taken over by
/// a start that never finished. A panic in it is the handler's (answered 500).
async fn to_completion<T: Send + 'static>(
    call: impl Future<Output = Result<T, ManageError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(call).await {
        Ok(result) => Ok(result?),
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels a task.
            Err(_) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )),
        },
    }
}

/// A multipart body that failed to read, as the client's mistake. axum answers 500 when the
/// body itself could not be read, but that is the client's doing: it stalled past the body
/// read timeout (408) or closed its side before the body was whole (400).
fn multipart_error(e: &MultipartError, context: &str) -> ApiError {
    if let Some(timeout) = find_source::<BodyReadTimeout>(e) {
        return ApiError::new(StatusCode::REQUEST_TIMEOUT, format!("{context}: {timeout}"));
    }
    if let Some(cause) = find_source::<hyper::Error>(e) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{context}: the body ended before it was whole ({cause})"),
        );
    }
    ApiError::new(e.status(), format!("{context}: {}", e.body_text()))
}

/// `GET /api/deployments`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"deployments": manager(&state).list()?})))
}

/// `GET /api/deployments/{name}`.
pub async fn describe(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = name_param(path)?;
    Ok(Json(manager(&state).describe(&name)?))
}

/// `POST /api/deployments/{name}/{action}`: start, stop, restart, rollback (`?version=N`).
pub async fn action(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ActionQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((raw, action)) = path.map_err(path_rejected)?;
    let name = name(&raw)?;
    let Query(query) = query.map_err(query_rejected)?;
    let m = Arc::clone(manager(&state));
    let described = match action.as_str() {
        "start" => to_completion(async move { m.start(&name).await }).await?,
        "stop" => to_completion(async move { m.stop(&name).await }).await?,
        "restart" => to_completion(async move { m.restart(&name).await }).await?,
        "rollback" => {
            let version = query.version.ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "rollback needs ?version=N")
            })?;
            to_completion(async move { m.rollback(&name, version).await }).await?
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
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = name_param(path)?;
    let m = Arc::clone(manager(&state));
    let deleted = name.clone();
    to_completion(async move { m.delete(&deleted).await }).await?;
    Ok(Json(json!({"deleted": name})))
}

#[derive(Deserialize)]
pub struct LogQuery {
    tail: Option<usize>,
    #[serde(default)]
    follow: bool,
    /// Only the lines this stage's guest wrote: `predictor` or `transformer`.
    component: Option<Role>,
}

/// How often a follower looks for new lines.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `GET /api/deployments/{name}/logs?tail=N` (default 100): `{"name", "lines"}`. With
/// `&follow=true`: the lines as JSON lines (`application/x-ndjson`), then each new one as it
/// is written, until the deployment stops or is replaced.
pub async fn logs(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let name = name_param(path)?;
    let Query(query) = query.map_err(query_rejected)?;
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
