//! Native XGBoost model loading (`save_model` JSON and UBJSON) into the same [`Forest`].
//!
//! Supported: `gbtree` and `dart` boosters with numerical splits (`x < split` goes left,
//! missing values follow `default_left`), scalar leaves, per-class / per-target trees via
//! `tree_info`, and the objectives whose link is identity, sigmoid, softmax or exp. The base
//! score is turned into a margin the way XGBoost does for each objective. Categorical splits,
//! vector leaves, `gblinear` and ranking/survival objectives are refused.

use serde_json::Value;

use crate::error::TreeError;
use crate::forest::{
    Aggregate, Forest, ForestSpec, Mode, NativeTransform, RawNode, RawTree, Semantics,
};

fn fmt(msg: impl Into<String>) -> TreeError {
    TreeError::Format(format!("XGBoost model: {}", msg.into()))
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, TreeError> {
    v.get(key)
        .ok_or_else(|| fmt(format!("missing field `{key}`")))
}

/// Numbers in XGBoost models are sometimes strings ("0.5", "[5E-1]").
fn number(v: &Value, what: &str) -> Result<f64, TreeError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| fmt(format!("`{what}` is not a number"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| fmt(format!("`{what}` = {s:?} is not a number"))),
        _ => Err(fmt(format!("`{what}` is not a number"))),
    }
}

fn numbers(v: &Value, what: &str) -> Result<Vec<f64>, TreeError> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Bool(b) => Ok(*b as u8 as f64),
                Value::Null => Ok(f64::NAN),
                x => number(x, what),
            })
            .collect(),
        Value::String(s) if s.trim_start().starts_with('[') => {
            let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
            inner
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| number(&Value::String(p.into()), what))
                .collect()
        }
        v => Ok(vec![number(v, what)?]),
    }
}

fn ints(v: &Value, what: &str) -> Result<Vec<i64>, TreeError> {
    numbers(v, what)?
        .into_iter()
        .map(|x| {
            if x.fract() == 0.0 && x.abs() < 9.0e15 {
                Ok(x as i64)
            } else {
                Err(fmt(format!("`{what}` holds {x}, not an integer")))
            }
        })
        .collect()
}

/// Load a model saved as JSON.
pub fn from_json(bytes: &[u8]) -> Result<Forest, TreeError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| fmt(format!("invalid JSON: {e}")))?;
    from_value(&v)
}

/// Load a model saved as UBJSON (`.ubj`).
pub fn from_ubjson(bytes: &[u8]) -> Result<Forest, TreeError> {
    from_value(&crate::ubjson::parse(bytes)?)
}

/// Link function and base-score-to-margin conversion of an objective.
type Link = (NativeTransform, fn(f64) -> f64);

fn objective(name: &str) -> Result<Link, TreeError> {
    let logit: fn(f64) -> f64 = |p| -(1.0 / p - 1.0).ln();
    let ident: fn(f64) -> f64 = |p| p;
    let ln: fn(f64) -> f64 = f64::ln;
    Ok(match name {
        "binary:logistic" | "reg:logistic" => (NativeTransform::Sigmoid, logit),
        "binary:logitraw" => (NativeTransform::Identity, logit),
        "multi:softprob" | "multi:softmax" => (NativeTransform::Softmax, ident),
        "reg:squarederror"
        | "reg:linear"
        | "reg:squaredlogerror"
        | "reg:pseudohubererror"
        | "reg:absoluteerror"
        | "reg:quantileerror" => (NativeTransform::Identity, ident),
        "count:poisson" | "reg:gamma" | "reg:tweedie" => (NativeTransform::Exp, ln),
        other => {
            return Err(TreeError::Unsupported(format!(
                "XGBoost objective {other:?}"
            )));
        }
    })
}

/// Build from a parsed model document (JSON or UBJSON share the schema).
pub fn from_value(doc: &Value) -> Result<Forest, TreeError> {
    let learner = field(doc, "learner")?;
    let param = field(learner, "learner_model_param")?;
    let obj_name = field(field(learner, "objective")?, "name")?
        .as_str()
        .ok_or_else(|| fmt("objective name is not a string"))?;
    let (link, to_margin) = objective(obj_name)?;
    let num_class = param
        .get("num_class")
        .map(|v| number(v, "num_class"))
        .transpose()?
        .unwrap_or(0.0) as usize;
    let num_target = param
        .get("num_target")
        .map(|v| number(v, "num_target"))
        .transpose()?
        .unwrap_or(1.0) as usize;
    let n_out = num_class.max(num_target).max(1);
    if n_out > crate::forest::MAX_TARGETS {
        return Err(TreeError::TooLarge(format!("{n_out} outputs")));
    }
    let base_score = numbers(field(param, "base_score")?, "base_score")?;
    let base: Vec<f32> = match base_score.len() {
        1 => vec![to_margin(base_score[0]) as f32; n_out],
        k if k == n_out => base_score.iter().map(|&b| to_margin(b) as f32).collect(),
        k => {
            return Err(fmt(format!(
                "base_score has {k} values for {n_out} outputs"
            )));
        }
    };
    let booster = field(learner, "gradient_booster")?;
    let kind = field(booster, "name")?.as_str().unwrap_or("");
    let (model, drop) = match kind {
        "gbtree" => (field(booster, "model")?, None),
        "dart" => {
            let w = numbers(field(booster, "weight_drop")?, "weight_drop")?;
            (field(field(booster, "gbtree")?, "model")?, Some(w))
        }
        other => {
            return Err(TreeError::Unsupported(format!(
                "XGBoost booster {other:?} (only gbtree and dart)"
            )));
        }
    };
    let trees_v = field(model, "trees")?
        .as_array()
        .ok_or_else(|| fmt("`trees` is not an array"))?;
    let info = ints(field(model, "tree_info")?, "tree_info")?;
    if info.len() != trees_v.len() {
        return Err(fmt(format!(
            "tree_info has {} entries for {} trees",
            info.len(),
            trees_v.len()
        )));
    }
    if let Some(w) = &drop
        && w.len() != trees_v.len()
    {
        return Err(fmt(format!(
            "weight_drop has {} entries for {} trees",
            w.len(),
            trees_v.len()
        )));
    }
    let mut trees = Vec::with_capacity(trees_v.len());
    for (i, t) in trees_v.iter().enumerate() {
        let target = usize::try_from(info[i])
            .ok()
            .filter(|&c| c < n_out)
            .ok_or_else(|| {
                fmt(format!(
                    "tree {i} has group {} but the model has {n_out} outputs",
                    info[i]
                ))
            })?;
        let scale = drop.as_ref().map_or(1.0, |w| w[i]);
        trees.push(tree(t, i, target, scale)?);
    }
    let num_feature = param
        .get("num_feature")
        .map(|v| number(v, "num_feature"))
        .transpose()?
        .unwrap_or(0.0);
    if !(0.0..=crate::forest::MAX_FEATURES as f64).contains(&num_feature) {
        return Err(fmt(format!("num_feature {num_feature} out of range")));
    }
    let spec = ForestSpec {
        n_targets: n_out,
        aggregate: Aggregate::Sum,
        base_values: base,
        semantics: Semantics::Native(link),
    };
    let mut forest = Forest::new(trees, spec)?;
    forest.declared_features = num_feature as usize;
    forest.predicts_class = obj_name == "multi:softmax";
    Ok(forest)
}

fn tree(t: &Value, idx: usize, target: usize, scale: f64) -> Result<RawTree, TreeError> {
    let id = idx as i64;
    let tf = |k: &str| -> Result<Vec<f64>, TreeError> { numbers(field(t, k)?, k) };
    if let Some(p) = t.get("tree_param")
        && let Some(s) = p.get("size_leaf_vector")
        && number(s, "size_leaf_vector")? > 1.0
    {
        return Err(TreeError::Unsupported(format!(
            "XGBoost tree {idx} has vector leaves (multi_strategy=multi_output_tree)"
        )));
    }
    let left = ints(field(t, "left_children")?, "left_children")?;
    let right = ints(field(t, "right_children")?, "right_children")?;
    let feat = ints(field(t, "split_indices")?, "split_indices")?;
    let cond = tf("split_conditions")?;
    let dleft = ints(field(t, "default_left")?, "default_left")?;
    let n = left.len();
    for (k, len) in [
        ("right_children", right.len()),
        ("split_indices", feat.len()),
        ("split_conditions", cond.len()),
        ("default_left", dleft.len()),
    ] {
        if len != n {
            return Err(TreeError::LengthMismatch {
                name: format!("tree {idx} {k}"),
                got: len,
                reference: "left_children".into(),
                expected: n,
            });
        }
    }
    if let Some(st) = t.get("split_type") {
        let st = ints(st, "split_type")?;
        if st
            .iter()
            .enumerate()
            .any(|(i, &s)| s != 0 && left.get(i).is_some_and(|&l| l != -1))
        {
            return Err(TreeError::Unsupported(format!(
                "XGBoost tree {idx} has categorical splits"
            )));
        }
    }
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        if left[i] == -1 {
            nodes.push(RawNode::Leaf(vec![(target, (cond[i] * scale) as f32)]));
            continue;
        }
        let child = |c: i64| {
            usize::try_from(c).ok().filter(|&c| c < n).ok_or_else(|| {
                crate::error::bad_tree(id, format!("node {i} has child {c} outside 0..{n}"))
            })
        };
        let feature = usize::try_from(feat[i]).map_err(|_| {
            crate::error::bad_tree(id, format!("node {i} splits on feature {}", feat[i]))
        })?;
        nodes.push(RawNode::Branch {
            feature,
            mode: Mode::Lt,
            value: cond[i] as f32,
            missing_true: dleft[i] != 0,
            t: child(left[i])?,
            f: child(right[i])?,
        });
    }
    Ok(RawTree { id, nodes, root: 0 })
}
