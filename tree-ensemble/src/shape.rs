//! Shape checks on loader-built trees (children in range, no cycles, every node reachable)
//! and the bookkeeping that tells which targets every row is sure to get a score for.

use crate::error::{TreeError, bad_tree};
use crate::forest::{MAX_FEATURES, RawNode, RawTree};

/// Check the tree shape and return its nodes in pre-order (true child first). Shared
/// subtrees are allowed (membership chains produce them); cycles and unreachable nodes not.
pub(crate) fn check_tree(tree: &RawTree, n_targets: usize) -> Result<Vec<usize>, TreeError> {
    let n = tree.nodes.len();
    if n == 0 {
        return Err(bad_tree(tree.id, "has no nodes"));
    }
    if tree.root >= n {
        return Err(bad_tree(
            tree.id,
            format!("root {} is outside its {n} nodes", tree.root),
        ));
    }
    for (i, node) in tree.nodes.iter().enumerate() {
        match node {
            RawNode::Branch { feature, t, f, .. } => {
                if *feature >= MAX_FEATURES {
                    return Err(bad_tree(
                        tree.id,
                        format!("node {i} reads feature {feature}"),
                    ));
                }
                for (side, &c) in [("true", t), ("false", f)] {
                    if c >= n {
                        return Err(bad_tree(
                            tree.id,
                            format!("node {i}: {side} child {c} is not a node of this tree"),
                        ));
                    }
                }
            }
            RawNode::Leaf(weights) => {
                if let Some(&(t, _)) = weights.iter().find(|p| p.0 >= n_targets) {
                    return Err(bad_tree(
                        tree.id,
                        format!("leaf {i} has a weight for target {t} but there are {n_targets}"),
                    ));
                }
            }
        }
    }
    // Iterative three-colour depth-first search: an edge to a node still on the stack is a cycle.
    let mut colour = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<(usize, u8)> = vec![(tree.root, 0)];
    colour[tree.root] = 1;
    order.push(tree.root);
    while let Some(top) = stack.last_mut() {
        let (i, k) = (top.0, top.1);
        let next = match (&tree.nodes[i], k) {
            (RawNode::Branch { t, .. }, 0) => Some(*t),
            (RawNode::Branch { f, .. }, 1) => Some(*f),
            _ => None,
        };
        top.1 += 1;
        match next {
            None => {
                colour[i] = 2;
                stack.pop();
            }
            Some(c) => match colour[c] {
                0 => {
                    colour[c] = 1;
                    order.push(c);
                    stack.push((c, 0));
                }
                1 => {
                    return Err(bad_tree(
                        tree.id,
                        format!("node {i} leads back to node {c}: a cycle"),
                    ));
                }
                _ => {}
            },
        }
    }
    if order.len() != n {
        return Err(bad_tree(
            tree.id,
            format!(
                "{} of its {n} nodes are not reachable from the root",
                n - order.len()
            ),
        ));
    }
    Ok(order)
}

/// Tracks which targets get a value from every leaf of at least one tree: those always
/// have a score, so no per-row flag is needed for them.
pub(crate) struct AlwaysScored {
    covered: Vec<bool>,
    count: Vec<u32>,
    last_leaf: Vec<u32>,
    touched: Vec<usize>,
    leaves: u32,
}

impl AlwaysScored {
    pub(crate) fn new(n: usize) -> Self {
        AlwaysScored {
            covered: vec![false; n],
            count: vec![0; n],
            last_leaf: vec![u32::MAX; n],
            touched: Vec::new(),
            leaves: 0,
        }
    }
    pub(crate) fn start_tree(&mut self) {
        self.leaves = 0;
    }
    pub(crate) fn leaf(&mut self, targets: impl Iterator<Item = usize>) {
        for t in targets {
            if self.last_leaf[t] != self.leaves {
                self.last_leaf[t] = self.leaves;
                if self.count[t] == 0 {
                    self.touched.push(t);
                }
                self.count[t] += 1;
            }
        }
        self.leaves += 1;
    }
    pub(crate) fn end_tree(&mut self) {
        for &t in &self.touched {
            if self.count[t] == self.leaves {
                self.covered[t] = true;
            }
            self.count[t] = 0;
            self.last_leaf[t] = u32::MAX;
        }
        self.touched.clear();
    }
    pub(crate) fn all_covered(&self) -> bool {
        self.covered.iter().all(|&c| c)
    }
}
