//! What a batch runs on. The batcher knows nothing of predictors or transformers: anything
//! that can run a payload (one request, or several merged) and cut the answer back into one
//! part per member is a [`Runner`]. The predictor is one; each phase of a transformer is
//! another.

use super::merge::{self, SplitError};
use crate::request::{InferenceError, Output, Payload};
use std::future::Future;

pub trait Runner: Send + Sync + 'static {
    /// One call on a payload (a request, or a merged batch); `deployment` names it in errors.
    fn run(
        &self,
        deployment: &str,
        payload: Payload,
    ) -> impl Future<Output = Result<Output, InferenceError>> + Send;

    /// A merged batch's answer cut back into one per member (`rows` each).
    fn split(&self, output: Output, rows: &[usize]) -> Result<Vec<Output>, SplitError> {
        merge::split(output, rows)
    }
}
