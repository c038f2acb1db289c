//! An upload checked before anything of it is stored: at most [`MAX_UPLOAD_FILES`] files,
//! every path parsed ([`FilePath`]: inside the deployment, not too deep or long) and none
//! both a file and a folder, the definition parses and validates (errors name the field),
//! its name follows the deployment-name rule, the files the definition names are there, and
//! a component file is a WebAssembly component (not a core module, not a precompiled
//! artifact).

use super::ManageError;
use crate::definition::DeploymentConfig;
use crate::deployment::DEFINITION_FILE;
use crate::store::DeploymentName;
use crate::store::files::{FilePath, check_tree};
use bytes::Bytes;

/// Most files one upload may hold: each is a blob, a hard link and a record entry, and the
/// upload is checked and stored as one piece.
pub const MAX_UPLOAD_FILES: usize = 1_000;

/// A deployment's files as uploaded, checked.
pub struct Upload {
    /// The definition's name, parsed.
    pub name: DeploymentName,
    /// Relative path and contents; `deployment.json` among them.
    pub files: Vec<(FilePath, Bytes)>,
    pub warnings: Vec<String>,
}

/// The first bytes of every WebAssembly binary.
const WASM_MAGIC: &[u8] = b"\0asm";
/// The layer and version that follow the magic in a component (a core module has 1, 0, 0, 0).
const COMPONENT_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

impl Upload {
    pub fn check(files: Vec<(String, Bytes)>) -> Result<Upload, ManageError> {
        let invalid = |m: String| ManageError::Invalid(m);
        if files.len() > MAX_UPLOAD_FILES {
            return Err(invalid(format!(
                "the upload has {} files: at most {MAX_UPLOAD_FILES} are taken",
                files.len()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut parsed = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            let path = FilePath::parse(&path).map_err(invalid)?;
            if !seen.insert(path.clone()) {
                return Err(invalid(format!("{:?} is uploaded twice", path.as_str())));
            }
            parsed.push((path, bytes));
        }
        check_tree(&seen).map_err(invalid)?;
        let files = parsed;
        let definition = files
            .iter()
            .find(|(p, _)| p.as_str() == DEFINITION_FILE)
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
        let name = DeploymentName::parse(&config.name)
            .map_err(|e| invalid(format!("{DEFINITION_FILE}: name: {e}")))?;
        let file = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p.as_str() == name)
                .map(|(_, b)| b)
        };
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
            name,
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
    /// `deployment.json` with its `artifact_version` set to `version`: the platform numbers
    /// uploaded versions, and the guest's `ARTIFACT_VERSION` says which it runs.
    pub fn numbered_definition(&self, version: u32) -> Bytes {
        let (_, bytes) = self
            .files
            .iter()
            .find(|(p, _)| p.as_str() == DEFINITION_FILE)
            .expect("an upload has a definition (checked)");
        let mut fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).expect("the definition parsed when checked");
        fields.insert("artifact_version".into(), version.into());
        Bytes::from(serde_json::to_vec_pretty(&fields).expect("JSON serializes"))
    }

    /// Every file but the definition (which is stored numbered).
    pub fn artifacts(&self) -> impl Iterator<Item = &(FilePath, Bytes)> {
        self.files
            .iter()
            .filter(|(p, _)| p.as_str() != DEFINITION_FILE)
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
