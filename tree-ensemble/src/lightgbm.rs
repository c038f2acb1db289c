//! Native LightGBM text model (`save_model` / `model_to_string`) loading into [`Forest`].
//!
//! Numerical splits go left when `x <= threshold`. LightGBM compares in double precision;
//! for `f32` inputs that equals comparing against the largest `f32` not above the
//! threshold, which is what is stored. Missing values follow the node's missing type: `NaN`
//! sends NaN to the default side, `None` treats NaN as 0.0 (so the side is fixed at load).
//! Categorical splits, linear trees, `zero_as_missing` splits and objectives without a
//! plain link function are refused.

use std::collections::HashMap;

use crate::error::{TreeError, bad_tree};
use crate::forest::{
    Aggregate, Forest, ForestSpec, Mode, NativeTransform, RawNode, RawTree, Semantics,
};

fn fmt(msg: impl Into<String>) -> TreeError {
    TreeError::Format(format!("LightGBM model: {}", msg.into()))
}

/// Largest `f32` that is `<= t`, so `x <= t` (in f64) equals `x <= down(t)` for f32 `x`.
pub(crate) fn f32_at_or_below(t: f64) -> f32 {
    if t.is_nan() {
        return f32::NAN;
    }
    if t > f32::MAX as f64 {
        return f32::INFINITY;
    }
    let f = t as f32;
    if (f as f64) > t { f.next_down() } else { f }
}

fn parse_list<T: std::str::FromStr>(v: &str, key: &str, tree: i64) -> Result<Vec<T>, TreeError> {
    v.split_whitespace()
        .map(|p| {
            p.parse::<T>()
                .map_err(|_| bad_tree(tree, format!("`{key}` has unparsable value {p:?}")))
        })
        .collect()
}

fn objective(line: &str) -> Result<NativeTransform, TreeError> {
    let mut parts = line.split_whitespace();
    let name = parts.next().unwrap_or("");
    let params: HashMap<&str, &str> = parts.filter_map(|p| p.split_once(':')).collect();
    if let Some(s) = params.get("sigmoid")
        && s.parse::<f64>().ok() != Some(1.0)
    {
        return Err(TreeError::Unsupported(format!(
            "LightGBM objective {line:?}: only sigmoid:1 is supported"
        )));
    }
    Ok(match name {
        "binary" | "cross_entropy" | "xentropy" | "multiclassova" | "multiclass_ova" | "ova"
        | "ovr" => NativeTransform::Sigmoid,
        "multiclass" | "softmax" => NativeTransform::Softmax,
        "regression" | "regression_l2" | "l2" | "mean_squared_error" | "mse" | "regression_l1"
        | "l1" | "huber" | "fair" | "quantile" | "mape" => NativeTransform::Identity,
        "poisson" | "gamma" | "tweedie" => NativeTransform::Exp,
        other => {
            return Err(TreeError::Unsupported(format!(
                "LightGBM objective {other:?}"
            )));
        }
    })
}

/// Parse a LightGBM text model.
pub fn from_text(text: &str) -> Result<Forest, TreeError> {
    let mut header: HashMap<&str, &str> = HashMap::new();
    let mut blocks: Vec<(i64, HashMap<&str, &str>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line == "end of trees" {
            break;
        }
        if let Some(id) = line.strip_prefix("Tree=") {
            let id = id
                .parse()
                .map_err(|_| fmt(format!("bad tree header {line:?}")))?;
            blocks.push((id, HashMap::new()));
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match blocks.last_mut() {
                Some((_, b)) => b.insert(k, v),
                None => header.insert(k, v),
            };
        } else if line == "average_output" && blocks.is_empty() {
            header.insert("average_output", "1");
        }
    }
    let per_iter: usize = header
        .get("num_tree_per_iteration")
        .unwrap_or(&"1")
        .parse()
        .map_err(|_| fmt("bad num_tree_per_iteration"))?;
    let num_class: usize = header
        .get("num_class")
        .unwrap_or(&"1")
        .parse()
        .map_err(|_| fmt("bad num_class"))?;
    if per_iter == 0
        || per_iter > crate::forest::MAX_TARGETS
        || num_class > crate::forest::MAX_TARGETS
    {
        return Err(fmt(format!(
            "num_tree_per_iteration={per_iter}, num_class={num_class}"
        )));
    }
    let link = objective(header.get("objective").copied().unwrap_or("regression"))?;
    if blocks.is_empty() {
        return Err(fmt("no trees"));
    }
    let trees = blocks
        .iter()
        .enumerate()
        .map(|(i, (id, b))| tree(*id, b, i % per_iter))
        .collect::<Result<Vec<_>, _>>()?;
    let aggregate = if header.contains_key("average_output") {
        Aggregate::Average
    } else {
        Aggregate::Sum
    };
    let max_feature_idx: Option<usize> = match header.get("max_feature_idx") {
        Some(v) => Some(v.parse().map_err(|_| fmt("bad max_feature_idx"))?),
        None => None,
    };
    if max_feature_idx.is_some_and(|m| m >= crate::forest::MAX_FEATURES) {
        return Err(fmt("max_feature_idx out of range"));
    }
    let spec = ForestSpec {
        n_targets: per_iter,
        aggregate,
        base_values: Vec::new(),
        semantics: Semantics::Native(link),
    };
    let mut forest = Forest::new(trees, spec)?;
    forest.declared_features = max_feature_idx.map_or(0, |m| m + 1);
    Ok(forest)
}

fn tree(id: i64, b: &HashMap<&str, &str>, target: usize) -> Result<RawTree, TreeError> {
    let get = |k: &str| {
        b.get(k)
            .copied()
            .ok_or_else(|| bad_tree(id, format!("missing `{k}`")))
    };
    if b.get("is_linear").is_some_and(|v| v.trim() != "0") {
        return Err(TreeError::Unsupported(format!(
            "LightGBM tree {id} is a linear tree"
        )));
    }
    if b.get("num_cat").is_some_and(|v| v.trim() != "0") {
        return Err(TreeError::Unsupported(format!(
            "LightGBM tree {id} has categorical splits"
        )));
    }
    let num_leaves: usize = get("num_leaves")?
        .trim()
        .parse()
        .map_err(|_| bad_tree(id, "bad num_leaves"))?;
    let leaf_value: Vec<f64> = parse_list(get("leaf_value")?, "leaf_value", id)?;
    if num_leaves == 0 || leaf_value.len() != num_leaves {
        return Err(bad_tree(
            id,
            format!(
                "{} leaf values for num_leaves={num_leaves}",
                leaf_value.len()
            ),
        ));
    }
    let shrink_leaf = |l: usize| RawNode::Leaf(vec![(target, leaf_value[l] as f32)]);
    if num_leaves == 1 {
        return Ok(RawTree {
            id,
            nodes: vec![shrink_leaf(0)],
            root: 0,
        });
    }
    let n_int = num_leaves - 1;
    let feat: Vec<i64> = parse_list(get("split_feature")?, "split_feature", id)?;
    let thr: Vec<f64> = parse_list(get("threshold")?, "threshold", id)?;
    let dt: Vec<i64> = parse_list(get("decision_type")?, "decision_type", id)?;
    let left: Vec<i64> = parse_list(get("left_child")?, "left_child", id)?;
    let right: Vec<i64> = parse_list(get("right_child")?, "right_child", id)?;
    for (k, len) in [
        ("split_feature", feat.len()),
        ("threshold", thr.len()),
        ("decision_type", dt.len()),
        ("left_child", left.len()),
        ("right_child", right.len()),
    ] {
        if len != n_int {
            return Err(TreeError::LengthMismatch {
                name: format!("tree {id} {k}"),
                got: len,
                reference: "num_leaves - 1".into(),
                expected: n_int,
            });
        }
    }
    // Internal nodes first, then leaves; a negative child c means leaf !c.
    let child = |c: i64| -> Result<usize, TreeError> {
        let idx = if c >= 0 {
            c as u64
        } else {
            n_int as u64 + (!c) as u64
        };
        if (c >= 0 && idx >= n_int as u64) || idx >= (n_int + num_leaves) as u64 {
            return Err(bad_tree(id, format!("child {c} is out of range")));
        }
        Ok(idx as usize)
    };
    let mut nodes = Vec::with_capacity(n_int + num_leaves);
    for i in 0..n_int {
        let d = dt[i];
        if d & 1 != 0 {
            return Err(TreeError::Unsupported(format!(
                "LightGBM tree {id} has categorical splits"
            )));
        }
        let default_left = d & 2 != 0;
        let missing_true = match (d >> 2) & 3 {
            0 => 0.0 <= thr[i],
            2 => default_left,
            _ => {
                return Err(TreeError::Unsupported(format!(
                    "LightGBM tree {id} uses zero_as_missing splits"
                )));
            }
        };
        let feature = usize::try_from(feat[i])
            .map_err(|_| bad_tree(id, format!("split on feature {}", feat[i])))?;
        nodes.push(RawNode::Branch {
            feature,
            mode: Mode::Leq,
            value: f32_at_or_below(thr[i]),
            missing_true,
            t: child(left[i])?,
            f: child(right[i])?,
        });
    }
    for l in 0..num_leaves {
        nodes.push(shrink_leaf(l));
    }
    Ok(RawTree { id, nodes, root: 0 })
}
