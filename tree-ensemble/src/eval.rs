//! Traversal kernels: walk several independent (tree, row) lanes in lock-step so the CPU
//! overlaps their dependent loads, then add the reached leaves into per-row accumulators.
//!
//! With many rows, lanes are rows of one tree (its nodes stay hot in cache); with few rows,
//! lanes are trees for one row. Comparison mode and missing-value handling are const
//! generics so the common uniform-mode forests get a branch-free inner loop.

use crate::forest::{Aggregate, Forest, Mode, Node};

/// Rows evaluated together before their scores are finished.
pub(crate) const BLOCK: usize = 64;
const LANES: usize = 8;
const MIXED: u8 = 6;

#[inline(always)]
fn go_true<const M: u8, const MISS: bool>(n: &Node, x: f32) -> bool {
    let t = n.value;
    let c = match M {
        0 => x <= t,
        1 => x < t,
        2 => x >= t,
        3 => x > t,
        4 => x == t,
        5 => x != t,
        _ => match n.mode_bits() {
            0 => x <= t,
            1 => x < t,
            2 => x >= t,
            3 => x > t,
            4 => x == t,
            _ => x != t,
        },
    };
    if MISS {
        c | (x.is_nan() & n.missing_true())
    } else {
        c
    }
}

/// Advance every lane until all sit on a leaf (leaves point at themselves).
#[inline(always)]
fn walk<const K: usize, const M: u8, const MISS: bool>(
    nodes: &[Node],
    idx: &mut [u32; K],
    rows: &[&[f32]; K],
) {
    loop {
        let mut moved = false;
        for k in 0..K {
            let i = idx[k];
            let n = &nodes[i as usize];
            let x = rows[k][n.feature()];
            let next = n.next[go_true::<M, MISS>(n, x) as usize];
            moved |= next != i;
            idx[k] = next;
        }
        if !moved {
            break;
        }
    }
}

#[inline(always)]
fn walk1<const M: u8, const MISS: bool>(nodes: &[Node], mut i: u32, row: &[f32]) -> u32 {
    loop {
        let n = &nodes[i as usize];
        let next = n.next[go_true::<M, MISS>(n, row[n.feature()]) as usize];
        if next == i {
            return i;
        }
        i = next;
    }
}

/// Add the weights of leaf node `node` into one row's accumulator.
#[inline(always)]
fn add_leaf(f: &Forest, node: u32, acc: &mut [f32], has: &mut [u8], track: bool) {
    let leaf = f.nodes[node as usize].leaf_index();
    if f.single_weight && !track {
        acc[f.leaf_target[leaf] as usize] += f.leaf_weight[leaf];
        return;
    }
    let (s, e) = (f.leaf_start[leaf] as usize, f.leaf_start[leaf + 1] as usize);
    for k in s..e {
        let t = f.leaf_target[k] as usize;
        let w = f.leaf_weight[k];
        match f.spec.aggregate {
            Aggregate::Sum | Aggregate::Average => acc[t] += w,
            Aggregate::Min => {
                if has[t] == 0 || w < acc[t] {
                    acc[t] = w;
                }
            }
            Aggregate::Max => {
                if has[t] == 0 || w > acc[t] {
                    acc[t] = w;
                }
            }
        }
        if track {
            has[t] = 1;
        }
    }
}

/// Accumulate the leaves of all trees for the rows of `x` (row-major, `n_cols` wide) into
/// `acc` (`rows * n_targets`), setting `has` flags when the forest tracks them.
pub(crate) fn accumulate(
    f: &Forest,
    x: &[f32],
    n_rows: usize,
    n_cols: usize,
    acc: &mut [f32],
    has: &mut [u8],
) {
    macro_rules! go {
        ($m:expr) => {
            if f.has_missing {
                run::<{ $m }, true>(f, x, n_rows, n_cols, acc, has)
            } else {
                run::<{ $m }, false>(f, x, n_rows, n_cols, acc, has)
            }
        };
    }
    match f.uniform_mode {
        Some(Mode::Leq) => go!(0),
        Some(Mode::Lt) => go!(1),
        Some(Mode::Gte) => go!(2),
        Some(Mode::Gt) => go!(3),
        Some(Mode::Eq) => go!(4),
        Some(Mode::Neq) => go!(5),
        None => go!(MIXED),
    }
}

fn run<const M: u8, const MISS: bool>(
    f: &Forest,
    x: &[f32],
    n_rows: usize,
    n_cols: usize,
    acc: &mut [f32],
    has: &mut [u8],
) {
    let nt = f.spec.n_targets;
    let track = f.track;
    let nodes = &f.nodes[..];
    let row = |r: usize| &x[r * n_cols..(r + 1) * n_cols];
    let empty: &mut [u8] = &mut [];
    if n_rows >= LANES {
        for &root in &f.roots {
            let mut r = 0;
            while r + LANES <= n_rows {
                let mut idx = [root; LANES];
                let rows: [&[f32]; LANES] = std::array::from_fn(|k| row(r + k));
                walk::<LANES, M, MISS>(nodes, &mut idx, &rows);
                for (k, &leaf) in idx.iter().enumerate() {
                    let a = &mut acc[(r + k) * nt..(r + k + 1) * nt];
                    let h = if track {
                        &mut has[(r + k) * nt..(r + k + 1) * nt]
                    } else {
                        &mut *empty
                    };
                    add_leaf(f, leaf, a, h, track);
                }
                r += LANES;
            }
            for r in r..n_rows {
                let leaf = walk1::<M, MISS>(nodes, root, row(r));
                let h = if track {
                    &mut has[r * nt..(r + 1) * nt]
                } else {
                    &mut *empty
                };
                add_leaf(f, leaf, &mut acc[r * nt..(r + 1) * nt], h, track);
            }
        }
    } else {
        for r in 0..n_rows {
            let xr = row(r);
            let a = &mut acc[r * nt..(r + 1) * nt];
            let h = if track {
                &mut has[r * nt..(r + 1) * nt]
            } else {
                &mut *empty
            };
            let mut chunks = f.roots.chunks_exact(LANES);
            for chunk in &mut chunks {
                let mut idx: [u32; LANES] = std::array::from_fn(|k| chunk[k]);
                walk::<LANES, M, MISS>(nodes, &mut idx, &[xr; LANES]);
                for &leaf in &idx {
                    add_leaf(f, leaf, a, h, track);
                }
            }
            for &root in chunks.remainder() {
                let leaf = walk1::<M, MISS>(nodes, root, xr);
                add_leaf(f, leaf, a, h, track);
            }
        }
    }
}
