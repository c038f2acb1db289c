//! What a `serve --deploy` folder serves: its `deployment.json`, renamed when the server
//! is told the model's name (`--model-name`: KServe passes the InferenceService's name, and
//! routes `/v1/models/{name}` to it), or, in a folder that has none (a KServe `storageUri`
//! holding just a model or a script), a definition inferred from its files, as KServe's own
//! model servers pick up what they find in `/mnt/models`:
//!
//! - one `.wasm` file: a predictor component (`component_file`);
//! - else one `.py` file with a `Predict` class: a Hopsworks-style script (`script_file`);
//! - else one `.onnx` file: a graph served natively (`model_file`);
//! - else one tree model as KServe's XGBoost and LightGBM servers find it, `model.bst`,
//!   `model.json`, `model.ubj` or `model.txt`: served natively (`model_file`);
//! - else a TensorFlow SavedModel as KServe's TensorFlow predictor finds it (`1/saved_model.pb`
//!   with `1/variables/`, the highest numeric version served by default and every other one by
//!   `/versions/N`; or `saved_model.pb` in the folder itself), or one frozen GraphDef `.pb`:
//!   served natively (`model_file`). A `.keras` file alone is refused with how to export it.
//!
//! Everything else (resources, scaling, batching, logging) keeps its defaults.

use super::DEFINITION_FILE;
use crate::process::DeployError;
use serde_json::{Value, json};
use std::path::Path;

/// The definition text to serve `dir` with, named `name` when given.
pub fn definition_text(dir: &Path, name: Option<&str>) -> Result<String, DeployError> {
    let path = dir.join(DEFINITION_FILE);
    let invalid = |message: String| DeployError::Definition {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => match name {
            None => Ok(text),
            Some(name) => {
                let mut value: Value = serde_json::from_str(&text)
                    .map_err(|e| invalid(format!("not valid JSON: {e}")))?;
                let Some(object) = value.as_object_mut() else {
                    return Err(invalid("the definition is not a JSON object".into()));
                };
                object.insert("name".into(), Value::String(name.into()));
                Ok(value.to_string())
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = match name {
                Some(n) => n.to_string(),
                None => dir
                    .canonicalize()
                    .ok()
                    .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_lowercase()))
                    .unwrap_or_default(),
            };
            let (field, file) = infer_source(dir).map_err(invalid)?;
            Ok(json!({"name": name, field: file}).to_string())
        }
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// A SavedModel's graph file.
const SAVED_MODEL_PB: &str = "saved_model.pb";

/// The numeric subfolders of `dir` (TF Serving's model versions).
fn version_folders(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

/// The names KServe's XGBoost and LightGBM model servers look for.
const TREE_MODEL_FILES: [&str; 4] = ["model.bst", "model.json", "model.ubj", "model.txt"];

/// The definition field and file that serve a folder without a definition.
fn infer_source(dir: &Path) -> Result<(&'static str, String), String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let with = |ext: &str| -> Vec<&String> {
        files
            .iter()
            .filter(|f| f.rsplit_once('.').is_some_and(|(_, e)| e == ext))
            .collect()
    };
    let scripts: Vec<&String> = with("py")
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(dir.join(f)).is_ok_and(|text| declares_predictor(&text))
        })
        .collect();
    let saved_model = [SAVED_MODEL_PB.to_string()]
        .into_iter()
        .chain(
            version_folders(dir)
                .into_iter()
                .map(|v| format!("{v}/{SAVED_MODEL_PB}")),
        )
        .any(|pb| dir.join(pb).is_file());
    let dot = ".".to_string();
    for (field, kind, found) in [
        (
            "component_file",
            "predictor components (.wasm)",
            with("wasm"),
        ),
        (
            "script_file",
            "Python scripts with a Predict class",
            scripts,
        ),
        ("model_file", "ONNX models (.onnx)", with("onnx")),
        (
            "model_file",
            "XGBoost or LightGBM models (model.bst, model.json, model.ubj, model.txt)",
            files
                .iter()
                .filter(|f| TREE_MODEL_FILES.contains(&f.as_str()))
                .collect(),
        ),
        (
            "model_file",
            "TensorFlow SavedModels",
            if saved_model { vec![&dot] } else { vec![] },
        ),
        ("model_file", "frozen TensorFlow graphs (.pb)", with("pb")),
    ] {
        match found.as_slice() {
            [] => continue,
            [one] => return Ok((field, (*one).clone())),
            many => {
                return Err(format!(
                    "no {DEFINITION_FILE}, and several {kind} to choose from ({}): add a {DEFINITION_FILE} naming the one to serve",
                    join(many)
                ));
            }
        }
    }
    if let Some(keras) = with("keras").first() {
        return Err(format!(
            "{keras} is a Keras model file, which holds no graph to serve: export a SavedModel with model.export(\"DIR/1\") and serve DIR (TF Serving's layout)"
        ));
    }
    Err(format!(
        "no {DEFINITION_FILE}, and nothing to serve without one: a .wasm predictor component, a .py script with a Predict class, an .onnx model, an XGBoost/LightGBM model.{{bst,json,ubj,txt}}, a TensorFlow SavedModel (1/saved_model.pb) or a frozen .pb graph (found: {})",
        if files.is_empty() {
            "no files".to_string()
        } else {
            join(&files.iter().collect::<Vec<_>>())
        }
    ))
}

fn join(files: &[&String]) -> String {
    files
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a script declares the class the Python SDK serves: `Predict`, or `Predictor` as
/// the SDK also accepts (`class Predict:`, `class Predictor(object):`).
fn declares_predictor(text: &str) -> bool {
    text.lines().any(|l| {
        ["class Predict", "class Predictor"].iter().any(|class| {
            l.strip_prefix(class)
                .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('('))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn inferred(files: &[(&str, &str)], name: Option<&str>) -> Result<Value, String> {
        let dir = folder(files);
        definition_text(dir.path(), name)
            .map(|t| serde_json::from_str(&t).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_folder_without_a_definition_serves_what_it_holds() {
        assert_eq!(
            inferred(&[("model.onnx", "")], Some("iris")).unwrap(),
            json!({"name": "iris", "model_file": "model.onnx"})
        );
        // A script that opens the graph is the predictor, not the graph.
        let script = "import os\nclass Predict:\n    def predict(self, inputs): return inputs\n";
        assert_eq!(
            inferred(
                &[
                    ("model.onnx", ""),
                    ("helpers.py", "x = 1\n"),
                    ("predict.py", script)
                ],
                Some("iris")
            )
            .unwrap(),
            json!({"name": "iris", "script_file": "predict.py"})
        );
        // The SDK serves `class Predictor` too.
        let script = "class Predictor(object):\n    def predict(self, inputs): return inputs\n";
        assert_eq!(
            inferred(&[("model.onnx", ""), ("p.py", script)], Some("iris")).unwrap(),
            json!({"name": "iris", "script_file": "p.py"})
        );
        assert!(!declares_predictor("class PredictorBase:\n"));
        assert_eq!(
            inferred(&[("predictor.wasm", ""), ("model.onnx", "")], Some("a")).unwrap(),
            json!({"name": "a", "component_file": "predictor.wasm"})
        );
        // KServe's XGBoost and LightGBM layouts; other JSON or text files are not models.
        for file in TREE_MODEL_FILES {
            assert_eq!(
                inferred(
                    &[(file, ""), ("notes.txt", ""), ("schema.json", "")],
                    Some("t")
                )
                .unwrap(),
                json!({"name": "t", "model_file": file})
            );
        }
    }

    #[test]
    fn a_tensorflow_layout_is_served_as_kserve_serves_it() {
        let dir = folder(&[("notes.txt", "")]);
        std::fs::create_dir_all(dir.path().join("3/variables")).unwrap();
        std::fs::write(dir.path().join("3/saved_model.pb"), "").unwrap();
        let text = definition_text(dir.path(), Some("cnn")).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"name": "cnn", "model_file": "."})
        );
        assert_eq!(
            inferred(&[("saved_model.pb", "")], Some("m")).unwrap(),
            json!({"name": "m", "model_file": "."})
        );
        assert_eq!(
            inferred(&[("frozen.pb", "")], Some("m")).unwrap(),
            json!({"name": "m", "model_file": "frozen.pb"})
        );
        let e = inferred(&[("model.keras", "")], Some("m")).unwrap_err();
        assert!(e.contains("model.export("), "{e}");
    }

    #[test]
    fn an_ambiguous_or_empty_folder_says_what_it_found() {
        let e = inferred(&[("a.onnx", ""), ("b.onnx", "")], Some("x")).unwrap_err();
        assert!(
            e.contains("several ONNX models (.onnx) to choose from (a.onnx, b.onnx)"),
            "{e}"
        );
        let e = inferred(&[("notes.txt", "")], Some("x")).unwrap_err();
        assert!(
            e.contains("nothing to serve") && e.contains("notes.txt"),
            "{e}"
        );
    }

    #[test]
    fn a_given_name_replaces_the_definitions() {
        let text = r#"{"name": "iris", "model_file": "model.onnx", "model_version": 3}"#;
        let v = inferred(&[("deployment.json", text)], Some("iris-prod")).unwrap();
        assert_eq!(v["name"], "iris-prod");
        assert_eq!(v["model_version"], 3);
        let v = inferred(&[("deployment.json", text)], None).unwrap();
        assert_eq!(v["name"], "iris");
    }
}
