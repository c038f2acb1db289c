//! The request chain every protocol serves through, one way from body to body: the
//! transformer's `preprocess` (if any), the codec's `decode` into what the predictor
//! accepts, `dispatch` (through the batcher, if any, to the component pool or the native
//! graph), the codec's `encode`, the transformer's `postprocess`. Drawn in
//! docs/architecture.md ("The request path, one chain").
//!
//! The protocol handler has looked the deployment up; the chain knows no protocol, only the
//! [`Codec`] it is given, so a new protocol adds a codec, not a copy of the chain. A request
//! for another version of a TF Serving folder (`/versions/N`) is decoded into that version's
//! inputs and runs its graph ([`version`]).

use crate::deployment::{Deployment, Serving};
use crate::native::versions::VersionSpec;
use crate::predictor::Predictor;
use crate::protocol::Codec;
use crate::request::{Accepts, BatchTiming, InferenceError};
use crate::transformer::Phase;
use bytes::Bytes;
use std::sync::Arc;

/// An answered request: its body (JSON, or JSON then binary tensors) and its batch timing.
pub struct Served {
    pub body: Vec<u8>,
    /// The JSON part's length when binary tensors follow it.
    pub binary_json_length: Option<usize>,
    pub batch: Option<BatchTiming>,
}

/// Serves one request body on `deployment` with `codec`, on `version` of its TF Serving
/// folder when given (the served one otherwise).
pub async fn serve<C: Codec>(
    deployment: &Deployment,
    mut codec: C,
    body: Bytes,
    version: Option<&VersionSpec>,
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
    let accepts = match version {
        Some(spec) => Accepts::Tensors(&spec.inputs),
        None => serving.predictor.predictor().accepts(),
    };
    let (mut payload, meta) = codec.decode(&body, accepts)?;
    payload.set_version(version.map(|spec| spec.version));
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

/// What `version` of the deployment's TF Serving folder takes and gives, loading it first if
/// it never has (the version is one the HTTP layer found in the folder).
pub async fn version(
    deployment: &Deployment,
    version: u64,
) -> Result<Arc<VersionSpec>, InferenceError> {
    match running(deployment)?.predictor.predictor() {
        Predictor::Native(graph) if graph.versions().is_some() => graph
            .version_spec(version)
            .await
            .map_err(|e| e.for_client(deployment.name())),
        _ => Err(InferenceError::BadRequest(format!(
            "deployment {:?} serves one version: it has no version {version} of its own",
            deployment.name()
        ))),
    }
}
