//! What the instance pool needs of a world's bindings ([`GuestWorld`]), for the two worlds a
//! deployment stage can be: `predictor` and `transformer`.

use super::bindings::{PredictError, Predictor, PredictorPre, Transformer, TransformerPre};
use super::host::InstanceState;
use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store};

/// The exports of a world the pool instantiates and initialises.
pub trait GuestWorld: Sized + Send + 'static {
    /// The world's pre-instantiated component.
    type Pre: Send + Sync + 'static;
    /// The world's name in the WIT package, for errors.
    const WORLD: &'static str;

    /// Checks that a linked component exports this world.
    fn pre(instance_pre: InstancePre<InstanceState>) -> wasmtime::Result<Self::Pre>;

    fn engine(pre: &Self::Pre) -> &Engine;

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<InstanceState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;

    /// The world's `init` export.
    fn init(
        &self,
        store: &mut Store<InstanceState>,
    ) -> impl Future<Output = wasmtime::Result<Result<(), PredictError>>> + Send;
}

impl GuestWorld for Predictor {
    type Pre = PredictorPre<InstanceState>;
    const WORLD: &'static str = "predictor";

    fn pre(instance_pre: InstancePre<InstanceState>) -> wasmtime::Result<Self::Pre> {
        PredictorPre::new(instance_pre)
    }

    fn engine(pre: &Self::Pre) -> &Engine {
        pre.engine()
    }

    async fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }

    async fn init(
        &self,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Result<(), PredictError>> {
        self.predictor_runtime_predict().call_init(store).await
    }
}

impl GuestWorld for Transformer {
    type Pre = TransformerPre<InstanceState>;
    const WORLD: &'static str = "transformer";

    fn pre(instance_pre: InstancePre<InstanceState>) -> wasmtime::Result<Self::Pre> {
        TransformerPre::new(instance_pre)
    }

    fn engine(pre: &Self::Pre) -> &Engine {
        pre.engine()
    }

    async fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }

    async fn init(
        &self,
        store: &mut Store<InstanceState>,
    ) -> wasmtime::Result<Result<(), PredictError>> {
        self.predictor_runtime_transform().call_init(store).await
    }
}
