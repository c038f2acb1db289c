//! API keys, sent as `Authorization: ApiKey <key>` (Hopsworks' scheme), each with a scope:
//! `predict` (inference, metadata, health, metrics) or `manage` (also the management API
//! under `/api`). Keys come from a file (`--api-keys-file`: one `SCOPE KEY` per line, `#`
//! comments) or the `PREDICTOR_API_KEYS` env var (`SCOPE:KEY,...`). Only their sha256 is
//! kept, and compared in constant time.
//!
//! With keys configured, every route needs one, except the health probes (`/`,
//! `/v2/health/live`, `/v2/health/ready`): Kubernetes' probes send no key, and they tell
//! nothing but whether the server is up (`--health-requires-key` changes that). Without
//! keys, the server listens on loopback only (see `server`), unless told it sits behind
//! something that authenticates.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Predict,
    Manage,
}

impl Scope {
    fn parse(s: &str) -> Result<Scope, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "predict" => Ok(Scope::Predict),
            "manage" => Ok(Scope::Manage),
            other => Err(format!("unknown scope {other:?}: predict or manage")),
        }
    }
}

/// The configured keys (hashed).
#[derive(Clone, Debug, Default)]
pub struct ApiKeys {
    keys: Vec<([u8; 32], Scope)>,
    /// The health probes need a key too.
    health_needs_key: bool,
}

/// The routes probes call, answered without a key unless asked otherwise.
const HEALTH_PATHS: [&str; 3] = ["/", "/v2/health/live", "/v2/health/ready"];

impl ApiKeys {
    /// Makes the health probes need a key like every other route.
    pub fn require_key_for_health(&mut self, needs: bool) {
        self.health_needs_key = needs;
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds `other`'s keys to these.
    pub fn extend(&mut self, other: ApiKeys) {
        self.keys.extend(other.keys);
    }

    fn add(&mut self, scope: &str, key: &str) -> Result<(), String> {
        let key = key.trim();
        if key.len() < 16 {
            return Err("an API key must be at least 16 characters".into());
        }
        self.keys
            .push((Sha256::digest(key).into(), Scope::parse(scope)?));
        Ok(())
    }

    /// A keys file: one `SCOPE KEY` per line; blank lines and `#` comments skipped.
    pub fn parse_file(text: &str) -> Result<ApiKeys, String> {
        let mut keys = ApiKeys::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (scope, key) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("line {}: expected `SCOPE KEY`", i + 1))?;
            keys.add(scope, key)
                .map_err(|e| format!("line {}: {e}", i + 1))?;
        }
        Ok(keys)
    }

    /// The env var's form: `SCOPE:KEY` pairs, comma-separated.
    pub fn parse_env(text: &str) -> Result<ApiKeys, String> {
        let mut keys = ApiKeys::default();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (scope, key) = pair
                .split_once(':')
                .ok_or_else(|| "expected SCOPE:KEY pairs, comma-separated".to_string())?;
            keys.add(scope, key)?;
        }
        Ok(keys)
    }

    /// The scope of `key`, if it is one of ours. Every stored digest is compared, each in
    /// constant time, so timing says nothing about which key or how much matched.
    fn scope_of(&self, key: &str) -> Option<Scope> {
        let digest: [u8; 32] = Sha256::digest(key.trim()).into();
        let mut found = None;
        for (stored, scope) in &self.keys {
            let diff = stored
                .iter()
                .zip(&digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(*scope);
            }
        }
        found
    }
}

/// The scope a request needs: the management API needs `manage`, the rest `predict`.
fn needed(path: &str) -> Scope {
    if path == "/api" || path.starts_with("/api/") {
        Scope::Manage
    } else {
        Scope::Predict
    }
}

/// Refuses a request without a key of the scope it needs (when keys are configured).
pub async fn require_key(
    State(keys): State<Arc<ApiKeys>>,
    request: Request,
    next: Next,
) -> Response {
    if keys.is_empty() || (!keys.health_needs_key && HEALTH_PATHS.contains(&request.uri().path())) {
        return next.run(request).await;
    }
    let needed = needed(request.uri().path());
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("ApiKey").then_some(key)
        });
    let refusal = match presented.map(|k| keys.scope_of(k)) {
        None => (
            StatusCode::UNAUTHORIZED,
            "an API key is required: send `Authorization: ApiKey <key>`",
        ),
        Some(None) => (StatusCode::UNAUTHORIZED, "the API key is not valid"),
        Some(Some(scope)) if scope < needed => (
            StatusCode::FORBIDDEN,
            "this API key has the predict scope; the management API needs a manage key",
        ),
        Some(Some(_)) => return next.run(request).await,
    };
    let mut response = ApiError::new(refusal.0, refusal.1).into_response();
    if refusal.0 == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_match_by_scope() {
        let keys = ApiKeys::parse_file(
            "# operators\nmanage  0123456789abcdef-admin\n\npredict 0123456789abcdef-app\n",
        )
        .unwrap();
        assert_eq!(keys.scope_of("0123456789abcdef-admin"), Some(Scope::Manage));
        assert_eq!(keys.scope_of("0123456789abcdef-app"), Some(Scope::Predict));
        assert_eq!(keys.scope_of("0123456789abcdef-ap"), None);
        let env = ApiKeys::parse_env("predict:0123456789abcdef-app").unwrap();
        assert_eq!(env.scope_of("0123456789abcdef-app"), Some(Scope::Predict));
        assert!(ApiKeys::parse_file("admin 0123456789abcdef").is_err());
        assert!(ApiKeys::parse_env("manage:short").is_err());
        assert_eq!(needed("/api/deployments"), Scope::Manage);
        assert_eq!(needed("/v2/models/x/infer"), Scope::Predict);
        assert_eq!(needed("/apix"), Scope::Predict);
    }
}
