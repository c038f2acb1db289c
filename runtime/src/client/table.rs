//! The client's answers as text for people: aligned tables and `key  value` blocks.

use crate::store::Desired;
use crate::views::{Deployment, DeploymentList, LogLine};
use serde_json::Value;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

/// Rows under a header, each column as wide as its widest cell.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A JSON value as a cell: strings without quotes, null as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn time(ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A stage's instances, `-` when it is not serving.
fn instances(d: &Deployment) -> (String, String) {
    match &d.instances {
        Some(i) => (
            i.predictor.to_string(),
            i.transformer.map_or_else(|| "-".into(), |n| n.to_string()),
        ),
        None => ("-".into(), "-".into()),
    }
}

/// `predictor list`.
pub fn list(body: &DeploymentList) -> String {
    let rows: Vec<Vec<String>> = body
        .deployments
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                d.state.to_string(),
                d.version.to_string(),
                d.versions.len().to_string(),
                instances(d).0,
                d.endpoints.v1.clone(),
            ]
        })
        .collect();
    render(
        &[
            "NAME",
            "STATE",
            "VERSION",
            "VERSIONS",
            "INSTANCES",
            "V1 ENDPOINT",
        ],
        &rows,
    )
}

/// `predictor describe` (and what `deploy`, `start`... answer, with an upload's warnings).
pub fn describe(d: &Deployment, warnings: &[String]) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<10} {v}");
    };
    field("name", d.name.clone());
    field("state", d.state.to_string());
    if let Some(reason) = &d.reason {
        field("reason", reason.clone());
    }
    field("version", d.version.to_string());
    let desired = match d.desired {
        Desired::Running => "Running",
        Desired::Stopped => "Stopped",
    };
    field("desired", desired.into());
    if let Some(def) = d.definition.as_ref().and_then(Value::as_object) {
        let serves = ["component_file", "script_file", "model_file"]
            .iter()
            .find_map(|k| {
                def.get(*k)
                    .filter(|v| !v.is_null())
                    .map(|v| format!("{k} {}", text(v)))
            });
        field("serves", serves.unwrap_or_else(|| "-".into()));
    }
    let (predictor, transformer) = instances(d);
    field(
        "instances",
        format!("predictor {predictor}, transformer {transformer}"),
    );
    field(
        "endpoints",
        format!("{}  {}", d.endpoints.v1, d.endpoints.v2),
    );
    for w in warnings {
        field("warning", w.clone());
    }
    let rows: Vec<Vec<String>> = d
        .versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                time(v.created_ms),
                v.files.join(", "),
            ]
        })
        .collect();
    out.push('\n');
    out + &render(&["VERSION", "CREATED", "FILES"], &rows)
}

/// Log lines: time, level, source, message.
pub fn log_lines(lines: &[LogLine]) -> String {
    let mut out = String::new();
    for l in lines {
        let _ = writeln!(
            out,
            "{} {:<5} {:<7} {}",
            time(l.timestamp_ms),
            l.level.as_str(),
            l.source.as_str(),
            l.message
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align() {
        let t = render(
            &["NAME", "STATE"],
            &[
                vec!["iris".into(), "Running".into()],
                vec!["sentiment".into(), "Idle".into()],
            ],
        );
        assert_eq!(t, "NAME       STATE\niris       Running\nsentiment  Idle\n");
    }

    /// A description as the server sends it, read as the view and shown.
    #[test]
    fn describes_what_the_server_sends() {
        let d: Deployment = serde_json::from_value(json!({
            "name": "iris", "state": "Running", "reason": null, "desired": "Running",
            "version": 2,
            "versions": [{"version": 1, "created_ms": 0,
                          "files": ["deployment.json", "model.onnx"]}],
            "definition": {"name": "iris", "model_file": "model.onnx"},
            "instances": {"predictor": "native", "transformer": null},
            "endpoints": {"v1": "/v1/models/iris:predict", "v2": "/v2/models/iris/infer"}
        }))
        .unwrap();
        let text = describe(&d, &["inference_logger is kept, not served".into()]);
        for expected in [
            "state      Running",
            "serves     model_file model.onnx",
            "instances  predictor native, transformer -",
            "warning    inference_logger is kept, not served",
            "1        1970-01-01T00:00:00Z  deployment.json, model.onnx",
        ] {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
        assert!(!text.contains("reason"), "{text}");
        let rows = list(&DeploymentList {
            deployments: vec![d],
        });
        assert!(
            rows.lines()
                .nth(1)
                .is_some_and(|r| r.starts_with("iris  Running  2        1         native")),
            "{rows}"
        );
    }
}
