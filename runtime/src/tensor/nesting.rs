//! How deeply a JSON body nests, checked before anything reads it recursively.
//!
//! serde_json stops at 128 levels when it builds values, but a V1 body bound for a component
//! is kept as raw text (`RawValue`, skipped without a limit) and handed to the guest, whose
//! JSON reader may recurse until it fails (Python raises `RecursionError` past ~1,000); a
//! transformer gets the body as sent. One pass over the bytes, aware of strings, refuses
//! such bodies first (the protocols answer 400). A leaf, so both `protocol` and `inference`
//! may call it.

use super::TensorError;

/// The deepest nesting of arrays and objects a request body may have. Tensors have at most
/// [`super::MAX_RANK`] dimensions, and V1/V2 wrap them in a few levels more.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Refuses `body` when its first JSON value nests arrays and objects deeper than
/// [`MAX_NESTING_DEPTH`]. Bytes after that value (V2's binary tensors) are not looked at;
/// malformed JSON is left for the parser to word.
pub fn check_depth(body: &[u8]) -> Result<(), TensorError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    return Err(TensorError::new(format!(
                        "the request nests arrays and objects more than {MAX_NESTING_DEPTH} levels deep"
                    )));
                }
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!(
            r#"{{"instances": {}1{}}}"#,
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    }

    #[test]
    fn refuses_bodies_deeper_than_the_limit() {
        assert!(check_depth(nested(MAX_NESTING_DEPTH).as_bytes()).is_ok());
        let err = check_depth(nested(MAX_NESTING_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(err.0.contains("64 levels"), "{err}");
        assert!(check_depth(nested(10_000).as_bytes()).is_err());
        let objects = format!("{}{}", r#"{"a":"#.repeat(100), "}".repeat(100));
        assert!(check_depth(objects.as_bytes()).is_err());
    }

    #[test]
    fn brackets_in_strings_and_after_the_value_do_not_count() {
        let deep = "[".repeat(1000);
        let in_string = format!(r#"{{"instances": ["{deep}", "a\"{deep}\\"]}}"#);
        assert!(check_depth(in_string.as_bytes()).is_ok());
        // V2 binary tensors follow the JSON part and may hold any byte.
        let mut binary = br#"{"inputs": []}"#.to_vec();
        binary.extend_from_slice(deep.as_bytes());
        assert!(check_depth(&binary).is_ok());
    }
}
