//! The HTTP surface: `fn app(state) -> Router` with KServe V1 ([`v1`]) and Open Inference
//! Protocol ([`v2`]) routes, a request id on every request and response (`x-request-id`,
//! taken from the client or made), a span per request, a body-size limit, and
//! `{"error": "..."}` answers for every failure ([`error`]), including unknown routes,
//! extractor rejections and handler panics; `/metrics` for Prometheus; the management API
//! under `/api` ([`manage`]). Connections are accepted and limited by [`connections`].

pub mod auth;
pub mod connections;
pub mod error;
pub mod manage;
pub mod openapi;
pub mod request_context;
mod schemas;
pub mod v1;
pub mod v2;

use crate::deployment::Deployment;
use crate::deployment::registry::Registry;
use crate::inference;
use crate::inference_log::Exchange as InferenceExchange;
use crate::native::versions::VersionSpec;
use crate::protocol::Codec;
use crate::request::BatchTiming;
use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::ApiError;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

/// Default limit on request bodies.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub manager: Arc<crate::manage::Manager>,
    /// API keys; none configured: no key asked.
    pub keys: Arc<auth::ApiKeys>,
    /// Whether the deployments asked for at start have all been started (readiness).
    pub started: Arc<std::sync::atomic::AtomicBool>,
}

/// The router, without a socket (tests can drive it directly).
pub fn app(state: AppState, max_body_bytes: usize) -> Router {
    let keys = Arc::clone(&state.keys);
    with_layers(routes(state), keys, max_body_bytes)
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(v1::root))
        .route("/v1/models", get(v1::list))
        .route("/v1/models/{model}", get(v1::status).post(v1::action))
        .route(
            "/v1/models/{model}/versions/{version}",
            get(v1::status_version).post(v1::action_version),
        )
        .route("/v1/models/{model}/metadata", get(v1::metadata))
        .route(
            "/v1/models/{model}/versions/{version}/metadata",
            get(v1::metadata_version),
        )
        .route(
            "/v1/models/{model}/labels/{label}",
            get(v1::status_label).post(v1::action_label),
        )
        .route(
            "/v1/models/{model}/labels/{label}/metadata",
            get(v1::status_label),
        )
        .route("/v2", get(v2::server_metadata))
        .route("/v2/health/live", get(v2::live))
        .route("/v2/health/ready", get(v2::ready))
        .route("/v2/models/{model}", get(v2::metadata))
        .route("/v2/models/{model}/versions/{version}", get(v2::metadata))
        .route("/v2/models/{model}/ready", get(v2::model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(v2::model_ready),
        )
        .route("/v2/models/{model}/infer", post(v2::infer))
        .route(
            "/v2/models/{model}/versions/{version}/infer",
            post(v2::infer),
        )
        .route("/v2/repository/index", post(v2::repository_index))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/deployments", get(manage::list).post(manage::upload))
        .route(
            "/api/deployments/{name}",
            get(manage::describe).delete(manage::delete),
        )
        .route("/api/deployments/{name}/logs", get(manage::logs))
        .route("/api/deployments/{name}/{action}", post(manage::action))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// What every route goes through: the request id and span, keys, panics caught, the body
/// limit. Public for tests that wrap routes of their own (one that panics).
pub fn with_layers(routes: Router, keys: Arc<auth::ApiKeys>, max_body_bytes: usize) -> Router {
    routes
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            // The request id is added to the answer by `request_context`, which sees it.
            let mut response = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while handling the request",
            )
            .into_response();
            response.extensions_mut().insert(request_context::Panicked);
            response
        }))
        .layer(axum::middleware::from_fn_with_state(
            keys,
            auth::require_key,
        ))
        .layer(axum::middleware::from_fn(request_context::request_context))
}

/// Prometheus/OpenMetrics exposition of every deployment's series.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let mut response = Response::new(Body::from(state.metrics.encode()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    response
}

async fn unknown_route(req: Request<Body>) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request<Body>) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// The deployment called `model`, checking the version when the path names one: one of its
/// TF Serving folder's versions, else its `model_version`. With it, the version named when it
/// is another of the folder's than the one served by default.
pub fn lookup(
    state: &AppState,
    model: &str,
    version: Option<&str>,
) -> Result<(Arc<Deployment>, Option<u64>), ApiError> {
    let deployment = state.registry.get(model).ok_or_else(|| {
        ApiError::from(crate::request::InferenceError::NotFound(model.to_string()))
    })?;
    let Some(v) = version else {
        return Ok((deployment, None));
    };
    let other = match deployment.versions() {
        Some(versions) => {
            // TF Serving's versions are numbers: `/versions/007` is version 7.
            let number = v
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| v.parse::<u64>().ok())
                .flatten()
                .filter(|&n| versions.contains(n));
            let Some(n) = number else {
                return Err(ApiError::not_found(format!(
                    "deployment {model:?} has no version {v:?} (its versions: {})",
                    versions.listed()
                )));
            };
            (n != versions.served()).then_some(n)
        }
        None if v == deployment.config.model_version.to_string() => None,
        None => {
            return Err(ApiError::not_found(format!(
                "deployment {model:?} has no version {v:?} (it serves version {})",
                deployment.config.model_version
            )));
        }
    };
    Ok((deployment, other))
}

/// What `version` of the deployment's folder takes and gives, when the path named another
/// version than the one served by default (loading it first if it never has).
pub async fn version_spec(
    deployment: &Deployment,
    version: Option<u64>,
) -> Result<Option<Arc<VersionSpec>>, ApiError> {
    match version {
        None => Ok(None),
        Some(v) => Ok(Some(inference::version(deployment, v).await?)),
    }
}

/// Serves one inference request with `serve`; when the deployment logs inferences (and this
/// request is sampled), hands the request and the answer (errors included, with their
/// status) to its logger once the answer is ready. The bodies are shared, not copied.
async fn with_inference_log<F, Fut>(
    deployment: &Deployment,
    headers: &HeaderMap,
    body: Bytes,
    serve: F,
) -> Response
where
    F: FnOnce(Bytes) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let Some(logger) = deployment.inference_log.as_ref().filter(|l| l.sampled()) else {
        return serve(body).await.into_response();
    };
    let request_timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (parts, answer) = serve(body.clone()).await.into_response().into_parts();
    // The answer is one buffer already: collecting it takes no copy.
    let answer = axum::body::to_bytes(answer, usize::MAX)
        .await
        .unwrap_or_default();
    let inference_id = headers
        .get(request_context::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| uuid::Uuid::parse_str(v).ok())
        .unwrap_or_else(uuid::Uuid::new_v4)
        .hyphenated()
        .to_string();
    let kept = logger
        .headers
        .iter()
        .filter_map(|name| Some((name.clone(), headers.get(name)?.as_bytes().to_vec())))
        .collect();
    logger.log(InferenceExchange {
        inference_id,
        request_timestamp,
        status: parts.status.as_u16(),
        request: body,
        response: answer.clone(),
        headers: kept,
    });
    Response::from_parts(parts, Body::from(answer))
}

/// Serves one inference request on `deployment` (on `version` of its folder when given)
/// through the chain with `codec`, and logs the exchange when the deployment logs inferences.
pub async fn infer<C: Codec>(
    deployment: &Deployment,
    headers: &HeaderMap,
    body: Bytes,
    codec: C,
    version: Option<&VersionSpec>,
) -> Response {
    with_inference_log(deployment, headers, body, |body| async move {
        let served = inference::serve(deployment, codec, body, version).await?;
        let response = match served.binary_json_length {
            None => json_response(served.body),
            Some(json_length) => {
                let mut response = Response::new(Body::from(served.body));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                headers.insert(
                    crate::protocol::v2::BINARY_HEADER,
                    HeaderValue::from(json_length),
                );
                response
            }
        };
        Ok(with_batch_timing(response, served.batch))
    })
    .await
}

/// A 200 with a JSON body already encoded.
pub fn json_response(body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Adds `Server-Timing` with the request's batch queue wait and its batch's compute time,
/// when it was batched.
fn with_batch_timing(mut response: Response, batch: Option<BatchTiming>) -> Response {
    if let Some(timing) = batch
        && let Ok(value) = HeaderValue::from_str(&timing.server_timing())
    {
        response.headers_mut().insert("server-timing", value);
    }
    response
}
