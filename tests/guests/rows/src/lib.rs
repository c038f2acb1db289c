//! Test guest for batching: answers each row with itself and the size of the call it came
//! in, so a test can check that every caller got exactly its own rows back and that calls
//! were merged. A `"poison"` row (a negative number on the tensor path) fails the whole call
//! with a bad-input error; a `{"sleep": ms}` row makes the call sleep that long first.
//! `INIT_SLEEP_MS` in its environment makes `init` take that long (a slow-starting model).

use predictor_guest::{PredictError, Predictor, Tensor, Value, bad_input, export_predictor, json};

struct Rows;

impl Predictor for Rows {
    fn init() -> Result<Self, PredictError> {
        if let Some(ms) = std::env::var("INIT_SLEEP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        Ok(Rows)
    }

    fn predict(&self, instances: Value) -> Result<Value, PredictError> {
        let rows = instances
            .as_array()
            .ok_or_else(|| bad_input("instances must be a list"))?;
        if rows.iter().any(|r| r == "poison") {
            return Err(bad_input("a poison row"));
        }
        let sleep = rows.iter().filter_map(|r| r.get("sleep")?.as_u64()).max();
        if let Some(ms) = sleep {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        Ok(rows
            .iter()
            .map(|r| json!({"row": r, "call_rows": rows.len()}))
            .collect())
    }

    /// `x` (any numeric, `[n, ...]`) in; `y` = `x` as FP32 and `call_rows` (`[n]`, INT64) out.
    fn predict_tensors(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        let x = inputs
            .iter()
            .find(|t| t.name == "x")
            .ok_or_else(|| bad_input("input x is missing"))?;
        let values = x.to_f32()?;
        if values.iter().any(|v| *v < 0.0) {
            return Err(bad_input("a poison (negative) value"));
        }
        let n = x.shape.first().copied().unwrap_or(0);
        Ok(vec![
            Tensor::from_f32("y", &x.shape, &values),
            Tensor::from_slice("call_rows", &[n], &vec![n as i64; n as usize]),
        ])
    }
}

export_predictor!(Rows);
