"""Synthetic tree ensembles for the fixtures: random trees over every comparison mode,
aggregate, post transform, base-value and label form (opsets 3 and 5, with set membership),
and the rewrite of a single-target regressor into opset-5 TreeEnsemble."""

import numpy as np
import onnx
from onnx import helper, numpy_helper

# onnx 1.23 stamps new models with IR version 14, newer than onnxruntime 1.23 reads (11).
IR_VERSION = 10


def regressor_to_v5(model):
    """Rewrite a single-target TreeEnsembleRegressor as ai.onnx.ml opset-5 TreeEnsemble;
    base_values become a one-leaf tree because opset 5 has no such attribute."""
    node = [n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor"][0]
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    tids, nids = a["nodes_treeids"], a["nodes_nodeids"]
    modes = [m.decode() for m in a["nodes_modes"]]
    leaf_w = {(t, n): w for t, n, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"])}
    code = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
    internal, leaves = {}, {}
    for i, (t, n) in enumerate(zip(tids, nids)):
        (leaves if modes[i] == "LEAF" else internal)[(t, n)] = len(leaves if modes[i] == "LEAF" else internal)
    out = {k: [] for k in ["nodes_featureids", "nodes_splits", "nodes_modes", "nodes_truenodeids",
                           "nodes_falsenodeids", "nodes_trueleafs", "nodes_falseleafs"]}
    for i, (t, n) in enumerate(zip(tids, nids)):
        if modes[i] == "LEAF":
            continue
        out["nodes_featureids"].append(a["nodes_featureids"][i])
        out["nodes_splits"].append(a["nodes_values"][i])
        out["nodes_modes"].append(code[modes[i]])
        for side in ("true", "false"):
            child = (t, a[f"nodes_{side}nodeids"][i])
            is_leaf = child in leaves
            out[f"nodes_{side}leafs"].append(int(is_leaf))
            out[f"nodes_{side}nodeids"].append(leaves[child] if is_leaf else internal[child])
    roots = []
    for i, (t, n) in enumerate(zip(tids, nids)):
        if i == 0 or tids[i - 1] != t:
            roots.append(internal[(t, n)])
    leaf_keys = sorted(leaves, key=lambda k: leaves[k])
    leaf_weights = [leaf_w[k] for k in leaf_keys]
    base = a.get("base_values", [0.0])[0]
    # bias tree: one split whose two leaves both carry the base value
    out["nodes_featureids"].append(0)
    out["nodes_splits"].append(0.0)
    out["nodes_modes"].append(0)
    out["nodes_truenodeids"].append(len(leaf_weights))
    out["nodes_falsenodeids"].append(len(leaf_weights) + 1)
    out["nodes_trueleafs"].append(1)
    out["nodes_falseleafs"].append(1)
    roots.append(len(out["nodes_featureids"]) - 1)
    leaf_weights += [base, base]
    v5 = make_v5(out, roots, [0] * len(leaf_weights), leaf_weights, n_targets=1)
    return v5


def make_v5(nodes, roots, leaf_targetids, leaf_weights, n_targets, aggregate=1, post=0,
            missing=None, membership=None, n_features=None):
    kw = dict(
        nodes_featureids=nodes["nodes_featureids"],
        nodes_splits=numpy_helper.from_array(np.array(nodes["nodes_splits"], dtype=np.float32)),
        nodes_modes=numpy_helper.from_array(np.array(nodes["nodes_modes"], dtype=np.uint8)),
        nodes_truenodeids=nodes["nodes_truenodeids"],
        nodes_falsenodeids=nodes["nodes_falsenodeids"],
        nodes_trueleafs=nodes["nodes_trueleafs"],
        nodes_falseleafs=nodes["nodes_falseleafs"],
        leaf_targetids=leaf_targetids,
        leaf_weights=numpy_helper.from_array(np.array(leaf_weights, dtype=np.float32)),
        tree_roots=roots,
        n_targets=n_targets,
        aggregate_function=aggregate,
        post_transform=post,
    )
    if missing is not None:
        kw["nodes_missing_value_tracks_true"] = missing
    if membership is not None:
        kw["membership_values"] = numpy_helper.from_array(np.array(membership, dtype=np.float32))
    nf = n_features if n_features is not None else max(nodes["nodes_featureids"]) + 1
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **kw)
    graph = helper.make_graph([node], "v5", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [None, nf])],
                              [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [None, n_targets])])
    return helper.make_model(graph, ir_version=IR_VERSION,
                             opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])


MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
POSTS = ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"]
AGGS = ["AVERAGE", "SUM", "MIN", "MAX"]


def random_tree(rng, n_features, max_depth, mode_set):
    """Nested random tree: ('leaf',) or (mode, feature, threshold, missing_true, true, false)."""
    def build(depth):
        if depth >= max_depth or (depth > 0 and rng.random() < 0.25):
            return ("leaf",)
        return (mode_set[rng.integers(len(mode_set))], int(rng.integers(n_features)),
                float(rng.integers(0, 6)) - 0.5 * rng.integers(0, 2), int(rng.random() < 0.3),
                build(depth + 1), build(depth + 1))
    return build(0)


def flatten_v3(trees, rng, n_targets, target_prefix, weight_sign, sparse):
    """Attributes of a v3 tree ensemble; node ids are shuffled within each tree."""
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true"]}
    w = {f"{target_prefix}_{k}": [] for k in ["treeids", "nodeids", "ids", "weights"]}
    for t, tree in enumerate(trees):
        order, kids = [], []

        def collect(n):
            me = len(order)
            order.append(n)
            kids.append(None)
            if n[0] != "leaf":
                kids[me] = (collect(n[4]), collect(n[5]))
            return me
        collect(tree)
        rest = list(range(1, len(order)))
        rng.shuffle(rest)  # the root stays first: it marks where the tree starts
        ids = [0] + rest
        for pos, n in enumerate(order):
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(ids[pos])
            if n[0] == "leaf":
                for k in ["nodes_featureids", "nodes_truenodeids", "nodes_falsenodeids",
                          "nodes_missing_value_tracks_true"]:
                    a[k].append(0)
                a["nodes_values"].append(0.0)
                a["nodes_modes"].append("LEAF")
                targets = [int(rng.integers(n_targets))] if sparse else list(range(n_targets))
                for c in targets:
                    w[f"{target_prefix}_treeids"].append(t)
                    w[f"{target_prefix}_nodeids"].append(ids[pos])
                    w[f"{target_prefix}_ids"].append(c)
                    val = float(rng.random()) if weight_sign >= 0 else float(rng.normal())
                    w[f"{target_prefix}_weights"].append(round(val, 3))
            else:
                a["nodes_featureids"].append(n[1])
                a["nodes_values"].append(n[2])
                a["nodes_modes"].append(n[0])
                a["nodes_missing_value_tracks_true"].append(n[3])
                a["nodes_truenodeids"].append(ids[kids[pos][0]])
                a["nodes_falsenodeids"].append(ids[kids[pos][1]])
    a.update(w)
    return a


def v3_model(op, attrs, n_features, n_out, string_labels=False):
    node = helper.make_node(op, ["X"], ["Y", "Z"] if op == "TreeEnsembleClassifier" else ["Y"],
                            domain="ai.onnx.ml", **attrs)
    x = helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [None, n_features])
    if op == "TreeEnsembleClassifier":
        lt = onnx.TensorProto.STRING if string_labels else onnx.TensorProto.INT64
        outs = [helper.make_tensor_value_info("Y", lt, [None]),
                helper.make_tensor_value_info("Z", onnx.TensorProto.FLOAT, [None, n_out])]
    else:
        outs = [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [None, n_out])]
    graph = helper.make_graph([node], op, [x], outs)
    return helper.make_model(graph, ir_version=IR_VERSION,
                             opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])


def random_models(with_nans, rows):
    """Hand-made ensembles covering every mode, aggregate, transform and base-value form,
    with NaNs in the inputs; onnxruntime's answer is the reference."""
    rng = np.random.default_rng(11)
    nf = 5
    x = rng.integers(0, 6, size=(rows, nf)).astype(np.float32) - 0.5 * rng.integers(0, 2, size=(rows, nf))
    x = with_nans(x.astype(np.float32), 0.15, 12)
    case = 0
    for n_targets in (1, 3):
        for agg in AGGS:
            for post in POSTS:
                trees = [random_tree(rng, nf, 4, MODES) for _ in range(7)]
                attrs = flatten_v3(trees, rng, n_targets, "target", -1, sparse=(case % 2 == 1))
                attrs.update(n_targets=n_targets, aggregate_function=agg, post_transform=post)
                if case % 3 != 0:
                    attrs["base_values"] = [round(float(v), 3) for v in rng.normal(size=n_targets)]
                yield f"rand_reg_{case}", v3_model("TreeEnsembleRegressor", attrs, nf, n_targets), x
                case += 1
    for n_classes in (2, 3):
        for post in POSTS:
            for variant in range(4):
                trees = [random_tree(rng, nf, 4, MODES) for _ in range(6)]
                sparse = variant in (1, 3)
                attrs = flatten_v3(trees, rng, n_classes, "class", 1 if variant < 2 else -1, sparse=sparse)
                if n_classes == 2 and variant == 3:
                    attrs["class_ids"] = [1] * len(attrs["class_ids"])  # single-score binary
                if n_classes == 2 and variant == 1:
                    attrs["class_ids"] = [0] * len(attrs["class_ids"])
                strings = variant == 2
                if strings:
                    attrs["classlabels_strings"] = [f"c{i}" for i in range(n_classes)]
                else:
                    attrs["classlabels_int64s"] = list(range(n_classes)) if variant != 1 else [3 + 4 * i for i in range(n_classes)]
                attrs["post_transform"] = post
                # One or two base values for three classes is undefined by ONNX (onnxruntime
                # 1.23 adds them to the first classes; the engine refuses such a model).
                nb = [0, 1, 2, n_classes][variant] if n_classes == 2 else [0, n_classes][variant % 2]
                if nb:
                    attrs["base_values"] = [round(float(v), 3) for v in rng.normal(size=nb)]
                # A binary classifier whose positive class never scores has one score column:
                # onnxruntime 1.23 skips LOGISTIC on it (1.32 applies it) and leaves the
                # second column unwritten under PROBIT, so there is no reference to match.
                if not (n_classes == 2 and variant == 1 and post in ("LOGISTIC", "PROBIT")):
                    yield f"rand_clf_{case}", v3_model("TreeEnsembleClassifier", attrs, nf, n_classes, strings), x
                case += 1
    # opset 5 with set membership and every comparison mode
    for agg in range(4):
        for post in range(5):
            n_targets = 1 + (post % 3)
            nodes = {k: [] for k in ["nodes_featureids", "nodes_splits", "nodes_modes", "nodes_truenodeids",
                                     "nodes_falsenodeids", "nodes_trueleafs", "nodes_falseleafs"]}
            missing, membership, leaf_t, leaf_w, roots = [], [], [], [], []

            def emit(n):
                if n[0] == "leaf":
                    leaf_t.append(int(rng.integers(n_targets)))
                    leaf_w.append(round(float(rng.normal()), 3))
                    return True, len(leaf_w) - 1
                i = len(nodes["nodes_modes"])
                mode = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ",
                        "MEMBER"].index(n[0])
                nodes["nodes_featureids"].append(n[1])
                nodes["nodes_splits"].append(n[2] if mode != 6 else 0.0)
                nodes["nodes_modes"].append(mode)
                missing.append(n[3])
                for k in ["nodes_truenodeids", "nodes_falsenodeids", "nodes_trueleafs", "nodes_falseleafs"]:
                    nodes[k].append(0)
                if mode == 6:
                    members = sorted(set(float(v) for v in rng.integers(0, 6, size=int(rng.integers(1, 4)))))
                    membership.extend(members + [float("nan")])
                tl, ti = emit(n[4])
                fl, fi = emit(n[5])
                nodes["nodes_trueleafs"][i], nodes["nodes_truenodeids"][i] = int(tl), ti
                nodes["nodes_falseleafs"][i], nodes["nodes_falsenodeids"][i] = int(fl), fi
                return False, i
            lists = list(nodes.values()) + [missing, membership, leaf_t, leaf_w]
            while len(roots) < 6:
                tree = random_tree(rng, nf, 4, MODES + ["MEMBER"])
                if tree[0] == "leaf":
                    tree = ("BRANCH_LEQ", 0, 1.0, 0, ("leaf",), ("leaf",))
                sizes = [len(v) for v in lists]
                root = emit(tree)[1]
                # A root whose leaf child and node child share an index is read as a leaf by
                # onnxruntime 1.23 (microsoft/onnxruntime#24679, fixed since): draw again.
                if (nodes["nodes_truenodeids"][root] == nodes["nodes_falsenodeids"][root]
                        and nodes["nodes_trueleafs"][root] != nodes["nodes_falseleafs"][root]):
                    for v, n in zip(lists, sizes):
                        del v[n:]
                    continue
                roots.append(root)
            model = make_v5(nodes, roots, leaf_t, leaf_w, n_targets, aggregate=agg, post=post, missing=missing,
                            membership=membership or None, n_features=nf)
            yield f"rand_v5_{case}", model, x
            case += 1
