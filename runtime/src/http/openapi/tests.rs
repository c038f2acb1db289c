//! Checks the generated document against the router it describes, so the two cannot
//! drift: every management route (read from the router's source, as axum cannot list its
//! routes) is documented with exactly its methods and vice versa; every operation needs
//! the manage key and declares its error answers as the error body; every `$ref` resolves;
//! every view type has its schema; every `{name}` states the name rule, and the names that
//! rule's pattern admits are names the store accepts; `deployment.json`'s schema has the
//! definition's fields. Schemathesis (`tests/clients/test_schemathesis.py`) then holds the
//! running server to the document.

use crate::definition::DeploymentConfig;
use crate::store::names::DeploymentName;
use crate::views;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeSet;
use utoipa::{PartialSchema, ToSchema};

const ROUTER_SOURCE: &str = include_str!("../mod.rs");
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The document as served.
fn document() -> Value {
    serde_json::from_slice(&super::json()).expect("the served document is JSON")
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

/// Every `$ref` anywhere under `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
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
        "the document and the /api routes of http/mod.rs disagree"
    );
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "too few references: {found:?}");
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[test]
fn every_view_type_has_its_schema() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let expected = [
        (views::Deployment::name(), views::Deployment::schema()),
        (
            views::DeploymentList::name(),
            views::DeploymentList::schema(),
        ),
        (views::Version::name(), views::Version::schema()),
        (views::Instances::name(), views::Instances::schema()),
        (
            views::PredictorInstances::name(),
            views::PredictorInstances::schema(),
        ),
        (views::NativeGraph::name(), views::NativeGraph::schema()),
        (views::Endpoints::name(), views::Endpoints::schema()),
        (views::Uploaded::name(), views::Uploaded::schema()),
        (views::Deleted::name(), views::Deleted::schema()),
        (views::LogPage::name(), views::LogPage::schema()),
        (views::LogLine::name(), views::LogLine::schema()),
        (views::LogSource::name(), views::LogSource::schema()),
        (views::LogLevel::name(), views::LogLevel::schema()),
        (views::ErrorBody::name(), views::ErrorBody::schema()),
        (
            crate::lifecycle::LifecycleState::name(),
            crate::lifecycle::LifecycleState::schema(),
        ),
        (crate::role::Role::name(), crate::role::Role::schema()),
        (
            crate::store::Desired::name(),
            crate::store::Desired::schema(),
        ),
    ];
    for (name, schema) in expected {
        assert_eq!(
            schemas[name.as_ref()],
            serde_json::to_value(schema).unwrap(),
            "the schema of {name}"
        );
    }
    // The states a deployment reports are the ones its schema lists.
    let states = &resolve(&doc, &schemas["Deployment"]["properties"]["state"])["enum"];
    assert_eq!(states.as_array().map(Vec::len), Some(8), "{states}");
}

#[test]
fn every_operation_needs_the_key_and_declares_its_errors() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"][super::SECURITY_SCHEME];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "Authorization");
    let global = serde_json::json!([{super::SECURITY_SCHEME: []}]);
    assert_eq!(doc["security"], global);
    let error_name = views::ErrorBody::name();
    let error = &doc["components"]["schemas"][error_name.as_ref()];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    assert_eq!(error["properties"]["error"]["type"], "string");
    // The kind is the ErrorKind enum: its stable snake_case names are in the document.
    let kind = error["properties"]["kind"].to_string();
    assert!(kind.contains("#/components/schemas/ErrorKind"), "{kind}");
    let kinds = &doc["components"]["schemas"]["ErrorKind"]["enum"];
    for name in [
        "bad_request",
        "not_found",
        "memory_limit",
        "guest_trapped",
        "overloaded",
    ] {
        assert!(
            kinds
                .as_array()
                .is_some_and(|k| k.iter().any(|v| v == name)),
            "{name} not among {kinds}"
        );
    }
    let error_ref = format!("#/components/schemas/{error_name}");
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
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what} has no success answer"
        );
        for (status, response) in responses {
            if status.starts_with(['4', '5']) {
                let schema = &resolve(&doc, response)["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], error_ref,
                    "{what} {status} is not answered as {{\"error\"}}"
                );
            }
        }
    }
}

/// The name rule's pattern, from the `{name}` of `GET /api/deployments/{name}`.
fn name_pattern(doc: &Value) -> String {
    doc["paths"]["/api/deployments/{name}"]["get"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "name")
        .and_then(|p| p["schema"]["pattern"].as_str())
        .expect("the name parameter has a pattern")
        .to_string()
}

#[test]
fn every_name_in_a_path_states_the_name_rule() {
    let doc = document();
    let pattern = name_pattern(&doc);
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
                assert_eq!(p["schema"]["pattern"], pattern, "{method} {path}");
                assert_eq!(p["schema"]["maxLength"], 63, "{method} {path}");
            }
        }
    }
    // `deployment.json`'s `name` follows the same rule.
    let definition = &doc["components"]["schemas"]["Definition"];
    assert_eq!(definition["properties"]["name"]["pattern"], pattern);
}

/// The fields `DeploymentConfig` reads, as serde lists them when refusing an unknown one.
fn definition_fields() -> BTreeSet<String> {
    let refused = DeploymentConfig::parse(r#"{"name": "a", "no_such_field": 1}"#)
        .expect_err("an unknown field is refused")
        .0;
    let expected = refused
        .split_once("expected one of")
        .unwrap_or_else(|| panic!("serde no longer lists the fields: {refused}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_definition_schema_has_the_definitions_fields() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["Definition"];
    let properties = schema["properties"].as_object().expect("properties");
    let documented: BTreeSet<String> = properties.keys().cloned().collect();
    let fields = definition_fields();
    assert!(fields.contains("model_file"), "{fields:?}");
    assert_eq!(
        documented, fields,
        "the Definition schema and DeploymentConfig"
    );
    // Each value an enumerated field documents is one the definition reads.
    for (field, property) in properties {
        for value in property["enum"].as_array().into_iter().flatten() {
            let text = serde_json::json!({"name": "a", field: value}).to_string();
            assert!(
                DeploymentConfig::parse(&text).is_ok(),
                "{field} = {value} is documented but refused"
            );
        }
    }
}

proptest! {
    /// What the document tells clients a name may be, the server takes as a name.
    #[test]
    fn names_the_pattern_admits_are_names(name in {
        let pattern = name_pattern(&document());
        // Anchors are implied: generators produce whole strings.
        let inner = pattern.trim_start_matches('^').trim_end_matches('$').to_string();
        proptest::string::string_regex(&inner).expect("the pattern parses")
    }) {
        prop_assert!(DeploymentName::parse(&name).is_ok(), "{:?}", name);
    }
}
