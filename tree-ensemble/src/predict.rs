//! Batch evaluation entry point: checks the caller's buffers, then runs blocks of rows
//! through the traversal kernels and finishes every row's scores and label.

use crate::error::TreeError;
use crate::forest::{Forest, Scratch};
use crate::{eval, finalize};

impl Forest {
    /// Evaluate `n_rows` rows of `n_cols` columns (row-major) into `scores`
    /// (`n_rows * output_width()`) and, for classifiers, `labels` (the int64 label, or the
    /// index of the string label).
    pub fn predict(
        &self,
        x: &[f32],
        n_rows: usize,
        n_cols: usize,
        scores: &mut [f32],
        labels: Option<&mut [i64]>,
        scratch: &mut Scratch,
    ) -> Result<(), TreeError> {
        let need = n_rows.checked_mul(n_cols).ok_or(TreeError::InputShape {
            got: x.len(),
            rows: n_rows,
            cols: n_cols,
            need: usize::MAX,
        })?;
        if x.len() != need {
            return Err(TreeError::InputShape {
                got: x.len(),
                rows: n_rows,
                cols: n_cols,
                need,
            });
        }
        // Leaves read column 0 (their comparison is discarded), so at least one column.
        if n_cols < self.n_features.max(1) {
            return Err(TreeError::TooFewColumns {
                max_feature: self.n_features.max(1) - 1,
                cols: n_cols,
            });
        }
        let width = self.output_width();
        let need = n_rows.saturating_mul(width);
        if scores.len() != need {
            return Err(TreeError::OutputShape {
                name: "scores",
                got: scores.len(),
                need,
            });
        }
        if let Some(l) = &labels
            && l.len() != n_rows
        {
            return Err(TreeError::OutputShape {
                name: "labels",
                got: l.len(),
                need: n_rows,
            });
        }
        let nt = self.spec.n_targets;
        // Many targets shrink the block so the accumulators stay small.
        let block = eval::BLOCK.min((1 << 16) / nt).clamp(1, n_rows.max(1));
        scratch.acc.resize(block * nt, 0.0);
        scratch
            .has
            .resize(if self.track { block * nt } else { 0 }, 0);
        scratch.tmp.resize(nt.max(2), 0.0);
        scratch.tmp_has.resize(nt.max(2), 0);
        let mut labels = labels;
        let mut row0 = 0;
        while row0 < n_rows {
            let rows = block.min(n_rows - row0);
            let acc = &mut scratch.acc[..rows * nt];
            acc.fill(0.0);
            let has = &mut scratch.has[..if self.track { rows * nt } else { 0 }];
            has.fill(0);
            eval::accumulate(
                self,
                &x[row0 * n_cols..(row0 + rows) * n_cols],
                rows,
                n_cols,
                acc,
                has,
            );
            for r in 0..rows {
                let out = &mut scores[(row0 + r) * width..(row0 + r + 1) * width];
                let acc_row = &scratch.acc[r * nt..(r + 1) * nt];
                let has_row = if self.track {
                    Some(&scratch.has[r * nt..(r + 1) * nt])
                } else {
                    None
                };
                let label = finalize::finish_row(
                    self,
                    acc_row,
                    has_row,
                    out,
                    &mut scratch.tmp,
                    &mut scratch.tmp_has,
                );
                if let Some(l) = labels.as_deref_mut() {
                    l[row0 + r] = label;
                }
            }
            row0 += rows;
        }
        Ok(())
    }
}
