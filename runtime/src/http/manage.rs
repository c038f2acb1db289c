//! The management API (`/api/deployments`), described by `/api/openapi.json`: upload a
//! deployment (multipart: `deployment.json` and its files), list, describe, start, stop,
//! restart, roll back, delete, read its log. Each handler answers a type of
//! [`crate::views`] and carries its part of the OpenAPI document (`#[utoipa::path]`,
//! gathered by [`super::openapi`]).
//!
//! The `{name}` of every `/api/deployments/{name}[/...]` route is parsed as a
//! [`DeploymentName`] before any store or file operation; path and query-string rejections
//! answer 400 `{"error"}` like every other client error.

mod logs;

pub use logs::{__path_logs, logs};

use super::AppState;
use super::connections::BodyReadTimeout;
use super::error::{ApiError, find_source};
use super::schemas::{
    BadRequest, CannotStart, NotFound, PayloadTooLarge, RequestTimeout, UnsupportedMediaType,
    UploadForm,
};
use crate::deployment::DEFINITION_FILE;
use crate::manage::upload::{MAX_UPLOAD_FILES, Upload};
use crate::manage::{ManageError, Manager};
use crate::store::DeploymentName;
use crate::views::{Deleted, Deployment, DeploymentList, Uploaded};
use axum::Json;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

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

/// The `{name}` of a `/api/deployments/{name}[/...]` route.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct NamePath {
    /// The deployment's name: 1-63 ASCII letters, digits or '-', starting with a letter,
    /// not ending with '-'.
    #[param(
        min_length = 1,
        max_length = 63,
        pattern = "^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    )]
    name: String,
}

/// The `{name}` of a `/api/deployments/{name}` route, parsed.
fn name_param(path: Result<Path<NamePath>, PathRejection>) -> Result<DeploymentName, ApiError> {
    let Path(NamePath { name: raw }) = path.map_err(path_rejected)?;
    name(&raw)
}

/// `POST /api/deployments`: creates a deployment, or a new version of it.
#[utoipa::path(
    post,
    path = "/api/deployments",
    operation_id = "deploy",
    summary = "Create a deployment or upload a new version of it",
    description = "multipart/form-data: a part `deployment.json` (or a part named `definition`) \
        with the Hopsworks predictor fields, and one part per file, its file name (or, without \
        one, its part name) being its path in the deployment folder. The version is started \
        before it is recorded: one that cannot start is refused (422) and the serving version \
        stays.",
    request_body(content((
        UploadForm = "multipart/form-data",
        encoding(("deployment.json" = (content_type = "application/json")))
    ))),
    responses(
        (status = 201, description = "started and recorded", body = Uploaded),
        (status = 400, response = BadRequest),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = CannotStart),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
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
    let deployment = to_completion(async move { m.deploy(upload).await }).await?;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            deployment,
            warnings,
        }),
    ))
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
#[utoipa::path(
    get,
    path = "/api/deployments",
    operation_id = "list",
    summary = "List deployments",
    responses((status = 200, description = "every stored deployment", body = DeploymentList))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<DeploymentList>, ApiError> {
    Ok(Json(DeploymentList {
        deployments: manager(&state).list()?,
    }))
}

/// `GET /api/deployments/{name}`.
#[utoipa::path(
    get,
    path = "/api/deployments/{name}",
    operation_id = "describe",
    summary = "Describe a deployment",
    params(NamePath),
    responses(
        (status = 200, description = "the deployment", body = Deployment),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub async fn describe(
    State(state): State<AppState>,
    path: Result<Path<NamePath>, PathRejection>,
) -> Result<Json<Deployment>, ApiError> {
    let name = name_param(path)?;
    Ok(Json(manager(&state).describe(&name)?))
}

/// What `POST /api/deployments/{name}/{action}` does: `start` serves the current version
/// again, `stop` stops serving it (its versions stay stored), `restart` starts it afresh,
/// `rollback` serves the stored version `?version=N`.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Start,
    Stop,
    Restart,
    Rollback,
}

impl Action {
    /// The action a route's `{action}` names (404 naming the actions otherwise).
    fn parse(raw: &str) -> Result<Action, ApiError> {
        use serde::de::value::{Error, StrDeserializer};
        Action::deserialize(StrDeserializer::<Error>::new(raw)).map_err(|_| {
            ApiError::not_found(format!(
                "no action {raw:?}: start, stop, restart or rollback"
            ))
        })
    }
}

/// `POST /api/deployments/{name}/{action}`: start, stop, restart, rollback (`?version=N`).
#[utoipa::path(
    post,
    path = "/api/deployments/{name}/{action}",
    operation_id = "action",
    summary = "start, stop, restart, or rollback (?version=N)",
    description = "`start` serves the current version again, `stop` stops serving it (its \
        versions stay stored), `restart` starts it afresh, `rollback` serves the stored \
        version `version` (required for rollback).",
    params(
        NamePath,
        ("action" = inline(Action), Path, description = "what to do"),
        ActionQuery,
    ),
    responses(
        (status = 200, description = "the deployment, after the action", body = Deployment),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 422, response = CannotStart),
    )
)]
pub async fn action(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ActionQuery>, QueryRejection>,
) -> Result<Json<Deployment>, ApiError> {
    let Path((raw, action)) = path.map_err(path_rejected)?;
    let name = name(&raw)?;
    let Query(query) = query.map_err(query_rejected)?;
    let m = Arc::clone(manager(&state));
    let described = match Action::parse(&action)? {
        Action::Start => to_completion(async move { m.start(&name).await }).await?,
        Action::Stop => to_completion(async move { m.stop(&name).await }).await?,
        Action::Restart => to_completion(async move { m.restart(&name).await }).await?,
        Action::Rollback => {
            let version = query.version.ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "rollback needs ?version=N")
            })?;
            to_completion(async move { m.rollback(&name, version).await }).await?
        }
    };
    Ok(Json(described))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionQuery {
    /// The version to roll back to (rollback only).
    #[param(minimum = 1)]
    version: Option<u32>,
}

/// `DELETE /api/deployments/{name}`.
#[utoipa::path(
    delete,
    path = "/api/deployments/{name}",
    operation_id = "delete",
    summary = "Delete a deployment (requests in flight finish)",
    params(NamePath),
    responses(
        (status = 200, description = "deleted", body = Deleted),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    path: Result<Path<NamePath>, PathRejection>,
) -> Result<Json<Deleted>, ApiError> {
    let name = name_param(path)?;
    let m = Arc::clone(manager(&state));
    let deleted = name.clone();
    to_completion(async move { m.delete(&deleted).await }).await?;
    Ok(Json(Deleted {
        deleted: name.to_string(),
    }))
}
