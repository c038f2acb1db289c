//! The flattened forest: every tree is validated, then laid out in pre-order as packed
//! 16-byte nodes in one array (true child right after its parent), with leaf payloads in
//! struct-of-arrays form. Loaders describe trees as [`RawTree`]s; [`Forest::new`] checks and
//! packs them, and [`Forest::predict`] evaluates a row-major `f32` batch.

use crate::error::TreeError;
use crate::shape::{AlwaysScored, check_tree};

/// Branch comparison `x <op> threshold` that sends a row to the true child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Leq = 0,
    Lt = 1,
    Gte = 2,
    Gt = 3,
    Eq = 4,
    Neq = 5,
}

/// How leaf weights of all trees combine per target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// ONNX `post_transform`, applied with onnxruntime's formulas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

/// Output transform of natively loaded models (XGBoost, LightGBM): applied plainly to the
/// summed margins, without the ONNX operators' special cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeTransform {
    Identity,
    Sigmoid,
    Softmax,
    Exp,
}

/// Class labels of a classifier; string labels are reported by index.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which operator's finishing rules apply to the aggregated scores.
#[derive(Clone, Debug, PartialEq)]
pub enum Semantics {
    /// TreeEnsembleRegressor and opset-5 TreeEnsemble.
    Regressor { post: PostTransform },
    /// TreeEnsembleClassifier. `binary_case`: two classes and weights for one class id only;
    /// `all_positive`: no negative class weight (both as onnxruntime derives them).
    Classifier {
        labels: Labels,
        post: PostTransform,
        binary_case: bool,
        all_positive: bool,
    },
    /// XGBoost / LightGBM: base + sum, then the library's own link function.
    Native(NativeTransform),
}

/// Everything about the ensemble that is not a tree.
#[derive(Clone, Debug)]
pub struct ForestSpec {
    pub n_targets: usize,
    pub aggregate: Aggregate,
    pub base_values: Vec<f32>,
    pub semantics: Semantics,
}

/// One node of a tree as a loader describes it; children are indices into the same tree.
#[derive(Clone, Debug, PartialEq)]
pub enum RawNode {
    Branch {
        feature: usize,
        mode: Mode,
        value: f32,
        missing_true: bool,
        t: usize,
        f: usize,
    },
    /// `(target, weight)` pairs; several pairs may name the same target.
    Leaf(Vec<(usize, f32)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RawTree {
    /// Identifier used in error messages (the ONNX tree id, or the tree's position).
    pub id: i64,
    pub nodes: Vec<RawNode>,
    pub root: usize,
}

/// Limits that keep hostile attribute values from turning into huge allocations.
pub const MAX_FEATURES: usize = 1 << 24;
pub const MAX_TARGETS: usize = 1 << 20;
pub const MAX_NODES: usize = 1 << 30;

const FEATURE_MASK: u32 = (1 << 24) - 1;
const MISSING_BIT: u32 = 1 << 31;

/// Packed node. Branch: `meta` = feature | mode << 24 | missing-goes-true << 31, `value` the
/// threshold, `next[1]`/`next[0]` the true/false child. Leaf: `next` points at itself (so
/// lanes that reached a leaf stay put) and `value` carries the leaf index bits.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
pub(crate) struct Node {
    pub meta: u32,
    pub value: f32,
    pub next: [u32; 2],
}

impl Node {
    #[inline(always)]
    pub fn feature(&self) -> usize {
        (self.meta & FEATURE_MASK) as usize
    }
    #[inline(always)]
    pub fn mode_bits(&self) -> u32 {
        (self.meta >> 24) & 7
    }
    #[inline(always)]
    pub fn missing_true(&self) -> bool {
        self.meta & MISSING_BIT != 0
    }
    #[inline(always)]
    pub fn leaf_index(&self) -> usize {
        self.value.to_bits() as usize
    }
}

/// Reusable buffers for [`Forest::predict`]; they only grow.
#[derive(Default, Debug)]
pub struct Scratch {
    pub(crate) acc: Vec<f32>,
    pub(crate) has: Vec<u8>,
    pub(crate) tmp: Vec<f32>,
    pub(crate) tmp_has: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Forest {
    pub(crate) nodes: Vec<Node>,
    pub(crate) roots: Vec<u32>,
    /// Leaf `l` owns weights `leaf_start[l]..leaf_start[l + 1]`.
    pub(crate) leaf_start: Vec<u32>,
    pub(crate) leaf_target: Vec<u32>,
    pub(crate) leaf_weight: Vec<f32>,
    /// Every leaf has exactly one weight, so leaf `l`'s weight is at index `l`.
    pub(crate) single_weight: bool,
    /// Scores need has-a-value flags (MIN/MAX, or classes some rows may not reach).
    pub(crate) track: bool,
    pub(crate) uniform_mode: Option<Mode>,
    pub(crate) has_missing: bool,
    pub(crate) n_features: usize,
    /// Columns the saved model says its input has (XGBoost `num_feature`, LightGBM
    /// `max_feature_idx + 1`); 0 when the format does not say.
    pub(crate) declared_features: usize,
    /// A native model whose `predict` answers the index of the most probable class rather
    /// than the probabilities (XGBoost `multi:softmax`).
    pub(crate) predicts_class: bool,
    pub(crate) spec: ForestSpec,
}

impl Forest {
    /// Validate and pack `trees`. Each tree must be a proper tree: root without parent, every
    /// node reached exactly once from the root, children and features in range.
    pub fn new(trees: Vec<RawTree>, mut spec: ForestSpec) -> Result<Forest, TreeError> {
        if spec.n_targets == 0 || spec.n_targets > MAX_TARGETS {
            return Err(TreeError::TooLarge(format!(
                "{} targets or classes (1..={MAX_TARGETS} supported)",
                spec.n_targets
            )));
        }
        if trees.is_empty() {
            return Err(TreeError::Missing {
                name: "trees (the ensemble has none)".into(),
            });
        }
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        if total > MAX_NODES {
            return Err(TreeError::TooLarge(format!(
                "{total} nodes (at most {MAX_NODES})"
            )));
        }
        // onnxruntime's single-target regressor reads only the first weight of each leaf.
        let first_only =
            matches!(spec.semantics, Semantics::Regressor { .. }) && spec.n_targets == 1;
        let mut forest = Forest {
            nodes: Vec::with_capacity(total),
            roots: Vec::with_capacity(trees.len()),
            leaf_start: vec![0],
            leaf_target: Vec::new(),
            leaf_weight: Vec::new(),
            single_weight: true,
            track: false,
            uniform_mode: None,
            has_missing: false,
            n_features: 0,
            declared_features: 0,
            predicts_class: false,
            spec: spec.clone(),
        };
        let mut modes_seen = [false; 6];
        let mut always = AlwaysScored::new(spec.n_targets);
        for tree in &trees {
            let order = check_tree(tree, spec.n_targets)?;
            forest.pack_tree(tree, &order, first_only, &mut modes_seen, &mut always)?;
        }
        let distinct: Vec<usize> = (0..6).filter(|&m| modes_seen[m]).collect();
        forest.uniform_mode = match distinct.as_slice() {
            [] => Some(Mode::Leq),
            [m] => Some(MODES[*m]),
            _ => None,
        };
        forest.track = match spec.aggregate {
            Aggregate::Min | Aggregate::Max => true,
            // onnxruntime writes 0 for a class or target (of several) that no reached leaf
            // scored, whatever its base value.
            _ => {
                let flags_matter = match spec.semantics {
                    Semantics::Classifier { .. } => true,
                    Semantics::Regressor { .. } => spec.n_targets > 1,
                    Semantics::Native(_) => false,
                };
                flags_matter && !always.all_covered()
            }
        };
        spec.n_targets = forest.spec.n_targets;
        Ok(forest)
    }

    fn pack_tree(
        &mut self,
        tree: &RawTree,
        order: &[usize],
        first_only: bool,
        modes_seen: &mut [bool; 6],
        always: &mut AlwaysScored,
    ) -> Result<(), TreeError> {
        let base = self.nodes.len();
        let mut pos = vec![0u32; tree.nodes.len()];
        for (k, &n) in order.iter().enumerate() {
            pos[n] = (base + k) as u32;
        }
        always.start_tree();
        for &n in order {
            let me = pos[n];
            match &tree.nodes[n] {
                RawNode::Branch {
                    feature,
                    mode,
                    value,
                    missing_true,
                    t,
                    f,
                } => {
                    modes_seen[*mode as usize] = true;
                    self.has_missing |= *missing_true;
                    self.n_features = self.n_features.max(feature + 1);
                    let meta = *feature as u32
                        | ((*mode as u32) << 24)
                        | if *missing_true { MISSING_BIT } else { 0 };
                    self.nodes.push(Node {
                        meta,
                        value: *value,
                        next: [pos[*f], pos[*t]],
                    });
                }
                RawNode::Leaf(weights) => {
                    let leaf = self.leaf_start.len() - 1;
                    if leaf > u32::MAX as usize / 2 {
                        return Err(TreeError::TooLarge("too many leaves".into()));
                    }
                    let used = if first_only {
                        &weights[..weights.len().min(1)]
                    } else {
                        weights
                    };
                    if used.len() != 1 {
                        self.single_weight = false;
                    }
                    for &(t, w) in used {
                        self.leaf_target.push(if first_only { 0 } else { t as u32 });
                        self.leaf_weight.push(w);
                    }
                    always.leaf(used.iter().map(|p| if first_only { 0 } else { p.0 }));
                    self.leaf_start.push(self.leaf_weight.len() as u32);
                    let bits = f32::from_bits(leaf as u32);
                    self.nodes.push(Node {
                        meta: 0,
                        value: bits,
                        next: [me, me],
                    });
                }
            }
        }
        always.end_tree();
        self.roots.push(pos[tree.root]);
        Ok(())
    }

    /// Columns the input must have at least.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Columns of the model's input: as the saved model declares them, else as its splits
    /// need.
    pub fn input_width(&self) -> usize {
        self.declared_features.max(self.n_features).max(1)
    }
    /// Whether the library's `predict` answers a class index (see [`Forest::predict`]'s
    /// scores: the probabilities it is taken from).
    pub fn predicts_class(&self) -> bool {
        self.predicts_class
    }
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }
    pub fn spec(&self) -> &ForestSpec {
        &self.spec
    }
    /// Scores written per row.
    pub fn output_width(&self) -> usize {
        self.spec.n_targets
    }
    pub fn labels(&self) -> Option<&Labels> {
        match &self.spec.semantics {
            Semantics::Classifier { labels, .. } => Some(labels),
            _ => None,
        }
    }
    /// Replace a native model's link function (e.g. `Identity` for raw margins).
    pub fn set_native_transform(&mut self, t: NativeTransform) {
        if let Semantics::Native(cur) = &mut self.spec.semantics {
            *cur = t;
        }
    }
}

const MODES: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];
