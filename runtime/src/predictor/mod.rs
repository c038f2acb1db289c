//! What answers a deployment's predictions: a sandboxed component's instance pool, or a
//! model graph the host runs. [`Predictor`] runs a payload on either and maps their errors
//! to what the client sees; [`PredictorStage`] adds the deployment's batcher in front of it.
//! Both kinds are matched here and nowhere else on the request path; [`assemble`] makes one
//! from a definition.

pub mod assemble;

use crate::batching::{BatchSettings, Batcher, Runner};
use crate::definition::DeploymentConfig;
use crate::deployment_log::DeploymentLog;
use crate::metrics::Metrics;
use crate::native::stage::GraphStage;
use crate::request::{Accepts, Answer, InferenceError, Output, Payload};
use crate::role::Role;
use crate::tensor::signature::Signatures;
use crate::tensor::{Tensor, TensorSpec};
use crate::wasm::component::ComponentPredictor;
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;

/// V2 `platform` of component deployments (ours; the protocol lets servers add names).
pub const COMPONENT_PLATFORM: &str = "wasm_component";

pub enum Predictor {
    /// A sandboxed predictor component.
    Component(Box<ComponentPredictor>),
    /// A model graph run by the host, no component involved.
    Native(Box<GraphStage>),
}

impl Predictor {
    /// Inputs and outputs for V2 metadata.
    pub fn signature(&self) -> (Vec<TensorSpec>, Vec<TensorSpec>) {
        match self {
            Predictor::Component(c) => c.signature().clone(),
            Predictor::Native(g) => (g.inputs().to_vec(), g.outputs().to_vec()),
        }
    }

    /// TF Serving's signature map: a SavedModel's own, else one `serving_default` predict
    /// signature of the V2 inputs and outputs.
    pub fn signatures(&self) -> Arc<Signatures> {
        match self {
            Predictor::Component(c) => {
                let (inputs, outputs) = c.signature();
                Arc::new(Signatures::from_specs(inputs, outputs))
            }
            Predictor::Native(g) => Arc::clone(g.signatures()),
        }
    }

    /// The signature map a graph keeps (no copy); `None` for a component, whose one
    /// signature is made on demand by [`Predictor::signatures`].
    pub fn graph_signatures(&self) -> Option<&Arc<Signatures>> {
        match self {
            Predictor::Component(_) => None,
            Predictor::Native(g) => Some(g.signatures()),
        }
    }

    /// The versions of its TF Serving folder, when it is a graph serving one.
    pub fn versions(&self) -> Option<&crate::native::versions::Versions> {
        match self {
            Predictor::Component(_) => None,
            Predictor::Native(g) => g.versions(),
        }
    }

    /// V2 `platform`.
    pub fn platform(&self) -> &'static str {
        match self {
            Predictor::Component(_) => COMPONENT_PLATFORM,
            Predictor::Native(g) => g.platform(),
        }
    }

    /// What a protocol should decode a request into for this predictor.
    pub fn accepts(&self) -> Accepts<'_> {
        match self {
            Predictor::Component(_) => Accepts::JsonOrTensors,
            Predictor::Native(g) => Accepts::Tensors(g.inputs()),
        }
    }

    /// Whether it holds no instance (a component) or no loaded graph.
    pub fn is_at_zero(&self) -> bool {
        match self {
            Predictor::Component(c) => c.pool().is_at_zero(),
            Predictor::Native(g) => g.is_at_zero(),
        }
    }

    /// How many calls may run at once: its `max_instances`, or its graph's run slots.
    pub fn concurrency(&self) -> usize {
        match self {
            Predictor::Component(c) => c.pool().config().scaling.max_instances,
            Predictor::Native(g) => g.slots(),
        }
    }

    /// Counts requests refused because the queue was full.
    fn queue_refusals(&self) -> Counter {
        match self {
            Predictor::Component(c) => c.pool().metrics.queue.clone(),
            Predictor::Native(g) => g.metrics().queue.clone(),
        }
    }

    /// Runs one payload (a request, or a merged batch); `deployment` names it in errors.
    pub async fn run(&self, deployment: &str, payload: Payload) -> Result<Output, InferenceError> {
        match (self, payload) {
            (Predictor::Component(c), Payload::Json { body, .. }) => c
                .predict_json(body.get())
                .await
                .map(Output::Json)
                .map_err(|e| e.for_client(deployment, Role::Predictor)),
            (
                Predictor::Component(c),
                Payload::Tensors {
                    inputs, outputs, ..
                },
            ) => {
                let answer = c
                    .predict_tensors(inputs)
                    .await
                    .map_err(|e| e.for_client(deployment, Role::Predictor))?;
                select_outputs(answer, outputs.as_deref()).map(Output::Tensors)
            }
            (
                Predictor::Native(model),
                Payload::Tensors {
                    inputs,
                    outputs,
                    signature,
                    version,
                },
            ) => {
                let answer = model
                    .run(version, signature.as_deref(), inputs)
                    .await
                    .map_err(|e| e.for_client(deployment))?;
                select_outputs(answer, outputs.as_deref()).map(Output::Tensors)
            }
            // Protocols decode for `accepts()`; JSON reaching a graph is a decoder's mistake,
            // answered as one rather than trusted.
            (Predictor::Native(_), Payload::Json { .. }) => Err(InferenceError::BadRequest(
                "this model takes tensors; the request was not decoded into them".into(),
            )),
        }
    }
}

impl Runner for Predictor {
    async fn run(&self, deployment: &str, payload: Payload) -> Result<Output, InferenceError> {
        Predictor::run(self, deployment, payload).await
    }
}

/// The predictor, behind the deployment's batcher when `inference_batcher` is enabled.
pub struct PredictorStage {
    predictor: Arc<Predictor>,
    batcher: Option<Batcher<Predictor>>,
}

impl PredictorStage {
    /// Starts the batcher, if the definition enables one. Batches run on as many slots as
    /// the predictor computes at once.
    pub fn new(
        predictor: Predictor,
        config: &DeploymentConfig,
        max_queue: usize,
        metrics: &Metrics,
        log: &Arc<DeploymentLog>,
    ) -> PredictorStage {
        let predictor = Arc::new(predictor);
        let settings = BatchSettings::of(
            config.inference_batcher.as_ref(),
            max_queue,
            predictor.concurrency(),
        );
        let batcher = settings.map(|settings| {
            settings.log(log, "");
            Batcher::start(
                &config.name,
                settings,
                Arc::clone(&predictor),
                metrics.batch(&config.name, crate::metrics::BatchQueue::predict),
                predictor.queue_refusals(),
                Arc::clone(log),
            )
        });
        PredictorStage { predictor, batcher }
    }

    pub fn predictor(&self) -> &Predictor {
        &self.predictor
    }

    pub fn batcher(&self) -> Option<&Batcher<Predictor>> {
        self.batcher.as_ref()
    }

    /// Runs one request: through the batcher when there is one, else directly.
    pub async fn dispatch(
        &self,
        deployment: &str,
        payload: Payload,
    ) -> Result<Answer, InferenceError> {
        match &self.batcher {
            Some(batcher) => batcher.submit(payload).await,
            None => self
                .predictor
                .run(deployment, payload)
                .await
                .map(|output| Answer {
                    output,
                    batch: None,
                }),
        }
    }
}

/// Keeps the outputs a V2 request asked for, in its order.
fn select_outputs(
    outputs: Vec<Tensor>,
    wanted: Option<&[String]>,
) -> Result<Vec<Tensor>, InferenceError> {
    let Some(wanted) = wanted else {
        return Ok(outputs);
    };
    let mut outputs: Vec<Option<Tensor>> = outputs.into_iter().map(Some).collect();
    wanted
        .iter()
        .map(|name| {
            outputs
                .iter_mut()
                .find(|t| t.as_ref().is_some_and(|t| &t.name == name))
                .and_then(Option::take)
                .ok_or_else(|| {
                    InferenceError::BadRequest(format!(
                        "requested output {name:?} is not an output of the model"
                    ))
                })
        })
        .collect()
}
