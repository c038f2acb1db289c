//! `GET /api/deployments/{name}/logs`: a page of a deployment's newest log lines, or the
//! lines followed as JSON lines while the deployment serves.

use super::{NamePath, manager, name_param, query_rejected};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::schemas::NotFound;
use crate::role::Role;
use crate::views::{ErrorBody, LogLine, LogPage};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many of the newest lines.
    #[param(default = 100)]
    tail: Option<usize>,
    /// Stream the lines as JSON lines (application/x-ndjson), then each new line, until the
    /// deployment stops.
    #[serde(default)]
    #[param(default = false)]
    follow: bool,
    /// Only the lines this stage's guest wrote: `predictor` or `transformer`.
    #[param(inline)]
    component: Option<Role>,
}

/// How often a follower looks for new lines.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `GET /api/deployments/{name}/logs?tail=N` (default 100): `{"name", "lines"}`. With
/// `&follow=true`: the lines as JSON lines (`application/x-ndjson`), then each new one as it
/// is written, until the deployment stops or is replaced.
#[utoipa::path(
    get,
    path = "/api/deployments/{name}/logs",
    operation_id = "logs",
    summary = "The newest lines of a deployment's log",
    params(NamePath, LogQuery),
    responses(
        (status = 200, description = "the lines, oldest first", content(
            (LogPage = "application/json"),
            (LogLine = "application/x-ndjson"),
        )),
        (status = 400, description = "a malformed query, a malformed name, or the deployment \
            is stopped (its log starts when it starts)", body = ErrorBody),
        (status = 404, response = NotFound),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    path: Result<Path<NamePath>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let name = name_param(path)?;
    let Query(query) = query.map_err(query_rejected)?;
    let tail = query.tail.unwrap_or(100);
    let m = manager(&state);
    if !query.follow {
        let lines = m.logs(&name, tail, query.component)?;
        return Ok(Json(LogPage {
            name: name.to_string(),
            lines,
        })
        .into_response());
    }
    let deployment = m.serving(&name)?;
    let component = query.component;
    let first = match m.logs(&name, tail, component)?.first() {
        Some(line) => line.seq,
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
                    for line in lines.iter().map(crate::manage::describe::log_line) {
                        serde_json::to_writer(&mut text, &line).expect("log lines serialize");
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
