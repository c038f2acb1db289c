//! The request chain every protocol serves through, one way from body to body: the
//! transformer's `preprocess` (if any), the codec's `decode` into what the predictor
//! accepts, `dispatch` (through the batcher, if any, to the component pool or the native
//! graph), the codec's `encode`, the transformer's `postprocess`. Drawn in
//! docs/architecture.md ("The request path, one chain").
//!
//! The protocol handler has looked the deployment up; the chain knows no protocol, only the
//! [`Codec`] it is given, so a new protocol adds a codec, not a copy of the chain.

use crate::deployment::{Deployment, Serving};
use crate::protocol::Codec;
use crate::request::{BatchTiming, InferenceError};
use crate::transformer::Phase;
use bytes::Bytes;

/// An answered request: its body (JSON, or JSON then binary tensors) and its batch timing.
pub struct Served {
    pub body: Vec<u8>,
    /// The JSON part's length when binary tensors follow it.
    pub binary_json_length: Option<usize>,
    pub batch: Option<BatchTiming>,
}

/// Serves one request body on `deployment` with `codec`.
pub async fn serve<C: Codec>(
    deployment: &Deployment,
    mut codec: C,
    body: Bytes,
) -> Result<Served, InferenceError> {
    let serving = running(deployment)?;
    let name = deployment.name();
    let body = match &serving.transformer {
        Some(transformer) => {
            codec.json_only(name)?;
            // The transformer reads the body as sent, before any decoder checks it.
            crate::protocol::check_depth(&body)?;
            transformer.apply(name, Phase::Preprocess, body).await?
        }
        None => body,
    };
    let (payload, meta) = codec.decode(&body, serving.predictor.predictor().accepts())?;
    let answer = serving.predictor.dispatch(name, payload).await?;
    let encoded = codec.encode(meta, &answer.output)?;
    let body = match &serving.transformer {
        Some(transformer) if encoded.binary_json_length.is_none() => transformer
            .apply(name, Phase::Postprocess, Bytes::from(encoded.body))
            .await
            .map(Vec::from)?,
        _ => encoded.body,
    };
    Ok(Served {
        body,
        binary_json_length: encoded.binary_json_length,
        batch: answer.batch,
    })
}

/// What the deployment serves with, or the not-ready error every endpoint answers for a
/// deployment that failed to start.
pub fn running(deployment: &Deployment) -> Result<&Serving, InferenceError> {
    deployment
        .serving()
        .map_err(|reason| InferenceError::NotReady {
            name: deployment.name().to_string(),
            reason: reason.to_string(),
        })
}
