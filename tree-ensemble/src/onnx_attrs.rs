//! Building a [`Forest`] from the attributes of the ai.onnx.ml tree operators:
//! TreeEnsembleClassifier / TreeEnsembleRegressor (opsets 1 and 3) here, TreeEnsemble
//! (opset 5) in [`crate::onnx_v5`], re-exported here. Attributes come in as plain Rust vectors; everything is validated (lengths,
//! ids, modes, tree shape) and malformed input is refused with an error naming the field.
//!
//! Where the specification is loose, onnxruntime's behaviour is followed: a tree starts at
//! the first node of its run of tree ids, weights on branch nodes are ignored, a leaf
//! without weights is an error, and the classifier always sums.

use std::collections::HashMap;

pub use crate::onnx_v5::{TreeEnsembleV5Attributes, tree_ensemble_v5};

use crate::error::{TreeError, bad_attr, bad_tree};
use crate::forest::{
    Aggregate, Forest, ForestSpec, Labels, MAX_TARGETS, Mode, PostTransform, RawNode, RawTree,
    Semantics,
};

/// Attributes of TreeEnsembleClassifier / TreeEnsembleRegressor. Leave a field empty (or
/// `None`) when the node does not carry it. `*_as_tensor` fields take the tensor's values.
#[derive(Clone, Debug, Default)]
pub struct TreeAttributes {
    pub nodes_treeids: Vec<i64>,
    pub nodes_nodeids: Vec<i64>,
    pub nodes_featureids: Vec<i64>,
    pub nodes_values: Vec<f32>,
    pub nodes_values_as_tensor: Vec<f64>,
    pub nodes_modes: Vec<String>,
    pub nodes_truenodeids: Vec<i64>,
    pub nodes_falsenodeids: Vec<i64>,
    pub nodes_missing_value_tracks_true: Vec<i64>,
    /// `class_*` for the classifier, `target_*` for the regressor.
    pub weight_treeids: Vec<i64>,
    pub weight_nodeids: Vec<i64>,
    pub weight_ids: Vec<i64>,
    pub weights: Vec<f32>,
    pub weights_as_tensor: Vec<f64>,
    pub classlabels_int64s: Vec<i64>,
    pub classlabels_strings: Vec<String>,
    pub base_values: Vec<f32>,
    pub base_values_as_tensor: Vec<f64>,
    pub n_targets: Option<i64>,
    pub post_transform: Option<String>,
    pub aggregate_function: Option<String>,
}

pub(crate) fn check_len(
    name: &str,
    got: usize,
    reference: &str,
    expected: usize,
) -> Result<(), TreeError> {
    if got == expected {
        return Ok(());
    }
    Err(TreeError::LengthMismatch {
        name: name.into(),
        got,
        reference: reference.into(),
        expected,
    })
}

/// Pick the plain or `_as_tensor` form of a float attribute (at most one may be given).
fn floats(name: &str, plain: &[f32], tensor: &[f64]) -> Result<Vec<f32>, TreeError> {
    match (plain.is_empty(), tensor.is_empty()) {
        (_, true) => Ok(plain.to_vec()),
        (true, false) => Ok(tensor.iter().map(|&v| v as f32).collect()),
        (false, false) => Err(bad_attr(
            name,
            format!("both `{name}` and `{name}_as_tensor` are set"),
        )),
    }
}

fn parse_mode(s: &str) -> Result<Option<Mode>, TreeError> {
    Ok(Some(match s {
        "BRANCH_LEQ" => Mode::Leq,
        "BRANCH_LT" => Mode::Lt,
        "BRANCH_GTE" => Mode::Gte,
        "BRANCH_GT" => Mode::Gt,
        "BRANCH_EQ" => Mode::Eq,
        "BRANCH_NEQ" => Mode::Neq,
        "LEAF" => return Ok(None),
        other => return Err(bad_attr("nodes_modes", format!("unknown mode {other:?}"))),
    }))
}

fn parse_post(s: Option<&str>) -> Result<PostTransform, TreeError> {
    Ok(match s.unwrap_or("NONE") {
        "NONE" => PostTransform::None,
        "SOFTMAX" => PostTransform::Softmax,
        "LOGISTIC" => PostTransform::Logistic,
        "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
        "PROBIT" => PostTransform::Probit,
        other => {
            return Err(bad_attr(
                "post_transform",
                format!("unknown value {other:?}"),
            ));
        }
    })
}

fn parse_aggregate(s: Option<&str>) -> Result<Aggregate, TreeError> {
    Ok(match s.unwrap_or("SUM") {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => {
            return Err(bad_attr(
                "aggregate_function",
                format!("unknown value {other:?}"),
            ));
        }
    })
}

pub(crate) fn index(name: &str, v: i64, bound: usize) -> Result<usize, TreeError> {
    if v < 0 || v as u64 >= bound as u64 {
        return Err(bad_attr(name, format!("value {v} is outside 0..{bound}")));
    }
    Ok(v as usize)
}

/// Build the trees of a v1/v3 operator; `n_targets` bounds the weight ids.
fn build_trees(a: &TreeAttributes, n_targets: usize) -> Result<Vec<RawTree>, TreeError> {
    let n = a.nodes_treeids.len();
    if n == 0 {
        return Err(TreeError::Missing {
            name: "nodes_treeids".into(),
        });
    }
    for (name, len) in [
        ("nodes_nodeids", a.nodes_nodeids.len()),
        ("nodes_featureids", a.nodes_featureids.len()),
        ("nodes_modes", a.nodes_modes.len()),
        ("nodes_truenodeids", a.nodes_truenodeids.len()),
        ("nodes_falsenodeids", a.nodes_falsenodeids.len()),
    ] {
        check_len(name, len, "nodes_treeids", n)?;
    }
    let values = floats("nodes_values", &a.nodes_values, &a.nodes_values_as_tensor)?;
    check_len("nodes_values", values.len(), "nodes_treeids", n)?;
    let missing = &a.nodes_missing_value_tracks_true;
    if !missing.is_empty() {
        check_len(
            "nodes_missing_value_tracks_true",
            missing.len(),
            "nodes_treeids",
            n,
        )?;
    }
    let m = a.weight_ids.len();
    check_len("weight treeids", a.weight_treeids.len(), "weight ids", m)?;
    check_len("weight nodeids", a.weight_nodeids.len(), "weight ids", m)?;
    let weights = floats("weights", &a.weights, &a.weights_as_tensor)?;
    check_len("weights", weights.len(), "weight ids", m)?;

    // Trees are runs of equal tree ids; (tree run, node id) -> position in the run.
    let mut runs: Vec<(i64, usize, usize)> = Vec::new();
    let mut run_of: HashMap<i64, usize> = HashMap::new();
    for (i, &t) in a.nodes_treeids.iter().enumerate() {
        if runs.last().is_some_and(|r| r.0 == t) {
            runs.last_mut().expect("checked").2 = i + 1;
            continue;
        }
        if run_of.insert(t, runs.len()).is_some() {
            return Err(bad_tree(t, "its nodes are not contiguous in nodes_treeids"));
        }
        runs.push((t, i, i + 1));
    }
    let mut local: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
    for (i, (&t, &id)) in a.nodes_treeids.iter().zip(&a.nodes_nodeids).enumerate() {
        let start = runs[run_of[&t]].1;
        if local.insert((t, id), i - start).is_some() {
            return Err(bad_tree(t, format!("node id {id} appears twice")));
        }
    }
    let mut leaf_weights: Vec<Vec<(usize, f32)>> = vec![Vec::new(); n];
    for (k, &weight) in weights.iter().enumerate() {
        let (t, id) = (a.weight_treeids[k], a.weight_nodeids[k]);
        let Some(&pos) = local.get(&(t, id)) else {
            return Err(bad_tree(
                t,
                format!("a weight names node {id}, which does not exist"),
            ));
        };
        let target = index(
            "weight ids (class_ids / target_ids)",
            a.weight_ids[k],
            n_targets,
        )?;
        leaf_weights[runs[run_of[&t]].1 + pos].push((target, weight));
    }
    let mut trees = Vec::with_capacity(runs.len());
    for &(t, start, end) in &runs {
        let mut nodes = Vec::with_capacity(end - start);
        for i in start..end {
            let child = |name: &str, id: i64| {
                local.get(&(t, id)).copied().ok_or_else(|| {
                    bad_tree(
                        t,
                        format!(
                            "node {}: {name} {id} is not a node of this tree",
                            a.nodes_nodeids[i]
                        ),
                    )
                })
            };
            match parse_mode(&a.nodes_modes[i])? {
                None => {
                    let w = std::mem::take(&mut leaf_weights[i]);
                    if w.is_empty() {
                        return Err(bad_tree(
                            t,
                            format!("leaf {} has no weight", a.nodes_nodeids[i]),
                        ));
                    }
                    nodes.push(RawNode::Leaf(w));
                }
                Some(mode) => nodes.push(RawNode::Branch {
                    feature: index(
                        "nodes_featureids",
                        a.nodes_featureids[i],
                        crate::forest::MAX_FEATURES,
                    )?,
                    mode,
                    value: values[i],
                    missing_true: missing.get(i).is_some_and(|&v| v == 1),
                    t: child("true child", a.nodes_truenodeids[i])?,
                    f: child("false child", a.nodes_falsenodeids[i])?,
                }),
            }
        }
        trees.push(RawTree {
            id: t,
            nodes,
            root: 0,
        });
    }
    Ok(trees)
}

/// TreeEnsembleClassifier.
pub fn classifier(a: &TreeAttributes) -> Result<Forest, TreeError> {
    let labels = match (
        a.classlabels_int64s.is_empty(),
        a.classlabels_strings.is_empty(),
    ) {
        (false, true) => Labels::Int(a.classlabels_int64s.clone()),
        (true, false) => Labels::Str(a.classlabels_strings.clone()),
        (true, true) => {
            return Err(TreeError::Missing {
                name: "classlabels_int64s / classlabels_strings".into(),
            });
        }
        (false, false) => {
            return Err(bad_attr(
                "classlabels_strings",
                "both int64 and string class labels are set",
            ));
        }
    };
    let n = labels.len();
    if n < 2 {
        return Err(TreeError::Unsupported(format!(
            "a classifier with {n} class label(s)"
        )));
    }
    if n > MAX_TARGETS {
        return Err(TreeError::TooLarge(format!("{n} classes")));
    }
    let base = floats("base_values", &a.base_values, &a.base_values_as_tensor)?;
    if !(base.is_empty() || base.len() == n || (n == 2 && base.len() == 1)) {
        return Err(bad_attr(
            "base_values",
            format!("has {} values for {n} classes", base.len()),
        ));
    }
    let trees = build_trees(a, n)?;
    let mut first = None;
    let binary_case = n == 2 && a.weight_ids.iter().all(|&c| *first.get_or_insert(c) == c);
    let weights = floats("weights", &a.weights, &a.weights_as_tensor)?;
    let all_positive = weights.iter().all(|&w| w >= 0.0);
    let post = parse_post(a.post_transform.as_deref())?;
    let spec = ForestSpec {
        n_targets: n,
        aggregate: Aggregate::Sum,
        base_values: base,
        semantics: Semantics::Classifier {
            labels,
            post,
            binary_case,
            all_positive,
        },
    };
    Forest::new(trees, spec)
}

pub(crate) fn n_targets(v: Option<i64>) -> Result<usize, TreeError> {
    let n = v.ok_or_else(|| TreeError::Missing {
        name: "n_targets".into(),
    })?;
    if n <= 0 || n as u64 > MAX_TARGETS as u64 {
        return Err(bad_attr(
            "n_targets",
            format!("{n} is outside 1..={MAX_TARGETS}"),
        ));
    }
    Ok(n as usize)
}

/// TreeEnsembleRegressor.
pub fn regressor(a: &TreeAttributes) -> Result<Forest, TreeError> {
    let n = n_targets(a.n_targets)?;
    let base = floats("base_values", &a.base_values, &a.base_values_as_tensor)?;
    if !(base.is_empty() || base.len() == n) {
        return Err(bad_attr(
            "base_values",
            format!("has {} values for {n} targets", base.len()),
        ));
    }
    let trees = build_trees(a, n)?;
    let spec = ForestSpec {
        n_targets: n,
        aggregate: parse_aggregate(a.aggregate_function.as_deref())?,
        base_values: base,
        semantics: Semantics::Regressor {
            post: parse_post(a.post_transform.as_deref())?,
        },
    };
    Forest::new(trees, spec)
}
