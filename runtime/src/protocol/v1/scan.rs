//! The common V1 body of a graph, `{"instances": [[0.1, 0.2, ...], ...]}` (or `"inputs"`),
//! read by hand: a loop over the bytes that checks JSON's grammar for arrays and numbers,
//! with the numbers converted by `fast-float2` (correctly rounded). Going through serde
//! costs a visitor call and a lookahead per number, which on wide rows is most of
//! the decoding. Anything else (other keys, escapes, strings, a body shaped otherwise) gives
//! `None` and the serde reader in `body` takes over, so this path only ever answers for
//! bodies it reads completely; it never words errors.

use crate::tensor::stream::State;
use crate::tensor::{Datatype, Tensor};

/// Deeper nesting is left to the general reader (and its recursion limit).
const MAX_DEPTH: usize = 32;

/// The tensor of a body that is exactly `{"instances": ARRAY}` or `{"inputs": ARRAY}`
/// (whitespace aside) with nested arrays of numbers, and whether it came as `inputs`.
pub fn v1_floats(name: &str, datatype: Datatype, body: &[u8]) -> Option<(Tensor, bool)> {
    let mut state = State::new(datatype, body.len())?;
    let mut s = Scanner { b: body, i: 0 };
    s.expect(b'{')?;
    let columnar = if s.literal(b"\"instances\"") {
        false
    } else if s.literal(b"\"inputs\"") {
        true
    } else {
        return None;
    };
    s.expect(b':')?;
    s.expect(b'[')?;
    s.array(&mut state, 0)?;
    s.expect(b'}')?;
    s.skip_ws();
    if s.i != body.len() {
        return None;
    }
    Some((state.finish(name, datatype)?, columnar))
}

struct Scanner<'b> {
    b: &'b [u8],
    i: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next non-space byte, consumed if it is `byte`.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.b.get(self.i) == Some(&byte)).then(|| self.i += 1)
    }

    fn literal(&mut self, text: &[u8]) -> bool {
        self.skip_ws();
        let found = self.b[self.i..].starts_with(text);
        if found {
            self.i += text.len();
        }
        found
    }

    /// The rest of an array at `depth` whose `[` was read.
    fn array(&mut self, state: &mut State, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH || !state.may_open(depth) {
            return None;
        }
        let mut len = 0;
        loop {
            self.skip_ws();
            match self.b.get(self.i)? {
                b'[' => {
                    self.i += 1;
                    self.array(state, depth + 1)?;
                }
                _ => {
                    let v = self.number()?;
                    state.number(depth + 1, v).then_some(())?;
                }
            }
            len += 1;
            self.skip_ws();
            match self.b.get(self.i)? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return state.close(depth, len).then_some(());
                }
                _ => return None,
            }
        }
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<f64> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        let v: f64 = fast_float2::parse(&self.b[start..self.i]).ok()?;
        // Overflowing exponents parse to infinity; JSON has no infinity, serde refuses them.
        v.is_finite().then_some(v)
    }

    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::body::decode_v1_floats_serde;
    use super::*;
    use proptest::prelude::*;

    /// What serde's reader makes of `body` (this path must agree wherever it answers).
    fn serde_reader(body: &str, datatype: Datatype) -> Option<(Tensor, bool)> {
        decode_v1_floats_serde("x", datatype, body.as_bytes())
    }

    #[test]
    fn reads_the_common_bodies_and_leaves_the_rest() {
        for body in [
            r#"{"instances": [[1, 2.5], [3, -4e-2]]}"#,
            "\n{ \"inputs\" :[ [0.1,0.2 ] ,[0.3 , 0.4] ] }\t",
            r#"{"instances": [1, 2, 3]}"#,
            r#"{"instances": [[[1], [2]], [[3], [4]]]}"#,
            r#"{"instances": [[0, -0, 1E3, 1e+3, 123456789012345678901234567890]]}"#,
        ] {
            for datatype in [Datatype::Fp32, Datatype::Fp64] {
                let got = v1_floats("x", datatype, body.as_bytes());
                assert!(got.is_some(), "{body}");
                assert_eq!(got, serde_reader(body, datatype), "{body}");
            }
        }
        for body in [
            r#"{"instances": [[1, 2], [3]]}"#,
            r#"{"instances": [[1, 2], 3]}"#,
            r#"{"instances": []}"#,
            r#"{"instances": [[]]}"#,
            r#"{"instances": [01]}"#,
            r#"{"instances": [1.]}"#,
            r#"{"instances": [.5]}"#,
            r#"{"instances": [+1]}"#,
            r#"{"instances": [1e]}"#,
            r#"{"instances": [NaN]}"#,
            r#"{"instances": [1e999]}"#,
            r#"{"instances": ["1"]}"#,
            r#"{"instances": [1,]}"#,
            r#"{"instances": [1] "#,
            r#"{"instances": [1]} x"#,
            r#"{"signature_name": "a", "instances": [1]}"#,
            r#"{"instances": [1], "inputs": [1]}"#,
            r#"{"instance\u0073": [1]}"#,
        ] {
            assert_eq!(
                v1_floats("x", Datatype::Fp32, body.as_bytes()),
                None,
                "{body}"
            );
        }
        assert_eq!(
            v1_floats("x", Datatype::Int64, b"{\"instances\": [1]}"),
            None
        );
        let deep = format!("{{\"instances\": {}1{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(v1_floats("x", Datatype::Fp32, deep.as_bytes()), None);
    }

    proptest! {
        /// Rows of random numbers, written as Rust prints them (shortest round-trip form, or
        /// exponent form): each reads back as exactly the number printed (as f32: rounded
        /// once from it), whitespace or not.
        #[test]
        fn reads_numbers_exactly_as_printed(
            values in prop::collection::vec(prop::collection::vec(any::<f64>().prop_filter("finite", |v| v.is_finite()), 3), 1..4),
            exponent_form in any::<bool>(),
            spaces in any::<bool>(),
        ) {
            let ws = if spaces { " \n" } else { "" };
            let rows: Vec<String> = values
                .iter()
                .map(|r| {
                    let numbers: Vec<String> = r
                        .iter()
                        .map(|v| if exponent_form { format!("{v:e}") } else { format!("{v}") })
                        .collect();
                    format!("[{ws}{}{ws}]", numbers.join(&format!(",{ws}")))
                })
                .collect();
            let body = format!("{{{ws}\"instances\"{ws}:{ws}[{}]{ws}}}", rows.join(","));
            let (t, columnar) = v1_floats("x", Datatype::Fp64, body.as_bytes()).expect("read");
            prop_assert!(!columnar);
            prop_assert_eq!(&t.shape, &vec![values.len(), 3]);
            let want: Vec<u8> = values.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
            prop_assert_eq!(&t.data[..], &want[..], "{}", body);
            let (t, _) = v1_floats("x", Datatype::Fp32, body.as_bytes()).expect("read");
            let want: Vec<u8> = values.iter().flatten().flat_map(|v| (*v as f32).to_le_bytes()).collect();
            prop_assert_eq!(&t.data[..], &want[..], "{}", body);
        }
    }
}
