//! One run of a job over a day or a range of days.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;

use super::config::JobConfig;
use super::Clock;
use crate::detect::{Detector, SeriesContext, SkipReason};
use crate::findings::{from_anomaly, Finding};
use crate::lake::athena::{Athena, QueryStat};
use crate::lake::catalog::{CatalogOptions, Skipped};
use crate::lake::engine::Engine;
use crate::lake::{LakeError, SqlRunner};
use crate::series::SeriesCatalog;
use crate::sink::plot::PlotInput;
use crate::sink::{findings_ddl, report, Output};

/// Errors of a run (each names what failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The lake could not be opened.
    #[error("lake: {0}")]
    Lake(#[from] crate::lake::LakeError),
    /// Writing output failed.
    #[error("output: {0}")]
    Sink(#[from] crate::sink::SinkError),
    /// A series could not be built.
    #[error(transparent)]
    Series(#[from] crate::series::SeriesError),
    /// No date given.
    #[error("no date to analyse: give --date, --from/--to, or job.date / job.from+job.to")]
    NoDate,
    /// The findings table could not be registered in Glue.
    #[error("{0}")]
    Register(String),
}

/// The days a run analyses.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DayRange {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
}

impl DayRange {
    /// Every day, `YYYY-MM-DD`.
    pub fn days(&self) -> Vec<String> {
        self.from.iter_days().take_while(|d| *d <= self.to).map(|d| d.to_string()).collect()
    }
}

/// Per-family statistics in the manifest.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SeriesStats {
    /// Bucket width.
    pub bucket: String,
    /// Rows the series query returned.
    pub rows: usize,
    /// Series built.
    pub series: usize,
    /// Series analysed per detector.
    pub analysed: BTreeMap<String, usize>,
    /// Series skipped per reason.
    pub skipped: BTreeMap<String, usize>,
    /// Findings per detector.
    pub findings: BTreeMap<String, usize>,
    /// Why the family was not built, if it was not.
    pub warning: Option<String>,
    /// Milliseconds to build the series.
    pub build_ms: u128,
    /// Days read from / computed into the rollup store (when `[rollup]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollup: Option<crate::series::rollup::RollupStats>,
    /// Milliseconds in detectors.
    pub detect_ms: u128,
}

/// The run manifest (`manifest.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Run id.
    pub run_id: String,
    /// lakesight version.
    pub lakesight_version: &'static str,
    /// Job name.
    pub job: String,
    /// SHA-256 of the job configuration.
    pub config_digest: String,
    /// Run start, RFC 3339.
    pub started_at: String,
    /// Days analysed.
    pub range: DayRange,
    /// First baseline day.
    pub baseline_from: NaiveDate,
    /// Lake URL.
    pub lake: String,
    /// Files, rows and bytes of the tables opened (the baseline window and the analysed days).
    pub inputs: Inputs,
    /// Inputs skipped, with the reason.
    pub skipped_inputs: Vec<Skipped>,
    /// Per series family and bucket.
    pub series: BTreeMap<String, SeriesStats>,
    /// Findings per detector.
    pub findings_per_detector: BTreeMap<String, usize>,
    /// Findings in total.
    pub findings_total: usize,
    /// Milliseconds per stage.
    pub timings_ms: BTreeMap<String, u128>,
    /// Files written, relative to the output root.
    pub outputs: Vec<String>,
    /// Warnings for people.
    pub warnings: Vec<String>,
    /// Queries run on Athena, with data scanned and cost (when `job.engine = "athena"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub athena: Option<AthenaStats>,
    /// The tables registered in Glue (when `[glue]` is set): findings, features, embeddings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub glue: Vec<crate::sink::glue::Registration>,
    /// Per-principal daily features written (when `output.features`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<FeaturesStats>,
    /// IP Insights per analysed day (when `[ip_insights]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_insights: Option<crate::detect::ip_insights::stage::IpInsightsStats>,
}

/// What the features stage wrote.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FeaturesStats {
    /// Rows (principals) per analysed day.
    pub rows_per_day: BTreeMap<String, usize>,
    /// Milliseconds to build them.
    pub build_ms: u128,
    /// Why they were not built, if they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// What the run's Athena queries scanned and cost.
#[derive(Debug, Clone, Serialize)]
pub struct AthenaStats {
    /// Bytes scanned in total.
    pub bytes_scanned: u64,
    /// Cost estimate in USD.
    pub cost_usd: f64,
    /// Every query.
    pub queries: Vec<QueryStat>,
}

impl AthenaStats {
    fn from_queries(queries: Vec<QueryStat>) -> Self {
        AthenaStats {
            bytes_scanned: queries.iter().map(|q| q.bytes_scanned).sum(),
            cost_usd: queries.iter().map(|q| q.cost_usd).sum(),
            queries,
        }
    }
}

/// Input totals.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Inputs {
    /// Tables.
    pub tables: usize,
    /// Files.
    pub files: usize,
    /// Rows (from footers).
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
}

/// What a run returns to its caller.
#[derive(Debug)]
pub struct RunResult {
    /// The manifest as written.
    pub manifest: Manifest,
    /// The findings.
    pub findings: Vec<Finding>,
    /// Output root URL.
    pub output: String,
}

/// Options a caller can override.
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    /// Single day.
    pub date: Option<NaiveDate>,
    /// Range start.
    pub from: Option<NaiveDate>,
    /// Range end.
    pub to: Option<NaiveDate>,
    /// Lake URL.
    pub lake: Option<String>,
    /// Output URL.
    pub out: Option<String>,
    /// Show a progress bar.
    pub progress: bool,
}

/// The run id of a job started at `started_ms`: `<job name>-<UTC start, YYYYMMDDTHHMMSSZ>`.
pub fn run_id(cfg: &JobConfig, started_ms: i64) -> String {
    let started_at = chrono::DateTime::from_timestamp_millis(started_ms).unwrap_or_default();
    format!("{}-{}", cfg.job.name, started_at.format("%Y%m%dT%H%M%SZ"))
}

/// The span every series of a run covers, `[first baseline midnight, midnight after the last
/// analysed day)` in epoch ms.
pub fn series_window(cfg: &JobConfig, range: DayRange) -> (i64, i64) {
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis()).unwrap_or(0);
    (
        midnight(range.from - chrono::Days::new(cfg.job.baseline_days as u64)),
        midnight(range.to + chrono::Days::new(1)),
    )
}

/// Run a validated job.
pub async fn run(cfg: &JobConfig, catalog: &SeriesCatalog, ov: &RunOverrides, clock: &dyn Clock) -> Result<RunResult, RunError> {
    let t_all = Instant::now();
    let mut timings = BTreeMap::new();
    let range = match (ov.date, ov.from, ov.to, cfg.job.date, cfg.job.from, cfg.job.to) {
        (Some(d), _, _, _, _, _) => DayRange { from: d, to: d },
        (None, Some(f), Some(t), _, _, _) => DayRange { from: f, to: t },
        (None, None, None, Some(d), _, _) => DayRange { from: d, to: d },
        (None, None, None, None, Some(f), Some(t)) => DayRange { from: f, to: t },
        _ => return Err(RunError::NoDate),
    };
    let lake = ov.lake.clone().unwrap_or_else(|| cfg.job.lake.clone());
    let out_url = ov.out.clone().unwrap_or_else(|| cfg.job.output.clone());
    let started = clock.now_ms();
    let started_at = chrono::DateTime::from_timestamp_millis(started).unwrap_or_default();
    let run_id = run_id(cfg, started);
    let baseline_from = range.from - chrono::Days::new(cfg.job.baseline_days as u64);
    let (day0_ms, end_ms) = series_window(cfg, range);
    let eval_ms = range.from.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis()).unwrap_or(0);
    tracing::info!(%run_id, from = %range.from, to = %range.to, %baseline_from, %lake, "run starting");

    let t = Instant::now();
    let s3 = cfg.s3.clone().or(&crate::store::S3Options::from_env());
    let opts = CatalogOptions {
        days: Some((baseline_from.format("%Y%m%d").to_string(), range.to.format("%Y%m%d").to_string())),
        s3: s3.clone(),
        only_tables: None,
    };
    // The embedded engine opens the lake (footers of the window's files); Athena needs neither:
    // its own catalog knows the tables, and reading a month of footers is what it saves.
    let (engine, athena) = match (cfg.job.engine.as_str(), &cfg.athena) {
        ("athena", Some(a)) => (None, Some(Athena::connect(a, &s3, &run_id).await.map_err(LakeError::from)?)),
        _ => (Some(Engine::open(&lake, &opts).await?), None),
    };
    timings.insert("open_lake".to_string(), t.elapsed().as_millis());
    let inputs = engine
        .as_ref()
        .map(|engine| Inputs {
            tables: engine.catalog.tables.len(),
            files: engine.catalog.tables.iter().map(|t| t.files.len()).sum(),
            rows: engine.catalog.tables.iter().map(|t| t.rows()).sum(),
            bytes: engine.catalog.tables.iter().map(|t| t.bytes()).sum(),
        })
        .unwrap_or_default();
    let skipped_inputs = engine.as_ref().map(|e| e.catalog.skipped.clone()).unwrap_or_default();
    let mut warnings = Vec::new();
    for s in &skipped_inputs {
        warnings.push(format!("skipped input {}: {}", s.path, s.reason));
    }
    let runner: &dyn SqlRunner = match (&engine, &athena) {
        (Some(e), _) => e,
        (None, Some(a)) => a,
        (None, None) => return Err(RunError::Lake(LakeError::Config(vec!["job.engine: no engine".into()]))),
    };

    let rollup = match &cfg.rollup {
        Some(r) => Some(crate::series::rollup::Rollup {
            location: crate::store::Location::open(r.location.as_deref().unwrap_or(&out_url), &s3, true)
                .await
                .map_err(|e| RunError::Lake(LakeError::Config(vec![format!("rollup.location: {e}")])))?,
            recompute_days: r.recompute_days,
            source: match &athena {
                Some(_) => format!(
                    "athena:{}",
                    cfg.athena
                        .as_ref()
                        .map(|a| format!("{}.{}", a.catalog, a.database))
                        .unwrap_or_default()
                ),
                None => format!("lake:{lake}"),
            },
            incomplete: crate::series::rollup::Incomplete::from_skipped(skipped_inputs.iter().map(|s| s.path.as_str())),
        }),
        None => None,
    };

    let bar = ov.progress.then(|| {
        let b = indicatif::ProgressBar::new(cfg.series.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });

    let mut findings: Vec<Finding> = Vec::new();
    let mut plots: std::collections::HashMap<String, PlotInput> = std::collections::HashMap::new();
    let mut series_stats = BTreeMap::new();
    let mut t_series = 0u128;
    let mut t_detect = 0u128;
    for sc in &cfg.series {
        let key = format!("{}/{}", sc.family, sc.bucket.unit());
        if let Some(b) = &bar {
            b.set_message(key.clone());
        }
        let mut st = SeriesStats {
            bucket: sc.bucket.unit().into(),
            ..Default::default()
        };
        let Some(tpl) = catalog.get(&sc.family) else { continue };
        if engine.as_ref().is_some_and(|e| !e.views.contains(&tpl.view.as_str())) {
            let w = format!("series {key}: the lake has no table for view lakesight.{}; skipped", tpl.view);
            tracing::warn!("{w}");
            warnings.push(w.clone());
            st.warning = Some(w);
            series_stats.insert(key, st);
            continue;
        }
        let t = Instant::now();
        let (set, rollup_stats) =
            crate::series::rollup::build(rollup.as_ref(), runner, Arc::clone(&tpl), sc.bucket, day0_ms, end_ms).await?;
        if let Some(rs) = &rollup_stats {
            warnings.extend(rs.unreadable.iter().cloned());
        }
        st.rollup = rollup_stats;
        st.build_ms = t.elapsed().as_millis();
        t_series += st.build_ms;
        st.rows = set.rows;
        st.series = set.series.len();
        // Each analysed day is judged as the nightly run of that day would judge it: on the series
        // cut at the day's end. A rerun of a day therefore gives the same answer as its nightly run,
        // whatever happened later, and a level shift is seen on the night it starts.
        let per_day = (86_400_000 / sc.bucket.ms()) as usize;
        let first_eval = ((eval_ms - day0_ms) / sc.bucket.ms()).max(0) as usize;
        let windows: Vec<std::ops::Range<usize>> = (first_eval..set.len)
            .step_by(per_day.max(1))
            .map(|a| a..(a + per_day).min(set.len))
            .collect();
        let t = Instant::now();
        for dname in &sc.detectors {
            let Some(dc) = cfg.detectors.get(dname) else { continue };
            let det: Box<dyn Detector> = dc.build(dname);
            let results: Vec<Result<Vec<crate::detect::Anomaly>, SkipReason>> = set
                .series
                .par_iter()
                .map(|s| {
                    let mut all = Vec::new();
                    let mut last_err = None;
                    for w in &windows {
                        let cut = crate::series::Series {
                            key: s.key.clone(),
                            start_ms: s.start_ms,
                            values: s.values[..w.end].to_vec(),
                        };
                        let ctx = SeriesContext {
                            bucket: sc.bucket,
                            eval: w.clone(),
                            min_history: sc.min_history,
                        };
                        match det.detect(&cut, &ctx) {
                            Ok(a) => all.extend(a),
                            Err(e) => last_err = Some(e),
                        }
                    }
                    match (all.is_empty(), last_err) {
                        (true, Some(e)) => Err(e),
                        _ => Ok(all),
                    }
                })
                .collect();
            let mut found = Vec::new();
            for (i, r) in results.into_iter().enumerate() {
                match r {
                    Ok(anoms) => {
                        *st.analysed.entry(dname.clone()).or_default() += 1;
                        found.extend(anoms.into_iter().map(|a| (i, a)));
                    }
                    Err(reason) => {
                        let k = serde_json::to_value(reason)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default();
                        *st.skipped.entry(k).or_default() += 1;
                    }
                }
            }
            let selected = det.select(found);
            let n = selected.len();
            for (i, a) in selected {
                let f = from_anomaly(&run_id, dname, det.family(), &set, &set.series[i], &a);
                if cfg.output.plots {
                    let s = &set.series[i];
                    plots.insert(
                        f.finding_id.clone(),
                        PlotInput {
                            title: f.title.clone(),
                            measure: set.template.measure.clone(),
                            family: det.family().to_string(),
                            start_ms: s.start_ms,
                            bucket_ms: sc.bucket.ms(),
                            values: s.values[..a.end.min(s.values.len())].to_vec(),
                            window: (a.start, a.end),
                            band: (a.lower, a.upper),
                            slope: a.details.get("slope_theil_sen").and_then(|v| v.as_f64()),
                        },
                    );
                }
                findings.push(f);
            }
            st.findings.insert(dname.clone(), n);
        }
        st.detect_ms = t.elapsed().as_millis();
        t_detect += st.detect_ms;
        tracing::info!(family = %key, series = st.series, findings = ?st.findings, skipped = ?st.skipped, "series analysed");
        series_stats.insert(key, st);
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    timings.insert("series".into(), t_series);
    timings.insert("detect".into(), t_detect);

    // Findings whose window starts outside the analysed days belong to other runs.
    findings.retain(|f| f.window_start_ms >= eval_ms && f.window_start_ms < end_ms);
    findings.sort_by(|a, b| {
        a.dt.cmp(&b.dt)
            .then(b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal))
            .then(a.finding_id.cmp(&b.finding_id))
    });

    // Per-principal daily features of the analysed days (UEBA input), on the same engine.
    let mut features = None;
    let mut feature_days = Vec::new();
    if cfg.output.features {
        let mut st = FeaturesStats::default();
        let view = crate::series::features::template()?.view;
        if engine.as_ref().is_some_and(|e| !e.views.contains(&view.as_str())) {
            let w = format!("features: the lake has no table for view lakesight.{view}; not written");
            tracing::warn!("{w}");
            warnings.push(w.clone());
            st.warning = Some(w);
        } else {
            let t = Instant::now();
            feature_days = crate::series::features::build(runner, &run_id, eval_ms, end_ms).await?;
            st.build_ms = t.elapsed().as_millis();
            st.rows_per_day = feature_days.iter().map(|d| (d.dt.clone(), d.batch.num_rows())).collect();
            timings.insert("features".to_string(), st.build_ms);
        }
        features = Some(st);
    }

    // IP Insights over (principal, source IP) pairs: one model per analysed day.
    let mut ip_insights = None;
    let mut embedding_days = Vec::new();
    if let Some(job) = &cfg.ip_insights {
        let view = crate::detect::ip_insights::stage::template()?.view;
        if engine.as_ref().is_some_and(|e| !e.views.contains(&view.as_str())) {
            let w = format!("ip_insights: the lake has no table for view lakesight.{view}; not run");
            tracing::warn!("{w}");
            warnings.push(w);
        } else {
            let o = crate::detect::ip_insights::stage::run(
                runner,
                rollup.as_ref(),
                job,
                &run_id,
                eval_ms,
                end_ms,
                cfg.job.baseline_days as usize,
            )
            .await?;
            for (dt, d) in &o.stats.days {
                if let Some(why) = &d.skipped {
                    warnings.push(format!("ip_insights {dt}: {why}"));
                }
            }
            timings.insert("ip_insights".to_string(), o.stats.ms);
            findings.extend(o.findings);
            if cfg.output.plots {
                plots.extend(o.plots);
            }
            embedding_days = o.embeddings;
            ip_insights = Some(o.stats);
        }
    }

    let t = Instant::now();
    let out = Output::open(&out_url, &s3).await?;
    let detectors: Vec<String> = {
        let mut v: Vec<String> = cfg.series.iter().flat_map(|s| s.detectors.clone()).collect();
        if cfg.ip_insights.is_some() {
            v.push(crate::detect::ip_insights::stage::DETECTOR.to_string());
        }
        v.sort();
        v.dedup();
        v
    };
    // Register (or update) the findings table before any finding is written: a failure here
    // leaves readers with nothing new.
    let mut glue = Vec::new();
    if let Some(g) = &cfg.glue {
        use crate::sink::glue::{register_table, TableSpec};
        let mut specs = vec![TableSpec::findings(&cfg.output.table, &detectors)];
        if !feature_days.is_empty() {
            specs.push(TableSpec::features(&cfg.output.features_table));
        }
        if !embedding_days.is_empty() {
            specs.push(TableSpec::embeddings(&cfg.output.embeddings_table));
        }
        for spec in &specs {
            glue.push(
                register_table(g, s3.region.as_deref(), &cfg.output.database, spec, &out.url_of(""))
                    .await
                    .map_err(|e| RunError::Register(e.to_string()))?,
            );
        }
    }
    let mut outputs = Vec::new();
    // Plots first, so the findings rows can link them. Highest scores first when capped.
    let mut order: Vec<usize> = (0..findings.len())
        .filter(|i| plots.contains_key(&findings[*i].finding_id))
        .collect();
    order.sort_by(|a, b| {
        findings[*b]
            .score
            .partial_cmp(&findings[*a].score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    order.truncate(cfg.output.max_plots);
    let drawn: Vec<(usize, Result<(Vec<u8>, String), crate::sink::plot::PlotError>)> = order
        .par_iter()
        .map(|i| (*i, crate::sink::plot::render(&plots[&findings[*i].finding_id])))
        .collect();
    for (i, r) in drawn {
        let f = &mut findings[i];
        match r {
            Ok((png, svg)) => {
                let stem = format!("plots/dt={}/{}", f.dt, f.finding_id);
                out.put(&format!("{stem}.svg"), svg.as_bytes()).await?;
                f.plot = Some(out.put(&format!("{stem}.png"), &png).await?);
            }
            Err(e) => {
                let w = format!("plot of finding {}: {e}", f.finding_id);
                tracing::warn!("{w}");
                warnings.push(w);
            }
        }
    }
    for (p, _) in out.write_findings(&findings, &range.days(), &detectors).await? {
        outputs.push(p);
    }
    let location = out.url_of("");
    out.put(
        "findings_table.sql",
        findings_ddl(&cfg.output.database, &cfg.output.table, &location, &detectors).as_bytes(),
    )
    .await?;
    outputs.push("findings_table.sql".into());
    if !feature_days.is_empty() {
        let ddl = crate::sink::features_ddl(&cfg.output.database, &cfg.output.features_table, &location);
        outputs.extend(out.write_dt_table("features", &feature_days, &ddl).await?);
    }
    if !embedding_days.is_empty() {
        let ddl = crate::sink::embeddings_ddl(&cfg.output.database, &cfg.output.embeddings_table, &location);
        outputs.extend(out.write_dt_table("embeddings", &embedding_days, &ddl).await?);
    }
    let mut sqls = String::new();
    for f in &findings {
        sqls.push_str(&format!(
            "-- {} | {} | {}\n{};\n\n",
            f.finding_id,
            f.detector,
            f.title.replace('\n', " "),
            f.investigation_sql
        ));
    }
    out.put(
        &format!("investigations/dt={}_{}/investigations.sql", range.from, range.to),
        sqls.as_bytes(),
    )
    .await?;
    outputs.push(format!("investigations/dt={}_{}/investigations.sql", range.from, range.to));
    timings.insert("write".into(), t.elapsed().as_millis());

    let mut per_det = BTreeMap::new();
    for f in &findings {
        *per_det.entry(f.detector.clone()).or_insert(0usize) += 1;
    }
    timings.insert("total".into(), t_all.elapsed().as_millis());
    let mut manifest = Manifest {
        run_id: run_id.clone(),
        lakesight_version: env!("CARGO_PKG_VERSION"),
        job: cfg.job.name.clone(),
        config_digest: cfg.digest(),
        started_at: started_at.to_rfc3339(),
        range,
        baseline_from,
        lake,
        inputs,
        skipped_inputs,
        athena: athena.as_ref().map(|a| AthenaStats::from_queries(a.stats())),
        glue,
        features,
        ip_insights,
        series: series_stats,
        findings_per_detector: per_det,
        findings_total: findings.len(),
        timings_ms: timings,
        outputs,
        warnings,
    };
    if cfg.output.report {
        let html = report::html(&manifest, &findings);
        out.put("report.html", html.as_bytes()).await?;
        manifest.outputs.push("report.html".into());
    }
    manifest.outputs.push("manifest.json".into());
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    out.put(&format!("runs/{run_id}/manifest.json"), text.as_bytes()).await?;
    out.put("manifest.json", text.as_bytes()).await?;
    tracing::info!(%run_id, findings = findings.len(), "run finished");
    Ok(RunResult {
        manifest,
        findings,
        output: out.url_of(""),
    })
}
