//! Per-request context, in one light middleware: the request id (the client's
//! `x-request-id`, or a new UUID) set on the request and echoed on the response, and a
//! tracing span carrying it, so every log line of the request (the guest's included) names
//! it. One layer instead of tower-http's three (set id, propagate id, trace) saves a few
//! microseconds per request, which is measurable at these request rates.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// The header that carries the request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

pub async fn request_context(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let mut buf = uuid::Uuid::encode_buffer();
            let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
            let id = HeaderValue::from_str(text).expect("a UUID is a valid header value");
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = id.to_str().unwrap_or("(not text)"),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
            "answered"
        )
    });
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
