//! Shared fixtures: small generated lakes, built once per test process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lakesight::lake::catalog::CatalogOptions;
use lakesight::lake::engine::Engine;
use lakesight::sample::{generate, Codec, SampleLakeConfig, SampleLakeSummary, VersionMode};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub summary: SampleLakeSummary,
}

impl Fixture {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn url(&self) -> String {
        self.dir.path().display().to_string()
    }
    pub fn labels(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&self.summary.labels).unwrap()).unwrap()
    }
}

pub fn config(out: PathBuf, versions: VersionMode, days: u32, events_per_day: u64) -> SampleLakeConfig {
    SampleLakeConfig {
        out,
        days,
        start: chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        events_per_day,
        seed: 42,
        versions,
        codec: Codec::Zstd,
        scenarios: None,
        world: lakesight::sample::WorldKind::Simple,
    }
}

/// A realistic-world lake (2 accounts from 2025-03-01, `seed`) with the `--scenarios` items
/// `spec` injected, generated into `dir/lake`; its config and labels.
pub fn realistic_lake(
    dir: &Path,
    versions: VersionMode,
    days: u32,
    events_per_day: u64,
    seed: u64,
    spec: &str,
) -> (SampleLakeConfig, serde_json::Value) {
    let cfg = SampleLakeConfig {
        seed,
        world: lakesight::sample::WorldKind::Realistic,
        scenarios: Some(lakesight::sample::scenarios::parse_specs(spec).unwrap()),
        ..config(dir.join("lake"), versions, days, events_per_day)
    };
    let summary = generate(&cfg).unwrap();
    let labels = serde_json::from_str(&std::fs::read_to_string(&summary.labels).unwrap()).unwrap();
    (cfg, labels)
}

/// `jobs/demo.toml` over `lake`'s second half (where `--scenarios` places attacks) into
/// `dir/out`, without series, IP Insights, hunts, features or report: the identity and UEBA
/// stages only (a test switches off the one it does not check).
pub fn identity_job(lake: &SampleLakeConfig, dir: &Path) -> lakesight::runtime::config::JobConfig {
    let mut job = lakesight::runtime::config::JobConfig::parse(include_str!("../../jobs/demo.toml"), "jobs/demo.toml").unwrap();
    job.job.lake = lake.out.display().to_string();
    job.job.output = dir.join("out").display().to_string();
    job.job.from = Some(lake.start + chrono::Days::new(u64::from(lake.days) / 2));
    job.job.to = Some(lake.start + chrono::Days::new(u64::from(lake.days) - 1));
    job.series.clear();
    job.ip_insights = None;
    job.hunts = None;
    job.output.features = false;
    job.output.report = false;
    job
}

fn make(versions: VersionMode) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&config(dir.path().to_path_buf(), versions, 14, 20_000)).unwrap();
    Fixture { dir, summary }
}

/// A 14-day lake, version 1 for the first week and version 2 after.
pub fn mixed_lake() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| make(VersionMode::Mixed))
}

pub async fn engine(url: &str) -> Engine {
    Engine::open(url, &CatalogOptions::default()).await.unwrap()
}

/// First column of the first row as i64.
pub async fn scalar_i64(e: &Engine, sql: &str) -> i64 {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    let b = e.collect(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    let col = arrow::compute::cast(b[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    col.as_primitive::<Int64Type>().value(0)
}

/// Every file under `dir`, at any depth, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every row group of a local Parquet file.
pub fn read_parquet(path: &std::path::Path) -> Vec<arrow::record_batch::RecordBatch> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// The series stage's section of a manifest, typed.
pub fn series_stats(m: &lakesight::sink::manifest::Manifest) -> std::collections::BTreeMap<String, lakesight::stages::series::SeriesStats> {
    m.stage("series").expect("the manifest has a series section")
}

/// A program a test needs from outside the repository: the path in `env`, else `default`. `None`
/// (the test skips, saying so) when it does not exist and `require` is unset; `.ci/run` installs
/// each such program and sets its `require` variable, so in CI its absence fails the test.
pub fn external_tool(env: &str, default: std::path::PathBuf, require: &str, install: &str) -> Option<std::path::PathBuf> {
    let p = std::env::var_os(env).map(std::path::PathBuf::from).unwrap_or(default);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os(require).is_none(),
        "{require} is set but {} does not exist ({install})",
        p.display()
    );
    eprintln!("SKIPPED: no {} ({install} to run this test)", p.display());
    None
}

/// Each finding's id, title and observed/expected values, sorted: what two runs that should find
/// the same are compared on.
pub fn finding_summary(r: &lakesight::runtime::run::RunResult) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            (
                f.finding_id.clone(),
                f.title.clone(),
                format!("{:.9} {:.9}", f.observed, f.expected),
            )
        })
        .collect();
    v.sort();
    v
}

/// Rewrite every batch of a Parquet file with `edit` into `dst`, under the schema `edit` returns.
pub fn rewrite(
    src: &std::path::Path,
    dst: &std::path::Path,
    edit: impl Fn(&arrow::record_batch::RecordBatch) -> arrow::record_batch::RecordBatch,
) -> usize {
    let f = std::fs::File::open(src).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = r.map(|b| edit(&b.unwrap())).collect();
    let out = std::fs::File::create(dst).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(out, batches[0].schema(), None).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}
