//! The state of one guest instance and the host side of its imports: `models` (native
//! graphs of the artifact, run by tract off the async workers) and `log`.

use super::bindings::predictor::runtime::{log, models, types};
use super::bindings::{ModelResource, PredictError, WitDatatype, WitTensor, WitTensorSpec};
use crate::deployment_log::{LogLevel, LogSource, StageLog};
use crate::native::ModelError;
use crate::native::models::ModelCache;
use crate::tensor::{Datatype, Tensor, TensorSpec};
use std::sync::Arc;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The store data of one instance: per-instance WASI state plus the deployment's grants.
pub struct InstanceState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: super::limits::GuestLimits,
    pub models: Arc<ModelCache>,
    pub log: StageLog,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for InstanceState {}

impl models::Host for InstanceState {}

impl models::HostModel for InstanceState {
    async fn open(
        &mut self,
        path: String,
    ) -> wasmtime::Result<Result<Resource<ModelResource>, PredictError>> {
        match self.models.model(&path).await {
            Ok(model) => Ok(Ok(self.table.push(model)?)),
            Err(e) => Ok(Err(PredictError::Internal(e.to_string()))),
        }
    }

    async fn inputs(
        &mut self,
        model: Resource<ModelResource>,
    ) -> wasmtime::Result<Vec<WitTensorSpec>> {
        Ok(self
            .table
            .get(&model)?
            .inputs()
            .cloned()
            .map(spec_to_wit)
            .collect())
    }

    async fn outputs(
        &mut self,
        model: Resource<ModelResource>,
    ) -> wasmtime::Result<Vec<WitTensorSpec>> {
        Ok(self
            .table
            .get(&model)?
            .outputs()
            .iter()
            .cloned()
            .map(spec_to_wit)
            .collect())
    }

    async fn run(
        &mut self,
        model: Resource<ModelResource>,
        inputs: Vec<WitTensor>,
    ) -> wasmtime::Result<Result<Vec<WitTensor>, PredictError>> {
        let model = Arc::clone(self.table.get(&model)?);
        let inputs = match inputs
            .into_iter()
            .map(tensor_from_wit)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(inputs) => inputs,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match model.run_async(inputs).await {
            Ok(outputs) => Ok(outputs.into_iter().map(tensor_to_wit).collect()),
            Err(ModelError::Input(message)) => Err(PredictError::BadInput(message)),
            Err(e) => Err(PredictError::Internal(e.to_string())),
        })
    }

    async fn run_outputs(
        &mut self,
        model: Resource<ModelResource>,
        inputs: Vec<WitTensor>,
        outputs: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<WitTensor>, PredictError>> {
        let all = match self.run(model, inputs).await? {
            Ok(all) => all,
            Err(e) => return Ok(Err(e)),
        };
        let mut all: Vec<Option<WitTensor>> = all.into_iter().map(Some).collect();
        Ok(outputs
            .iter()
            .map(|name| {
                all.iter_mut()
                    .find(|t| t.as_ref().is_some_and(|t| &t.name == name))
                    .and_then(Option::take)
                    .ok_or_else(|| {
                        PredictError::BadInput(format!("{name:?} is not an output of the model"))
                    })
            })
            .collect())
    }

    async fn run_data(
        &mut self,
        model: Resource<ModelResource>,
        input: WitTensor,
        output: String,
    ) -> wasmtime::Result<Result<(Vec<u64>, Vec<u8>), PredictError>> {
        Ok(self
            .run_outputs(model, vec![input], vec![output])
            .await?
            .map(|mut outputs| {
                let t = outputs.pop().expect("one output per name asked");
                (t.shape, t.data)
            }))
    }

    async fn drop(&mut self, model: Resource<ModelResource>) -> wasmtime::Result<()> {
        self.table.delete(model)?;
        Ok(())
    }
}

impl log::Host for InstanceState {
    async fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.log.push(LogSource::Guest, level, message);
        Ok(())
    }
}

pub fn datatype_to_wit(d: Datatype) -> WitDatatype {
    match d {
        Datatype::Bool => WitDatatype::Bool,
        Datatype::Uint8 => WitDatatype::Uint8,
        Datatype::Uint16 => WitDatatype::Uint16,
        Datatype::Uint32 => WitDatatype::Uint32,
        Datatype::Uint64 => WitDatatype::Uint64,
        Datatype::Int8 => WitDatatype::Int8,
        Datatype::Int16 => WitDatatype::Int16,
        Datatype::Int32 => WitDatatype::Int32,
        Datatype::Int64 => WitDatatype::Int64,
        Datatype::Fp16 => WitDatatype::Fp16,
        Datatype::Fp32 => WitDatatype::Fp32,
        Datatype::Fp64 => WitDatatype::Fp64,
        Datatype::Bf16 => WitDatatype::Bf16,
        Datatype::Bytes => WitDatatype::Bytes,
    }
}

pub fn datatype_from_wit(d: WitDatatype) -> Datatype {
    match d {
        WitDatatype::Bool => Datatype::Bool,
        WitDatatype::Uint8 => Datatype::Uint8,
        WitDatatype::Uint16 => Datatype::Uint16,
        WitDatatype::Uint32 => Datatype::Uint32,
        WitDatatype::Uint64 => Datatype::Uint64,
        WitDatatype::Int8 => Datatype::Int8,
        WitDatatype::Int16 => Datatype::Int16,
        WitDatatype::Int32 => Datatype::Int32,
        WitDatatype::Int64 => Datatype::Int64,
        WitDatatype::Fp16 => Datatype::Fp16,
        WitDatatype::Fp32 => Datatype::Fp32,
        WitDatatype::Fp64 => Datatype::Fp64,
        WitDatatype::Bf16 => Datatype::Bf16,
        WitDatatype::Bytes => Datatype::Bytes,
    }
}

pub fn spec_to_wit(s: TensorSpec) -> WitTensorSpec {
    WitTensorSpec {
        name: s.name,
        datatype: datatype_to_wit(s.datatype),
        shape: s.shape,
    }
}

pub fn spec_from_wit(s: WitTensorSpec) -> TensorSpec {
    TensorSpec {
        name: s.name,
        datatype: datatype_from_wit(s.datatype),
        shape: s.shape,
    }
}

pub fn tensor_to_wit(t: Tensor) -> WitTensor {
    WitTensor {
        name: t.name,
        datatype: datatype_to_wit(t.datatype),
        shape: t.shape.into_iter().map(|d| d as u64).collect(),
        data: t.data,
    }
}

/// A guest's tensor, checked: the guest is not trusted to match bytes and shape.
pub fn tensor_from_wit(t: WitTensor) -> Result<Tensor, PredictError> {
    let shape = t
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| PredictError::BadInput(format!("tensor {:?}: dimension too large", t.name)))?;
    Tensor::new(t.name, datatype_from_wit(t.datatype), shape, t.data)
        .map_err(|e| PredictError::BadInput(e.0))
}
