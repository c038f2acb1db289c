//! Picks the MetaGraph to serve (tag `serve`) and one of its SignatureDefs (`serving_default`
//! unless the request names another), and lists the signature's inputs and outputs by the keys
//! TF Serving uses for them, each with the graph tensor it stands for.

use crate::error::{Result, TfError};
use crate::protos::{DataType, MetaGraphDef, SavedModel, tensor_info::Encoding};

pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// Signatures TensorFlow adds for its own bookkeeping; never served.
const INTERNAL: &[&str] = &["__saved_model_init_op", "__saved_model_train_op"];

/// One input or output of a signature.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    /// The key clients use (TF Serving's input/output name).
    pub key: String,
    /// The graph tensor, normalised to `node:index`.
    pub tensor: String,
    pub dtype: DataType,
    /// Dimensions, -1 for unknown; `None` when the rank is unknown.
    pub shape: Option<Vec<i64>>,
}

#[derive(Debug, Clone)]
pub struct Signature {
    pub name: String,
    pub method_name: String,
    /// Sorted by key, which fixes the order of the model's inputs and outputs.
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// `node` and `node:3` as `node:0` and `node:3`.
pub fn normalize_tensor(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, idx)) if idx.parse::<u32>().is_ok() => name.to_string(),
        _ => format!("{name}:0"),
    }
}

/// The MetaGraph tagged `serve` (or the only one).
pub fn serving_meta_graph(saved: &SavedModel) -> Result<&MetaGraphDef> {
    let tagged = |m: &&MetaGraphDef| {
        m.meta_info_def
            .as_ref()
            .is_some_and(|i| i.tags.iter().any(|t| t == "serve"))
    };
    match saved.meta_graphs.iter().find(tagged) {
        Some(m) => Ok(m),
        None if saved.meta_graphs.len() == 1 => Ok(&saved.meta_graphs[0]),
        None => Err(TfError::SavedModel(format!(
            "none of its {} meta graphs is tagged \"serve\"",
            saved.meta_graphs.len()
        ))),
    }
}

/// The names of the servable signatures, sorted.
pub fn signature_names(meta: &MetaGraphDef) -> Vec<String> {
    let mut names: Vec<String> = meta
        .signature_def
        .keys()
        .filter(|k| !INTERNAL.contains(&k.as_str()))
        .cloned()
        .collect();
    names.sort();
    names
}

/// Every servable signature of `meta` that can be read (sparse or composite ones are left
/// out), sorted by name: what the model's metadata lists.
pub fn all(meta: &MetaGraphDef) -> Vec<Signature> {
    signature_names(meta)
        .iter()
        .filter_map(|name| pick(meta, Some(name)).ok())
        .collect()
}

/// The signature called `name` (default `serving_default`).
pub fn pick(meta: &MetaGraphDef, name: Option<&str>) -> Result<Signature> {
    let name = name.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_SIGNATURE);
    let def = meta
        .signature_def
        .get(name)
        .filter(|_| !INTERNAL.contains(&name))
        .ok_or_else(|| TfError::NoSuchSignature {
            name: name.to_string(),
            available: signature_names(meta).join(", "),
        })?;
    let specs = |map: &std::collections::HashMap<String, crate::protos::TensorInfo>| {
        let mut out = Vec::new();
        for (key, info) in map {
            let tensor = match &info.encoding {
                Some(Encoding::Name(n)) if !n.is_empty() => normalize_tensor(n),
                _ => {
                    return Err(TfError::Signature {
                        signature: name.to_string(),
                        reason: format!("{key:?} is a sparse or composite tensor (not supported)"),
                    });
                }
            };
            let dtype = DataType::try_from(info.dtype).map_err(|_| TfError::Signature {
                signature: name.to_string(),
                reason: format!("{key:?} has unknown dtype {}", info.dtype),
            })?;
            let shape = info
                .tensor_shape
                .as_ref()
                .filter(|s| !s.unknown_rank)
                .map(|s| s.dim.iter().map(|d| d.size).collect());
            out.push(TensorSpec {
                key: key.clone(),
                tensor,
                dtype,
                shape,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    };
    let inputs = specs(&def.inputs)?;
    let outputs = specs(&def.outputs)?;
    if outputs.is_empty() {
        return Err(TfError::Signature {
            signature: name.to_string(),
            reason: "it has no outputs".into(),
        });
    }
    Ok(Signature {
        name: name.to_string(),
        method_name: def.method_name.clone(),
        inputs,
        outputs,
    })
}
