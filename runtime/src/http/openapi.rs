//! The OpenAPI document of the management API (`GET /api/openapi.json`), generated: each
//! handler in [`super::manage`] describes its operation (`#[utoipa::path]`), the bodies are
//! the types of [`crate::views`], and this module adds what they share (the API key, the
//! error answers every operation can give) and the two schemas with no type here: the
//! upload form and `deployment.json` (whose type lives with the loader). The tests
//! ([`tests`]) hold the document to the router and to the name rule; Schemathesis
//! (`tests/clients/test_schemathesis.py`) holds the running server to the document.

#[cfg(test)]
mod tests;

use super::manage;
use super::schemas::*;
use crate::views;
use axum::body::Bytes;
use std::sync::LazyLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "predictor runtime management API",
        description = "Deploy, version and drive deployments on a running server. Predictions \
            are served on the KServe V1 and Open Inference Protocol routes.\n\nEvery route here \
            needs an API key of the `manage` scope, sent as `Authorization: ApiKey <key>`. A \
            server started without keys listens on loopback only and asks for none. Every \
            failure answers `{\"error\": \"...\"}` with its status."
    ),
    paths(
        manage::list,
        manage::upload,
        manage::describe,
        manage::delete,
        manage::action,
        manage::logs,
        serve,
    ),
    components(
        schemas(
            views::Deployment,
            views::DeploymentList,
            views::Version,
            views::Instances,
            views::PredictorInstances,
            views::NativeGraph,
            views::Endpoints,
            views::Uploaded,
            views::Deleted,
            views::LogPage,
            views::LogLine,
            views::LogSource,
            views::LogLevel,
            views::ErrorBody,
            Definition,
        ),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            RequestTimeout,
            PayloadTooLarge,
            UnsupportedMediaType,
            CannotStart,
            InternalError,
        )
    ),
    security(("ApiKey" = [])),
    modifiers(&Shared)
)]
pub struct ManagementApi;

/// The document, built once.
pub fn document() -> utoipa::openapi::OpenApi {
    ManagementApi::openapi()
}

/// The document as served: JSON, encoded once.
pub fn json() -> Bytes {
    static JSON: LazyLock<Bytes> = LazyLock::new(|| {
        Bytes::from(serde_json::to_vec(&document()).expect("an OpenAPI document serializes"))
    });
    JSON.clone()
}

/// What every operation shares: the API key, and the answers any of them can give (no key,
/// a predict key, a fault of the server).
struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`ApiKey <key>`: a key of the `manage` scope (a `predict` key is refused with \
                 403). Keys come from `--api-keys-file` or `PREDICTOR_API_KEYS`.",
            ))),
        );
        let shared = [
            ("401", Unauthorized::response().0),
            ("403", Forbidden::response().0),
            ("500", InternalError::response().0),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                add_responses(operation, &shared);
            }
        }
    }
}

fn add_responses(operation: &mut Operation, shared: &[(&str, &str)]) {
    for (status, name) in shared {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
}

/// `GET /api/openapi.json`: this API, described.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1", body = OpenApiDocument))
)]
pub async fn serve() -> axum::response::Response {
    super::json_response(json())
}
