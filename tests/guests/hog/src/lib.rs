//! Test guest that takes more than it should, on request (`instances[0]`): `"spin"` loops
//! forever, `"alloc"` allocates without bound, `"recurse"` recurses without bound,
//! `["output", n]` answers a string of `n` MiB, `["sleep", ms]` sleeps (a slow request
//! that holds its instance without burning a core); anything else answers the calls this
//! instance served.

use predictor_guest::{PredictError, Predictor, Value, export_predictor, json};
use std::cell::{Cell, RefCell};

struct Hog {
    calls: Cell<u64>,
    hoard: RefCell<Vec<Vec<u8>>>,
}

// Unbounded on purpose: the test wants the stack exhausted.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    // black_box keeps the frame (and the recursion) from being optimised away.
    std::hint::black_box(depth) + recurse(depth + 1)
}

impl Predictor for Hog {
    fn init() -> Result<Self, PredictError> {
        Ok(Hog {
            calls: Cell::new(0),
            hoard: RefCell::new(Vec::new()),
        })
    }

    fn predict(&self, instances: Value) -> Result<Value, PredictError> {
        self.calls.set(self.calls.get() + 1);
        match instances.get(0).and_then(Value::as_str) {
            Some("spin") => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            Some("alloc") => loop {
                self.hoard.borrow_mut().push(vec![1u8; 1 << 20]);
            },
            Some("recurse") => Ok(json!(recurse(0))),
            Some("output") => {
                let mib = instances.get(1).and_then(Value::as_u64).unwrap_or(1) as usize;
                Ok(json!("x".repeat(mib << 20)))
            }
            Some("sleep") => {
                let ms = instances.get(1).and_then(Value::as_u64).unwrap_or(100);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(json!({"calls": self.calls.get()}))
            }
            _ => Ok(json!({"calls": self.calls.get()})),
        }
    }
}

export_predictor!(Hog);
