//! Running a loaded graph: inputs matched to the signature and checked, the plan run with
//! the deployment's limits looked at between operators (the call deadline, the memory
//! budget), and runs scheduled so async workers keep serving (in place when short, else on
//! the blocking pool behind the deployment's gate).

use super::{
    INLINE_MAX_ELEMENTS, INLINE_RUN_BUDGET, ModelError, NativeModel, budget, convert, trees,
};
use crate::tensor::{Tensor, TensorSpec};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;

impl NativeModel {
    /// Runs the graph on this thread. Inputs are matched by name, or by position when
    /// unnamed.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, ModelError> {
        self.run_with(inputs, 1)
    }

    /// [`NativeModel::run`] allowed `threads` threads (operators that split a large batch
    /// use them; the others run on this one).
    pub fn run_with(&self, inputs: Vec<Tensor>, threads: usize) -> Result<Vec<Tensor>, ModelError> {
        self.run_until(inputs, threads, None, None)
    }

    /// [`NativeModel::run_with`], stopped once it has taken `limit` (as a deployment's run is
    /// at the call deadline).
    pub fn run_within(
        &self,
        inputs: Vec<Tensor>,
        threads: usize,
        limit: Duration,
    ) -> Result<Vec<Tensor>, ModelError> {
        self.run_until(inputs, threads, Some((Instant::now() + limit, limit)), None)
    }

    /// [`NativeModel::run_with`], stopped between two operators (or two chunks of a tree
    /// ensemble's rows) once `deadline` has passed, and held to `budget`.
    fn run_until(
        &self,
        inputs: Vec<Tensor>,
        threads: usize,
        deadline: Option<(Instant, Duration)>,
        budget: Option<&budget::MemoryBudget>,
    ) -> Result<Vec<Tensor>, ModelError> {
        // Opened first so the inputs' conversion counts too.
        let mut memory = budget.map(|b| b.run());
        if inputs.len() != self.inputs.len() {
            return Err(ModelError::Input(format!(
                "the model takes {} input(s) ({}), got {}",
                self.inputs.len(),
                self.input_names(),
                inputs.len()
            )));
        }
        let mut ordered: Vec<Option<Tensor>> = vec![None; self.inputs.len()];
        for (position, t) in inputs.into_iter().enumerate() {
            let index = if t.name.is_empty() {
                position
            } else {
                self.inputs
                    .iter()
                    .position(|(s, _)| s.name == t.name)
                    .ok_or_else(|| {
                        ModelError::Input(format!(
                            "unknown input {:?}; the model takes {}",
                            t.name,
                            self.input_names()
                        ))
                    })?
            };
            if ordered[index].replace(t).is_some() {
                return Err(ModelError::Input(format!(
                    "input {:?} given twice",
                    self.inputs[index].0.name
                )));
            }
        }
        let mut values = TVec::new();
        for (t, (spec, dt)) in ordered.into_iter().zip(&self.inputs) {
            let t = t.expect("every slot filled: counts match and names are unique");
            check_shape(&t, spec)?;
            let tensor = convert::to_tract(&t, *dt).map_err(|e| ModelError::Input(e.0))?;
            values.push(tensor.into_tvalue());
        }
        let run_err = |message: String| ModelError::Run {
            source_name: self.source_name.clone(),
            message,
        };
        let run = || {
            let mut state = self.plan.spawn()?;
            state.run_plan_with_eval(values, |ctx, op_state, node, input| {
                if deadline.is_some_and(|(at, _)| Instant::now() >= at) {
                    return Err(anyhow::Error::new(DeadlinePassed));
                }
                let outputs = tract_onnx::tract_core::plan::eval(ctx, op_state, node, input)?;
                if let Some(m) = memory.as_mut() {
                    m.check().map_err(anyhow::Error::new)?;
                }
                Ok(outputs)
            })
        };
        let outputs =
            trees::with_threads(threads, deadline.map(|(at, _)| at), run).map_err(|e| {
                if let Some(over) = e.downcast_ref::<budget::OverBudget>() {
                    return ModelError::MemoryLimit {
                        source_name: self.source_name.clone(),
                        over: *over,
                    };
                }
                match deadline {
                    Some((_, limit)) if e.chain().any(|c| c.is::<DeadlinePassed>()) => {
                        ModelError::Timeout {
                            source_name: self.source_name.clone(),
                            limit,
                        }
                    }
                    _ => run_err(format!("{e:#}")),
                }
            })?;
        outputs
            .iter()
            .zip(&self.outputs)
            .map(|(value, spec)| convert::from_tract(&spec.name, value).map_err(|e| run_err(e.0)))
            .collect()
    }

    /// [`NativeModel::run`], scheduled so async workers keep serving: on the blocking pool,
    /// or in place when this graph's runs are known to take less than [`INLINE_RUN_BUDGET`].
    pub async fn run_async(
        self: &Arc<Self>,
        inputs: Vec<Tensor>,
    ) -> Result<Vec<Tensor>, ModelError> {
        let average = Duration::from_nanos(self.average_run_nanos.load(Ordering::Relaxed));
        let elements: usize = inputs.iter().map(Tensor::len).sum();
        if average < INLINE_RUN_BUDGET && elements <= INLINE_MAX_ELEMENTS {
            return self.run_timed(inputs, 1);
        }
        let _pass = match self.gate.get() {
            Some(gate) => Some(gate.enter().await.map_err(|full| ModelError::Overloaded {
                slots: full.slots,
                waiting: full.waiting,
            })?),
            None => None,
        };
        // The deployment's other cores, while no other run uses them.
        let extra = match self.gate.get() {
            Some(gate) if self.splits_work => gate.try_extra(gate.slots() - 1),
            _ => None,
        };
        let threads = 1 + extra.as_ref().map_or(0, |p| p.num_permits());
        let model = Arc::clone(self);
        tokio::task::spawn_blocking(move || model.run_timed(inputs, threads))
            .await
            .unwrap_or_else(|e| {
                Err(ModelError::Run {
                    source_name: self.source_name.clone(),
                    message: format!("panicked: {e}"),
                })
            })
    }

    fn run_timed(&self, inputs: Vec<Tensor>, threads: usize) -> Result<Vec<Tensor>, ModelError> {
        let started = Instant::now();
        let gate = self.gate.get();
        let deadline = gate
            .and_then(|g| g.deadline())
            .map(|limit| (started + limit, limit));
        let result = self.run_until(inputs, threads, deadline, gate.and_then(|g| g.memory()));
        if let Some(metrics) = gate.map(|g| g.metrics()) {
            match &result {
                Err(ModelError::Timeout { .. }) => metrics.deadline.inc(),
                Err(ModelError::MemoryLimit { .. }) => metrics.memory.inc(),
                _ => 0,
            };
        }
        let took = started.elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
        let previous = self.average_run_nanos.load(Ordering::Relaxed);
        // An exponential moving average (1/8 weight), seeded by the first run. A sample counts
        // for at most twice the average: under load a thread is often preempted mid-run, and
        // those wall-clock spikes say nothing about the graph's cost. A graph that really got
        // slower still raises the average by an eighth per run.
        let average = if previous == u64::MAX {
            took
        } else {
            let sample = took.min(previous.saturating_mul(2));
            previous - previous / 8 + sample / 8
        };
        self.average_run_nanos.store(average, Ordering::Relaxed);
        result
    }

    fn input_names(&self) -> String {
        let names: Vec<String> = self
            .inputs
            .iter()
            .map(|(s, _)| format!("{:?}", s.name))
            .collect();
        names.join(", ")
    }
}

/// A run stopped at its deadline (told apart from the graph's own errors).
#[derive(Debug, thiserror::Error)]
#[error("the call deadline passed")]
pub(crate) struct DeadlinePassed;

/// Refuses a wrong rank or a wrong fixed dimension with a message naming both shapes.
fn check_shape(t: &Tensor, spec: &TensorSpec) -> Result<(), ModelError> {
    let fits = t.shape.len() == spec.shape.len()
        && t.shape
            .iter()
            .zip(&spec.shape)
            .all(|(&got, &want)| want < 0 || got as i64 == want);
    if fits {
        Ok(())
    } else {
        Err(ModelError::Input(format!(
            "input {:?} has shape {:?}; the model takes {:?} (-1: any size)",
            spec.name, t.shape, spec.shape
        )))
    }
}
