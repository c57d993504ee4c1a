//! Criterion benchmarks per detector: the Kats ports on one daily (365) and one hourly (720)
//! series, and each `Detector` implementation as the run calls it (one series, last day judged).
//! `cargo bench --bench detectors`

use criterion::{criterion_group, criterion_main, Criterion};
use lakesight::detect::changepoint::cusum::{cusum, CusumParams};
use lakesight::detect::changepoint::{Cusum, CusumConfig};
use lakesight::detect::outlier::decompose::{kats_outliers, Decomp};
use lakesight::detect::outlier::{SeasonalIqr, SeasonalIqrConfig};
use lakesight::detect::trend::mann_kendall::mann_kendall;
use lakesight::detect::trend::{MannKendallTrend, TrendConfig};
use lakesight::detect::{Detector, SeriesContext};
use lakesight::series::{Bucket, Series};

/// A deterministic count-like series: level + weekly or daily rhythm + pseudo-noise, a spike and
/// a level shift near the end.
fn series(n: usize, period: usize) -> Vec<f64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let noise = (x % 1000) as f64 / 100.0;
            let season = 20.0 * ((i % period) as f64 / period as f64 * std::f64::consts::TAU).sin();
            let shift = if i > n * 4 / 5 { 40.0 } else { 0.0 };
            let spike = if i == n - 3 { 200.0 } else { 0.0 };
            100.0 + season + noise + shift + spike
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (label, n, period, bucket) in [("daily365", 365, 7, Bucket::Day), ("hourly720", 720, 24, Bucket::Hour)] {
        let y = series(n, period);
        let mut g = c.benchmark_group(label);
        g.bench_function("kats_outliers", |b| b.iter(|| kats_outliers(&y, period, Decomp::Additive, 3.0)));
        g.bench_function("kats_cusum", |b| b.iter(|| cusum(&y, &CusumParams::default())));
        g.bench_function("mann_kendall", |b| b.iter(|| mann_kendall(&y, 0.05)));
        let s = Series {
            key: vec![Some("alice".into())],
            start_ms: 0,
            values: y.clone(),
        };
        let per_day = (86_400_000 / bucket.ms()) as usize;
        let ctx = SeriesContext {
            bucket,
            eval: n - per_day..n,
            min_history: 7,
            values: lakesight::series::Values::Infer,
            fleet: Default::default(),
            period_before: None,
        };
        let dets: Vec<(&str, Box<dyn Detector>)> = vec![
            ("outlier", Box::new(SeasonalIqr::new("outliers", SeasonalIqrConfig::default()))),
            ("changepoint", Box::new(Cusum::new("changepoints", CusumConfig::default()))),
            ("trend", Box::new(MannKendallTrend::new("trends", TrendConfig::default()))),
        ];
        for (family, d) in &dets {
            g.bench_function(format!("detector_{family}"), |b| b.iter(|| d.detect(&s, &ctx)));
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
