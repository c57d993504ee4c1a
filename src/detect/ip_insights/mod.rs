//! IP Insights: embeddings of (entity, IPv4) pairs, after Amazon SageMaker's IP Insights algorithm
//! (`../shared/reference/ip-insights.md`).
//!
//! Why: a principal that signs in from an address it never used is the first sign of stolen
//! credentials (MITRE T1078), but "never used" alone fires on every new laptop and hotel Wi-Fi. The
//! model learns, for every entity and every address, a vector such that the dot product of a true
//! pair is high; because an address's vector is built from its prefixes, a new address in the
//! entity's usual networks still scores high and one in a network the entity never touched scores
//! low.
//!
//! Hand-written: no Rust crate implements IP Insights (linfa has no embedding models, and a deep
//! learning framework would be a second heavy dependency for a dot product and four lookups).
//! What is SageMaker's and what is ours:
//! - Objective, as SageMaker: binary cross-entropy on the sigmoid of the dot product, true pairs
//!   against `random_negative_rate` random-address and `shuffled_negative_rate` shuffled-address
//!   negatives per true pair (the shuffled address comes from another pair of the mini-batch);
//!   Adam; L2 weight decay; entities hashed into `num_entity_vectors` buckets (2 × entities when 0).
//! - IP encoder, ours (SageMaker does not publish its own): the sum of learned embeddings of the
//!   address's /8, /16 and /24 prefixes and of the hashed full address, with no hidden layer
//!   (`num_ip_encoder_layers` = 0, a value SageMaker allows). Neighbouring addresses share prefix
//!   rows, which is what lets the model generalise to unseen addresses of a known network.
//! - Adam is applied lazily to the rows a mini-batch touched (as TensorFlow's LazyAdam), so a
//!   step costs the batch, not the tables.
//!
//! Deterministic for a seed: the same pairs and parameters give the same vectors and scores.
//! `stages::ip_insights` runs it in a job: pairs from the lake, one model per analysed day,
//! findings and the embeddings table.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Hyper-parameters (SageMaker's names where they exist).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IpInsightsParams {
    /// Embedding size of entities and addresses.
    pub vector_dim: usize,
    /// Entity hash buckets; 0 = twice the distinct entities (SageMaker's recommendation).
    pub num_entity_vectors: usize,
    /// Passes over the pairs.
    pub epochs: usize,
    /// Adam step.
    pub learning_rate: f32,
    /// True pairs per mini-batch.
    pub mini_batch_size: usize,
    /// Random-address negatives per true pair.
    pub random_negative_rate: usize,
    /// Shuffled-address negatives per true pair.
    pub shuffled_negative_rate: usize,
    /// L2 regularisation.
    pub weight_decay: f32,
    /// Rows of each hashed address table (/24 prefixes, full addresses).
    pub ip_hash_buckets: usize,
    /// Fewest Adam steps (mini-batches), whatever `epochs` says: a baseline of a few hundred pairs
    /// is one mini-batch per epoch, and ten steps train nothing (not a SageMaker parameter).
    pub min_steps: usize,
    /// Seed of initialisation, shuffling and negatives.
    pub seed: u64,
}

impl Default for IpInsightsParams {
    fn default() -> Self {
        IpInsightsParams {
            vector_dim: 32,
            num_entity_vectors: 0,
            epochs: 10,
            learning_rate: 0.01,
            mini_batch_size: 1000,
            random_negative_rate: 1,
            shuffled_negative_rate: 1,
            weight_decay: 1e-5,
            ip_hash_buckets: 1 << 16,
            min_steps: 300,
            seed: 7,
        }
    }
}

impl IpInsightsParams {
    /// Problems, each naming its field under `prefix` (ranges as SageMaker's where they exist).
    pub fn validate(&self, prefix: &str) -> Vec<String> {
        let mut e = Vec::new();
        if !(4..=4096).contains(&self.vector_dim) {
            e.push(format!("{prefix}.vector_dim: {} is not in 4..=4096", self.vector_dim));
        }
        if self.epochs == 0 {
            e.push(format!("{prefix}.epochs: must be at least 1"));
        }
        if !(1e-6..=10.0).contains(&self.learning_rate) {
            e.push(format!("{prefix}.learning_rate: {} is not in 1e-6..=10", self.learning_rate));
        }
        if !(1..=500_000).contains(&self.mini_batch_size) {
            e.push(format!("{prefix}.mini_batch_size: {} is not in 1..=500000", self.mini_batch_size));
        }
        let negatives = self.random_negative_rate + self.shuffled_negative_rate;
        if !(1..=500).contains(&negatives) {
            e.push(format!(
                "{prefix}.random_negative_rate + shuffled_negative_rate: {negatives} is not in 1..=500"
            ));
        }
        if !(0.0..=10.0).contains(&self.weight_decay) {
            e.push(format!("{prefix}.weight_decay: {} is not in 0..=10", self.weight_decay));
        }
        // Two hashed address tables, each with Adam's two moments: 12 bytes per weight.
        let bytes = 2 * 12 * self.ip_hash_buckets as u128 * self.vector_dim as u128;
        if bytes > 8 << 30 {
            e.push(format!(
                "{prefix}.ip_hash_buckets × vector_dim: {} × {} needs {} GiB for the address tables (limit 8)",
                self.ip_hash_buckets,
                self.vector_dim,
                bytes >> 30
            ));
        }
        if !(256..=1 << 24).contains(&self.ip_hash_buckets) {
            e.push(format!(
                "{prefix}.ip_hash_buckets: {} is not in 256..=16777216",
                self.ip_hash_buckets
            ));
        }
        e
    }
}

/// A parameter table with Adam state.
#[derive(Debug, Clone)]
struct Table {
    dim: usize,
    w: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Table {
    fn new(rows: usize, dim: usize, rng: &mut ChaCha8Rng) -> Table {
        let scale = 1.0 / (dim as f32).sqrt();
        Table {
            dim,
            w: (0..rows * dim).map(|_| rng.random_range(-scale..scale)).collect(),
            m: vec![0.0; rows * dim],
            v: vec![0.0; rows * dim],
        }
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.w[r * self.dim..(r + 1) * self.dim]
    }

    /// One lazy Adam step on the rows in `grads` (already averaged), with L2 decay.
    fn adam(&mut self, grads: &HashMap<usize, Vec<f32>>, lr: f32, decay: f32, t: i32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        let c1 = 1.0 - B1.powi(t);
        let c2 = 1.0 - B2.powi(t);
        for (&r, g) in grads {
            for (j, gj) in g.iter().enumerate() {
                let i = r * self.dim + j;
                let gj = gj + decay * self.w[i];
                self.m[i] = B1 * self.m[i] + (1.0 - B1) * gj;
                self.v[i] = B2 * self.v[i] + (1.0 - B2) * gj * gj;
                self.w[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + EPS);
            }
        }
    }
}

/// FNV-1a, 64 bit: a stable hash (the same bucket in every run and on every machine).
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A trained model.
#[derive(Debug, Clone)]
pub struct IpInsights {
    params: IpInsightsParams,
    entities: Table,
    /// /8, /16, /24 (hashed), full address (hashed).
    ip: [Table; 4],
    /// Training summary.
    pub report: TrainReport,
}

/// What training did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct TrainReport {
    /// Distinct true pairs trained on.
    pub pairs: usize,
    /// Distinct entities.
    pub entities: usize,
    /// Entity hash buckets used.
    pub entity_vectors: usize,
    /// Mean cross-entropy of the last epoch.
    pub last_loss: f64,
    /// AUC of held-out true pairs against random-address negatives (SageMaker's
    /// `validation:discriminator_auc`, R = 1, S = 0); `None` with too few pairs to hold out.
    pub validation_auc: Option<f64>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Area under the ROC curve of `pos` scores against `neg` scores (ties count half).
pub fn auc(pos: &[f64], neg: &[f64]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = pos.iter().map(|s| (*s, true)).chain(neg.iter().map(|s| (*s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann-Whitney U with mid-ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += all[i..=j].iter().filter(|x| x.1).count() as f64 * mid;
        i = j + 1;
    }
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

impl IpInsights {
    fn entity_row(&self, entity: &str) -> usize {
        (fnv(entity.as_bytes()) % self.entities.w.len().div_ceil(self.entities.dim).max(1) as u64) as usize
    }

    fn ip_rows(&self, ip: u32) -> [usize; 4] {
        let h = self.params.ip_hash_buckets as u64;
        [
            (ip >> 24) as usize,
            (ip >> 16) as usize,
            (fnv(&(ip >> 8).to_be_bytes()) % h) as usize,
            (fnv(&ip.to_be_bytes()).rotate_left(17) % h) as usize,
        ]
    }

    /// The address's vector: the sum of its prefix rows.
    pub fn ip_vector(&self, ip: u32) -> Vec<f32> {
        let rows = self.ip_rows(ip);
        let mut x = vec![0.0f32; self.params.vector_dim];
        for (t, r) in self.ip.iter().zip(rows) {
            for (xi, wi) in x.iter_mut().zip(t.row(r)) {
                *xi += wi;
            }
        }
        x
    }

    /// The entity's vector (its hash bucket's).
    pub fn entity_vector(&self, entity: &str) -> Vec<f32> {
        self.entities.row(self.entity_row(entity)).to_vec()
    }

    /// SageMaker's `dot_product`: higher = more expected. A log-odds.
    pub fn score(&self, entity: &str, ip: u32) -> f64 {
        f64::from(dot(self.entities.row(self.entity_row(entity)), &self.ip_vector(ip)))
    }

    /// Train on distinct (entity, address) pairs. Each distinct pair counts once per epoch, however
    /// many events it had: the model is of which addresses an entity uses, not how often.
    pub fn train(pairs: &[(String, u32)], params: &IpInsightsParams) -> IpInsights {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let mut distinct: Vec<(String, u32)> = pairs.to_vec();
        distinct.sort();
        distinct.dedup();
        let n_entities = {
            let mut e: Vec<&str> = distinct.iter().map(|p| p.0.as_str()).collect();
            e.dedup();
            e.len()
        };
        let entity_vectors = if params.num_entity_vectors == 0 {
            (2 * n_entities).max(1)
        } else {
            params.num_entity_vectors
        };
        let d = params.vector_dim;
        let mut model = IpInsights {
            params: params.clone(),
            entities: Table::new(entity_vectors, d, &mut rng),
            ip: [
                Table::new(256, d, &mut rng),
                Table::new(1 << 16, d, &mut rng),
                Table::new(params.ip_hash_buckets, d, &mut rng),
                Table::new(params.ip_hash_buckets, d, &mut rng),
            ],
            report: TrainReport {
                pairs: distinct.len(),
                entities: n_entities,
                entity_vectors,
                ..TrainReport::default()
            },
        };
        // Hold out 5 % of the pairs (at least 20 when there are 400 or more) for the AUC.
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        order.shuffle(&mut rng);
        let held = if distinct.len() >= 400 { distinct.len() / 20 } else { 0 };
        let (valid, train) = order.split_at(held);
        let mut train: Vec<usize> = train.to_vec();
        let mut t = 0i32;
        let mut epoch = 0;
        while !train.is_empty() && (epoch < params.epochs || (t as usize) < params.min_steps) {
            epoch += 1;
            train.shuffle(&mut rng);
            let mut loss = 0.0f64;
            let mut samples = 0usize;
            for batch in train.chunks(params.mini_batch_size.max(1)) {
                let mut ge: HashMap<usize, Vec<f32>> = HashMap::new();
                let mut gi: [HashMap<usize, Vec<f32>>; 4] = Default::default();
                let mut n = 0usize;
                for &k in batch {
                    let (entity, ip) = (&distinct[k].0, distinct[k].1);
                    let er = model.entity_row(entity);
                    let mut cases = vec![(ip, 1.0f32)];
                    for _ in 0..params.random_negative_rate {
                        cases.push((rng.random::<u32>(), 0.0));
                    }
                    for _ in 0..params.shuffled_negative_rate {
                        let other = distinct[batch[rng.random_range(0..batch.len())]].1;
                        if other != ip {
                            cases.push((other, 0.0));
                        }
                    }
                    for (addr, y) in cases {
                        let rows = model.ip_rows(addr);
                        let x = model.ip_vector(addr);
                        let e = model.entities.row(er);
                        let p = sigmoid(dot(e, &x));
                        let pc = p.clamp(1e-7, 1.0 - 1e-7);
                        loss -= f64::from(if y > 0.5 { pc.ln() } else { (1.0 - pc).ln() });
                        let g = p - y;
                        let gev = ge.entry(er).or_insert_with(|| vec![0.0; d]);
                        for (gj, xj) in gev.iter_mut().zip(&x) {
                            *gj += g * xj;
                        }
                        for (ti, r) in rows.into_iter().enumerate() {
                            let giv = gi[ti].entry(r).or_insert_with(|| vec![0.0; d]);
                            for (gj, ej) in giv.iter_mut().zip(e) {
                                *gj += g * ej;
                            }
                        }
                        n += 1;
                    }
                }
                samples += n;
                let inv = 1.0 / n.max(1) as f32;
                for g in ge.values_mut().chain(gi.iter_mut().flat_map(|m| m.values_mut())) {
                    g.iter_mut().for_each(|x| *x *= inv);
                }
                t += 1;
                model.entities.adam(&ge, params.learning_rate, params.weight_decay, t);
                for (table, g) in model.ip.iter_mut().zip(&gi) {
                    table.adam(g, params.learning_rate, params.weight_decay, t);
                }
            }
            model.report.last_loss = loss / samples.max(1) as f64;
        }
        if !valid.is_empty() {
            let pos: Vec<f64> = valid.iter().map(|&k| model.score(&distinct[k].0, distinct[k].1)).collect();
            let neg: Vec<f64> = valid.iter().map(|&k| model.score(&distinct[k].0, rng.random::<u32>())).collect();
            model.report.validation_auc = Some(auc(&pos, &neg));
        }
        model
    }
}

/// Parse a dotted IPv4 address (`None` for IPv6, garbage or empty: they are counted and skipped by
/// the caller, as IP Insights models IPv4 only).
pub fn parse_ipv4(s: &str) -> Option<u32> {
    s.trim().parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SageMaker tutorial's data, in shape (reference, last section): providers with address
    /// ranges, each user with a home provider and a work provider near it, a heavy-tailed number of
    /// logins, a small chance of travelling (a uniformly random provider), the address uniform in
    /// the chosen provider's range. Synthetic ranges, as no ASN table ships here.
    fn logins(rng: &mut ChaCha8Rng, users: usize) -> Vec<(String, u32)> {
        let providers: Vec<(u32, u32)> = (0..400u32)
            .map(|i| {
                // Distinct /16s spread over the space; sizes /20 to /16.
                let base = (i.wrapping_mul(2_654_435_761) >> 16) << 16;
                let size = 1u32 << rng.random_range(12..=16);
                (base, size)
            })
            .collect();
        let mut out = Vec::new();
        for u in 0..users {
            let home = rng.random_range(0..providers.len());
            let work = (home + rng.random_range(1..=3)) % providers.len();
            // Heavy-tailed: 10 × Pareto(1.2), at most 500 logins (the tutorial: ~300 per user).
            let n = (10.0 * (1.0 - rng.random::<f64>()).powf(-1.0 / 1.2)).min(500.0) as usize;
            for _ in 0..n.max(1) {
                let p = if rng.random::<f64>() < 0.02 {
                    rng.random_range(0..providers.len())
                } else if rng.random::<f64>() < 0.6 {
                    home
                } else {
                    work
                };
                let (base, size) = providers[p];
                out.push((format!("user{u}"), base + rng.random_range(0..size)));
            }
        }
        out
    }

    #[test]
    fn auc_counts_pairs_in_order_and_ties_half() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(auc(&[1.0], &[2.0]), 0.0);
        assert_eq!(auc(&[1.0, 2.0], &[1.0, 2.0]), 0.5);
        assert!(auc(&[], &[1.0]).is_nan());
    }

    /// Against the SageMaker tutorial's published figures (its test: normal pairs plus as many
    /// attack pairs, a known user with a random address; threshold 0 on −dot_product): precision
    /// 0.951, recall 0.985, tuned AUC ≈ 0.99. Ours, on data of that shape (2,000 users, ~75k
    /// logins, 60k distinct training pairs; vector_dim 32, R = 5, S = 1 as the tutorial, 10 epochs)
    /// measured AUC 0.9945, precision 0.942, recall 1.000 (2026-11-29); stated tolerance: AUC and
    /// recall at least 0.95, precision at least 0.90.
    #[test]
    fn attack_logins_from_random_addresses_score_below_normal_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let all = logins(&mut rng, 2_000);
        // Every fifth login is held out as the test's normal pairs (mostly addresses the model never
        // saw, in the users' usual networks); one attack pair (the user, a random address) each.
        let train: Vec<(String, u32)> = all.iter().enumerate().filter(|(i, _)| i % 5 != 0).map(|(_, p)| p.clone()).collect();
        let normal: Vec<&(String, u32)> = all.iter().step_by(5).collect();
        let params = IpInsightsParams {
            random_negative_rate: 5,
            shuffled_negative_rate: 1,
            ..IpInsightsParams::default()
        };
        let model = IpInsights::train(&train, &params);
        let mut rng3 = ChaCha8Rng::seed_from_u64(9);
        let normal_scores: Vec<f64> = normal.iter().map(|(u, ip)| model.score(u, *ip)).collect();
        let attack_scores: Vec<f64> = normal.iter().map(|(u, _)| model.score(u, rng3.random::<u32>())).collect();
        let a = auc(&normal_scores, &attack_scores);
        let tp = attack_scores.iter().filter(|s| **s < 0.0).count() as f64;
        let fp = normal_scores.iter().filter(|s| **s < 0.0).count() as f64;
        let precision = tp / (tp + fp).max(1.0);
        let recall = tp / attack_scores.len() as f64;
        eprintln!(
            "pairs {} auc {a:.4} precision {precision:.3} recall {recall:.3} validation_auc {:?} loss {:.4}",
            model.report.pairs, model.report.validation_auc, model.report.last_loss
        );
        assert!(a >= 0.95, "AUC {a}");
        assert!(recall >= 0.95, "recall {recall}");
        assert!(precision >= 0.90, "precision {precision}");
        assert!(model.report.validation_auc.unwrap() >= 0.9, "{:?}", model.report);
    }

    /// Generalisation, the point of the prefix encoder: a new address inside a user's home network
    /// scores well above a new address in a network the user never used.
    #[test]
    fn a_new_address_in_a_known_network_scores_above_one_in_an_unknown_network() {
        let mut pairs = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for u in 0..300u32 {
            let home = (u % 150) << 16 | 10 << 24;
            for _ in 0..20 {
                pairs.push((format!("u{u}"), home + rng.random_range(0..4096)));
            }
        }
        let model = IpInsights::train(&pairs, &IpInsightsParams::default());
        let mut better = 0;
        for u in 0..300u32 {
            let home = (u % 150) << 16 | 10 << 24;
            let same_net = home + 4096 + rng.random_range(0..4096); // unseen, same /16
            let other = ((u % 150 + 75) % 150) << 16 | 10 << 24 | 5; // another user's network
            if model.score(&format!("u{u}"), same_net) > model.score(&format!("u{u}"), other) {
                better += 1;
            }
        }
        assert!(better >= 270, "{better}/300");
    }

    #[test]
    fn training_is_deterministic_and_addresses_parse_strictly() {
        let pairs: Vec<(String, u32)> = (0..50).map(|i| (format!("e{}", i % 7), 0x0a00_0000 + i)).collect();
        let p = IpInsightsParams {
            epochs: 2,
            ..IpInsightsParams::default()
        };
        let (a, b) = (IpInsights::train(&pairs, &p), IpInsights::train(&pairs, &p));
        assert_eq!(a.score("e1", 0x0a00_0001), b.score("e1", 0x0a00_0001));
        assert_eq!(parse_ipv4("10.0.0.1"), Some(0x0a00_0001));
        for bad in ["", "::1", "10.0.0", "10.0.0.256", "x' OR 1=1 --"] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
        assert!(IpInsightsParams::default().validate("ip_insights").is_empty());
        let bad = IpInsightsParams {
            vector_dim: 2,
            random_negative_rate: 0,
            shuffled_negative_rate: 0,
            ..IpInsightsParams::default()
        };
        let e = bad.validate("ip_insights").join("\n");
        assert!(e.contains("ip_insights.vector_dim") && e.contains("shuffled_negative_rate"), "{e}");
        let huge = IpInsightsParams {
            vector_dim: 4096,
            ip_hash_buckets: 1 << 24,
            ..IpInsightsParams::default()
        };
        assert!(huge.validate("m").join("\n").contains("m.ip_hash_buckets × vector_dim"));
    }
}
