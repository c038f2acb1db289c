//! Turning accumulated per-target sums into output scores and labels, following
//! onnxruntime's rules for the ONNX operators (base values, averaging, the binary
//! classifier cases, post transforms with the same float formulas) and the plain link
//! functions for native models.
//!
//! onnxruntime keeps a "has a score" flag next to each value and reads an unflagged value as
//! zero when writing; `tmp_has` mirrors that flag so the odd cases come out the same. The
//! binary-classifier corner cases were checked against onnxruntime 1.32 itself.

use crate::forest::{Aggregate, Forest, Labels, NativeTransform, PostTransform, Semantics};

pub(crate) fn logistic(v: f32) -> f32 {
    let e = 1.0 / (1.0 + (-v.abs()).exp());
    if v < 0.0 { 1.0 - e } else { e }
}

// onnxruntime's approximation (Winitzki's, a = 0.147) in f32, as its ml_common.h `ErfInv`
// writes it. Near 0.5 the formula cancels badly, so the constants must be onnxruntime's to
// the last bit: `M_PI` and `M_SQRT2` rounded to f32 (older releases spelt pi 3.14159, which
// moves PROBIT outputs by up to 1e-4).
fn erf_inv(x: f32) -> f32 {
    let sgn = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147f32 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sgn * v3.sqrt()
}

pub(crate) fn probit(v: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * v - 1.0)
}

fn softmax(v: &mut [f32]) {
    let mut max = -f32::MAX;
    for &s in v.iter() {
        if s > max {
            max = s;
        }
    }
    let mut sum = 0.0f32;
    for s in v.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in v.iter_mut() {
        *s /= sum;
    }
}

fn softmax_zero(v: &mut [f32]) {
    let mut max = -f32::MAX;
    for &s in v.iter() {
        if s > max {
            max = s;
        }
    }
    let exp_neg_max = (-max).exp();
    let mut sum = 0.0f32;
    for s in v.iter_mut() {
        if *s > 0.000_000_1 || *s < -0.000_000_1 {
            *s = (*s - max).exp();
            sum += *s;
        } else {
            *s *= exp_neg_max;
        }
    }
    for s in v.iter_mut() {
        *s /= sum;
    }
}

/// Transform of two or more scores (onnxruntime `write_scores`, size >= 2).
fn transform_many(v: &mut [f32], post: PostTransform) {
    match post {
        PostTransform::None => {}
        PostTransform::Probit => v.iter_mut().for_each(|s| *s = probit(*s)),
        PostTransform::Logistic => v.iter_mut().for_each(|s| *s = logistic(*s)),
        PostTransform::Softmax => softmax(v),
        PostTransform::SoftmaxZero => softmax_zero(v),
    }
}

/// Finish one row: `acc` holds the raw aggregate per target, `has` the flags when tracked.
/// Writes `out` and returns the label (0 for regressors).
pub(crate) fn finish_row(
    f: &Forest,
    acc: &[f32],
    has: Option<&[u8]>,
    out: &mut [f32],
    tmp: &mut [f32],
    tmp_has: &mut [u8],
) -> i64 {
    let spec = &f.spec;
    let n = spec.n_targets;
    let base = &spec.base_values;
    let flag = |t: usize| has.is_none_or(|h| h[t] != 0);
    match &spec.semantics {
        Semantics::Native(link) => {
            for t in 0..n {
                out[t] = acc[t] + base.get(t).copied().unwrap_or(0.0);
            }
            if spec.aggregate == Aggregate::Average {
                let k = f.roots.len() as f32;
                for t in 0..n {
                    out[t] = acc[t] / k + base.get(t).copied().unwrap_or(0.0);
                }
            }
            match link {
                NativeTransform::Identity => {}
                NativeTransform::Sigmoid => out.iter_mut().for_each(|s| *s = logistic(*s)),
                NativeTransform::Exp => out.iter_mut().for_each(|s| *s = s.exp()),
                NativeTransform::Softmax => softmax(out),
            }
            0
        }
        Semantics::Regressor { post } if n == 1 => {
            let origin = if base.len() == 1 { base[0] } else { 0.0 };
            let s = match spec.aggregate {
                Aggregate::Sum => acc[0] + origin,
                Aggregate::Average => acc[0] / f.roots.len() as f32 + origin,
                Aggregate::Min | Aggregate::Max => {
                    if flag(0) {
                        acc[0] + origin
                    } else {
                        origin
                    }
                }
            };
            out[0] = if *post == PostTransform::Probit {
                probit(s)
            } else {
                s
            };
            0
        }
        Semantics::Regressor { post } => {
            let use_base = base.len() == n;
            let b = |t: usize| if use_base { base[t] } else { 0.0 };
            for t in 0..n {
                out[t] = if !flag(t) {
                    0.0
                } else {
                    match spec.aggregate {
                        Aggregate::Sum => acc[t] + b(t),
                        Aggregate::Average => acc[t] / f.roots.len() as f32 + b(t),
                        Aggregate::Min | Aggregate::Max => b(t) + acc[t],
                    }
                };
            }
            transform_many(out, *post);
            0
        }
        Semantics::Classifier {
            labels,
            post,
            binary_case,
            all_positive,
        } => {
            let (s, h) = (&mut tmp[..n], &mut tmp_has[..n]);
            for t in 0..n {
                s[t] = acc[t];
                h[t] = flag(t) as u8;
            }
            if n > 2 {
                classify_many(labels, base, s, h, out, *post)
            } else {
                let rule = BinaryRule {
                    binary_case: *binary_case,
                    all_positive: *all_positive,
                };
                classify_binary(labels, base, s, h, out, *post, rule)
            }
        }
    }
}

fn label_at(labels: &Labels, i: usize) -> i64 {
    match labels {
        Labels::Int(v) => v[i],
        Labels::Str(_) => i as i64,
    }
}

fn classify_many(
    labels: &Labels,
    base: &[f32],
    s: &mut [f32],
    h: &mut [u8],
    out: &mut [f32],
    post: PostTransform,
) -> i64 {
    for (k, &b) in base.iter().enumerate() {
        if h[k] == 0 {
            h[k] = 1;
            s[k] = b;
        } else {
            s[k] += b;
        }
    }
    let mut best: Option<usize> = None;
    for k in 0..s.len() {
        if h[k] != 0 && best.is_none_or(|b| s[k] > s[b]) {
            best = Some(k);
        }
    }
    for k in 0..s.len() {
        out[k] = if h[k] != 0 { s[k] } else { 0.0 };
    }
    transform_many(out, post);
    // onnxruntime leaves this undefined when no class got a score; take the first class.
    label_at(labels, best.unwrap_or(0))
}

#[derive(Clone, Copy)]
struct BinaryRule {
    binary_case: bool,
    all_positive: bool,
}

/// Two classes, following onnxruntime's `TreeAggregatorClassifier::FinalizeScores`.
fn classify_binary(
    labels: &Labels,
    base: &[f32],
    s: &mut [f32],
    h: &mut [u8],
    out: &mut [f32],
    post: PostTransform,
    rule: BinaryRule,
) -> i64 {
    let mut write_extra: i32 = -1;
    let mut len = 2;
    match base.len() {
        2 => {
            if h[1] != 0 {
                // onnxruntime adds base[1] to the class-0 sum here (base[0] is unused).
                s[1] = base[1] + s[0];
                s[0] = -s[1];
            } else {
                s[1] += base[1];
                s[0] += base[0];
            }
        }
        1 => {
            s[0] += base[0];
            if h[1] == 0 {
                len = 1;
            }
        }
        0 => {
            write_extra = 3;
            if h[1] == 0 {
                len = 1;
            }
        }
        _ => {}
    }
    let value = |k: usize| if h[k] != 0 { s[k] } else { 0.0 };
    let pos_weight = if len == 2 && h[1] != 0 {
        s[1]
    } else {
        value(0)
    };
    let label = if rule.binary_case {
        let positive = if rule.all_positive {
            pos_weight > 0.5
        } else {
            pos_weight > 0.0
        };
        write_extra = match (rule.all_positive, positive) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        label_at(labels, positive as usize)
    } else {
        // onnxruntime returns the raw values 1 / 0 here, not the class labels.
        (pos_weight > 0.0) as i64
    };
    if len == 2 {
        out[0] = value(0);
        out[1] = value(1);
        transform_many(out, post);
        return label;
    }
    let v = value(0);
    // Observed onnxruntime 1.32 behaviour for a single score: PROBIT fills the second
    // column with 1, LOGISTIC applies to both columns, other transforms are skipped.
    if post == PostTransform::Probit {
        out[0] = probit(v);
        out[1] = 1.0;
        return label;
    }
    match write_extra {
        0 | 1 if post == PostTransform::Logistic => {
            out[0] = logistic(-v);
            out[1] = logistic(v);
        }
        0 | 1 => {
            out[0] = 1.0 - v;
            out[1] = v;
        }
        2 | 3 => {
            if post == PostTransform::Logistic {
                out[0] = logistic(-v);
                out[1] = logistic(v);
            } else {
                out[0] = -v;
                out[1] = v;
            }
        }
        _ => {
            out[0] = v;
            out[1] = 0.0;
        }
    }
    label
}
