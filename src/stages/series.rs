//! The series stage: the `[[series]]` families of the job, each built from its SQL template (or
//! the rollup store) and judged by its detectors, one analysed day at a time.
//!
//! Each analysed day is judged as the nightly run of that day would judge it: on the series cut
//! at the day's end. A rerun of a day therefore gives the same answer as its nightly run, whatever
//! happened later, and a level shift is seen on the night it starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{PlannedQuery, Stage, StageContext, StageError, StageOutput, Window};
use crate::detect::{Anomaly, Detector, DetectorConfig, PeriodState, SeriesContext, SkipReason};
use crate::findings::from_anomaly;
use crate::findings::plot::PlotSpec;
use crate::series::SeriesError;
use crate::series::{Bucket, SeriesCatalog, SeriesTemplate};

/// One `[[series]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesConfig {
    /// Series family: the name of a template in `queries/series/`.
    pub family: String,
    /// Bucket width.
    #[serde(default = "default_bucket")]
    pub bucket: Bucket,
    /// Detector names (keys of `[detectors]`).
    #[serde(default)]
    pub detectors: Vec<String>,
    /// Minimum number of buckets with data before a series is analysed.
    #[serde(default = "default_min_history")]
    pub min_history: usize,
}

fn default_bucket() -> Bucket {
    Bucket::Day
}
fn default_min_history() -> usize {
    14
}

/// Per-family statistics in the manifest (`series."<family>/<bucket>"`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rollup: Option<crate::series::rollup::RollupStats>,
    /// Milliseconds in detectors.
    pub detect_ms: u128,
    /// Days on which most of the family's entities deviated together (see [`split_fleet_events`]).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fleet_events: Vec<FleetEventStats>,
}

/// A fleet-wide event as the manifest records it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FleetEventStats {
    /// Detector.
    pub detector: String,
    /// Day.
    pub dt: String,
    /// Entities that deviated.
    pub entities: usize,
    /// Anomalies folded into the note.
    pub anomalies: usize,
}

/// Fewest entities that, deviating on one day, can make a fleet-wide event rather than that many
/// entity findings.
pub const FLEET_MIN_ENTITIES: usize = 5;
/// A day is a fleet event when that many entities deviating together would happen by chance with
/// at most this probability, were the entities independent and each held to the budget.
pub const FLEET_CHANCE: f64 = 1e-3;
/// Or when at least this share of the entities judged deviated (whatever the budget).
pub const FLEET_SHARE: f64 = 0.5;

/// One fleet-wide event found by [`split_fleet_events`].
#[derive(Debug, Clone, PartialEq)]
pub struct FleetEvent {
    /// Day index (bucket index / buckets per day).
    pub day: usize,
    /// Distinct entities (series) with an anomaly that day.
    pub entities: usize,
    /// Anomalies that day.
    pub anomalies: usize,
}

/// Take out the days on which at least [`FLEET_MIN_ENTITIES`] entities deviated together, and
/// more of them than independent entities could: with `judged` entities each held to
/// `budget_per_1000` false findings per 1,000 entity-days, a day expects λ = judged × budget / 1000
/// deviations by chance, and a day with k is a fleet event when P(Poisson(λ) ≥ k) ≤
/// [`FLEET_CHANCE`] (or k ≥ [`FLEET_SHARE`] of the judged). Why: an outage makes every service
/// role retry and fail in the same hours, a release moves every deployer at once; each entity's
/// own baseline calls that surprising, but it is one event of the fleet with a common cause, not N
/// compromised identities, and N findings for it would bury a real one. The share rule alone
/// missed an outage of the service roles, a third of a family that also holds the people (36
/// benign error findings over 5 benchmark lakes). An attack on a few entities (one user
/// brute-forced, one role used from a stolen key) stays an entity finding; a campaign that
/// touches five or more at once is still reported, as the event note with its entity count.
pub fn split_fleet_events(
    found: Vec<(usize, Anomaly)>,
    judged: usize,
    per_day: usize,
    budget_per_1000: f64,
) -> (Vec<(usize, Anomaly)>, Vec<FleetEvent>) {
    let lambda = judged as f64 * budget_per_1000 / 1000.0;
    let together = |k: usize| {
        k >= FLEET_MIN_ENTITIES
            && (k as f64 >= FLEET_SHARE * judged as f64 || crate::detect::stats::poisson_tail(k as f64, lambda, false) <= FLEET_CHANCE)
    };
    let mut by_day: BTreeMap<usize, (std::collections::BTreeSet<usize>, usize)> = BTreeMap::new();
    for (i, a) in &found {
        let e = by_day.entry(a.start / per_day).or_default();
        e.0.insert(*i);
        e.1 += 1;
    }
    let fleet: BTreeMap<usize, FleetEvent> = by_day
        .into_iter()
        .filter(|(_, (ents, _))| together(ents.len()))
        .map(|(day, (ents, n))| {
            (
                day,
                FleetEvent {
                    day,
                    entities: ents.len(),
                    anomalies: n,
                },
            )
        })
        .collect();
    let kept = found
        .into_iter()
        .filter(|(_, a)| !fleet.contains_key(&(a.start / per_day)))
        .collect();
    (kept, fleet.into_values().collect())
}

/// The series stage of a job: its families, their templates and their detectors.
#[derive(Debug)]
pub struct SeriesStage {
    families: Vec<(SeriesConfig, Arc<SeriesTemplate>)>,
    detectors: BTreeMap<String, DetectorConfig>,
}

impl SeriesStage {
    /// True when one of the families' detectors carries its period from night to night
    /// (`detect_period = true`).
    fn carries_periods(&self) -> bool {
        self.families
            .iter()
            .flat_map(|(sc, _)| &sc.detectors)
            .filter_map(|d| self.detectors.get(d).map(|c| c.build(d)))
            .any(|d| d.carries_state())
    }

    /// Midnight of the first day family `sc` is built from: the job's baseline before the first
    /// analysed day, or further back when one of its detectors judges on a longer history
    /// ([`DetectorConfig::history_days`]).
    fn family_day0(&self, sc: &SeriesConfig, w: &Window) -> i64 {
        let days = sc
            .detectors
            .iter()
            .filter_map(|d| self.detectors.get(d).and_then(DetectorConfig::history_days))
            .max()
            .unwrap_or(0);
        w.day0_ms.min(w.eval_ms - i64::from(days) * 86_400_000)
    }

    /// The stage for `series` (families unknown to `catalog` are left out; validation reports them).
    pub fn new(series: &[SeriesConfig], detectors: &BTreeMap<String, DetectorConfig>, catalog: &SeriesCatalog) -> Self {
        SeriesStage {
            families: series
                .iter()
                .filter_map(|sc| Some((sc.clone(), catalog.get(&sc.family)?)))
                .collect(),
            detectors: detectors.clone(),
        }
    }
}

#[async_trait]
impl Stage for SeriesStage {
    fn name(&self) -> &'static str {
        "series"
    }

    fn techniques(&self) -> Vec<String> {
        let mut v: Vec<String> = self.families.iter().flat_map(|(_, t)| t.mitre.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    fn detectors(&self) -> Vec<String> {
        let mut v: Vec<String> = self.families.iter().flat_map(|(sc, _)| sc.detectors.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    fn carried_tables(&self) -> Vec<String> {
        if self.carries_periods() {
            vec![PERIODS_FOLDER.into()]
        } else {
            Vec::new()
        }
    }

    fn tables(&self) -> Vec<crate::table::TableSpec> {
        if self.carries_periods() {
            vec![periods::spec()]
        } else {
            Vec::new()
        }
    }

    fn queries(&self, w: &Window) -> Vec<PlannedQuery> {
        self.families
            .iter()
            .map(|(sc, t)| PlannedQuery {
                label: format!("{}_{}", sc.family, sc.bucket.unit()),
                view: t.view.clone(),
                from: super::day(self.family_day0(sc, w)),
                to: super::day(w.end_ms - 1),
                detectors: sc.detectors.clone(),
            })
            .collect()
    }

    async fn run(&self, ctx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        let mut out = StageOutput::default();
        let (eval_ms, end_ms) = (ctx.window.eval_ms, ctx.window.end_ms);
        if let Some(b) = ctx.progress {
            b.set_length(self.families.len() as u64);
            b.set_position(0);
        }
        let mut series_stats = BTreeMap::new();
        let (mut t_series, mut t_detect) = (0u128, 0u128);
        let carrying = self.carries_periods();
        let (periods_before, unreadable) = match ctx.carried.get(PERIODS_FOLDER) {
            Some(batches) if carrying => periods::read(batches),
            _ => (BTreeMap::new(), 0),
        };
        if unreadable > 0 {
            let w = format!(
                "series: {unreadable} rows of the day before's {PERIODS_FOLDER} table could not be read; their series \
                 choose their period afresh"
            );
            tracing::warn!("{w}");
            out.warnings.push(w);
        }
        let mut periods_after: Vec<periods::Row> = Vec::new();
        for (sc, tpl) in &self.families {
            ctx.check_cancel("series")?;
            let key = format!("{}/{}", sc.family, sc.bucket.unit());
            if let Some(b) = ctx.progress {
                b.set_message(key.clone());
            }
            let mut st = SeriesStats {
                bucket: sc.bucket.unit().into(),
                ..Default::default()
            };
            if !ctx.has_view(&tpl.view) {
                let w = format!("series {key}: the lake has no table for view lakesight.{}; skipped", tpl.view);
                tracing::warn!("{w}");
                out.warnings.push(w.clone());
                st.warning = Some(w);
                series_stats.insert(key, st);
                continue;
            }
            let t = Instant::now();
            let day0_ms = self.family_day0(sc, &ctx.window);
            let (set, rollup_stats) =
                crate::series::rollup::build(ctx.rollup, ctx.runner, Arc::clone(tpl), sc.bucket, day0_ms, end_ms).await?;
            if let Some(rs) = &rollup_stats {
                out.warnings.extend(rs.unreadable.iter().cloned());
            }
            st.rollup = rollup_stats;
            st.build_ms = t.elapsed().as_millis();
            t_series += st.build_ms;
            st.rows = set.rows;
            st.series = set.series.len();
            let per_day = (86_400_000 / sc.bucket.ms()) as usize;
            let first_eval = ((eval_ms - day0_ms) / sc.bucket.ms()).max(0) as usize;
            let windows: Vec<std::ops::Range<usize>> = (first_eval..set.len)
                .step_by(per_day.max(1))
                .map(|a| a..(a + per_day).min(set.len))
                .collect();
            // Each series' prior on each analysed day: its peers' typical spread over that day's
            // baseline (every bucket before the day, the detectors' baseline), or the family's when
            // its peers are too few.
            let entity_ix = set.template.keys.iter().position(|(k, _)| *k == set.template.entity);
            let peers: Vec<String> = set
                .series
                .iter()
                .map(|s| {
                    let e = entity_ix.and_then(|i| s.key.get(i).cloned().flatten()).unwrap_or_default();
                    crate::detect::stats::peer_of(&e).to_string()
                })
                .collect();
            let groups: std::collections::BTreeSet<&str> = peers.iter().map(String::as_str).collect();
            // Each analysed day is judged on the series a nightly run of that day builds: its
            // `hist` buckets of baseline and the day (a range run must publish what the nightly
            // runs of its days did; see `findings::condition`). A detector with its own
            // `history_days` sees that many days instead, from the family's first bucket with
            // data at the earliest (`data_start`: before it the lake has no files, not zeros).
            let hist = ((eval_ms - ctx.window.day0_ms) / sc.bucket.ms()).max(0) as usize;
            // Per window, the first bucket with data of the family as that day's nightly run
            // builds it (`first_eval` buckets before the day): a range run reaching further back
            // must not floor lower than the nightly run did.
            let any: Vec<bool> = (0..set.len)
                .map(|b| set.series.iter().any(|s| s.values.get(b).is_some_and(|x| *x != 0.0)))
                .collect();
            let data_start: Vec<usize> = windows
                .iter()
                .map(|w| {
                    let from = w.start.saturating_sub(first_eval);
                    (from..w.end.min(any.len())).find(|b| any[*b]).unwrap_or(w.start)
                })
                .collect();
            let present = |i: usize, w: &std::ops::Range<usize>| {
                let v = &set.series[i].values;
                v[cut_range(w, Some((hist, 0)), v.len())].iter().any(|x| *x != 0.0)
            };
            let priors: Vec<BTreeMap<&str, crate::detect::stats::FleetPrior>> = windows
                .iter()
                .map(|w| {
                    let base = |i: usize| {
                        let v = &set.series[i].values;
                        &v[w.start.saturating_sub(hist).min(v.len())..w.start.min(v.len())]
                    };
                    // Only the entities that day's nightly run would have had.
                    let here: Vec<usize> = (0..set.series.len()).filter(|i| present(*i, w)).collect();
                    let family = crate::detect::stats::FleetPrior::from_baselines(here.iter().map(|i| base(*i)));
                    groups
                        .iter()
                        .map(|g| {
                            let p = crate::detect::stats::FleetPrior::from_baselines(
                                here.iter().filter(|i| peers[**i] == *g).map(|i| base(*i)),
                            );
                            (*g, if p == Default::default() { family } else { p })
                        })
                        .collect()
                })
                .collect();
            let t = Instant::now();
            for dname in &sc.detectors {
                ctx.check_cancel("series")?;
                let Some(dc) = self.detectors.get(dname) else { continue };
                let det: Box<dyn Detector> = dc.build(dname);
                let (hist_d, floors): (usize, &[usize]) = match dc.history_days() {
                    Some(d) => (d as usize * per_day, &data_start),
                    None => (hist, &[]),
                };
                let state_key = |s: &crate::series::Series| periods::Key {
                    detector: dname.clone(),
                    family: sc.family.clone(),
                    bucket: sc.bucket.unit().to_string(),
                    keys: crate::series::keys_json(&set.template, s),
                };
                let carries = det.carries_state();
                let results: Vec<Vec<WindowVerdict>> = set
                    .series
                    .par_iter()
                    .zip(peers.par_iter())
                    .map(|(s, g)| {
                        let prior: Vec<_> = priors.iter().map(|m| m.get(g.as_str()).copied().unwrap_or_default()).collect();
                        let before = if carries {
                            periods_before.get(&state_key(s)).copied()
                        } else {
                            None
                        };
                        judge_windows(
                            det.as_ref(),
                            s,
                            &windows,
                            Some((hist_d, floors)),
                            &prior,
                            sc.bucket,
                            sc.min_history,
                            set.template.baseline_required,
                            set.template.values,
                            before,
                        )
                    })
                    .collect();
                if carries {
                    for (s, verdicts) in set.series.iter().zip(&results) {
                        let key = state_key(s);
                        for (w, v) in windows.iter().zip(verdicts) {
                            if let Some(state) = v.carried {
                                periods_after.push(periods::Row {
                                    dt: crate::series::dt(set.bucket_ms(w.start)),
                                    key: key.clone(),
                                    state,
                                });
                            }
                        }
                    }
                }
                // Per window: the anomalies (series index, anomaly in the cut's indices) and how
                // many series were judged — the tests that window's nightly run made.
                let mut per_window: Vec<(Vec<(usize, Anomaly)>, usize)> = (0..windows.len()).map(|_| (Vec::new(), 0)).collect();
                for (i, verdicts) in results.into_iter().enumerate() {
                    if verdicts.iter().any(|v| v.judged) {
                        *st.analysed.entry(dname.clone()).or_default() += 1;
                    } else if let Some(reason) = verdicts.iter().rev().find_map(|v| v.skipped) {
                        *st.skipped.entry(reason.name()).or_default() += 1;
                    }
                    for (wi, v) in verdicts.into_iter().enumerate() {
                        if v.judged {
                            per_window[wi].1 += 1;
                        }
                        per_window[wi].0.extend(v.anomalies.into_iter().map(|a| (i, a)));
                    }
                }
                let mut n = 0;
                for (wi, (found, judged_w)) in per_window.into_iter().enumerate() {
                    let selected = det.select(found, judged_w);
                    // Anomaly indices are the cut's: one window is one nightly day.
                    let (selected, events) = split_fleet_events(selected, judged_w, usize::MAX, dc.false_findings_per_1000());
                    for ev in events {
                        let dt = crate::series::dt(set.bucket_ms(windows[wi].start));
                        let w = format!(
                            "series {key}, {dname}, {dt}: {} of {} entities deviated together — a fleet-wide event (an \
                             outage, a deployment), reported as this note instead of {} findings",
                            ev.entities, judged_w, ev.anomalies
                        );
                        tracing::warn!("{w}");
                        out.warnings.push(w);
                        st.fleet_events.push(FleetEventStats {
                            detector: dname.clone(),
                            dt,
                            entities: ev.entities,
                            anomalies: ev.anomalies,
                        });
                    }
                    n += selected.len();
                    for (i, a) in selected {
                        let s = &set.series[i];
                        let floor = floors.get(wi).copied().unwrap_or(0);
                        let r = cut_range(&windows[wi], Some((hist_d, floor)), s.values.len());
                        let cut_set = crate::series::SeriesSet {
                            template: Arc::clone(&set.template),
                            bucket: set.bucket,
                            start_ms: set.bucket_ms(r.start),
                            len: r.len(),
                            series: Vec::new(),
                            rows: 0,
                            sql: String::new(),
                        };
                        let cut = cut_series(s, r, sc.bucket);
                        let f = from_anomaly(ctx.run_id, dname, &cut_set, &cut, &a);
                        if ctx.plots {
                            out.plots.push((
                                f.finding_id.clone(),
                                PlotSpec {
                                    title: f.title.clone(),
                                    measure: set.template.measure.clone(),
                                    start_ms: cut.start_ms,
                                    bucket_ms: sc.bucket.ms(),
                                    values: cut.values[..a.end.min(cut.values.len())].to_vec(),
                                    window: (a.start, a.end),
                                    band: (a.lower, a.upper),
                                    overlay: a.evidence.overlay(),
                                },
                            ));
                        }
                        out.findings.push(f);
                    }
                }
                st.findings.insert(dname.clone(), n);
            }
            st.detect_ms = t.elapsed().as_millis();
            t_detect += st.detect_ms;
            tracing::info!(family = %key, series = st.series, findings = ?st.findings, skipped = ?st.skipped, "series analysed");
            series_stats.insert(key, st);
            if let Some(b) = ctx.progress {
                b.inc(1);
            }
        }
        if carrying {
            out.tables
                .push(periods::output(&ctx.window, periods_after).map_err(|e| SeriesError::Shape {
                    family: PERIODS_FOLDER.into(),
                    reason: e.to_string(),
                })?);
        }
        out.timings_ms.push(("series".into(), t_series));
        out.timings_ms.push(("detect".into(), t_detect));
        out.manifest
            .push(("series".into(), serde_json::to_value(&series_stats).unwrap_or_default()));
        Ok(out)
    }
}

/// Judge each window (an analysed day, or any run of buckets) of one series on the series cut at
/// that window's end, as the nightly run of that day judged it. With `baseline_required`, a
/// window whose history is all zeros in its first half is skipped (`NewEntity`): the entity
/// appeared within the baseline and has no settled normal yet (a joiner's first weeks ramp up).
/// `values` is the template's declared kind of value (it picks the outlier law). Anomalies of
/// all windows (indices into `s`); the skip reason when no window could be judged. Each window
/// sees every bucket before it (`lakesight detect` over a file); the nightly stage uses
/// [`judge_windows`], which holds each window to its own baseline.
#[allow(clippy::too_many_arguments)]
pub fn judge_days(
    det: &dyn Detector,
    s: &crate::series::Series,
    windows: &[std::ops::Range<usize>],
    priors: &[crate::detect::stats::FleetPrior],
    bucket: Bucket,
    min_history: usize,
    baseline_required: bool,
    values: crate::series::Values,
) -> Result<Vec<Anomaly>, SkipReason> {
    let v = judge_windows(det, s, windows, None, priors, bucket, min_history, baseline_required, values, None);
    match (v.iter().any(|w| w.judged), v.iter().rev().find_map(|w| w.skipped)) {
        (false, Some(e)) => Err(e),
        _ => Ok(v.into_iter().flat_map(|w| w.anomalies).collect()),
    }
}

/// What one window of one series gave: its anomalies in the coordinates of the cut it was judged
/// on ([`cut_range`]), whether it was judged, or why not.
#[derive(Debug)]
pub struct WindowVerdict {
    /// Judged (a result, with or without anomalies).
    pub judged: bool,
    /// Why not, when not.
    pub skipped: Option<SkipReason>,
    /// Anomalies, indices into the cut (its start added gives the series' index).
    pub anomalies: Vec<Anomaly>,
    /// What the detector carries to the next window (night) for this series.
    pub carried: Option<PeriodState>,
}

/// The buckets window `w` is judged on in a series of `len`: `[max(w.start − history, floor),
/// w.end)` for `Some((history, floor))` (the floor: the first bucket that can hold data, capped at
/// the window's start), or everything before `w.end` when `None`.
pub fn cut_range(w: &std::ops::Range<usize>, history: Option<(usize, usize)>, len: usize) -> std::ops::Range<usize> {
    history
        .map(|(h, floor)| w.start.saturating_sub(h).max(floor.min(w.start)))
        .unwrap_or(0)
        .min(len)..w.end.min(len)
}

/// `s` cut to `r` (its start time moved with it).
fn cut_series(s: &crate::series::Series, r: std::ops::Range<usize>, bucket: Bucket) -> crate::series::Series {
    crate::series::Series {
        key: s.key.clone(),
        start_ms: s.start_ms + r.start as i64 * bucket.ms(),
        values: s.values[r].to_vec(),
    }
}

/// Judge each window on the series cut to `[window start − history, window end)`, window i not
/// before `floors[i]` of `history` = `Some((history, floors))` (no floor where `floors` has no
/// entry; all of it before the window when `None`) —
/// exactly the series a nightly run of that day builds, so a range run judges each day as that day's nightly run did: same baseline, same
/// indices in the evidence. `priors[i]` is window i's fleet prior. `carried` is what the detector
/// carried for this series from the night before the first window; each window's verdict holds
/// what it carries to the next (in a range run, window i+1 starts from window i's, as the nightly
/// run of day i+1 starts from what day i published). See [`judge_days`].
#[allow(clippy::too_many_arguments)]
pub fn judge_windows(
    det: &dyn Detector,
    s: &crate::series::Series,
    windows: &[std::ops::Range<usize>],
    history: Option<(usize, &[usize])>,
    priors: &[crate::detect::stats::FleetPrior],
    bucket: Bucket,
    min_history: usize,
    baseline_required: bool,
    values: crate::series::Values,
    mut carried: Option<PeriodState>,
) -> Vec<WindowVerdict> {
    let mut out = Vec::with_capacity(windows.len());
    for (wi, w) in windows.iter().enumerate() {
        let r = cut_range(
            w,
            history.map(|(h, floors)| (h, floors.get(wi).copied().unwrap_or(0))),
            s.values.len(),
        );
        let (off, end) = (r.start, r.end);
        let mut v = WindowVerdict {
            judged: false,
            skipped: None,
            anomalies: Vec::new(),
            carried,
        };
        let local_start = w.start.saturating_sub(off);
        if baseline_required && s.values[off..(off + local_start / 2).min(end)].iter().all(|x| *x == 0.0) {
            v.skipped = Some(SkipReason::NewEntity);
            out.push(v);
            continue;
        }
        let cut = cut_series(s, r, bucket);
        let ctx = SeriesContext {
            bucket,
            eval: local_start..w.end - off,
            min_history,
            values,
            fleet: priors.get(wi).copied().unwrap_or_default(),
            period_before: carried,
        };
        let (result, next) = det.detect_carrying(&cut, &ctx);
        carried = next;
        v.carried = next;
        match result {
            Ok(a) => {
                v.judged = true;
                // Held to its baseline (a nightly day): what starts before the window is another
                // day's finding (that day's run reported it, or dropped it as outside its day).
                v.anomalies = a.into_iter().filter(|a| history.is_none() || a.start >= local_start).collect();
            }
            Err(e) => v.skipped = Some(e),
        }
        out.push(v);
    }
    out
}

/// Folder (and table) of the periods the seasonal detectors carry from night to night.
pub const PERIODS_FOLDER: &str = "series_periods";

/// The `series_periods` table: per analysed day, the period each `detect_period` detector
/// decomposed each series with, and the challenger it is watching — the state the next night
/// starts from ([`crate::detect::outlier::carry_period`]), published with the findings so that a
/// rerun of a day starts from what the day before published, and readable in Athena ("which
/// rhythm did lakesight assume for this series on that night").
pub mod periods {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{Array, AsArray, Int32Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};

    use super::PERIODS_FOLDER;
    use crate::detect::PeriodState;
    use crate::stages::Window;
    use crate::table::{DayRows, TableOutput, TableSpec};

    /// Which series of which detector a state belongs to.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Key {
        /// Detector name.
        pub detector: String,
        /// Series family.
        pub family: String,
        /// `hour` or `day`.
        pub bucket: String,
        /// The series' keys as the findings' `entity_keys` (JSON object).
        pub keys: String,
    }

    /// One series' state after one analysed day.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Row {
        /// The day, `YYYY-MM-DD`.
        pub dt: String,
        /// The series.
        pub key: Key,
        /// Its state.
        pub state: PeriodState,
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("detector", DataType::Utf8, false),
            Field::new("series_family", DataType::Utf8, false),
            Field::new("bucket", DataType::Utf8, false),
            Field::new("entity_keys", DataType::Utf8, false),
            Field::new("period", DataType::Int32, false),
            Field::new("challenger", DataType::Int32, true),
            Field::new("challenger_nights", DataType::Int32, false),
        ]))
    }

    /// The table as the DDL, Glue and the sink know it.
    pub fn spec() -> TableSpec {
        TableSpec {
            table: PERIODS_FOLDER.into(),
            description: "lakesight: the seasonal period each detect_period detector used per series and day".into(),
            folder: PERIODS_FOLDER.into(),
            schema: schema(),
            enums: Vec::new(),
            ddl_comment: "-- lakesight series periods for Athena: one row per detector with detect_period = true, series\n\
                          -- and analysed UTC day. period = the seasonal period (buckets) the series was decomposed with;\n\
                          -- challenger = a rhythm clearly stronger than it on the last challenger_nights nights (the\n\
                          -- period switches after 3). The next night starts from this day's rows.\n"
                .into(),
        }
    }

    /// One file per analysed day of `w` (empty when no series carried a period that day).
    pub fn output(w: &Window, rows: Vec<Row>) -> Result<TableOutput, arrow::error::ArrowError> {
        let mut by_day: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        let mut d = w.eval_ms;
        while d < w.end_ms {
            by_day.insert(crate::series::dt(d), Vec::new());
            d += 86_400_000;
        }
        for r in rows {
            by_day.entry(r.dt.clone()).or_default().push(r);
        }
        let mut days = Vec::new();
        for (dt, mut rows) in by_day {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            let text = |f: fn(&Row) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as _;
            let batch = RecordBatch::try_new(
                schema(),
                vec![
                    text(|r| &r.key.detector),
                    text(|r| &r.key.family),
                    text(|r| &r.key.bucket),
                    text(|r| &r.key.keys),
                    Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.state.period as i32))),
                    Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.state.challenger.map(|c| c as i32)))),
                    Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.state.nights as i32))),
                ],
            )?;
            days.push(DayRows { dt, batch });
        }
        Ok(TableOutput { spec: spec(), days })
    }

    /// The states a published day holds, and how many rows could not be read (a missing column
    /// makes every row unreadable; a period below 2 is not a period).
    pub fn read(batches: &[RecordBatch]) -> (BTreeMap<Key, PeriodState>, usize) {
        let mut out = BTreeMap::new();
        let mut bad = 0;
        for b in batches {
            let text = |n: &str| b.column_by_name(n).and_then(|a| a.as_string_opt::<i32>());
            let int = |n: &str| b.column_by_name(n).and_then(|a| a.as_primitive_opt::<Int32Type>());
            let (Some(det), Some(fam), Some(bucket), Some(keys), Some(period), Some(ch), Some(nights)) = (
                text("detector"),
                text("series_family"),
                text("bucket"),
                text("entity_keys"),
                int("period"),
                int("challenger"),
                int("challenger_nights"),
            ) else {
                bad += b.num_rows();
                continue;
            };
            for i in 0..b.num_rows() {
                let nulls = [
                    det.is_null(i),
                    fam.is_null(i),
                    bucket.is_null(i),
                    keys.is_null(i),
                    period.is_null(i),
                    nights.is_null(i),
                ];
                if nulls.iter().any(|n| *n) || period.value(i) < 2 || nights.value(i) < 0 {
                    bad += 1;
                    continue;
                }
                out.insert(
                    Key {
                        detector: det.value(i).into(),
                        family: fam.value(i).into(),
                        bucket: bucket.value(i).into(),
                        keys: keys.value(i).into(),
                    },
                    PeriodState {
                        period: period.value(i) as usize,
                        challenger: (!ch.is_null(i) && ch.value(i) >= 2).then(|| ch.value(i) as usize),
                        nights: nights.value(i) as u32,
                    },
                );
            }
        }
        (out, bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{Evidence, Severity, Subject};

    #[derive(Debug)]
    struct Plain;
    impl Evidence for Plain {
        fn family(&self) -> &'static str {
            "outlier"
        }
        fn to_json(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn severity(&self, _: &Anomaly) -> Severity {
            Severity::graded(0.0, (3.0, 2.0, 1.0))
        }
        fn title(&self, _: &Anomaly, _: &Subject<'_>) -> String {
            String::new()
        }
    }

    fn at(series: usize, bucket: usize) -> (usize, Anomaly) {
        (
            series,
            Anomaly {
                start: bucket,
                end: bucket + 1,
                observed: 1.0,
                expected: 0.0,
                lower: 0.0,
                upper: 0.0,
                score: 5.0,
                confidence: 0.7,
                deviation: 4.0,
                kind: "spike",
                evidence: Arc::new(Plain),
            },
        )
    }

    /// Proves the fleet rule: six of ten entities on one day (hour buckets 48–71) are one event,
    /// while on another day four entities (below FLEET_MIN_ENTITIES) stay findings. In a fleet of
    /// 400 held to 1 per 1,000 (0.4 deviations a day by chance) the same six are one event too,
    /// though far from half of it; with a budget of 10 per 1,000 (4 a day by chance) six are not
    /// improbable and stay entity findings.
    #[test]
    fn more_entities_deviating_on_one_day_than_chance_allows_is_one_event() {
        let mut found: Vec<(usize, Anomaly)> = (0..6).map(|i| at(i, 50 + i)).collect();
        found.push(at(0, 51)); // a second stretch of one entity the same day
        found.extend((0..4).map(|i| at(i, 80)));
        let (kept, events) = split_fleet_events(found.clone(), 10, 24, 1.0);
        assert_eq!(
            events,
            vec![FleetEvent {
                day: 2,
                entities: 6,
                anomalies: 7
            }]
        );
        assert_eq!(kept.len(), 4);
        assert!(kept.iter().all(|(_, a)| a.start == 80));
        let (kept, events) = split_fleet_events(found.clone(), 400, 24, 1.0);
        assert_eq!(events.len(), 1);
        assert_eq!(kept.len(), 4);
        let (kept, events) = split_fleet_events(found, 400, 24, 10.0);
        assert!(events.is_empty());
        assert_eq!(kept.len(), 11);
    }

    /// Proves the cut a window is judged on: the history before the window's start, never before
    /// the floor (the family's first bucket with data), the floor never past the window's start,
    /// and everything before the window without a history.
    #[test]
    fn cuts_keep_their_history_above_the_floor() {
        let w = 40..41;
        assert_eq!(cut_range(&w, Some((14, 0)), 100), 26..41);
        assert_eq!(cut_range(&w, Some((28, 0)), 100), 12..41);
        assert_eq!(cut_range(&w, Some((28, 20)), 100), 20..41);
        assert_eq!(cut_range(&w, Some((14, 20)), 100), 26..41);
        assert_eq!(cut_range(&w, Some((28, 60)), 100), 40..41);
        assert_eq!(cut_range(&w, None, 100), 0..41);
        assert_eq!(cut_range(&w, Some((14, 0)), 30), 26..30);
    }

    /// Proves a family is built from the longest history its detectors judge on: the job's
    /// baseline for outliers, the trend test's 28 days when a family has it, and never less than
    /// the baseline (a 90-day baseline with the trend test stays 90 days).
    #[test]
    fn a_family_is_built_for_its_longest_history() {
        let catalog = SeriesCatalog::builtin().unwrap();
        let detectors: BTreeMap<String, DetectorConfig> = [
            ("outliers".to_string(), DetectorConfig::SeasonalIqr(Default::default())),
            ("trends".to_string(), DetectorConfig::Trend(Default::default())),
        ]
        .into_iter()
        .collect();
        let fam = |d: &[&str]| SeriesConfig {
            family: "findings_by_type".into(),
            bucket: Bucket::Day,
            detectors: d.iter().map(|s| s.to_string()).collect(),
            min_history: 7,
        };
        let stage = SeriesStage::new(&[fam(&["outliers"]), fam(&["outliers", "trends"])], &detectors, &catalog);
        let day = 86_400_000;
        let w = |baseline: i64| Window {
            day0_ms: 100 * day - baseline * day,
            eval_ms: 100 * day,
            end_ms: 101 * day,
            baseline_days: baseline as u32,
        };
        assert_eq!(stage.family_day0(&fam(&["outliers"]), &w(14)), 86 * day);
        assert_eq!(stage.family_day0(&fam(&["outliers", "trends"]), &w(14)), 72 * day);
        assert_eq!(stage.family_day0(&fam(&["outliers", "trends"]), &w(90)), 10 * day);
        let q = stage.queries(&w(14));
        assert_eq!(q.len(), 2);
        assert_ne!(q[0].from, q[1].from, "{q:?}");
    }

    /// Proves the `series_periods` table round-trips (what a day writes is what the next night
    /// reads), that every analysed day gets a file (empty when nothing carried a period), and
    /// that unreadable rows are counted, not taken: a period below 2, a file missing a column.
    #[test]
    fn period_states_round_trip_and_bad_rows_are_counted() {
        use arrow::array::{Int32Array, StringArray};
        let key = |k: &str| periods::Key {
            detector: "seasonal".into(),
            family: "api_calls".into(),
            bucket: "day".into(),
            keys: format!(r#"{{"principal":"{k}"}}"#),
        };
        let w = Window {
            day0_ms: 0,
            eval_ms: 86_400_000,
            end_ms: 3 * 86_400_000,
            baseline_days: 1,
        };
        let state = PeriodState {
            period: 7,
            challenger: Some(5),
            nights: 2,
        };
        let t = periods::output(
            &w,
            vec![
                periods::Row {
                    dt: "1970-01-02".into(),
                    key: key("a"),
                    state,
                },
                periods::Row {
                    dt: "1970-01-02".into(),
                    key: key("b'; DROP"),
                    state: PeriodState {
                        challenger: None,
                        nights: 0,
                        ..state
                    },
                },
            ],
        )
        .unwrap();
        let days: Vec<(&str, usize)> = t.days.iter().map(|d| (d.dt.as_str(), d.batch.num_rows())).collect();
        assert_eq!(days, vec![("1970-01-02", 2), ("1970-01-03", 0)]);
        let (read, bad) = periods::read(&[t.days[0].batch.clone()]);
        assert_eq!(bad, 0);
        assert_eq!(read.get(&key("a")), Some(&state));
        assert_eq!(read.get(&key("b'; DROP")).map(|s| (s.period, s.challenger)), Some((7, None)));
        // A period of 1 is not a period; a file without the challenger column is unreadable.
        let b = &t.days[0].batch;
        let mut cols = b.columns().to_vec();
        cols[4] = std::sync::Arc::new(Int32Array::from(vec![1, 7]));
        let one = arrow::record_batch::RecordBatch::try_new(b.schema(), cols).unwrap();
        assert_eq!(periods::read(&[one]).1, 1);
        let narrow = arrow::record_batch::RecordBatch::try_from_iter(vec![(
            "detector",
            std::sync::Arc::new(StringArray::from(vec!["x"])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let (read, bad) = periods::read(&[narrow]);
        assert!(read.is_empty());
        assert_eq!(bad, 1);
    }
}
