//! An upload checked before anything of it is stored: the definition parses and validates
//! (errors name the field), every path stays inside the deployment, the files the
//! definition names are there, and a component file is a WebAssembly component (not a core
//! module, not a precompiled artifact).

use super::ManageError;
use crate::deployment::DEFINITION_FILE;
use crate::deployment::config::DeploymentConfig;
use crate::store::files::check_path;
use bytes::Bytes;

/// A deployment's files as uploaded, checked.
pub struct Upload {
    pub config: DeploymentConfig,
    /// Relative path and contents; `deployment.json` among them.
    pub files: Vec<(String, Bytes)>,
    pub warnings: Vec<String>,
}

/// The first bytes of every WebAssembly binary.
const WASM_MAGIC: &[u8] = b"\0asm";
/// The layer and version that follow the magic in a component (a core module has 1, 0, 0, 0).
const COMPONENT_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

impl Upload {
    pub fn check(files: Vec<(String, Bytes)>) -> Result<Upload, ManageError> {
        let invalid = |m: String| ManageError::Invalid(m);
        let mut seen = std::collections::BTreeSet::new();
        for (path, _) in &files {
            check_path(path).map_err(invalid)?;
            if !seen.insert(path.as_str()) {
                return Err(invalid(format!("{path:?} is uploaded twice")));
            }
        }
        let definition = files
            .iter()
            .find(|(p, _)| p == DEFINITION_FILE)
            .ok_or_else(|| {
                invalid(format!(
                    "the upload has no {DEFINITION_FILE} (send it as a part named {DEFINITION_FILE} or \"definition\")"
                ))
            })?;
        let text = std::str::from_utf8(&definition.1)
            .map_err(|_| invalid(format!("{DEFINITION_FILE} is not UTF-8 text")))?;
        let config = DeploymentConfig::parse(text)
            .map_err(|e| invalid(format!("{DEFINITION_FILE}: {}", e.0)))?;
        let warnings = config
            .validate()
            .map_err(|e| invalid(format!("{DEFINITION_FILE}: {}", e.0)))?;
        let file = |name: &str| files.iter().find(|(p, _)| p == name).map(|(_, b)| b);
        for (field, name) in named_files(&config) {
            let bytes = file(&name).ok_or_else(|| {
                invalid(format!(
                    "{field}: {name:?} is not in the upload (send it as a part with that file name)"
                ))
            })?;
            if field.ends_with("component_file") {
                check_component(&field, &name, bytes).map_err(invalid)?;
            }
        }
        Ok(Upload {
            config,
            files,
            warnings,
        })
    }
}

/// Every file the definition names, with its field.
fn named_files(config: &DeploymentConfig) -> Vec<(String, String)> {
    let mut named = Vec::new();
    let mut add = |field: &str, value: &Option<String>| {
        if let Some(v) = value {
            named.push((field.to_string(), v.clone()));
        }
    };
    add("component_file", &config.component_file);
    add("script_file", &config.script_file);
    add("model_file", &config.model_file);
    add("config_file", &config.config_file);
    if let Some(t) = &config.transformer {
        add("transformer.component_file", &t.component_file);
        add("transformer.script_file", &t.script_file);
    }
    named
}

impl Upload {
    /// The files with `deployment.json`'s `artifact_version` set to `version`: the platform
    /// numbers uploaded versions, and the guest's `ARTIFACT_VERSION` says which it runs.
    pub fn numbered(&self, version: u32) -> Vec<(String, Bytes)> {
        self.files
            .iter()
            .map(|(path, bytes)| {
                if path != DEFINITION_FILE {
                    return (path.clone(), bytes.clone());
                }
                let mut fields: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(bytes).expect("the definition parsed when checked");
                fields.insert("artifact_version".into(), version.into());
                let text = serde_json::to_vec_pretty(&fields).expect("JSON serializes");
                (path.clone(), Bytes::from(text))
            })
            .collect()
    }
}

/// A component, by its header: a core module or anything else is refused, saying what it is.
fn check_component(field: &str, name: &str, bytes: &[u8]) -> Result<(), String> {
    match (bytes.get(..4), bytes.get(4..8)) {
        (Some(WASM_MAGIC), Some(layer)) if layer == COMPONENT_LAYER => Ok(()),
        (Some(WASM_MAGIC), Some([1, 0, 0, 0])) => Err(format!(
            "{field} {name:?} is a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
        )),
        (Some(b"\x7fELF"), _) => Err(format!(
            "{field} {name:?} is a native (precompiled) artifact: upload the component's .wasm, the server compiles it"
        )),
        _ => Err(format!(
            "{field} {name:?} is not a WebAssembly component (no \\0asm header)"
        )),
    }
}
