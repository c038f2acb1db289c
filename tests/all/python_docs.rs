//! docs/python-predictor.md says exactly what a Hopsworks script may do here: the imports it
//! lists as refused are the SDK's refused set, and the environment variables it lists are
//! the ones the runtime sets. Read from the sources, so the doc cannot drift from them.

use predictor_runtime::RESERVED_ENV_VARS;
use predictor_tests::root;
use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The backticked names in `text`.
fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in the text"))
        + start.len();
    let to = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?}"));
    &text[from..from + to]
}

#[test]
fn the_python_doc_lists_the_refused_imports_the_sdk_refuses() {
    let sdk = read("guest-sdk/python/predictor_runtime/_script.py");
    let refused: BTreeSet<String> = between(&sdk, "NATIVE_PACKAGES = {", "}")
        .split(',')
        .map(|n| n.trim().trim_matches('"').to_string())
        .filter(|n| !n.is_empty())
        .collect();
    assert!(refused.contains("joblib"), "{refused:?}");
    let doc = read("docs/python-predictor.md");
    let listed = backticked(between(&doc, "**Refused imports**:", "fail the build"));
    assert_eq!(listed, refused, "docs/python-predictor.md vs _script.py");
}

#[test]
fn the_python_doc_lists_the_environment_the_runtime_sets() {
    let doc = read("docs/python-predictor.md");
    let row = between(&doc, "| `os.environ[...]` |", "\n");
    let listed: BTreeSet<String> = backticked(row)
        .into_iter()
        .filter(|n| n.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    let set: BTreeSet<String> = RESERVED_ENV_VARS.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, set, "docs/python-predictor.md vs RESERVED_ENV_VARS");
}
