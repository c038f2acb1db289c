//! Minimal UBJSON (Universal Binary JSON, big-endian, as XGBoost writes `.ubj` models)
//! reader into `serde_json::Value`, with optimized (`$` type / `#` count) containers.
//! Counts are checked against the bytes left before anything is allocated, and nesting is
//! bounded, so hostile files produce errors rather than huge allocations or stack overflow.

use serde_json::{Map, Number, Value};

use crate::error::TreeError;

const MAX_DEPTH: usize = 64;

pub(crate) fn parse(bytes: &[u8]) -> Result<Value, TreeError> {
    let mut r = Reader { b: bytes, pos: 0 };
    let v = r.value(None, 0)?;
    Ok(v)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

fn err(msg: impl Into<String>) -> TreeError {
    TreeError::Format(format!("UBJSON: {}", msg.into()))
}

fn num(v: f64) -> Value {
    Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], TreeError> {
        if self.b.len() - self.pos < n {
            return Err(err(format!("truncated at byte {}", self.pos)));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, TreeError> {
        Ok(self.take(1)?[0])
    }

    fn left(&self) -> usize {
        self.b.len() - self.pos
    }

    fn int(&mut self, marker: u8) -> Result<i64, TreeError> {
        Ok(match marker {
            b'i' => self.byte()? as i8 as i64,
            b'U' => self.byte()? as i64,
            b'I' => i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")) as i64,
            b'l' => i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as i64,
            b'L' => i64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")),
            m => {
                return Err(err(format!(
                    "expected an integer marker, found {:?}",
                    m as char
                )));
            }
        })
    }

    fn length(&mut self) -> Result<usize, TreeError> {
        let m = self.byte()?;
        let n = self.int(m)?;
        usize::try_from(n).map_err(|_| err(format!("negative length {n}")))
    }

    fn string(&mut self) -> Result<String, TreeError> {
        let n = self.length()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| err("string is not UTF-8"))
    }

    fn value(&mut self, marker: Option<u8>, depth: usize) -> Result<Value, TreeError> {
        let mut m = match marker {
            Some(m) => m,
            None => self.byte()?,
        };
        while m == b'N' && marker.is_none() {
            m = self.byte()?;
        }
        Ok(match m {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::Number(self.int(m)?.into()),
            b'd' => num(f32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as f64),
            b'D' => num(f64::from_be_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            b'C' => Value::String((self.byte()? as char).to_string()),
            b'S' => Value::String(self.string()?),
            b'H' => {
                let s = self.string()?;
                num(s
                    .parse::<f64>()
                    .map_err(|_| err(format!("bad high-precision number {s:?}")))?)
            }
            b'[' | b'{' => {
                if depth >= MAX_DEPTH {
                    return Err(err("nesting is too deep"));
                }
                self.container(m == b'{', depth + 1)?
            }
            m => {
                return Err(err(format!(
                    "unknown marker {:?} at byte {}",
                    m as char,
                    self.pos - 1
                )));
            }
        })
    }

    fn min_size(ty: Option<u8>) -> usize {
        match ty {
            Some(b'I') => 2,
            Some(b'l') | Some(b'd') => 4,
            Some(b'L') | Some(b'D') => 8,
            Some(b'Z') | Some(b'T') | Some(b'F') | Some(b'N') => 0,
            _ => 1,
        }
    }

    fn container(&mut self, object: bool, depth: usize) -> Result<Value, TreeError> {
        let mut ty = None;
        let mut count = None;
        if self.b.get(self.pos) == Some(&b'$') {
            self.pos += 1;
            ty = Some(self.byte()?);
            if self.b.get(self.pos) != Some(&b'#') {
                return Err(err("a typed container needs a count"));
            }
        }
        if self.b.get(self.pos) == Some(&b'#') {
            self.pos += 1;
            let n = self.length()?;
            // Every element (and key) takes at least one byte, except value-less types.
            let per = Self::min_size(ty) + usize::from(object);
            if per > 0 && n > self.left() / per {
                return Err(err(format!(
                    "container claims {n} elements but only {} bytes are left",
                    self.left()
                )));
            }
            if per == 0 && n > 1 << 16 {
                return Err(err(format!("container of {n} value-less elements")));
            }
            count = Some(n);
        }
        let mut arr = Vec::new();
        let mut map = Map::new();
        let mut i = 0usize;
        loop {
            match count {
                Some(n) if i == n => break,
                None => {
                    while self.b.get(self.pos) == Some(&b'N') {
                        self.pos += 1;
                    }
                    let end = if object { b'}' } else { b']' };
                    if self.b.get(self.pos) == Some(&end) {
                        self.pos += 1;
                        break;
                    }
                }
                _ => {}
            }
            if object {
                let key = self.string()?;
                let v = self.value(ty, depth)?;
                map.insert(key, v);
            } else {
                arr.push(self.value(ty, depth)?);
            }
            i += 1;
        }
        Ok(if object {
            Value::Object(map)
        } else {
            Value::Array(arr)
        })
    }
}
