//! ai.onnx.ml opset-5 `TreeEnsemble`: nodes and leaves in separate arrays, trees given by
//! their roots, set membership (`BRANCH_MEMBER`) unrolled into chains of equality tests as
//! onnxruntime does. Follows the ONNX specification for `post_transform` codes
//! (1 = SOFTMAX, 2 = LOGISTIC); onnxruntime 1.32 reads these two the other way round.

use crate::error::{TreeError, bad_attr, bad_tree};
use crate::forest::{
    Aggregate, Forest, ForestSpec, Mode, PostTransform, RawNode, RawTree, Semantics,
};
use crate::onnx_attrs::{check_len, index, n_targets};

/// Attributes of ai.onnx.ml opset-5 TreeEnsemble.
#[derive(Clone, Debug, Default)]
pub struct TreeEnsembleV5Attributes {
    pub aggregate_function: Option<i64>,
    pub leaf_targetids: Vec<i64>,
    pub leaf_weights: Vec<f64>,
    /// Values of each BRANCH_MEMBER node in node order, each set closed by a NaN.
    pub membership_values: Vec<f64>,
    pub n_targets: Option<i64>,
    pub nodes_falseleafs: Vec<i64>,
    pub nodes_falsenodeids: Vec<i64>,
    pub nodes_featureids: Vec<i64>,
    pub nodes_missing_value_tracks_true: Vec<i64>,
    pub nodes_modes: Vec<i64>,
    pub nodes_splits: Vec<f64>,
    pub nodes_trueleafs: Vec<i64>,
    pub nodes_truenodeids: Vec<i64>,
    pub post_transform: Option<i64>,
    pub tree_roots: Vec<i64>,
}

/// ai.onnx.ml opset-5 TreeEnsemble. BRANCH_MEMBER nodes become chains of equality tests.
pub fn tree_ensemble_v5(a: &TreeEnsembleV5Attributes) -> Result<Forest, TreeError> {
    let n_t = n_targets(a.n_targets)?;
    let n = a.nodes_modes.len();
    if n == 0 {
        return Err(TreeError::Missing {
            name: "nodes_modes".into(),
        });
    }
    for (name, len) in [
        ("nodes_featureids", a.nodes_featureids.len()),
        ("nodes_splits", a.nodes_splits.len()),
        ("nodes_truenodeids", a.nodes_truenodeids.len()),
        ("nodes_falsenodeids", a.nodes_falsenodeids.len()),
        ("nodes_trueleafs", a.nodes_trueleafs.len()),
        ("nodes_falseleafs", a.nodes_falseleafs.len()),
    ] {
        check_len(name, len, "nodes_modes", n)?;
    }
    let missing = &a.nodes_missing_value_tracks_true;
    if !missing.is_empty() {
        check_len(
            "nodes_missing_value_tracks_true",
            missing.len(),
            "nodes_modes",
            n,
        )?;
    }
    let n_leaves = a.leaf_weights.len();
    check_len(
        "leaf_targetids",
        a.leaf_targetids.len(),
        "leaf_weights",
        n_leaves,
    )?;
    if a.tree_roots.is_empty() {
        return Err(TreeError::Missing {
            name: "tree_roots".into(),
        });
    }
    let aggregate = match a.aggregate_function.unwrap_or(1) {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        v => return Err(bad_attr("aggregate_function", format!("unknown value {v}"))),
    };
    let post = match a.post_transform.unwrap_or(0) {
        0 => PostTransform::None,
        1 => PostTransform::Softmax,
        2 => PostTransform::Logistic,
        3 => PostTransform::SoftmaxZero,
        4 => PostTransform::Probit,
        v => return Err(bad_attr("post_transform", format!("unknown value {v}"))),
    };
    // Membership sets are handed out to BRANCH_MEMBER nodes in node order.
    let mut sets: Vec<Vec<f32>> = vec![Vec::new(); n];
    let mut cursor = a.membership_values.iter();
    for (i, &mode) in a.nodes_modes.iter().enumerate() {
        if !(0..=6).contains(&mode) {
            return Err(bad_attr(
                "nodes_modes",
                format!("node {i} has unknown mode {mode}"),
            ));
        }
        if mode == 6 {
            for &v in cursor.by_ref() {
                if v.is_nan() {
                    break;
                }
                sets[i].push(v as f32);
            }
            if sets[i].is_empty() {
                return Err(bad_attr(
                    "membership_values",
                    format!("no values for member node {i}"),
                ));
            }
        }
    }
    let leaf = |t: i64, l: usize| -> Result<RawNode, TreeError> {
        let target = index("leaf_targetids", a.leaf_targetids[l], n_t)
            .map_err(|e| bad_tree(t, e.to_string()))?;
        Ok(RawNode::Leaf(vec![(target, a.leaf_weights[l] as f32)]))
    };
    let child = |src: usize, side: bool| -> Result<(usize, bool), TreeError> {
        let (ids, leafs, name) = if side {
            (
                &a.nodes_truenodeids,
                &a.nodes_trueleafs,
                "nodes_truenodeids",
            )
        } else {
            (
                &a.nodes_falsenodeids,
                &a.nodes_falseleafs,
                "nodes_falsenodeids",
            )
        };
        let is_leaf = leafs[src] != 0;
        Ok((
            index(name, ids[src], if is_leaf { n_leaves } else { n })?,
            is_leaf,
        ))
    };
    // Without sharing between trees, every branch, member value and leaf is emitted once.
    let budget = n + n_leaves + a.membership_values.len() + a.tree_roots.len();
    let mut emitted = 0usize;
    let mut slot_branch = vec![usize::MAX; n];
    let mut slot_leaf = vec![usize::MAX; n_leaves];
    let mut trees = Vec::with_capacity(a.tree_roots.len());
    for (ti, &r) in a.tree_roots.iter().enumerate() {
        let tid = ti as i64;
        let root = index("tree_roots", r, n)?;
        // A one-leaf tree: both branches name the same leaf (the reference implementation's
        // rule; onnxruntime 1.32 agrees on the fixtures). The leaf is the one at the root's index.
        if a.nodes_trueleafs[root] != 0
            && a.nodes_falseleafs[root] != 0
            && a.nodes_truenodeids[root] == a.nodes_falsenodeids[root]
        {
            let l = index("tree_roots (single-leaf tree)", r, n_leaves)?;
            trees.push(RawTree {
                id: tid,
                nodes: vec![leaf(tid, l)?],
                root: 0,
            });
            continue;
        }
        // Pass 1: give every reachable source node its raw slot(s); a member node takes one
        // slot per value. Cycles in the source become cycles here and Forest::new refuses them.
        let mut reached: Vec<(usize, bool)> = Vec::new();
        let mut next = 0usize;
        let mut stack = vec![(root, false)];
        while let Some((src, is_leaf)) = stack.pop() {
            let slot = if is_leaf {
                &mut slot_leaf[src]
            } else {
                &mut slot_branch[src]
            };
            if *slot != usize::MAX {
                continue;
            }
            *slot = next;
            next += if is_leaf || a.nodes_modes[src] != 6 {
                1
            } else {
                sets[src].len()
            };
            emitted += 1;
            if emitted > budget {
                return Err(bad_tree(tid, "shares nodes with other trees"));
            }
            reached.push((src, is_leaf));
            if !is_leaf {
                stack.push(child(src, false)?);
                stack.push(child(src, true)?);
            }
        }
        // Pass 2: emit in slot order.
        let mut nodes: Vec<RawNode> = Vec::with_capacity(next);
        for &(src, is_leaf) in &reached {
            if is_leaf {
                nodes.push(leaf(tid, src)?);
                continue;
            }
            let at = |(c, l): (usize, bool)| if l { slot_leaf[c] } else { slot_branch[c] };
            let (t, f) = (at(child(src, true)?), at(child(src, false)?));
            let feature = index(
                "nodes_featureids",
                a.nodes_featureids[src],
                crate::forest::MAX_FEATURES,
            )?;
            let missing_true = missing.get(src).is_some_and(|&v| v == 1);
            if a.nodes_modes[src] == 6 {
                // x in {v1..vk}: v1 ? T : (v2 ? T : ... (vk ? T : F)), as onnxruntime unrolls it.
                let first = slot_branch[src];
                let k = sets[src].len();
                for (j, &value) in sets[src].iter().enumerate() {
                    let f = if j + 1 < k { first + j + 1 } else { f };
                    nodes.push(RawNode::Branch {
                        feature,
                        mode: Mode::Eq,
                        value,
                        missing_true,
                        t,
                        f,
                    });
                }
            } else {
                let mode = [
                    Mode::Leq,
                    Mode::Lt,
                    Mode::Gte,
                    Mode::Gt,
                    Mode::Eq,
                    Mode::Neq,
                ][a.nodes_modes[src] as usize];
                let value = a.nodes_splits[src] as f32;
                nodes.push(RawNode::Branch {
                    feature,
                    mode,
                    value,
                    missing_true,
                    t,
                    f,
                });
            }
        }
        for &(src, is_leaf) in &reached {
            if is_leaf {
                slot_leaf[src] = usize::MAX
            } else {
                slot_branch[src] = usize::MAX
            }
        }
        trees.push(RawTree {
            id: tid,
            nodes,
            root: 0,
        });
    }
    let spec = ForestSpec {
        n_targets: n_t,
        aggregate,
        base_values: Vec::new(),
        semantics: Semantics::Regressor { post },
    };
    Forest::new(trees, spec)
}
