//! Damaged or hostile model directories must be refused with a clear error, never a panic:
//! truncated or corrupted saved_model.pb, a corrupted index, a missing or truncated shard, a
//! wrong signature name, an op we cannot run; plus a seeded loop of random corruptions.

mod common;

use std::path::Path;

use common::{copy_fixture, edit};

use prost::Message;
use tf_native::protos::SavedModel;
use tf_native::{TfError, TfModel};

fn load(dir: &Path) -> Result<TfModel, TfError> {
    TfModel::load_dir(dir, None)
}

const INDEX: &str = "variables/variables.index";
const SHARD: &str = "variables/variables.data-00000-of-00001";

#[test]
fn pristine_copy_loads() {
    let dir = copy_fixture("mlp_export", "pristine");
    load(&dir).unwrap();
}

#[test]
fn truncated_saved_model_pb() {
    let dir = copy_fixture("mlp_export", "trunc-pb");
    edit(&dir, "saved_model.pb", |b| b.truncate(b.len() / 2));
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, TfError::Proto { .. }), "{err}");
    assert!(err.to_string().contains("saved_model.pb"), "{err}");
}

#[test]
fn missing_saved_model_pb() {
    let dir = copy_fixture("mlp_export", "no-pb");
    std::fs::remove_file(dir.join("saved_model.pb")).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(
        matches!(err, TfError::Io { .. }) && err.to_string().contains("saved_model.pb"),
        "{err}"
    );
}

#[test]
fn corrupted_index_block() {
    let dir = copy_fixture("mlp_export", "bad-index");
    edit(&dir, INDEX, |b| b[10] ^= 0x55);
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, TfError::Index { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
}

#[test]
fn index_with_bad_magic() {
    let dir = copy_fixture("mlp_export", "magic");
    edit(&dir, INDEX, |b| {
        let n = b.len();
        b[n - 1] ^= 1;
    });
    let err = load(&dir).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn missing_shard() {
    let dir = copy_fixture("mlp_export", "no-shard");
    std::fs::remove_file(dir.join(SHARD)).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(
        matches!(err, TfError::Io { .. }) && err.to_string().contains("data-00000-of-00001"),
        "{err}"
    );
}

#[test]
fn truncated_shard() {
    let dir = copy_fixture("mlp_export", "trunc-shard");
    edit(&dir, SHARD, |b| b.truncate(b.len() - 7));
    let err = load(&dir).unwrap_err();
    assert!(
        matches!(err, TfError::Shard { .. }) && err.to_string().contains("truncated"),
        "{err}"
    );
}

#[test]
fn corrupted_shard_fails_checksum() {
    let dir = copy_fixture("mlp_export", "bad-shard");
    let files = tf_native::DirFiles::new(&dir);
    // Damage one byte of every saved variable, so whichever the signature reads is hit.
    let bundle = tf_native::bundle::Bundle::open(&files, "variables/variables").unwrap();
    let ranges: Vec<(usize, usize)> = bundle
        .keys()
        .filter(|k| !k.starts_with('_'))
        .filter_map(|k| bundle.entry(k))
        .filter(|e| e.size > 0)
        .map(|e| (e.offset as usize, e.size as usize))
        .collect();
    assert!(!ranges.is_empty());
    edit(&dir, SHARD, |b| {
        for (offset, size) in ranges {
            b[offset + size / 2] ^= 0x20;
        }
    });
    let err = load(&dir).unwrap_err();
    assert!(
        matches!(err, TfError::Shard { .. }) && err.to_string().contains("checksum"),
        "{err}"
    );
}

#[test]
fn wrong_signature_name() {
    let dir = common::fixtures().join("mlp_export/1");
    let err = TfModel::load_dir(&dir, Some("no_such_signature")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TfError::NoSuchSignature { .. }), "{text}");
    assert!(
        text.contains("no_such_signature") && text.contains("serving_default"),
        "{text}"
    );
    assert!(!text.contains("__saved_model_init_op"), "{text}");
}

#[test]
fn other_signature_by_name() {
    let dir = common::fixtures().join("mlp_export/1");
    let model = TfModel::load_dir(&dir, Some("serve")).unwrap();
    assert_eq!(model.signature.name, "serve");
    assert_eq!(model.signature.inputs[0].key, "features");
    assert_eq!(model.signature.outputs[0].key, "output_0");
}

/// Renames every `Relu` in the function library to an op nobody implements.
#[test]
fn unknown_op_is_listed_with_its_node() {
    let dir = copy_fixture("mlp_export", "unknown-op");
    edit(&dir, "saved_model.pb", |b| {
        let mut saved = SavedModel::decode(b.as_slice()).unwrap();
        let graph = saved.meta_graphs[0].graph_def.as_mut().unwrap();
        for f in &mut graph.library.as_mut().unwrap().function {
            for n in &mut f.node_def {
                if n.op == "Relu" {
                    n.op = "FancyActivation".into();
                }
            }
        }
        *b = saved.encode_to_vec();
    });
    let err = load(&dir).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TfError::UnsupportedOps(_)), "{text}");
    assert!(
        text.contains("FancyActivation") && text.contains("Relu"),
        "{text}"
    );
}

/// A small deterministic generator, so a failing iteration can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Random byte flips, truncations and overwrites of the index, the shard and saved_model.pb:
/// every load must end in Ok or Err (damage to bytes the signature never reads may load).
#[test]
fn seeded_corruption_never_panics() {
    let pristine = copy_fixture("mlp_export", "fuzz-src");
    let files = [INDEX, SHARD, "saved_model.pb"];
    let originals: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(pristine.join(f)).unwrap())
        .collect();
    let dir = copy_fixture("mlp_export", "fuzz");
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let (mut refused, mut loaded) = (0, 0);
    for round in 0..240 {
        let which = round % files.len();
        for (f, orig) in files.iter().zip(&originals) {
            std::fs::write(dir.join(f), orig).unwrap();
        }
        let mut bytes = originals[which].clone();
        match rng.below(3) {
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            1 => bytes.truncate(rng.below(bytes.len())),
            _ => {
                let at = rng.below(bytes.len());
                let len = 1 + rng.below(16);
                for b in bytes.iter_mut().skip(at).take(len) {
                    *b = rng.next() as u8;
                }
            }
        }
        let changed = bytes != originals[which];
        std::fs::write(dir.join(files[which]), &bytes).unwrap();
        match load(&dir) {
            Ok(_) => loaded += usize::from(changed),
            Err(_) => refused += 1,
        }
    }
    eprintln!("corruption rounds: {refused} refused, {loaded} loaded");
    assert!(
        refused > 100,
        "only {refused} of 240 damaged models were refused"
    );
}
