//! Isolation forest (Liu, Ting & Zhou 2008) with scikit-learn's semantics, written here.
//!
//! Why hand-written: the crates that exist do not fit. `extended-isolation-forest` cannot be
//! seeded, builds single-threaded and fixes the feature count at compile time (a const generic), so
//! neither a job file nor `lakesight score --input` could choose the columns; linfa has no
//! isolation forest. The algorithm is small, and matching scikit-learn exactly where it decides a
//! score is what makes results comparable with the notebooks analysts already run.
//!
//! What follows scikit-learn's `IsolationForest` (1.x):
//! * `n_estimators` trees (default 100), each on `max_samples` rows drawn without replacement
//!   (default `min(256, n)`), over `max(1, ⌊max_features · d⌋)` features drawn without replacement
//!   (default all of them);
//! * each tree is an `ExtraTreeRegressor(max_features=1, splitter="random")` grown to depth
//!   `⌈log2 max(ψ, 2)⌉`: at a node, features are drawn at random until one is not constant in the
//!   node (constant = max − min ≤ 1e-7, sklearn's `FEATURE_THRESHOLD`), the threshold is uniform in
//!   [min, max) of that feature in the node (a draw equal to max becomes min), rows `≤` threshold go
//!   left; a node with fewer than 2 rows, or whose features are all constant, is a leaf;
//! * the path length of a row is its leaf's depth plus `c(n_leaf)`, with sklearn's
//!   `_average_path_length`: `c(n) = 2 (ln(n − 1) + γ) − 2 (n − 1)/n` for n > 2, 1 for n = 2, 0 below;
//! * `score_samples(x) = −2^(−E[h(x)] / c(ψ))`: lower is more abnormal, −1 the most;
//!   `contamination = "auto"` puts the offset at −0.5, a fraction puts it at that percentile of the
//!   training rows' scores (numpy's linear percentile), and `predict` is "score below offset".
//!
//! Where it differs: the random streams (a ChaCha8 generator seeded by `seed`, one sub-seed per tree
//! drawn before the trees are built in parallel, so results do not depend on the thread count),
//! hence individual scores; ROC AUC and rank agreement with scikit-learn are checked by
//! `benches/reference/iforest_reference.py` and `tests/it/iforest.rs`. Non-finite input is refused
//! (scikit-learn refuses NaN and infinity too) with the first offending row and column named.

use rand::seq::index::sample;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// sklearn's `FEATURE_THRESHOLD`: a feature whose range in a node is at most this is constant there.
const FEATURE_THRESHOLD: f64 = 1e-7;
/// Euler–Mascheroni constant (numpy's `np.euler_gamma`).
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Rows per task when scoring in parallel.
const SCORE_CHUNK: usize = 1024;

/// Errors of the forest.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IforestError {
    /// No rows to fit on.
    #[error("isolation forest: no rows to fit on")]
    Empty,
    /// No feature columns.
    #[error("isolation forest: no feature columns")]
    NoFeatures,
    /// A value is NaN or infinite.
    #[error("isolation forest: row {row}, feature {col}: value {value} is not finite (NaN and infinity are refused)")]
    NonFinite {
        /// Row index.
        row: usize,
        /// Feature index.
        col: usize,
        /// The value.
        value: f64,
    },
    /// Rows to score have another width than the fitted ones.
    #[error("isolation forest: fitted on {fitted} features, given rows of {given}")]
    Width {
        /// Features of the fit.
        fitted: usize,
        /// Features given.
        given: usize,
    },
    /// A setting out of range.
    #[error("isolation forest: {0}")]
    Config(String),
}

/// How many rows each tree sees (`max_samples`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum MaxSamples {
    /// `min(256, n)`, sklearn's `"auto"`.
    #[default]
    Auto,
    /// A number of rows (capped at n, as sklearn does with a warning).
    Count(usize),
    /// A share of the rows, in (0, 1].
    Fraction(f64),
}

/// Where the anomaly cut lies (`contamination`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum Contamination {
    /// sklearn's `"auto"`: anomalous when the score is below −0.5.
    #[default]
    Auto,
    /// The expected share of anomalies among the training rows, in (0, 0.5].
    Fraction(f64),
}

/// Settings, with scikit-learn's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IforestConfig {
    /// Trees (`n_estimators`).
    pub n_estimators: usize,
    /// Rows per tree.
    pub max_samples: MaxSamples,
    /// Share of the features each tree draws, in (0, 1].
    pub max_features: f64,
    /// Where the cut lies.
    pub contamination: Contamination,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for IforestConfig {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_samples: MaxSamples::Auto,
            max_features: 1.0,
            contamination: Contamination::Auto,
            seed: 0,
        }
    }
}

impl IforestConfig {
    /// Every problem with the settings (empty = valid), each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.n_estimators == 0 {
            errs.push("n_estimators: must be at least 1".to_string());
        }
        match self.max_samples {
            MaxSamples::Count(0) => errs.push("max_samples: must be at least 1".into()),
            MaxSamples::Fraction(f) if !(f > 0.0 && f <= 1.0) => errs.push(format!("max_samples: a share must be in (0, 1], got {f}")),
            _ => {}
        }
        if !(self.max_features > 0.0 && self.max_features <= 1.0) {
            errs.push(format!("max_features: must be in (0, 1], got {}", self.max_features));
        }
        if let Contamination::Fraction(c) = self.contamination {
            if !(c > 0.0 && c <= 0.5) {
                errs.push(format!("contamination: must be in (0, 0.5], got {c}"));
            }
        }
        errs
    }
}

/// sklearn's `_average_path_length`: the mean depth of an unsuccessful search in a binary search
/// tree of `n` keys, the normaliser of path lengths.
pub fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n <= 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// A row-major matrix of features.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    data: Vec<f64>,
    cols: usize,
}

impl Matrix {
    /// `data` holds `data.len() / cols` rows of `cols` values; refuses non-finite values.
    pub fn new(data: Vec<f64>, cols: usize) -> Result<Self, IforestError> {
        if cols == 0 {
            return Err(IforestError::NoFeatures);
        }
        if data.len() % cols != 0 {
            return Err(IforestError::Config(format!("{} values do not make rows of {cols}", data.len())));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(IforestError::NonFinite {
                row: i / cols,
                col: i % cols,
                value: data[i],
            });
        }
        Ok(Self { data, cols })
    }

    /// From rows (each of the same width).
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, IforestError> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some(r) = rows.iter().find(|r| r.len() != cols) {
            return Err(IforestError::Width {
                fitted: cols,
                given: r.len(),
            });
        }
        Self::new(rows.concat(), cols)
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.data.len() / self.cols
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// One row.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// One node: an inner node splits on `feature` at `value`, its children at `left` and `left + 1`,
/// and keeps the range `[lo, hi]` its rows had on that feature (for [`IsolationForest::score_extended`]);
/// a leaf (`feature == LEAF`) holds in `value` its depth + c(rows in it).
#[derive(Debug, Clone, Copy)]
struct Node {
    value: f64,
    lo: f64,
    hi: f64,
    feature: u32,
    left: u32,
}

const LEAF: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
    /// The rows it was grown on, sorted (for out-of-bag scores).
    drawn: Vec<u32>,
    /// Features of the tree that were constant over its rows, with their value.
    constant: Vec<(u32, f64)>,
    /// Features of the tree that varied over its rows.
    varying: usize,
}

impl Tree {
    /// Expected path length of `x` had it been among each node's rows when the node's threshold was
    /// drawn (the node's feature kept): beyond the node's range `[lo, hi]` on the split feature, a
    /// uniform threshold over `[lo, x]` separates `x` alone with probability `(x − hi)/(x − lo)`
    /// (mirrored below `lo`), ending its path at depth + 1; and a feature constant over the tree's
    /// rows on which `x` differs is one every node on its path could have drawn (see below). Inside every
    /// range and on every constant it is `path_length`.
    fn path_length_extended(&self, x: &[f64]) -> f64 {
        // Features constant over the tree's rows that `x` does not share: with `x` among the
        // rows they would vary, so every node on its path would draw one of them with probability
        // m/(K + m) (K features varying) and isolate `x` there (any threshold between the
        // constant and `x` does).
        let m = self
            .constant
            .iter()
            .filter(|(f, v)| (x[*f as usize] - v).abs() > FEATURE_THRESHOLD)
            .count();
        let qc = if m > 0 { m as f64 / (self.varying + m) as f64 } else { 0.0 };
        let (mut i, mut reach, mut e, mut depth) = (0usize, 1.0f64, 0.0f64, 0.0f64);
        loop {
            let n = self.nodes[i];
            if n.feature == LEAF {
                return e + reach * n.value;
            }
            if qc > 0.0 {
                e += reach * qc * (depth + 1.0);
                reach *= 1.0 - qc;
            }
            let v = x[n.feature as usize];
            let q = if v > n.hi {
                (v - n.hi) / (v - n.lo)
            } else if v < n.lo {
                (n.lo - v) / (n.hi - v)
            } else {
                0.0
            };
            if q > 0.0 {
                e += reach * q * (depth + 1.0);
                reach *= 1.0 - q;
            }
            i = n.left as usize + usize::from(v > n.value);
            depth += 1.0;
        }
    }

    fn path_length(&self, x: &[f64]) -> f64 {
        let mut i = 0usize;
        loop {
            let n = self.nodes[i];
            if n.feature == LEAF {
                return n.value;
            }
            i = n.left as usize + usize::from(x[n.feature as usize] > n.value);
        }
    }
}

/// Grows one tree on the rows `idx` of `m`, over the features `feats`.
fn grow(m: &Matrix, idx: &mut [usize], feats: &[usize], max_depth: usize, rng: &mut ChaCha8Rng) -> Tree {
    let mut nodes = vec![Node {
        value: 0.0,
        lo: 0.0,
        hi: 0.0,
        feature: LEAF,
        left: 0,
    }];
    // (node, start, end, depth) still to split.
    let mut todo = vec![(0usize, 0usize, idx.len(), 0usize)];
    let mut order: Vec<usize> = feats.to_vec();
    while let Some((node, lo, hi, depth)) = todo.pop() {
        let n = hi - lo;
        let leaf = |depth: usize| Node {
            value: depth as f64 + average_path_length(n as f64),
            lo: 0.0,
            hi: 0.0,
            feature: LEAF,
            left: 0,
        };
        if depth >= max_depth || n < 2 {
            nodes[node] = leaf(depth);
            continue;
        }
        // Draw features without replacement until one varies in the node.
        let mut split = None;
        for k in 0..order.len() {
            let j = rng.random_range(k..order.len());
            order.swap(k, j);
            let f = order[k];
            let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
            for &r in &idx[lo..hi] {
                let v = m.data[r * m.cols + f];
                min = min.min(v);
                max = max.max(v);
            }
            if max <= min + FEATURE_THRESHOLD {
                continue;
            }
            let mut t = min + rng.random::<f64>() * (max - min);
            if t >= max {
                t = min;
            }
            split = Some((f, t, min, max));
            break;
        }
        let Some((f, t, min, max)) = split else {
            nodes[node] = leaf(depth);
            continue;
        };
        // Partition: rows ≤ t first.
        let part = &mut idx[lo..hi];
        let mut i = 0;
        for j in 0..part.len() {
            if m.data[part[j] * m.cols + f] <= t {
                part.swap(i, j);
                i += 1;
            }
        }
        let left = nodes.len();
        nodes.push(leaf(depth + 1));
        nodes.push(leaf(depth + 1));
        nodes[node] = Node {
            value: t,
            lo: min,
            hi: max,
            feature: f as u32,
            left: left as u32,
        };
        todo.push((left, lo, lo + i, depth + 1));
        todo.push((left + 1, lo + i, hi, depth + 1));
    }
    Tree {
        nodes,
        drawn: Vec::new(),
        constant: Vec::new(),
        varying: 0,
    }
}

/// A fitted forest.
#[derive(Debug, Clone)]
pub struct IsolationForest {
    trees: Vec<Tree>,
    /// Rows each tree saw (ψ).
    psi: usize,
    cols: usize,
    /// `score_samples` below this is anomalous (sklearn's `offset_`).
    offset: f64,
}

impl IsolationForest {
    /// Fits on `m`, using every core.
    pub fn fit(m: &Matrix, cfg: &IforestConfig) -> Result<Self, IforestError> {
        if let Some(e) = cfg.validate().into_iter().next() {
            return Err(IforestError::Config(e));
        }
        let n = m.rows();
        if n == 0 {
            return Err(IforestError::Empty);
        }
        let psi = match cfg.max_samples {
            MaxSamples::Auto => n.min(256),
            MaxSamples::Count(k) => k.min(n),
            MaxSamples::Fraction(f) => ((f * n as f64) as usize).max(1),
        };
        let d = m.cols();
        let n_feats = ((cfg.max_features * d as f64) as usize).max(1);
        let max_depth = (psi.max(2) as f64).log2().ceil() as usize;
        let mut master = ChaCha8Rng::seed_from_u64(cfg.seed);
        let seeds: Vec<u64> = (0..cfg.n_estimators).map(|_| master.next_u64()).collect();
        let trees: Vec<Tree> = seeds
            .into_par_iter()
            .map(|s| {
                let mut rng = ChaCha8Rng::seed_from_u64(s);
                let mut idx = sample(&mut rng, n, psi).into_vec();
                let feats = if n_feats == d {
                    (0..d).collect::<Vec<_>>()
                } else {
                    sample(&mut rng, d, n_feats).into_vec()
                };
                let mut drawn: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
                drawn.sort_unstable();
                let constant: Vec<(u32, f64)> = feats
                    .iter()
                    .filter_map(|&f| {
                        let v0 = m.data[idx[0] * d + f];
                        let max = idx.iter().map(|&r| m.data[r * d + f]).fold(f64::NEG_INFINITY, f64::max);
                        let min = idx.iter().map(|&r| m.data[r * d + f]).fold(f64::INFINITY, f64::min);
                        (max <= min + FEATURE_THRESHOLD).then_some((f as u32, v0))
                    })
                    .collect();
                let varying = feats.len() - constant.len();
                let mut t = grow(m, &mut idx, &feats, max_depth, &mut rng);
                t.drawn = drawn;
                t.constant = constant;
                t.varying = varying;
                t
            })
            .collect();
        let mut forest = Self {
            trees,
            psi,
            cols: d,
            offset: -0.5,
        };
        if let Contamination::Fraction(c) = cfg.contamination {
            let mut scores = forest.score_samples(m)?;
            scores.sort_by(f64::total_cmp);
            forest.offset = crate::detect::stats::np_percentile_sorted(&scores, 100.0 * c);
        }
        Ok(forest)
    }

    /// Mean path length of each row over the trees.
    pub fn mean_path_lengths(&self, m: &Matrix) -> Result<Vec<f64>, IforestError> {
        self.check_width(m)?;
        let k = self.trees.len() as f64;
        let mut out = vec![0.0; m.rows()];
        // Tree-outer over a block of rows: one tree (≤ 8 kB at ψ = 256) stays in L1 while the
        // block's rows walk it, four at a time so their dependent loads overlap.
        out.par_chunks_mut(SCORE_CHUNK).enumerate().for_each(|(c, chunk)| {
            let base = c * SCORE_CHUNK;
            for t in &self.trees {
                let nodes = &t.nodes[..];
                let mut quads = chunk.chunks_exact_mut(4);
                let mut r = base;
                for q in &mut quads {
                    let xs = [m.row(r), m.row(r + 1), m.row(r + 2), m.row(r + 3)];
                    let mut at = [0usize; 4];
                    let mut done = [false; 4];
                    while !(done[0] && done[1] && done[2] && done[3]) {
                        for j in 0..4 {
                            if done[j] {
                                continue;
                            }
                            let n = nodes[at[j]];
                            if n.feature == LEAF {
                                q[j] += n.value;
                                done[j] = true;
                            } else {
                                at[j] = n.left as usize + usize::from(xs[j][n.feature as usize] > n.value);
                            }
                        }
                    }
                    r += 4;
                }
                for o in quads.into_remainder() {
                    *o += t.path_length(m.row(r));
                    r += 1;
                }
            }
            for o in chunk.iter_mut() {
                *o /= k;
            }
        });
        Ok(out)
    }

    /// sklearn's `score_samples`: −2^(−E[h(x)]/c(ψ)), lower = more abnormal.
    pub fn score_samples(&self, m: &Matrix) -> Result<Vec<f64>, IforestError> {
        Ok(self.mean_path_lengths(m)?.into_iter().map(|h| self.score_of(h)).collect())
    }

    /// −2^(−h/c(ψ)); −1 when c(ψ) = 0 (ψ = 1: every path is 0).
    fn score_of(&self, h: f64) -> f64 {
        let c = average_path_length(self.psi as f64);
        if c > 0.0 {
            -(2f64).powf(-h / c)
        } else {
            -1.0
        }
    }

    fn check_width(&self, m: &Matrix) -> Result<(), IforestError> {
        if m.cols() == self.cols {
            Ok(())
        } else {
            Err(IforestError::Width {
                fitted: self.cols,
                given: m.cols(),
            })
        }
    }

    /// Like [`Self::score_samples`], with the range-aware path length of `Tree::path_length_extended`:
    /// a value beyond everything the trees were grown on is more isolated than the training range's
    /// extreme, by how far beyond it lies. scikit-learn has no such score (its trees send such a
    /// value to the extreme leaf, so it scores like the most extreme training row — why a forest
    /// fitted on a baseline cannot rank a first-ever burst above the baseline's busiest day). A
    /// feature constant over a tree's rows (never non-zero before: first-seen operations in a
    /// steady fleet) counts too: a row that differs on it would have given every node on its path
    /// that feature to split on. Equal to `score_samples` for a row inside the range of every node it visits and equal to
    /// every constant; a row of the training cloud that a tree did not draw leaves a deep node's
    /// range a little, so its score moves a little (ranks agree with `score_samples`, Spearman >
    /// 0.95 in the tests).
    pub fn score_extended(&self, m: &Matrix) -> Result<Vec<f64>, IforestError> {
        self.extended(m, false)
    }

    /// [`Self::score_extended`] of the rows the forest was fitted on (`m` must be that matrix),
    /// each row scored only by the trees that did not draw it — what an unseen row like it would
    /// score. In-sample scores flatter a training outlier (the trees that drew it isolate it at
    /// once), which would put a cut calibrated on them too high. A row every tree drew (ψ = n) is
    /// scored by all trees.
    pub fn oob_score_extended(&self, m: &Matrix) -> Result<Vec<f64>, IforestError> {
        self.extended(m, true)
    }

    /// The extended score of each row of `m`, by every tree or (`oob`) by the trees that did not
    /// draw the row (all of them when every tree did).
    fn extended(&self, m: &Matrix, oob: bool) -> Result<Vec<f64>, IforestError> {
        self.check_width(m)?;
        let mut out = vec![0.0; m.rows()];
        out.par_chunks_mut(SCORE_CHUNK).enumerate().for_each(|(ci, chunk)| {
            for (i, o) in chunk.iter_mut().enumerate() {
                let r = ci * SCORE_CHUNK + i;
                let x = m.row(r);
                let (mut sum, mut k) = (0.0, 0usize);
                for t in &self.trees {
                    if !oob || t.drawn.binary_search(&(r as u32)).is_err() {
                        sum += t.path_length_extended(x);
                        k += 1;
                    }
                }
                if k == 0 {
                    sum = self.trees.iter().map(|t| t.path_length_extended(x)).sum();
                    k = self.trees.len();
                }
                *o = self.score_of(sum / k as f64);
            }
        });
        Ok(out)
    }

    /// sklearn's `offset_`: `score_samples` below it is anomalous.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Trees.
    pub fn trees(&self) -> usize {
        self.trees.len()
    }

    /// Rows each tree saw.
    pub fn max_samples(&self) -> usize {
        self.psi
    }
}

/// ROC AUC of `scores` (higher = more positive) against `labels`, ties counted half (Mann–Whitney).
/// `None` without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let ranks = average_ranks(scores, &idx);
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let sum: f64 = labels.iter().zip(&ranks).filter(|(l, _)| **l).map(|(_, r)| r).sum();
    Some((sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Spearman's rank correlation (average ranks on ties); `None` when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&x, &y| v[x].total_cmp(&v[y]));
        average_ranks(v, &idx)
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// 1-based average ranks of `v`, given `idx` sorting it.
fn average_ranks(v: &[f64], idx: &[usize]) -> Vec<f64> {
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| (0..4).map(|_| rng.random::<f64>() - 0.5).collect()).collect()
    }

    #[test]
    fn average_path_length_matches_sklearn() {
        // sklearn 1.9.1: _average_path_length([0, 1, 2, 3, 256]).
        assert_eq!(average_path_length(0.0), 0.0);
        assert_eq!(average_path_length(1.0), 0.0);
        assert_eq!(average_path_length(2.0), 1.0);
        assert!((average_path_length(3.0) - 1.207_392_357_589_648_5).abs() < 1e-12);
        assert!((average_path_length(256.0) - 10.244_770_920_116_851).abs() < 1e-9);
    }

    #[test]
    fn a_far_point_scores_lowest_and_the_fit_is_deterministic() {
        let mut rows = blob(500, 1);
        rows.push(vec![5.0, 5.0, 5.0, 5.0]);
        let m = Matrix::from_rows(&rows).unwrap();
        let cfg = IforestConfig {
            seed: 7,
            ..Default::default()
        };
        let f = IsolationForest::fit(&m, &cfg).unwrap();
        let s = f.score_samples(&m).unwrap();
        let worst = (0..s.len()).min_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(worst, 500);
        // An isolated point sits well below the auto offset, the blob's median above it.
        assert!(s[500] < -0.6, "{}", s[500]);
        let mut sorted = s.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(sorted[250] > -0.5, "{}", sorted[250]);
        let again = IsolationForest::fit(&m, &cfg).unwrap().score_samples(&m).unwrap();
        assert_eq!(s, again);
        let other = IsolationForest::fit(&m, &IforestConfig { seed: 8, ..cfg })
            .unwrap()
            .score_samples(&m)
            .unwrap();
        assert_ne!(s, other);
    }

    #[test]
    fn the_same_seed_gives_the_same_scores_on_any_thread_count() {
        let m = Matrix::from_rows(&blob(300, 2)).unwrap();
        let cfg = IforestConfig::default();
        let many = IsolationForest::fit(&m, &cfg).unwrap().score_samples(&m).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let one = pool.install(|| IsolationForest::fit(&m, &cfg).unwrap().score_samples(&m).unwrap());
        assert_eq!(many, one);
    }

    #[test]
    fn the_extended_score_keeps_falling_beyond_the_training_range() {
        let train = Matrix::from_rows(&blob(400, 4)).unwrap();
        let f = IsolationForest::fit(&train, &IforestConfig::default()).unwrap();
        // Rows of the training cloud rank as sklearn's score ranks them (they leave a node's range
        // only a little, deep in a tree, where a row not drawn for that tree lands).
        let rho = spearman(&f.score_extended(&train).unwrap(), &f.score_samples(&train).unwrap()).unwrap();
        assert!(rho > 0.95, "{rho}");
        // Beyond the range: sklearn's score saturates at the extreme, the extended one keeps falling.
        let probe = Matrix::from_rows(&[vec![0.6, 0.0, 0.0, 0.0], vec![3.0, 0.0, 0.0, 0.0], vec![30.0, 0.0, 0.0, 0.0]]).unwrap();
        let sk = f.score_samples(&probe).unwrap();
        let ex = f.score_extended(&probe).unwrap();
        assert!((sk[1] - sk[2]).abs() < 1e-12, "{sk:?}");
        assert!(ex[0] > ex[1] && ex[1] > ex[2], "{ex:?}");
        assert!(ex[2] < -0.75, "{ex:?}");
        assert!(ex.iter().zip(&sk).all(|(e, s)| e <= s), "{ex:?} {sk:?}");
    }

    #[test]
    fn a_value_on_a_feature_constant_in_training_isolates_the_row() {
        // Feature 3 is always 0 in training (nobody ever did it); a row with 3 there is stranger
        // than any training row under the extended score, and the same as 0 to sklearn's.
        let rows: Vec<Vec<f64>> = blob(400, 6)
            .into_iter()
            .map(|mut r| {
                r[3] = 0.0;
                r
            })
            .collect();
        let f = IsolationForest::fit(&Matrix::from_rows(&rows).unwrap(), &IforestConfig::default()).unwrap();
        let probe = Matrix::from_rows(&[vec![0.0, 0.0, 0.0, 0.0], vec![0.0, 0.0, 0.0, 3.0]]).unwrap();
        let sk = f.score_samples(&probe).unwrap();
        let ex = f.score_extended(&probe).unwrap();
        assert_eq!(sk[0], sk[1]);
        assert!((ex[0] - sk[0]).abs() < 0.02, "{ex:?} {sk:?}");
        // One constant of four features: at each node on its path, a quarter of the draws would
        // have isolated it.
        let train = f.score_extended(&Matrix::from_rows(&rows).unwrap()).unwrap();
        let strangest = train.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(ex[1] < strangest, "{} vs {strangest}", ex[1]);
    }

    #[test]
    fn out_of_bag_scores_score_a_training_row_as_an_unseen_copy() {
        let mut rows = blob(1000, 5);
        rows.push(vec![2.0, 2.0, 2.0, 2.0]);
        let m = Matrix::from_rows(&rows).unwrap();
        let f = IsolationForest::fit(&m, &IforestConfig::default()).unwrap();
        let inb = f.score_extended(&m).unwrap();
        let oob = f.oob_score_extended(&m).unwrap();
        // Out of bag, the outlier scores like an unseen copy of itself (in-sample it is no
        // stranger here: the range-aware score isolates it at once either way).
        let copy = f.score_extended(&Matrix::from_rows(&[vec![2.0, 2.0, 2.0, 2.0]]).unwrap()).unwrap()[0];
        assert!((oob[1000] - copy).abs() < 0.05, "{} {copy}", oob[1000]);
        let rho = spearman(&inb, &oob).unwrap();
        assert!(rho > 0.9, "{rho}");
    }

    #[test]
    fn contamination_puts_the_offset_at_that_share_of_training_rows() {
        let m = Matrix::from_rows(&blob(1000, 3)).unwrap();
        let cfg = IforestConfig {
            contamination: Contamination::Fraction(0.05),
            ..Default::default()
        };
        let f = IsolationForest::fit(&m, &cfg).unwrap();
        let s = f.score_samples(&m).unwrap();
        let below = s.iter().filter(|&&v| v < f.offset()).count();
        assert!((45..=55).contains(&below), "{below}");
    }

    #[test]
    fn constant_features_make_leaves_and_every_score_is_the_same() {
        let m = Matrix::new(vec![0.0; 40], 4).unwrap();
        let f = IsolationForest::fit(&m, &IforestConfig::default()).unwrap();
        let s = f.score_samples(&m).unwrap();
        // Every tree is one leaf of 10 rows: h = c(10), so the score is −2^(−c(10)/c(10)) = −0.5.
        assert!(s.iter().all(|&v| (v + 0.5).abs() < 1e-12), "{s:?}");
    }

    #[test]
    fn bad_input_is_refused_with_where_it_is() {
        assert!(matches!(
            Matrix::new(vec![1.0, f64::NAN, 2.0, 3.0], 2),
            Err(IforestError::NonFinite { row: 0, col: 1, .. })
        ));
        assert!(matches!(
            Matrix::new(vec![1.0, 2.0, f64::INFINITY, 3.0], 2),
            Err(IforestError::NonFinite { row: 1, col: 0, .. })
        ));
        assert_eq!(Matrix::new(vec![], 0).unwrap_err(), IforestError::NoFeatures);
        let empty = Matrix::new(vec![], 3).unwrap();
        assert_eq!(
            IsolationForest::fit(&empty, &IforestConfig::default()).unwrap_err(),
            IforestError::Empty
        );
        let one = Matrix::new(vec![1.0, 2.0], 2).unwrap();
        let f = IsolationForest::fit(&one, &IforestConfig::default()).unwrap();
        // ψ = 1: c(1) = 0, every path is 0; the score is defined (−1), not NaN.
        assert_eq!(f.score_samples(&one).unwrap(), vec![-1.0]);
        assert!(matches!(
            f.score_samples(&Matrix::new(vec![1.0], 1).unwrap()),
            Err(IforestError::Width { fitted: 2, given: 1 })
        ));
        let bad = IforestConfig {
            n_estimators: 0,
            max_features: 1.5,
            ..Default::default()
        };
        assert_eq!(bad.validate().len(), 2);
    }

    #[test]
    fn auc_and_spearman_agree_with_hand_computed_values() {
        // Positives at 0.9, 0.5 (tied with a negative), negatives 0.5, 0.1: pairs won 1 + 1 + 0.5 + 1 of 4.
        let auc = roc_auc(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]).unwrap();
        assert!((auc - 0.875).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(roc_auc(&[1.0], &[true]), None);
    }
}
