//! What kind of model a native model file is, told by its first bytes (a file's name is a
//! user's choice: KServe's LightGBM server reads a text model named `model.bst`, XGBoost
//! writes UBJSON under any name but `.json`).
//!
//! - ONNX: a protobuf message; its first byte is a field tag, never `{` or `t`.
//! - XGBoost `save_model` JSON: `{` then `"`; UBJSON: `{` then a length marker.
//! - LightGBM `save_model` text: starts with the line `tree`.
//! - XGBoost's deprecated binary format (before 1.0, `.bst`/`.model`): refused with how to
//!   save it again.

/// A native model file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    Onnx,
    XgboostJson,
    XgboostUbjson,
    LightgbmText,
}

/// The format of the model file `name` holding `bytes`.
pub fn detect(name: &str, bytes: &[u8]) -> Result<ModelFormat, String> {
    let text = bytes.trim_ascii_start();
    if let Some(rest) = text.strip_prefix(b"{") {
        return match rest.trim_ascii_start().first() {
            Some(b'"' | b'}') => Ok(ModelFormat::XgboostJson),
            // UBJSON: a key's length marker (int8, uint8, int16, int32, int64) or an
            // optimized container's count or type.
            _ if matches!(
                rest.first(),
                Some(b'i' | b'U' | b'I' | b'l' | b'L' | b'#' | b'$')
            ) =>
            {
                Ok(ModelFormat::XgboostUbjson)
            }
            _ => Err(format!(
                "{name} starts like JSON but is neither an XGBoost JSON nor UBJSON model"
            )),
        };
    }
    if text.starts_with(b"tree\n") || text.starts_with(b"tree\r\n") {
        return Ok(ModelFormat::LightgbmText);
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("bst" | "model" | "deprecated") => Err(format!(
            "{name} is not an XGBoost JSON/UBJSON or LightGBM text model; XGBoost's deprecated binary format is not read: load it with XGBoost and save it again with booster.save_model(\"model.json\")"
        )),
        Some("json" | "ubj") => Err(format!(
            "{name} is not an XGBoost model (saved by booster.save_model, JSON or UBJSON)"
        )),
        Some("txt") => Err(format!(
            "{name} is not a LightGBM text model (saved by booster.save_model; it starts with the line \"tree\")"
        )),
        _ => Ok(ModelFormat::Onnx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_content() {
        assert_eq!(
            detect("m.bst", b"tree\nversion=v4\n"),
            Ok(ModelFormat::LightgbmText)
        );
        assert_eq!(
            detect("m", b" {\"learner\": {}}"),
            Ok(ModelFormat::XgboostJson)
        );
        assert_eq!(
            detect("model.bst", b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner"),
            Ok(ModelFormat::XgboostUbjson)
        );
        assert_eq!(
            detect("model.bst", b"{i\x07learner"),
            Ok(ModelFormat::XgboostUbjson)
        );
        assert_eq!(
            detect("model.onnx", b"\x08\x07\x12\x07skl2onnx"),
            Ok(ModelFormat::Onnx)
        );
        assert!(
            detect("model.bst", b"binf\x00\x00")
                .unwrap_err()
                .contains("save_model")
        );
        assert!(
            detect("model.json", b"[1, 2]")
                .unwrap_err()
                .contains("XGBoost")
        );
        assert!(
            detect("model.txt", b"hello")
                .unwrap_err()
                .contains("LightGBM")
        );
        assert!(detect("x", b"{?").is_err());
    }
}
