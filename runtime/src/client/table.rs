//! The client's answers as text for people: aligned tables and `key  value` blocks.

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

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn time(ms: &Value) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.as_u64().unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `predictor list`.
pub fn list(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body["deployments"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|d| {
            vec![
                text(&d["name"]),
                text(&d["state"]),
                text(&d["version"]),
                d["versions"].as_array().map_or(0, Vec::len).to_string(),
                text(&d["instances"]["predictor"]),
                text(&d["endpoints"]["v1"]),
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

/// `predictor describe` (and what `deploy`, `start`... answer).
pub fn describe(d: &Value) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<10} {v}");
    };
    field("name", text(&d["name"]));
    field("state", text(&d["state"]));
    if !d["reason"].is_null() {
        field("reason", text(&d["reason"]));
    }
    field("version", text(&d["version"]));
    field("desired", text(&d["desired"]));
    if let Some(def) = d["definition"].as_object() {
        let serves = ["component_file", "script_file", "model_file"]
            .iter()
            .find_map(|k| {
                def.get(*k)
                    .filter(|v| !v.is_null())
                    .map(|v| format!("{k} {}", text(v)))
            });
        field("serves", serves.unwrap_or_else(|| "-".into()));
    }
    field(
        "instances",
        format!(
            "predictor {}, transformer {}",
            text(&d["instances"]["predictor"]),
            text(&d["instances"]["transformer"])
        ),
    );
    field(
        "endpoints",
        format!(
            "{}  {}",
            text(&d["endpoints"]["v1"]),
            text(&d["endpoints"]["v2"])
        ),
    );
    for w in d["warnings"].as_array().map_or(&[][..], Vec::as_slice) {
        field("warning", text(w));
    }
    let rows: Vec<Vec<String>> = d["versions"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|v| {
            let files: Vec<String> = v["files"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(text)
                .collect();
            vec![
                text(&v["version"]),
                time(&v["created_ms"]),
                files.join(", "),
            ]
        })
        .collect();
    out.push('\n');
    out + &render(&["VERSION", "CREATED", "FILES"], &rows)
}

/// Log lines: time, level, source, message.
pub fn log_lines(lines: &[Value]) -> String {
    let mut out = String::new();
    for l in lines {
        let _ = writeln!(
            out,
            "{} {:<5} {:<7} {}",
            time(&l["timestamp_ms"]),
            text(&l["level"]),
            text(&l["source"]),
            text(&l["message"])
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
        let d = describe(
            &json!({"name": "iris", "state": "Running", "version": 2, "versions": [
            {"version": 1, "created_ms": 0, "files": ["deployment.json", "model.onnx"]}]}),
        );
        assert!(d.contains("state      Running"), "{d}");
        assert!(
            d.contains("1        1970-01-01T00:00:00Z  deployment.json, model.onnx"),
            "{d}"
        );
    }
}
