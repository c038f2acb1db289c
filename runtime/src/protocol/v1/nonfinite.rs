//! TensorFlow Serving's REST API accepts the bare tokens `NaN`, `Infinity` and `-Infinity`
//! where JSON has a number (Python's `json.dumps` writes them for float NaN and infinities).
//! JSON has no such literals, so before a body is parsed for a graph's tensors they are
//! quoted (`"NaN"`, which the tensor reader takes as the float). Strings are skipped whole,
//! escapes included, so a `NaN` inside a string is left alone.

/// The body with its bare non-finite tokens quoted, or `None` when it has none (the common
/// case: no copy).
pub fn quote_non_finite(body: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => i = skip_string(body, i),
            b'N' | b'I' | b'-' => {
                let token = [&b"NaN"[..], b"Infinity", b"-Infinity"]
                    .into_iter()
                    .find(|t| body[i..].starts_with(t) && !continues_word(body, i + t.len()));
                match token {
                    Some(t) => {
                        let out = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 16));
                        out.extend_from_slice(&body[copied..i]);
                        out.push(b'"');
                        out.extend_from_slice(t);
                        out.push(b'"');
                        i += t.len();
                        copied = i;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out.map(|mut out| {
        out.extend_from_slice(&body[copied..]);
        out
    })
}

/// The index just past the string that opens at `start` (or the end of a body cut short:
/// the parser reports that).
fn skip_string(body: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    body.len()
}

/// Whether a token ending at `end` is only the start of a longer word (`NaNx`).
fn continues_word(body: &[u8], end: usize) -> bool {
    body.get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(body: &str) -> Option<String> {
        quote_non_finite(body.as_bytes()).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn bare_tokens_are_quoted_and_strings_left_alone() {
        assert_eq!(quoted(r#"{"instances": [[1, 2]]}"#), None);
        assert_eq!(
            quoted(r#"{"instances": [[NaN, Infinity, -Infinity, -1]]}"#).unwrap(),
            r#"{"instances": [["NaN", "Infinity", "-Infinity", -1]]}"#
        );
        assert_eq!(quoted(r#"{"a": "NaN \" NaN", "b": ["x\\"]}"#), None);
        assert_eq!(quoted(r#"[NaNa, Infinityx]"#), None);
        assert_eq!(quoted(r#"{"x": "unterminated NaN"#), None);
        assert_eq!(quoted("NaN").unwrap(), r#""NaN""#);
    }

    #[test]
    fn any_bytes_are_scanned_without_panicking() {
        let mut seed = 0x2545_f491_u64;
        for len in 0..300 {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let alphabet = b"NaInfty-\"\\{}[], 0";
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            if let Some(out) = quote_non_finite(&body) {
                assert!(out.len() > body.len());
            }
        }
    }
}
