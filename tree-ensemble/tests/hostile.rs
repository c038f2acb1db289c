//! Malformed and hostile models must be refused with an error at load (never a panic, never
//! a huge allocation), and a seeded generator of mutated models must never panic.

use tree_ensemble::onnx_attrs::{self, TreeAttributes, TreeEnsembleV5Attributes};
use tree_ensemble::{Scratch, TreeError, lightgbm, xgboost};

/// A valid two-tree regressor: tree 0 splits on feature 1, tree 1 is one leaf.
fn good() -> TreeAttributes {
    TreeAttributes {
        nodes_treeids: vec![0, 0, 0, 1],
        nodes_nodeids: vec![0, 1, 2, 0],
        nodes_featureids: vec![1, 0, 0, 0],
        nodes_values: vec![0.5, 0.0, 0.0, 0.0],
        nodes_modes: ["BRANCH_LEQ", "LEAF", "LEAF", "LEAF"]
            .map(String::from)
            .to_vec(),
        nodes_truenodeids: vec![1, 0, 0, 0],
        nodes_falsenodeids: vec![2, 0, 0, 0],
        weight_treeids: vec![0, 0, 1],
        weight_nodeids: vec![1, 2, 0],
        weight_ids: vec![0, 0, 0],
        weights: vec![1.0, 2.0, 10.0],
        n_targets: Some(1),
        ..Default::default()
    }
}

fn err(a: &TreeAttributes) -> String {
    onnx_attrs::regressor(a)
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn the_baseline_model_loads_and_predicts() {
    let f = onnx_attrs::regressor(&good()).unwrap();
    let mut out = [0f32; 2];
    f.predict(
        &[0.0, 0.2, 0.0, 0.9],
        2,
        2,
        &mut out,
        None,
        &mut Scratch::default(),
    )
    .unwrap();
    assert_eq!(out, [11.0, 12.0]);
}

#[test]
fn wrong_lengths_are_refused() {
    let mut a = good();
    a.nodes_featureids.pop();
    assert!(
        matches!(
            onnx_attrs::regressor(&a),
            Err(TreeError::LengthMismatch { .. })
        ),
        "{}",
        err(&a)
    );
    let mut a = good();
    a.weights.push(1.0);
    assert!(err(&a).contains("weights"));
    let mut a = good();
    a.nodes_missing_value_tracks_true = vec![1];
    assert!(err(&a).contains("nodes_missing_value_tracks_true"));
    let mut a = good();
    a.nodes_values_as_tensor = vec![0.5, 0.0, 0.0, 0.0];
    assert!(err(&a).contains("both"));
}

#[test]
fn cycles_and_self_loops_are_refused() {
    let mut a = good();
    a.nodes_modes[1] = "BRANCH_LEQ".into();
    a.nodes_truenodeids[1] = 0; // back to the root
    a.nodes_falsenodeids[1] = 2;
    assert!(err(&a).contains("cycle"), "{}", err(&a));
    let mut a = good();
    a.nodes_modes[1] = "BRANCH_LEQ".into();
    a.nodes_truenodeids[1] = 1;
    a.nodes_falsenodeids[1] = 2;
    assert!(err(&a).contains("cycle"), "{}", err(&a));
}

#[test]
fn ids_out_of_range_are_refused() {
    let mut a = good();
    a.nodes_truenodeids[0] = 7;
    assert!(err(&a).contains("not a node"), "{}", err(&a));
    let mut a = good();
    a.weight_ids[0] = 3;
    assert!(err(&a).contains("outside"), "{}", err(&a));
    let mut a = good();
    a.weight_nodeids[0] = 99;
    assert!(err(&a).contains("does not exist"), "{}", err(&a));
    let mut a = good();
    a.nodes_featureids[0] = -1;
    assert!(err(&a).contains("nodes_featureids"), "{}", err(&a));
    let mut a = good();
    a.nodes_nodeids[2] = 1;
    assert!(err(&a).contains("twice"), "{}", err(&a));
    let mut a = good();
    a.nodes_modes[0] = "BRANCH_SOMETIMES".into();
    assert!(err(&a).contains("unknown mode"), "{}", err(&a));
}

#[test]
fn shape_problems_are_refused() {
    let mut a = good();
    a.weight_nodeids[1] = 1; // leaf 2 loses its weight
    assert!(err(&a).contains("no weight"), "{}", err(&a));
    let mut a = good();
    a.nodes_treeids = vec![0, 0, 1, 0];
    assert!(err(&a).contains("contiguous"), "{}", err(&a));
    // Node 3 of tree 0 exists but nothing points at it.
    let mut a = good();
    a.nodes_treeids = vec![0, 0, 0, 0];
    a.nodes_nodeids = vec![0, 1, 2, 3];
    a.weight_treeids = vec![0, 0, 0];
    a.weight_nodeids = vec![1, 2, 3];
    assert!(err(&a).contains("not reachable"), "{}", err(&a));
}

#[test]
fn huge_counts_do_not_allocate() {
    let mut a = good();
    a.n_targets = Some(1 << 40);
    assert!(err(&a).contains("n_targets"), "{}", err(&a));
    let mut a = good();
    a.nodes_featureids[0] = 1 << 40;
    assert!(err(&a).contains("feature"), "{}", err(&a));
    let v5 = TreeEnsembleV5Attributes {
        n_targets: Some(i64::MAX),
        ..Default::default()
    };
    assert!(onnx_attrs::tree_ensemble_v5(&v5).is_err());
    let mut c = good();
    c.classlabels_int64s = vec![0; 3];
    c.weight_ids = vec![5, 0, 0];
    assert!(
        onnx_attrs::classifier(&c)
            .unwrap_err()
            .to_string()
            .contains("outside")
    );
}

fn v5() -> TreeEnsembleV5Attributes {
    TreeEnsembleV5Attributes {
        leaf_targetids: vec![0, 0],
        leaf_weights: vec![1.0, 2.0],
        n_targets: Some(1),
        nodes_falseleafs: vec![1],
        nodes_falsenodeids: vec![1],
        nodes_featureids: vec![0],
        nodes_modes: vec![6],
        nodes_splits: vec![0.0],
        nodes_trueleafs: vec![1],
        nodes_truenodeids: vec![0],
        membership_values: vec![1.0, 3.0, f64::NAN],
        tree_roots: vec![0],
        ..Default::default()
    }
}

#[test]
fn opset5_membership_and_refusals() {
    let f = onnx_attrs::tree_ensemble_v5(&v5()).unwrap();
    let mut out = [0f32; 4];
    f.predict(
        &[1.0, 2.0, 3.0, f32::NAN],
        4,
        1,
        &mut out,
        None,
        &mut Scratch::default(),
    )
    .unwrap();
    assert_eq!(out, [1.0, 2.0, 1.0, 2.0]);
    let mut a = v5();
    a.membership_values = vec![f64::NAN];
    assert!(
        onnx_attrs::tree_ensemble_v5(&a)
            .unwrap_err()
            .to_string()
            .contains("membership")
    );
    let mut a = v5();
    a.tree_roots = vec![4];
    assert!(onnx_attrs::tree_ensemble_v5(&a).is_err());
    let mut a = v5();
    a.nodes_truenodeids = vec![9];
    assert!(onnx_attrs::tree_ensemble_v5(&a).is_err());
    let mut a = v5();
    a.nodes_trueleafs = vec![0]; // true branch goes back to node 0
    a.nodes_modes = vec![0];
    assert!(
        onnx_attrs::tree_ensemble_v5(&a)
            .unwrap_err()
            .to_string()
            .contains("cycle")
    );
    let mut a = v5();
    a.post_transform = Some(9);
    assert!(onnx_attrs::tree_ensemble_v5(&a).is_err());
}

#[test]
fn bad_inputs_to_predict_are_errors() {
    let f = onnx_attrs::regressor(&good()).unwrap();
    let mut s = Scratch::default();
    let mut out = [0f32; 1];
    assert!(matches!(
        f.predict(&[0.0], 1, 1, &mut out, None, &mut s),
        Err(TreeError::TooFewColumns { .. })
    ));
    assert!(matches!(
        f.predict(&[0.0; 3], 1, 2, &mut out, None, &mut s),
        Err(TreeError::InputShape { .. })
    ));
    assert!(matches!(
        f.predict(&[0.0; 4], 2, 2, &mut out, None, &mut s),
        Err(TreeError::OutputShape { .. })
    ));
    assert!(
        f.predict(&[0.0; 2], usize::MAX, 2, &mut out, None, &mut s)
            .is_err()
    );
}

#[test]
fn native_models_refuse_what_is_not_built() {
    let xgb = r#"{"learner":{"learner_model_param":{"base_score":"5E-1","num_class":"0"},
        "objective":{"name":"binary:logistic"},
        "gradient_booster":{"name":"gbtree","model":{"tree_info":[0],"trees":[{
        "left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],
        "split_conditions":[0.5,1.0,2.0],"default_left":[1,0,0],"split_type":[1,0,0]}]}}}}"#;
    let e = xgboost::from_json(xgb.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("categorical"), "{e}");
    let ok = xgb.replace(r#""split_type":[1,0,0]"#, r#""split_type":[0,0,0]"#);
    assert!(xgboost::from_json(ok.as_bytes()).is_ok());
    let rank = ok.replace("binary:logistic", "rank:pairwise");
    assert!(
        xgboost::from_json(rank.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("rank:pairwise")
    );
    let cyc = ok.replace(
        r#""left_children":[1,-1,-1]"#,
        r#""left_children":[0,-1,-1]"#,
    );
    assert!(xgboost::from_json(cyc.as_bytes()).is_err());
    assert!(xgboost::from_json(b"{not json").is_err());
    // UBJSON claiming four billion elements in a few bytes.
    assert!(xgboost::from_ubjson(b"[$d#l\x7f\xff\xff\xff\x00").is_err());
    assert!(xgboost::from_ubjson(b"{").is_err());
    assert!(xgboost::from_ubjson(&[b'['; 10_000]).is_err());

    let lgb = "tree\nnum_class=1\nnum_tree_per_iteration=1\nobjective=binary sigmoid:1\n\nTree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=0.1 0.2\nis_linear=0\nshrinkage=1\n\nend of trees\n";
    assert!(lightgbm::from_text(lgb).is_ok());
    let e = lightgbm::from_text(&lgb.replace("num_cat=0", "num_cat=1"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("categorical"), "{e}");
    let e = lightgbm::from_text(&lgb.replace("decision_type=2", "decision_type=4"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("zero_as_missing"), "{e}");
    let e = lightgbm::from_text(&lgb.replace("sigmoid:1", "sigmoid:2"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sigmoid"), "{e}");
    assert!(lightgbm::from_text(&lgb.replace("right_child=-2", "right_child=-9")).is_err());
    assert!(lightgbm::from_text(&lgb.replace("is_linear=0", "is_linear=1")).is_err());
}

/// Small deterministic generator (xorshift) so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
    fn weird(&mut self) -> i64 {
        [-1, 0, 1, 2, 3, 4, 5, 7, i64::MAX, i64::MIN, 1 << 33][self.pick(11) as usize]
    }
}

#[test]
fn mutated_models_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let modes = [
        "BRANCH_LEQ",
        "BRANCH_LT",
        "BRANCH_GTE",
        "BRANCH_GT",
        "BRANCH_EQ",
        "BRANCH_NEQ",
        "LEAF",
        "?",
    ];
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let mut a = good();
        for _ in 0..1 + rng.pick(3) {
            let i = rng.pick(4) as usize;
            match rng.pick(9) {
                0 => a.nodes_truenodeids[i] = rng.weird(),
                1 => a.nodes_falsenodeids[i] = rng.weird(),
                2 => a.nodes_featureids[i] = rng.weird(),
                3 => a.nodes_modes[i] = modes[rng.pick(8) as usize].into(),
                4 => a.nodes_treeids[i] = rng.weird(),
                5 => a.nodes_nodeids[i] = rng.weird(),
                6 => a.weight_ids[i % 3] = rng.weird(),
                7 => a.weight_nodeids[i % 3] = rng.weird(),
                _ => a.nodes_missing_value_tracks_true = vec![rng.pick(2); 4],
            }
        }
        if rng.pick(2) == 0 {
            a.classlabels_int64s = vec![0, 1, 2][..1 + rng.pick(3) as usize].to_vec();
            a.post_transform = Some(
                ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"][rng.pick(5) as usize]
                    .into(),
            );
        }
        let r = if a.classlabels_int64s.is_empty() {
            onnx_attrs::regressor(&a)
        } else {
            onnx_attrs::classifier(&a)
        };
        match r {
            Ok(f) => {
                loaded += 1;
                let cols = f.n_features().max(1);
                let x: Vec<f32> = (0..9 * cols)
                    .map(|k| [f32::NAN, 0.5, -1.0, 0.0, 1e30][k % 5])
                    .collect();
                let mut out = vec![0f32; 9 * f.output_width()];
                let mut labels = vec![0i64; 9];
                f.predict(
                    &x,
                    9,
                    cols,
                    &mut out,
                    Some(&mut labels),
                    &mut Scratch::default(),
                )
                .unwrap();
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(
        loaded > 0 && refused > 0,
        "loaded {loaded}, refused {refused}"
    );
}

#[test]
fn mutated_native_files_never_panic() {
    let mut rng = Rng(12345);
    let lgb = "tree\nnum_class=1\nnum_tree_per_iteration=1\nobjective=binary sigmoid:1\n\nTree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\nthreshold=0.5 1e300\ndecision_type=2 0\nleft_child=1 -1\nright_child=-2 -3\nleaf_value=0.1 0.2 0.3\nis_linear=0\nshrinkage=1\n\nend of trees\n";
    let bytes = lgb.as_bytes();
    for _ in 0..5_000 {
        let mut b = bytes.to_vec();
        for _ in 0..1 + rng.pick(4) {
            let i = rng.pick(b.len() as u64) as usize;
            b[i] = b"0123456789-= \n.x"[rng.pick(16) as usize];
        }
        if let Ok(text) = std::str::from_utf8(&b) {
            let _ = lightgbm::from_text(text);
        }
    }
    for _ in 0..5_000 {
        let b: Vec<u8> = (0..rng.pick(40))
            .map(|_| b"[{}]$#iUlLdDSZTFN\x00\x7f\xff"[rng.pick(20) as usize])
            .collect();
        let _ = xgboost::from_ubjson(&b);
    }
}
