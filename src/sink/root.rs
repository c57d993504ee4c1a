//! The output root's pointers to the newest run: `report.html`, `report.md`, `manifest.json` and
//! `latest.json`, settled on the run started last, whichever run finishes last.
//!
//! Why a protocol: every run keeps exact copies under `runs/<run id>/`, but the root files are
//! shared. Runs of different days (a nightly run and a rerun by hand, two children of a backfill)
//! may publish at the same instant; reading `latest.json` and then writing the root lets an
//! older run that read before a newer one wrote overwrite it. S3 offers no lock, and a local
//! folder no compare-and-swap, so this uses only what both have — a plain put, a listing that
//! sees every completed put, and a get:
//!
//! 1. After its `runs/<id>/` copies are written, a run puts a marker
//!    `_latest/<started ms>-<run id>.json` (its [`Latest`]); the markers sort by start.
//! 2. It lists the markers and writes the root from the newest one's `runs/` copies (its own, or
//!    another run's), `latest.json` last.
//! 3. It lists again; if the newest marker is still the one it wrote, it is done, else it goes
//!    back to 2.
//!
//! Why the root ends as the newest run's: take the last write to any root file, by run W, with
//! the files of run N. W's final listing came after that write and named N (else W would have
//! written again), so N's marker was the newest then; a run with a newer marker puts it after
//! W's listing and writes the root after that — after W's last write, a contradiction. And every
//! root file's last writer names the same N: markers only grow, and a newer marker's run writes
//! every file after any listing that missed it. A run killed between its marker and step 3
//! leaves a marker whose `runs/` copies exist (the marker is put after them); the next run
//! settles the root on it if it is newer.
//!
//! The prefix starts with `_`, which Athena, Hive and pyarrow skip. Markers older than the one a
//! run settled on are deleted by it (only the newest is ever read).

use crate::sink::{Output, SinkError};

/// The pointer to the newest run's files at the output root.
pub const LATEST: &str = "latest.json";

/// The folder of the markers of published runs.
pub const MARKERS: &str = "_latest";

/// Rounds of steps 2–3 before a run gives up settling the root (each round means a newer run
/// published while this one wrote: more than a few is not a race but a storm).
const ROUNDS: usize = 8;

/// `latest.json`: which run the root `report.html` and `manifest.json` are, and where its own
/// copies stay (they are not overwritten by a later run). Written after both, so a reader that
/// follows it finds them whole. Newest by start time: a rerun started now is the latest run even
/// when it rewrites an older day (module docs: how two runs finishing at once settle it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Latest {
    /// Run id.
    pub run_id: String,
    /// When the run started (ms since the epoch, the injected clock's).
    pub started_ms: i64,
    /// Days it analysed.
    pub range: crate::sink::manifest::DayRange,
    /// Its manifest's URL under runs/.
    pub manifest: String,
    /// Its report's URL under runs/, when it wrote one.
    pub report: Option<String>,
}

/// A run's own root files, as it wrote them under `runs/<run id>/`.
#[derive(Debug, Clone, Copy)]
pub struct RootFiles<'a> {
    /// Its pointer.
    pub latest: &'a Latest,
    /// `manifest.json`.
    pub manifest: &'a [u8],
    /// `report.html` and `report.md`, when it wrote a report.
    pub report: Option<(&'a [u8], &'a [u8])>,
}

fn marker_name(started_ms: i64, run_id: &str) -> String {
    format!("{:015}-{run_id}.json", started_ms.max(0))
}

/// The markers' names (not a local folder's hidden temporary files, which sort first).
async fn markers(out: &Output) -> Result<Vec<String>, SinkError> {
    let mut v = out.location.list_files(MARKERS).await?;
    v.retain(|n| !n.starts_with('.') && n.ends_with(".json"));
    Ok(v)
}

/// The newest marker's name.
async fn newest(out: &Output) -> Result<Option<String>, SinkError> {
    Ok(markers(out).await?.into_iter().max())
}

/// The run id of a run started after `started_ms` (or at it, with a larger id) that has
/// published, if any: its files stay at the root.
pub async fn newer_than(out: &Output, started_ms: i64, run_id: &str) -> Result<Option<String>, SinkError> {
    let mine = marker_name(started_ms, run_id);
    for _ in 0..ROUNDS {
        let Some(n) = newest(out).await?.filter(|n| *n > mine) else {
            return Ok(None);
        };
        if let Some(l) = read_marker(out, &n).await? {
            return Ok(Some(l.run_id));
        }
    }
    Ok(None)
}

/// A marker; `None` when it was listed and is gone (a newer one was settled on meanwhile).
async fn read_marker(out: &Output, name: &str) -> Result<Option<Latest>, SinkError> {
    let rel = format!("{MARKERS}/{name}");
    let Some(bytes) = out.get_opt(&rel).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| SinkError::Decode {
        url: out.url_of(&rel),
        reason: e.to_string(),
    })
}

/// Record `mine` as published and settle the root on the newest published run (module docs).
/// Returns the run whose files this call wrote at the root last (`None`: it wrote none).
pub async fn publish(out: &Output, mine: RootFiles<'_>) -> Result<Option<String>, SinkError> {
    let me = marker_name(mine.latest.started_ms, &mine.latest.run_id);
    let body = serde_json::to_vec_pretty(mine.latest).unwrap_or_default();
    out.put(&format!("{MARKERS}/{me}"), &body).await?;
    let mut written: Option<String> = None;
    let mut shown: Option<String> = None;
    for _ in 0..ROUNDS {
        // One listing a round: the newest marker, and the older ones deleted once settled.
        let all = markers(out).await?;
        let n = all.iter().max().cloned().unwrap_or_else(|| me.clone());
        if written.as_deref() == Some(n.as_str()) {
            for old in all {
                if old < n {
                    if let Err(e) = out.location.delete_opt(&format!("{MARKERS}/{old}")).await {
                        tracing::warn!(error = %e, marker = %old, "deleting an older run's root marker");
                    }
                }
            }
            return Ok(shown);
        }
        if n == me {
            write(out, mine.latest, mine.manifest, mine.report).await?;
            shown = Some(mine.latest.run_id.clone());
        } else {
            let Some(other) = read_marker(out, &n).await? else {
                continue; // settled past by a newer run meanwhile: list again
            };
            let dir = format!("runs/{}", other.run_id);
            let manifest = out.get_opt(&format!("{dir}/manifest.json")).await?;
            let report = match other.report {
                Some(_) => match (
                    out.get_opt(&format!("{dir}/report.html")).await?,
                    out.get_opt(&format!("{dir}/report.md")).await?,
                ) {
                    (Some(h), Some(m)) => Some((h, m)),
                    _ => None,
                },
                None => None,
            };
            match manifest {
                Some(m) if report.is_some() == other.report.is_some() => {
                    tracing::info!(run_id = %other.run_id, "a run started after this one has published: the root shows it");
                    write(out, &other, &m, report.as_ref().map(|(h, m)| (&h[..], &m[..]))).await?;
                    shown = Some(other.run_id);
                }
                _ => tracing::warn!(
                    run_id = %other.run_id,
                    "the newest published run's copies under runs/ are missing: the root is left as it is"
                ),
            }
        }
        written = Some(n);
    }
    tracing::warn!(
        rounds = ROUNDS,
        "newer runs kept publishing while this one settled the root: left to the last of them"
    );
    Ok(shown)
}

/// Write the root files of one run, `latest.json` last.
async fn write(out: &Output, latest: &Latest, manifest: &[u8], report: Option<(&[u8], &[u8])>) -> Result<(), SinkError> {
    if let Some((html, md)) = report {
        out.put("report.html", html).await?;
        out.put("report.md", md).await?;
    }
    out.put("manifest.json", manifest).await?;
    out.put(LATEST, serde_json::to_string_pretty(latest).unwrap_or_default().as_bytes())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::manifest::DayRange;

    fn latest(out: &Output, run: &str, started_ms: i64) -> Latest {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 3, 20).unwrap();
        Latest {
            run_id: run.into(),
            started_ms,
            range: DayRange { from: day, to: day },
            manifest: out.url_of(&format!("runs/{run}/manifest.json")),
            report: Some(out.url_of(&format!("runs/{run}/report.html"))),
        }
    }

    /// What a run writes before the root: its runs/ copies.
    async fn copies(out: &Output, l: &Latest) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (m, h, d) = (
            format!("manifest of {}", l.run_id).into_bytes(),
            format!("<html>{}</html>", l.run_id).into_bytes(),
            format!("# {}", l.run_id).into_bytes(),
        );
        let dir = format!("runs/{}", l.run_id);
        out.put(&format!("{dir}/manifest.json"), &m).await.unwrap();
        out.put(&format!("{dir}/report.html"), &h).await.unwrap();
        out.put(&format!("{dir}/report.md"), &d).await.unwrap();
        (m, h, d)
    }

    async fn root_of(out: &Output) -> (String, String, String, String) {
        let s = |b: Option<bytes::Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
        let l: Latest = serde_json::from_slice(&out.get_opt(LATEST).await.unwrap().unwrap()).unwrap();
        (
            l.run_id,
            s(out.get_opt("manifest.json").await.unwrap()),
            s(out.get_opt("report.html").await.unwrap()),
            s(out.get_opt("report.md").await.unwrap()),
        )
    }

    /// Proves the root ends as the newest-started run's — all four files, not a mix — when 12
    /// runs started at different times publish at the same instant on a multi-threaded runtime
    /// (each put, list and get a separate file-system call on the blocking pool, so they
    /// interleave), over 30 rounds; that `newer_than` names the newest to every older run; and
    /// that only the newest marker is left. Reading `latest.json` then writing (the previous
    /// rule) left an older run's files at the root in the first round in each of three tries (checked).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn runs_publishing_at_once_leave_the_root_to_the_newest_started() {
        for round in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let out = Output::open(dir.path().to_str().unwrap(), &Default::default()).await.unwrap();
            // Start order unrelated to the spawn order.
            let runs: Vec<(String, i64)> = (0..12)
                .map(|i| (format!("run-{round}-{i:02}"), 1_000 + ((i * 7 + round) % 12) as i64))
                .collect();
            let newest = runs.iter().max_by_key(|(_, t)| *t).unwrap().0.clone();
            let mut tasks = Vec::new();
            for (run, t) in runs.clone() {
                let out = out.clone();
                tasks.push(tokio::spawn(async move {
                    let l = latest(&out, &run, t);
                    let (m, h, d) = copies(&out, &l).await;
                    publish(
                        &out,
                        RootFiles {
                            latest: &l,
                            manifest: &m,
                            report: Some((&h, &d)),
                        },
                    )
                    .await
                    .unwrap()
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let (id, m, h, d) = root_of(&out).await;
            assert_eq!(id, newest, "round {round}");
            assert_eq!(
                (m, h, d),
                (
                    format!("manifest of {newest}"),
                    format!("<html>{newest}</html>"),
                    format!("# {newest}")
                ),
                "round {round}: the root mixes runs' files"
            );
            for (run, t) in &runs {
                let n = newer_than(&out, *t, run).await.unwrap();
                assert_eq!(n.as_deref(), (run != &newest).then_some(newest.as_str()), "round {round}, {run}");
            }
            assert_eq!(markers(&out).await.unwrap().len(), 1, "round {round}");
        }
    }

    /// Proves an older run publishing after a newer one has settled leaves the root alone, and
    /// that a newer run's marker without its runs/ copies (cannot happen in a run, which writes
    /// them first) is not followed into a half-written root.
    #[tokio::test]
    async fn a_late_older_run_leaves_the_root_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::open(dir.path().to_str().unwrap(), &Default::default()).await.unwrap();
        let (b, a) = (latest(&out, "run-b", 2_000), latest(&out, "run-a", 1_000));
        for l in [&b, &a] {
            let (m, h, d) = copies(&out, l).await;
            let shown = publish(
                &out,
                RootFiles {
                    latest: l,
                    manifest: &m,
                    report: Some((&h, &d)),
                },
            )
            .await
            .unwrap();
            assert_eq!(shown.as_deref(), Some("run-b"));
        }
        assert_eq!(root_of(&out).await.0, "run-b");
        let ghost = latest(&out, "run-c", 3_000);
        out.put(
            &format!("{MARKERS}/{}", marker_name(3_000, "run-c")),
            &serde_json::to_vec(&ghost).unwrap(),
        )
        .await
        .unwrap();
        let d = latest(&out, "run-d", 1_500);
        let (m, h, md) = copies(&out, &d).await;
        let shown = publish(
            &out,
            RootFiles {
                latest: &d,
                manifest: &m,
                report: Some((&h, &md)),
            },
        )
        .await
        .unwrap();
        assert_eq!(shown, None);
        assert_eq!(root_of(&out).await.0, "run-b", "a marker without copies was followed");
    }
}
