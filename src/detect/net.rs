//! The arithmetic of the network and DNS hunts: address classes and allow-lists, beacon
//! regularity, robust comparison with a history, registrable domains and label randomness.
//!
//! Pure functions over plain values, so each is unit-tested on its own and the hunt stages
//! (`stages::beaconing`, `stages::exfiltration`, `stages::lateral`, `stages::dns_hunt`) only read
//! rows and decide. Hand-written where no crate of the field does it: CIDR matching uses `ipnet`
//! (already in the tree through the AWS SDK), punycode labels (`xn--`) are compared as they are written; the beacon
//! statistics and the n-gram models are a few dozen lines each. The registrable-domain rule is a
//! short list of multi-label public suffixes, not the whole Public Suffix List (a `psl` crate would
//! add a dependency for names the lake's resolvers mostly never see; the hunts compare names
//! with the lake's own history, so a rare wrong cut is a consistent one).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// Private, shared, link-local and loopback ranges: "inside" for the hunts.
pub const INTERNAL: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
];

/// Parse CIDRs (`10.0.0.0/8`, or a bare address as a /32 or /128); every bad entry is reported.
pub fn parse_cidrs(what: &str, v: &[String]) -> Result<Vec<IpNet>, Vec<String>> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for s in v {
        let t = s.trim();
        match t.parse::<IpNet>() {
            Ok(n) => out.push(n.trunc()),
            Err(_) => match t.parse::<IpAddr>() {
                Ok(ip) => out.push(IpNet::from(ip)),
                Err(_) => errs.push(format!("{what}: {s:?} is neither a CIDR nor an address")),
            },
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// Where an address stands for a hunt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// Private/internal.
    Internal,
    /// On an allow-list (AWS service ranges, partners, time servers).
    Allowed,
    /// Anything else on the internet.
    External,
    /// Not an address (empty, malformed).
    Invalid,
}

/// The ranges a hunt treats as inside and as allowed.
#[derive(Debug, Clone, Default)]
pub struct Nets {
    internal: Vec<IpNet>,
    allowed: Vec<IpNet>,
}

impl Nets {
    /// RFC 1918 and friends as inside, `allowed` as allowed.
    pub fn new(allowed: Vec<IpNet>) -> Nets {
        let internal = INTERNAL.iter().filter_map(|s| s.parse::<IpNet>().ok()).collect();
        Nets { internal, allowed }
    }

    /// Classify `ip` (text as the lake holds it; an IPv4-mapped IPv6 address counts as IPv4).
    pub fn class(&self, ip: &str) -> AddrClass {
        let Ok(a) = ip.trim().parse::<IpAddr>() else {
            return AddrClass::Invalid;
        };
        let a = match a {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
            v4 => v4,
        };
        if self.allowed.iter().any(|n| n.contains(&a)) {
            AddrClass::Allowed
        } else if self.internal.iter().any(|n| n.contains(&a)) {
            AddrClass::Internal
        } else {
            AddrClass::External
        }
    }

    /// True when `ip` is on the allow-list.
    pub fn allowed(&self, ip: &str) -> bool {
        self.class(ip) == AddrClass::Allowed
    }
}

/// How regular a series of connection start times is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regularity {
    /// Connections.
    pub n: usize,
    /// The period, seconds (the phase search's best, else the median gap).
    pub period_s: f64,
    /// Median absolute deviation of the gaps over their median (0 = clockwork; about 0.69 for
    /// random, Poisson arrivals).
    pub dispersion: f64,
    /// Phase coherence at the period (mean resultant length, 0..1): high when starts sit on a
    /// grid even with missed beats and jitter around each beat.
    pub phase: f64,
    /// Rayleigh statistic n·phase² (about 1 for random arrivals at one period).
    pub rayleigh: f64,
    /// Seconds from first to last start.
    pub span_s: f64,
    /// 0..1: the stronger of the two regularities; the phase counts only when its Rayleigh
    /// statistic is beyond what the period search finds in random arrivals.
    pub score: f64,
}

/// Median of a slice (sorted copy); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// The dispersion of Poisson arrivals' gaps (MAD/median of an exponential): what `score` = 0 means.
pub const RANDOM_DISPERSION: f64 = 0.694;

/// Regularity of connection start times (epoch seconds, any order). Gaps of zero (several
/// connections in the same second: retries, parallel sockets) count as one start. Two views,
/// because malware sleeps in two ways: `sleep(period ± jitter)` keeps the *gaps* regular
/// (dispersion), a schedule (`every period, jitter around the beat`) keeps the *phase* (a
/// periodogram at periods within ±10% of the median gap, so missed beats, whose gaps are two
/// periods, do not hide it).
pub fn regularity(times_s: &[i64]) -> Option<Regularity> {
    let mut t: Vec<i64> = times_s.to_vec();
    t.sort_unstable();
    t.dedup();
    if t.len() < 4 {
        return None;
    }
    let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let m = median(&gaps);
    if m <= 0.0 {
        return None;
    }
    let dev: Vec<f64> = gaps.iter().map(|g| (g - m).abs()).collect();
    let dispersion = median(&dev) / m;
    let span = (t[t.len() - 1] - t[0]) as f64;
    let n = t.len();
    // Periodogram over periods [0.9 m, 1.1 m], sampled evenly in frequency: independent
    // frequencies there ≈ 0.2·span/m; sample 3× that. Each start's phase at the next frequency
    // is its phase at this one turned by a fixed angle (2π·Δf·x), so a start costs two `sin_cos`
    // and a rotation per frequency instead of a `sin_cos` per frequency (the judge spent most of
    // a big day's beaconing time there: a busy pair has thousands of starts × 4,000 frequencies).
    let steps = ((0.6 * span / m).ceil() as usize).clamp(20, 4000);
    let t0 = t[0];
    let (f_lo, f_hi) = (1.0 / (1.1 * m), 1.0 / (0.9 * m));
    let df = (f_hi - f_lo) / steps as f64;
    let (mut cs, mut ss) = (vec![0.0f64; steps + 1], vec![0.0f64; steps + 1]);
    for &x in &t {
        let x = (x - t0) as f64;
        let (mut si, mut co) = (std::f64::consts::TAU * f_lo * x).sin_cos();
        let (sd, cd) = (std::f64::consts::TAU * df * x).sin_cos();
        for (c, s) in cs.iter_mut().zip(ss.iter_mut()) {
            *c += co;
            *s += si;
            (co, si) = (co * cd - si * sd, si * cd + co * sd);
        }
    }
    let (mut best_r, mut best_p) = (0.0f64, m);
    for (k, (c, s)) in cs.iter().zip(&ss).enumerate() {
        let r = (c * c + s * s).sqrt() / n as f64;
        if r > best_r {
            best_r = r;
            best_p = 1.0 / (f_lo + k as f64 * df);
        }
    }
    let rayleigh = n as f64 * best_r * best_r;
    // Random arrivals: P(Z > z) ≈ e^-z per independent period; with `steps/3` of them, a Z
    // beyond ln(steps) + 12 happens by chance about once in 10^5 searches.
    let z_cut = (steps as f64).ln() + 12.0;
    let gap_score = (1.0 - dispersion / RANDOM_DISPERSION).clamp(0.0, 1.0);
    let phase_score = if rayleigh > z_cut { best_r } else { 0.0 };
    Some(Regularity {
        n,
        period_s: if phase_score > 0.0 { best_p } else { m },
        dispersion,
        phase: best_r,
        rayleigh,
        span_s: span,
        score: gap_score.max(phase_score),
    })
}

/// A value against its history: the robust z `(x − median) / (1.4826·MAD)`, the MAD floored at
/// `rel_floor` × the median (and at 1) so a flat history does not make every wobble infinite.
pub fn robust_z(history: &[f64], x: f64, rel_floor: f64) -> f64 {
    if history.is_empty() {
        return f64::NAN;
    }
    let m = median(history);
    let dev: Vec<f64> = history.iter().map(|h| (h - m).abs()).collect();
    let mad = (1.4826 * median(&dev)).max(rel_floor * m.abs()).max(1.0);
    (x - m) / mad
}

/// Multi-label public suffixes common in resolver logs (the registrable domain is one label
/// more). Not the whole Public Suffix List: see the module docs.
const MULTI_SUFFIXES: &[&str] = &[
    "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.jp", "ne.jp", "or.jp", "co.nz", "co.in", "com.br", "com.cn",
    "com.sg", "com.hk", "co.kr", "co.za", "com.mx", "com.tr", "com.tw",
];

/// A DNS name as the hunts compare it: lower case, no trailing dot, punycode (`xn--`) labels as
/// they are. `None` for a name that is empty, longer than 253 characters, has an empty or
/// over-long (> 63) label or a character DNS does not allow.
pub fn normalise_name(name: &str) -> Option<String> {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if n.is_empty() || n.len() > 253 {
        return None;
    }
    for l in n.split('.') {
        if l.is_empty() || l.len() > 63 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return None;
        }
    }
    Some(n)
}

/// Registrable domain of a normalised name: its public suffix plus one label (`a.b.example.co.uk`
/// → `example.co.uk`); a single-label name is its own. Reverse lookups (`in-addr.arpa`) keep
/// `in-addr.arpa`.
pub fn registrable(name: &str) -> &str {
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() <= 2 {
        return name;
    }
    let last2 = &name[name.len() - labels[labels.len() - 2].len() - 1 - labels[labels.len() - 1].len()..];
    let keep = if MULTI_SUFFIXES.contains(&last2) || last2 == "in-addr.arpa" || last2 == "ip6.arpa" {
        3
    } else {
        2
    };
    if labels.len() <= keep {
        return name;
    }
    let tail: usize = labels[labels.len() - keep..].iter().map(|l| l.len()).sum::<usize>() + keep - 1;
    &name[name.len() - tail..]
}

/// The label a DGA randomises: the registrable domain's first label (`qxkzjv.top` → `qxkzjv`).
pub fn registrable_label(reg: &str) -> &str {
    reg.split('.').next().unwrap_or(reg)
}

/// The part of a name before its registrable domain (`a.b.example.com` → `a.b`), empty if none.
pub fn subdomain<'a>(name: &'a str, reg: &str) -> &'a str {
    name.strip_suffix(reg).map(|s| s.trim_end_matches('.')).unwrap_or("")
}

/// Shannon entropy of the characters of `s`, bits per character.
pub fn entropy(s: &str) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    counts.values().map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

/// A character n-gram model of labels, trained on the lake's own names (no downloaded model): how
/// likely a label is as a name this organisation's resolvers see, with light additive smoothing.
/// Two views: [`Ngram::letters`] (letter pairs: which letters follow which) and
/// [`Ngram::classes`] (vowel/consonant/digit triples: how pronounceable), the second needing far
/// fewer names to be trained — a lake that resolves a few dozen domains still has a usable one.
#[derive(Debug, Clone)]
pub struct Ngram {
    counts: HashMap<Vec<u8>, f64>,
    context: HashMap<Vec<u8>, f64>,
    order: usize,
    classes: bool,
    alphabet: f64,
    smoothing: f64,
}

fn letter(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => b'0',
        c => c,
    }
}

fn class(c: u8) -> u8 {
    match c {
        b'a' | b'e' | b'i' | b'o' | b'u' | b'y' => b'v',
        b'0'..=b'9' => b'd',
        b'a'..=b'z' => b'c',
        _ => b'o',
    }
}

impl Ngram {
    /// Letter pairs (a–z, one symbol for digits, `-`, `_`, end).
    pub fn letters<'a>(labels: impl IntoIterator<Item = &'a str>) -> Ngram {
        Ngram::train(labels, 2, false, 30.0, 0.05)
    }

    /// Vowel/consonant/digit triples.
    pub fn classes<'a>(labels: impl IntoIterator<Item = &'a str>) -> Ngram {
        Ngram::train(labels, 3, true, 5.0, 0.5)
    }

    fn symbols(&self, label: &str) -> Vec<u8> {
        let map = if self.classes { class } else { letter };
        std::iter::once(b'^')
            .chain(label.bytes().map(map))
            .chain(std::iter::once(b'$'))
            .collect()
    }

    fn train<'a>(labels: impl IntoIterator<Item = &'a str>, order: usize, classes: bool, alphabet: f64, smoothing: f64) -> Ngram {
        let mut m = Ngram {
            counts: HashMap::new(),
            context: HashMap::new(),
            order,
            classes,
            alphabet,
            smoothing,
        };
        for l in labels {
            let b = m.symbols(l);
            for w in b.windows(order) {
                *m.counts.entry(w.to_vec()).or_default() += 1.0;
                *m.context.entry(w[..order - 1].to_vec()).or_default() += 1.0;
            }
        }
        m
    }

    /// Mean log2-likelihood per transition of `label` (higher = more like the lake's names).
    pub fn score(&self, label: &str) -> f64 {
        self.score_inner(label, false)
    }

    /// [`Ngram::score`] of a label that was in the training set, as if it had not been (its own
    /// n-grams taken out once): how a name the model never saw would score, so a cut calibrated
    /// on the lake's names is an out-of-sample one.
    pub fn score_held_out(&self, label: &str) -> f64 {
        self.score_inner(label, true)
    }

    fn score_inner(&self, label: &str, held_out: bool) -> f64 {
        let b = self.symbols(label);
        if b.len() < self.order {
            return 0.0;
        }
        let mut own: HashMap<&[u8], f64> = HashMap::new();
        let mut own_ctx: HashMap<&[u8], f64> = HashMap::new();
        if held_out {
            for w in b.windows(self.order) {
                *own.entry(w).or_default() += 1.0;
                *own_ctx.entry(&w[..self.order - 1]).or_default() += 1.0;
            }
        }
        let mut total = 0.0;
        let mut n = 0.0;
        for w in b.windows(self.order) {
            let c = self.counts.get(w).copied().unwrap_or(0.0) - own.get(w).copied().unwrap_or(0.0);
            let ctx = &w[..self.order - 1];
            let f = self.context.get(ctx).copied().unwrap_or(0.0) - own_ctx.get(ctx).copied().unwrap_or(0.0);
            total += ((c.max(0.0) + self.smoothing) / (f.max(0.0) + self.smoothing * self.alphabet)).log2();
            n += 1.0;
        }
        total / n
    }
}

/// Random-looking labels as the DNS hunt decides them: trained on the lake's names, a label is
/// random-looking when either view scores it below that view's `quantile` of the training names
/// scored held out (so about that share of never-seen real names per view is called random too;
/// the hunt asks for several such names from one host in a day).
#[derive(Debug, Clone)]
pub struct Randomness {
    letters: Ngram,
    classes: Ngram,
    cuts: Option<(f64, f64)>,
}

impl Randomness {
    /// Train on `labels` (distinct); the cuts need at least 20 labels of `min_len` characters.
    pub fn train(labels: &[&str], quantile: f64, min_len: usize) -> Randomness {
        let letters = Ngram::letters(labels.iter().copied());
        let classes = Ngram::classes(labels.iter().copied());
        let long: Vec<&&str> = labels.iter().filter(|l| l.len() >= min_len).collect();
        let cuts = (long.len() >= 20).then(|| {
            let cut = |m: &Ngram| {
                let mut v: Vec<f64> = long.iter().map(|l| m.score_held_out(l)).collect();
                v.sort_by(f64::total_cmp);
                crate::detect::stats::np_percentile_sorted(&v, 100.0 * quantile)
            };
            (cut(&letters), cut(&classes))
        });
        Randomness { letters, classes, cuts }
    }

    /// `None` when there were too few names to set the cuts.
    pub fn cuts(&self) -> Option<(f64, f64)> {
        self.cuts
    }

    /// Whether `label` looks random, with its two scores (letters, classes).
    pub fn judge(&self, label: &str) -> (bool, f64, f64) {
        let (l, c) = (self.letters.score(label), self.classes.score(label));
        match self.cuts {
            Some((cl, cc)) => (l < cl || c < cc, l, c),
            None => (false, l, c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn addresses_are_classified_and_bad_ones_are_invalid() {
        let nets = Nets::new(parse_cidrs("allow", &["52.94.0.0/16".into(), "203.0.113.9".into()]).unwrap());
        assert_eq!(nets.class("10.1.2.3"), AddrClass::Internal);
        assert_eq!(nets.class("::ffff:10.1.2.3"), AddrClass::Internal, "IPv4-mapped IPv6");
        assert_eq!(nets.class("fd00::1"), AddrClass::Internal);
        assert_eq!(nets.class("52.94.7.1"), AddrClass::Allowed);
        assert_eq!(nets.class("203.0.113.9"), AddrClass::Allowed);
        assert_eq!(nets.class("203.0.113.10"), AddrClass::External);
        assert_eq!(nets.class("2001:db8::1"), AddrClass::External);
        for bad in ["", "-", "10.0.0", "10.0.0.256", "not an ip"] {
            assert_eq!(nets.class(bad), AddrClass::Invalid, "{bad:?}");
        }
        let e = parse_cidrs("hunts.allow_cidrs", &["10.0.0.0/33".into(), "x".into(), "1.2.3.4/8".into()]).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
    }

    fn poisson_times(seed: u64, n: usize, mean_gap: f64) -> Vec<i64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut t = 1_700_000_000.0;
        (0..n)
            .map(|_| {
                t += -mean_gap * (1.0 - rng.random::<f64>()).ln();
                t as i64
            })
            .collect()
    }

    #[test]
    fn random_arrivals_are_not_regular() {
        // 200 Poisson streams: none may reach the 0.5 regularity a beacon with ±30% jitter has.
        let worst = (0..200)
            .map(|s| regularity(&poisson_times(s, 24 + (s as usize * 7) % 400, 300.0)).unwrap().score)
            .fold(0.0f64, f64::max);
        assert!(worst < 0.45, "worst random stream scored {worst}");
    }

    #[test]
    fn beacons_are_regular_with_jitter_and_missed_beats() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // A schedule: every 60 s, ±30% around each beat, 20% of beats missed.
        let mut sched: Vec<i64> = Vec::new();
        for k in 0..1440i64 {
            if rng.random::<f64>() > 0.2 {
                sched.push(1_700_000_000 + k * 60 + rng.random_range(-18..=18));
            }
        }
        let r = regularity(&sched).unwrap();
        assert!(r.score > 0.4 && (r.period_s - 60.0).abs() < 1.0, "{r:?}");
        // A sleep loop: gaps of 600 s ± 30%.
        let mut t = 1_700_000_000i64;
        let sleep: Vec<i64> = (0..100)
            .map(|_| {
                t += 600 + rng.random_range(-180..=180);
                t
            })
            .collect();
        let r = regularity(&sleep).unwrap();
        assert!(r.score > 0.6 && r.dispersion < 0.25, "{r:?}");
        assert!(regularity(&[1, 2, 3]).is_none(), "too few starts");
        assert!(regularity(&[5, 5, 5, 5, 5]).is_none(), "one second");
    }

    /// Proves the rotated periodogram is the periodogram: its peak equals the one computed with a
    /// `sin_cos` per start and frequency on the same grid, on a beacon and on random arrivals.
    #[test]
    fn the_rotated_periodogram_equals_the_direct_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let beacon: Vec<i64> = (0..3000i64).map(|k| 1_700_000_000 + k * 29 + rng.random_range(-9..=9)).collect();
        for times in [beacon, poisson_times(5, 2000, 40.0)] {
            let r = regularity(&times).unwrap();
            let mut t = times.clone();
            t.sort_unstable();
            t.dedup();
            let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
            let m = median(&gaps);
            let span = (t[t.len() - 1] - t[0]) as f64;
            let steps = ((0.6 * span / m).ceil() as usize).clamp(20, 4000);
            let (f_lo, f_hi) = (1.0 / (1.1 * m), 1.0 / (0.9 * m));
            let best = (0..=steps)
                .map(|k| {
                    let w = std::f64::consts::TAU * (f_lo + k as f64 * (f_hi - f_lo) / steps as f64);
                    let (c, s) = t.iter().fold((0.0, 0.0), |(c, s), &x| {
                        let (si, co) = (w * (x - t[0]) as f64).sin_cos();
                        (c + co, s + si)
                    });
                    (c * c + s * s).sqrt() / t.len() as f64
                })
                .fold(0.0f64, f64::max);
            assert!((r.phase - best).abs() < 1e-9, "{} vs {best}", r.phase);
        }
    }

    #[test]
    fn robust_z_against_a_flat_and_a_noisy_history() {
        let flat = [100.0; 14];
        assert!(
            (robust_z(&flat, 300.0, 0.1) - 20.0).abs() < 1e-9,
            "MAD floored at 10% of the median"
        );
        let noisy = [80.0, 120.0, 95.0, 105.0, 90.0, 110.0, 100.0];
        let z = robust_z(&noisy, 100.0, 0.1);
        assert!(z.abs() < 1e-9);
        assert!(robust_z(&[], 1.0, 0.1).is_nan());
    }

    #[test]
    fn names_are_normalised_and_cut_at_their_registrable_domain() {
        assert_eq!(normalise_name("WWW.Example.COM.").as_deref(), Some("www.example.com"));
        assert_eq!(normalise_name("xn--bcher-kva.example.").as_deref(), Some("xn--bcher-kva.example"));
        assert!(normalise_name("").is_none() && normalise_name(".").is_none());
        assert!(normalise_name(&format!("{}.com", "a".repeat(64))).is_none(), "label over 63");
        assert!(
            normalise_name(&format!("{}com", "abcdefghi.".repeat(26))).is_none(),
            "name over 253"
        );
        assert!(normalise_name("bad name.com").is_none() && normalise_name("a..b").is_none());
        assert_eq!(registrable("a.b.example.com"), "example.com");
        assert_eq!(registrable("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("example.com"), "example.com");
        assert_eq!(registrable("localhost"), "localhost");
        assert_eq!(registrable("4.3.2.1.in-addr.arpa"), "1.in-addr.arpa");
        assert_eq!(subdomain("a.b.example.com", "example.com"), "a.b");
        assert_eq!(subdomain("example.com", "example.com"), "");
        assert_eq!(registrable_label("qxkzjv.top"), "qxkzjv");
    }

    #[test]
    fn the_lake_trained_models_tell_random_labels_from_names() {
        let names = [
            "amazonaws",
            "github",
            "slack",
            "datadoghq",
            "okta",
            "google",
            "microsoft",
            "ubuntu",
            "docker",
            "pagerduty",
            "salesforce",
            "atlassian",
            "zoom",
            "office",
            "windowsupdate",
            "cloudflare",
            "sentry",
            "newrelic",
            "stripe",
            "twilio",
            "mongodb",
            "elastic",
            "grafana",
            "snowflake",
            "hashicorp",
            "api",
            "login",
            "www",
            "mail",
            "static",
            "assets",
            "images",
            "status",
            "support",
            "updates",
            "security",
            "metrics",
            "events",
            "telemetry",
            "storage",
            "download",
            "packages",
            "registry",
            "identity",
            "monitoring",
            "analytics",
            "content",
            "delivery",
            "service",
            "platform",
            "console",
            "portal",
        ];
        let r = Randomness::train(&names, 0.1, 7);
        assert!(r.cuts().is_some());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let random = (0..200)
            .map(|_| {
                (0..rng.random_range(10..18))
                    .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
                    .collect::<String>()
            })
            .filter(|l| r.judge(l).0)
            .count();
        let unseen = [
            "gitlab",
            "dropbox",
            "confluence",
            "jenkins",
            "artifactory",
            "terraform",
            "kubernetes",
            "notion",
        ];
        let names_called_random = unseen.iter().filter(|l| r.judge(l).0).count();
        // 52 names: most random labels, and some real ones (3 of these 8), which is why the hunt
        // needs several fleet-new random-looking domains from one host in a day.
        assert!(random >= 170, "{random}/200 random labels called random");
        assert!(names_called_random <= 3, "{names_called_random}/8 unseen names called random");
        let m = Ngram::letters(names.iter().copied());
        assert!(m.score_held_out("github") < m.score("github"), "held out scores lower");
        assert!(Randomness::train(&names[..10], 0.1, 7).cuts().is_none(), "too few names: no cut");
        assert!(entropy("aaaa") == 0.0 && (entropy("abcd") - 2.0).abs() < 1e-12);
    }
}
