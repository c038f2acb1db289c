//! Saved tree models are hostile input (an upload, a file on disk): generated mutations of
//! real XGBoost JSON/UBJSON and LightGBM text models (node ids out of range, children that
//! loop back, wrong array lengths, absurd counts, truncations, flipped bytes) either load
//! into a model that answers any batch, or are refused with an error; never a panic or a
//! hang. A broken model in a deployment folder is refused at deploy, naming the file, and
//! the server serves the others.

use predictor_runtime::{NativeModel, Tensor};
use predictor_tests::{DeploymentDir, TestServer, root};
use serde_json::{Value, json};
use std::path::PathBuf;

/// A small deterministic generator (xorshift64*): the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A native model file of the tree fixtures (made by scripts/setup.sh) ending in `ext`.
fn fixture_file(ext: &str, contains: &[u8]) -> PathBuf {
    let dir = root().join("target/tree-fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
        .into_iter()
        .find(|p| {
            let bytes = std::fs::read(p).unwrap();
            bytes.windows(contains.len()).any(|w| w == contains)
        })
        .unwrap_or_else(|| panic!("no .{ext} tree model in {}", dir.display()))
}

/// Values a mutated number takes: off by one, negative, beyond any index, not a count.
const HOSTILE: [f64; 8] = [-1.0, 0.0, 1.0, 2.0, 1e9, 4294967296.0, -1e30, 0.5];

/// Mutates one number or array of numbers of `doc` (chosen by `rng`).
fn mutate_json(doc: &mut Value, rng: &mut Rng) {
    let mut slots = Vec::new();
    collect(doc, String::new(), &mut slots);
    let slot = &slots[rng.below(slots.len())];
    let v = doc.pointer_mut(slot).expect("a collected pointer");
    match v {
        Value::Array(items) if !items.is_empty() => match rng.below(3) {
            0 => {
                let k = rng.below(items.len());
                items.truncate(k);
            }
            1 => {
                let k = rng.below(items.len());
                items[k] = json!(HOSTILE[rng.below(HOSTILE.len())]);
            }
            _ => {
                // A child pointing at its own tree's root or an ancestor: a cycle.
                let k = rng.below(items.len());
                items[k] = json!(rng.below(k + 1));
            }
        },
        _ => *v = json!(HOSTILE[rng.below(HOSTILE.len())]),
    }
}

/// JSON pointers of every number, numeric string and array of numbers under `v`.
fn collect(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Array(items) if items.iter().all(Value::is_number) => out.push(at),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                collect(item, format!("{at}/{key}"), out);
            }
        }
        Value::Number(_) => out.push(at),
        Value::String(s) if s.parse::<f64>().is_ok() => out.push(at),
        _ => {}
    }
}

/// Mutates one `key=value` line of a LightGBM model: a hostile number in a list, a list
/// cut short, or the line dropped.
fn mutate_text(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let candidates: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains('='))
        .collect();
    let i = candidates[rng.below(candidates.len())];
    let (key, values) = lines[i].split_once('=').unwrap();
    let mut items: Vec<String> = values.split(' ').map(str::to_string).collect();
    match rng.below(4) {
        0 => {
            let k = rng.below(items.len());
            items[k] = format!("{}", HOSTILE[rng.below(HOSTILE.len())] as i64);
        }
        1 => items.truncate(rng.below(items.len())),
        2 => {
            // A child index pointing back up: a cycle (LightGBM children are node indices).
            let k = rng.below(items.len());
            items[k] = rng.below(k + 1).to_string();
        }
        _ => {
            lines.remove(i);
            return lines.join("\n");
        }
    }
    lines[i] = format!("{key}={}", items.join(" "));
    lines.join("\n")
}

/// Loads `bytes` as `name` and, if it loads, runs batches with missing values: must not
/// panic. Returns whether it loaded.
fn load_and_run(name: &str, bytes: &[u8], rng: &mut Rng) -> bool {
    let outcome = std::panic::catch_unwind(|| {
        let Ok(model) = NativeModel::load(name, bytes) else {
            return false;
        };
        let input = model.inputs().next().unwrap().clone();
        let width = input.shape[1].max(1) as usize;
        for rows in [1usize, 9, 64] {
            let values: Vec<f32> = (0..rows * width)
                .map(|i| {
                    if i % 7 == 3 {
                        f32::NAN
                    } else {
                        (i % 13) as f32 - 6.0
                    }
                })
                .collect();
            let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let tensor = Tensor {
                name: input.name.clone(),
                datatype: input.datatype,
                shape: vec![rows, width],
                data,
            };
            model.run(vec![tensor]).expect("a loaded model runs");
        }
        true
    });
    let _ = rng.next();
    outcome.unwrap_or_else(|_| panic!("{name}: loading or running a mutant panicked"))
}

/// The first `keep` trees of an XGBoost model (a smaller model of the same form, so each
/// mutant loads in microseconds).
fn first_trees_xgb(mut doc: Value, keep: usize) -> Value {
    let model = &mut doc["learner"]["gradient_booster"]["model"];
    model["trees"].as_array_mut().unwrap().truncate(keep);
    model["tree_info"].as_array_mut().unwrap().truncate(keep);
    model["gbtree_model_param"]["num_trees"] = json!(keep.to_string());
    doc
}

/// The first `keep` trees of a LightGBM text model.
fn first_trees_lgbm(text: &str, keep: usize) -> String {
    let blocks: Vec<&str> = text.split("\nTree=").collect();
    let mut out = blocks[..=keep.min(blocks.len() - 1)].join("\nTree=");
    if !out.contains("end of trees") {
        out.push_str("\nend of trees\n");
    }
    out
}

#[test]
fn mutated_saved_tree_models_load_or_are_refused_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let full: Value =
        serde_json::from_slice(&std::fs::read(fixture_file("json", b"\"learner\"")).unwrap())
            .unwrap();
    let doc = first_trees_xgb(full, 6);
    let xgb = serde_json::to_vec(&doc).unwrap();
    let ubj = std::fs::read(fixture_file("ubj", b"learner")).unwrap();
    let lgbm = std::fs::read_to_string(fixture_file("txt", b"tree\nversion")).unwrap();
    let lgbm = first_trees_lgbm(&lgbm, 10);
    assert!(
        load_and_run("model.json", &xgb, &mut rng),
        "the original loads"
    );
    assert!(
        load_and_run("model.ubj", &ubj, &mut rng),
        "the original loads"
    );
    assert!(load_and_run("model.txt", lgbm.as_bytes(), &mut rng));

    let (mut loaded, mut refused) = (0, 0);
    let mut count = |ok: bool| if ok { loaded += 1 } else { refused += 1 };
    for _ in 0..150 {
        let mut mutant = doc.clone();
        mutate_json(&mut mutant, &mut rng);
        count(load_and_run(
            "model.json",
            &serde_json::to_vec(&mutant).unwrap(),
            &mut rng,
        ));
        let text = mutate_text(&lgbm, &mut rng);
        count(load_and_run("model.txt", text.as_bytes(), &mut rng));
    }
    for _ in 0..40 {
        // Truncations and flipped bytes of the binary form.
        let mut bytes = ubj.clone();
        if rng.below(2) == 0 {
            bytes.truncate(rng.below(bytes.len()));
        } else {
            for _ in 0..1 + rng.below(8) {
                let k = rng.below(bytes.len());
                bytes[k] = rng.next() as u8;
            }
        }
        count(load_and_run("model.ubj", &bytes, &mut rng));
    }
    // Both outcomes happen: the mutations reach the validation, not only the parser.
    assert!(
        loaded > 20 && refused > 100,
        "{loaded} loaded, {refused} refused"
    );
}

#[tokio::test]
async fn a_broken_tree_model_is_refused_at_deploy_and_the_others_are_served() {
    let good = std::fs::read(fixture_file("txt", b"tree\nversion")).unwrap();
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(fixture_file("json", b"\"learner\"")).unwrap())
            .unwrap();
    // The first tree's first left child points back at its root.
    doc["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = json!(0);
    let cyclic = DeploymentDir::new(&json!({"name": "cyclic", "model_file": "model.json"}))
        .with_file("model.json", serde_json::to_vec(&doc).unwrap());
    let legacy = DeploymentDir::new(&json!({"name": "legacy", "model_file": "model.bst"}))
        .with_file(
            "model.bst",
            b"binf\x00\x00\x00\x00legacy xgboost".as_slice(),
        );
    let fine = DeploymentDir::new(&json!({"name": "fine", "model_file": "model.txt"}))
        .with_file("model.txt", good);
    let server = TestServer::start(&[&cyclic, &legacy, &fine]).await;
    for (name, says) in [
        ("cyclic", "model.json"),
        ("legacy", "save_model(\"model.json\")"),
    ] {
        let (status, body) = server
            .post(
                &format!("/v1/models/{name}:predict"),
                &json!({"instances": [[1.0]]}),
            )
            .await;
        assert_eq!(status, 503, "{name}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains("cannot load model") && message.contains(says),
            "{name}: {message}"
        );
    }
    let (status, meta) = server.get("/v2/models/fine").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], "lightgbm");
    server.stop().await;
}
