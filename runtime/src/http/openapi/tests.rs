//! Checks `openapi.json` against the router it describes, so the document cannot drift from
//! the code: every management route (read from this folder's `mod.rs`, as axum cannot list
//! its routes) is documented with exactly its methods; every operation needs the manage key
//! and declares its error answers as `{"error"}`; every `{name}` states the name rule, and
//! the names that rule's pattern admits are names the store accepts. Schemathesis
//! (`tests/clients/test_schemathesis.py`) then holds the running server to the document.

use crate::store::names::DeploymentName;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeSet;

const DOCUMENT: &str = include_str!("openapi.json");
const ROUTER_SOURCE: &str = include_str!("mod.rs");
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
}

/// `(path, method)` of every `.route("/api…", get(…).post(…))` in the router's source.
fn routed_api_operations() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for call in ROUTER_SOURCE.split(".route(").skip(1) {
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(call.len(), |(i, _)| i);
        let call = &call[..end];
        let Some(path) = call.split('"').nth(1) else {
            continue;
        };
        if !path.starts_with("/api") {
            continue;
        }
        // The method routers: identifiers called in the handler part (`get(…).delete(…)`).
        let handlers = &call[call.find(',').unwrap_or(call.len())..];
        for (i, _) in handlers.match_indices('(') {
            let ident = handlers[..i]
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if METHODS.contains(&ident) {
                found.insert((path.to_string(), ident.to_string()));
            }
        }
    }
    found
}

/// `(path, method, operation)` of every operation in the document.
fn documented_operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((path.clone(), method.to_string(), op));
            }
        }
    }
    ops
}

/// Follows a local `$ref` (`#/components/...`) once; anything else is returned as is.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => doc
            .pointer(pointer.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{pointer} is not in the document")),
        None => value,
    }
}

#[test]
fn every_management_route_is_documented_with_its_methods() {
    let routed = routed_api_operations();
    // Read wrong, the source would give nothing and the comparison below would prove nothing.
    assert!(
        routed.contains(&("/api/deployments".into(), "post".into())),
        "the router's source no longer reads as expected: {routed:?}"
    );
    let doc = document();
    let documented: BTreeSet<(String, String)> = documented_operations(&doc)
        .into_iter()
        .map(|(path, method, _)| (path, method))
        .collect();
    assert_eq!(
        documented, routed,
        "openapi.json and the /api routes of http/mod.rs disagree"
    );
}

#[test]
fn every_operation_needs_the_key_and_declares_its_errors() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"]["ApiKey"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "Authorization");
    let global = serde_json::json!([{"ApiKey": []}]);
    assert_eq!(doc["security"], global);
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    assert_eq!(error["properties"]["error"]["type"], "string");
    for (path, method, op) in documented_operations(&doc) {
        let what = format!("{} {path}", method.to_uppercase());
        // Every route under /api needs the manage scope: none may opt out.
        if let Some(security) = op.get("security") {
            assert_eq!(security, &global, "{what} overrides the security");
        }
        let responses = op["responses"].as_object().expect("responses");
        // A `default` answer would make every status conform: each is listed instead.
        assert!(!responses.contains_key("default"), "{what} has `default`");
        for status in ["401", "403", "500"] {
            assert!(responses.contains_key(status), "{what} lacks {status}");
        }
        for (status, response) in responses {
            if status.starts_with(['4', '5']) {
                let schema = &resolve(&doc, response)["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Error",
                    "{what} {status} is not answered as {{\"error\"}}"
                );
            }
        }
    }
}

/// The name rule's pattern, from the shared path parameter.
fn name_pattern(doc: &Value) -> &str {
    doc["components"]["parameters"]["Name"]["schema"]["pattern"]
        .as_str()
        .expect("the Name parameter has a pattern")
}

#[test]
fn every_name_in_a_path_states_the_name_rule() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let templated: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect();
        for (_, method, op) in documented_operations(&doc)
            .into_iter()
            .filter(|(p, ..)| p == path)
        {
            let params: Vec<&Value> = item["parameters"]
                .as_array()
                .into_iter()
                .chain(op["parameters"].as_array())
                .flatten()
                .map(|p| resolve(&doc, p))
                .filter(|p| p["in"] == "path")
                .collect();
            let declared: BTreeSet<&str> =
                params.iter().filter_map(|p| p["name"].as_str()).collect();
            assert_eq!(declared, templated, "{method} {path}: path parameters");
            for p in params.iter().filter(|p| p["name"] == "name") {
                assert_eq!(
                    p["schema"]["pattern"],
                    name_pattern(&doc),
                    "{method} {path}"
                );
                assert_eq!(p["schema"]["maxLength"], 63, "{method} {path}");
            }
        }
    }
}

proptest! {
    /// What the document tells clients a name may be, the server takes as a name.
    #[test]
    fn names_the_pattern_admits_are_names(name in {
        let doc = document();
        let pattern = name_pattern(&doc);
        // Anchors are implied: generators produce whole strings.
        let inner = pattern.trim_start_matches('^').trim_end_matches('$').to_string();
        proptest::string::string_regex(&inner).expect("the pattern parses")
    }) {
        prop_assert!(DeploymentName::parse(&name).is_ok(), "{:?}", name);
    }
}
