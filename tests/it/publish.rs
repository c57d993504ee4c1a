//! Repeatable publishing: runs killed at any point and rerun, two runs racing for one day, a rerun
//! that supersedes what an earlier run of a different job configuration published. Every run here
//! is the real binary (`lakesight run`), killed or stopped with real signals.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use lakesight::sample::{generate, VersionMode};

use crate::common::{config, files_under, read_parquet};

/// The day every run here analyses: the sample plan's busiest day (brute force, exfiltration,
/// lateral movement and a new-address login fall on it).
const DAY: &str = "2025-03-20";

struct World {
    _dir: tempfile::TempDir,
    /// The demo job over lake A.
    job: PathBuf,
    /// The same with `detect_period` on the outliers: the series stage carries the periods it
    /// chose from one night to the next (a table the next day reads before its stages run).
    periods: PathBuf,
    /// The output an earlier run left: a job with one detector more (`loose`), over lake B (other
    /// seed, so other findings and plots) — everything a rerun must replace or remove.
    stale: PathBuf,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let lake = |name: &str, seed: u64| {
            let mut c = config(dir.path().join(name), VersionMode::V2, 21, 4_000);
            c.seed = seed;
            generate(&c).unwrap();
            dir.path().join(name)
        };
        let (a, b) = (lake("lake-a", 3), lake("lake-b", 4));
        let demo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/demo.toml")).unwrap();
        let with_lake = |lake: &Path| {
            let mut out = String::new();
            for line in demo.lines() {
                if line.starts_with("lake = ") {
                    out.push_str(&format!("lake = {:?}\n", lake.display().to_string()));
                } else if line.starts_with("output = ") {
                    out.push_str(&format!("output = {:?}\n", dir.path().join("unused").display().to_string()));
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            out
        };
        let job = dir.path().join("job.toml");
        std::fs::write(&job, with_lake(&a)).unwrap();
        let periods = dir.path().join("periods.toml");
        let text = with_lake(&a).replacen("iqr_mult = 3.0 ", "detect_period = true\niqr_mult = 3.0 ", 1);
        assert!(
            text.contains("detect_period = true"),
            "the demo job changed: adapt the periods variant"
        );
        std::fs::write(&periods, text).unwrap();
        let variant = with_lake(&b)
            .replacen(
                "[detectors.changepoints]",
                "[detectors.loose]\ntype = \"seasonal_iqr\"\niqr_mult = 0.5\n\n[detectors.changepoints]",
                1,
            )
            .replacen(
                "family = \"api_calls\"\nbucket = \"hour\"\ndetectors = [\"outliers\"]",
                "family = \"api_calls\"\nbucket = \"hour\"\ndetectors = [\"outliers\", \"loose\"]",
                1,
            );
        assert!(
            variant.contains("\"outliers\", \"loose\""),
            "the demo job changed: adapt the variant"
        );
        let variant_job = dir.path().join("variant.toml");
        std::fs::write(&variant_job, variant).unwrap();
        let stale = dir.path().join("stale");
        let out = lakesight(&variant_job, &stale, &[]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        World {
            _dir: dir,
            job,
            periods,
            stale,
        }
    })
}

/// `lakesight run` of `job` on [`DAY`] into `out`, JSON logs on stderr (piped) with one line per
/// object written (`lakesight::sink=debug`).
fn lakesight(job: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = lakesight_run(job, out, &["--date", DAY]);
    c.args(extra);
    c
}

/// `lakesight run` of `job` into `out` with `args` (the days), logs as [`lakesight`]'s.
fn lakesight_run(job: &Path, out: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lakesight"));
    c.args(["--log-format", "json", "run", "--job"])
        .arg(job)
        .arg("--out")
        .arg(out)
        .args(args)
        .env("LAKESIGHT_LOG", "info,lakesight::sink=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files_under(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// What readers of an output see, minus what names the run: every row (all columns but `run_id`)
/// of every Parquet file but the OCSF objects', the text of every JSON and SQL file but the
/// publication records', and the path of every other file (hidden files, `runs/`, `_leases/`,
/// `_latest/` and the root pointers to the newest run left out). Fails if a finding id appears twice.
#[derive(Debug, PartialEq)]
struct Seen {
    rows: BTreeMap<String, Vec<String>>,
    files: BTreeSet<String>,
}

fn seen(out: &Path) -> Seen {
    let mut rows = BTreeMap::new();
    let mut files = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let root = out.display().to_string();
    for f in files_under(out) {
        let rel = f.strip_prefix(out).unwrap().display().to_string();
        let hidden = rel.split('/').any(|p| p.starts_with('.'));
        let per_run = rel.starts_with("runs/")
            || rel.starts_with("_leases/")
            || rel.starts_with("_latest/")
            || ["manifest.json", "report.html", "report.md", "latest.json"].contains(&rel.as_str());
        if hidden || per_run {
            continue;
        }
        if rel.ends_with(".parquet") && !rel.starts_with("ocsf/") {
            let mut lines = Vec::new();
            for b in read_parquet(&f) {
                use arrow::array::AsArray;
                if rel.starts_with("findings/") {
                    for id in b.column_by_name("finding_id").unwrap().as_string::<i32>().iter().flatten() {
                        assert!(ids.insert(id.to_string()), "finding {id} published twice ({rel})");
                    }
                }
                let opts = arrow::util::display::FormatOptions::default();
                let cols: Vec<_> = (0..b.num_columns())
                    .filter(|&i| b.schema().field(i).name() != "run_id")
                    .map(|i| arrow::util::display::ArrayFormatter::try_new(b.column(i).as_ref(), &opts).unwrap())
                    .collect();
                for r in 0..b.num_rows() {
                    // The plot's URL names the output folder: compare it relative to the folder.
                    let row: Vec<String> = cols.iter().map(|c| c.value(r).to_string().replace(&root, "<out>")).collect();
                    lines.push(row.join(" | "));
                }
            }
            lines.sort();
            rows.insert(rel, lines);
        } else if (rel.ends_with(".json") || rel.ends_with(".sql")) && !rel.starts_with("_published/") {
            let text = std::fs::read_to_string(&f).unwrap().replace(&root, "<out>");
            rows.insert(rel, vec![text]);
        } else {
            files.insert(rel);
        }
    }
    Seen { rows, files }
}

/// Proves that a run SIGKILLed at any of 20 points — 10 during the stages, 10 while it publishes
/// (one log line per object written) — and then rerun leaves the output exactly as one
/// uninterrupted run does: every finding once, the same rows, plots, series, tables, OCSF files;
/// the partition of the detector the earlier job had and this one has not is gone, and so are
/// the earlier findings' plots. Also proves the killed run's lease stops a plain rerun (exit 75,
/// naming the holder) and that `--take-over` claims it.
#[test]
fn a_run_killed_anywhere_then_rerun_equals_an_uninterrupted_run() {
    let w = world();
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    copy_dir(&w.stale, &reference);
    let before = seen(&reference);
    let r = lakesight(&w.job, &reference, &[]).output().unwrap();
    let log = String::from_utf8_lossy(&r.stderr).to_string();
    assert!(r.status.success(), "{log}");
    let want = seen(&reference);
    assert!(before.rows.keys().any(|k| k.contains("detector=loose")), "{:?}", before.rows.keys());
    assert!(!want.rows.keys().any(|k| k.contains("detector=loose")), "{:?}", want.rows.keys());
    let plots = |s: &Seen| s.files.iter().filter(|f| f.starts_with("plots/")).cloned().collect::<BTreeSet<_>>();
    assert!(
        !plots(&before).is_subset(&plots(&want)),
        "{:?} / {:?}",
        plots(&before),
        plots(&want)
    );
    assert!(want.rows.values().map(Vec::len).sum::<usize>() >= 5, "{:?}", want.rows);

    let lines: Vec<&str> = log.lines().collect();
    let publishing = lines.iter().position(|l| l.contains("\"publishing\"")).expect("a publishing line");
    let total = lines.len();
    assert!(
        total - publishing >= 20,
        "too few lines while publishing to kill in: {total} lines, publishing from {publishing}"
    );
    let mut points: Vec<usize> = (0..10).map(|i| 1 + i * (publishing - 1) / 10).collect();
    points.extend((0..10).map(|i| publishing + 1 + i * (total - publishing - 3) / 10));

    let (mut interrupted, mut busy_checked) = (0, false);
    for (n, &k) in points.iter().enumerate() {
        let out = tmp.path().join(format!("killed-{n}"));
        copy_dir(&w.stale, &out);
        let mut child = lakesight(&w.job, &out, &[]).spawn().unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let (mut line, mut leased) = (String::new(), false);
        for _ in 0..k {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                break;
            }
            leased |= line.contains("day leases taken");
        }
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            // It finished before the signal landed: a rerun must still change nothing.
        } else {
            interrupted += 1;
            if leased && !busy_checked {
                busy_checked = true;
                let plain = lakesight(&w.job, &out, &[]).output().unwrap();
                let text = String::from_utf8_lossy(&plain.stderr);
                assert_eq!(plain.status.code(), Some(75), "{text}");
                assert!(text.contains("is being run by") && text.contains("--take-over"), "{text}");
            }
        }
        let rerun = lakesight(&w.job, &out, &["--take-over"]).output().unwrap();
        assert!(rerun.status.success(), "kill point {k}: {}", String::from_utf8_lossy(&rerun.stderr));
        let got = seen(&out);
        assert_eq!(got.rows, want.rows, "kill point {k} (line {k} of {total})");
        assert_eq!(got.files, want.files, "kill point {k} (line {k} of {total})");
    }
    assert!(
        interrupted >= 15,
        "only {interrupted} of 20 runs were killed before they ended: {points:?}"
    );
}

/// Proves that a run stopped with SIGTERM (what SageMaker and Batch send) while it computes lets
/// its day go before it exits: it exits 143 with nothing published, its log says the leases
/// were let go, the day's heartbeat is marked released, and a plain rerun (no `--take-over`)
/// runs the day at once instead of exiting 75 until the lease expires. Before the lease keeper,
/// the process exited at once on a stop with nothing in flight, leaving the day held (checked:
/// with the keeper's release disabled this test fails).
#[test]
fn a_run_stopped_while_it_computes_lets_its_day_go() {
    let w = world();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut a = lakesight(&w.job, &out, &[]).spawn().unwrap();
    let mut err = BufReader::new(a.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "run ended before it took its lease: {log}");
        log.push_str(&line);
        if line.contains("day leases taken") {
            break;
        }
    }
    assert!(Command::new("kill")
        .args(["-TERM", &a.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    log.push_str(&rest);
    assert_eq!(a.wait().unwrap().code(), Some(143), "{log}");
    assert!(log.contains("stopped: day leases let go"), "{log}");
    assert!(!out.join("findings").exists(), "a stopped run published findings");
    let beat = std::fs::read_to_string(out.join(format!("_leases/dt={DAY}/0000000000.beat.json"))).unwrap();
    assert!(beat.contains("\"released\":true"), "{beat}");
    let rerun = lakesight(&w.job, &out, &[]).output().unwrap();
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    assert!(out.join("latest.json").exists());
}

/// Proves that of two runs of one day, exactly one publishes: run A is frozen (SIGSTOP) right
/// after it claims the day; run B then stops at once with exit 75 and a message naming A, and
/// writes no findings. Run C takes the day over (`--take-over`) and publishes; A, thawed, finds
/// its lease taken and stops (exit 75) without publishing — the output is C's alone, equal to an
/// uninterrupted run's.
#[test]
fn of_two_runs_of_one_day_exactly_one_publishes() {
    let w = world();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut a = lakesight(&w.job, &out, &[]).spawn().unwrap();
    let lease_dir = out.join(format!("_leases/dt={DAY}"));
    let t0 = std::time::Instant::now();
    while !lease_dir.join("0000000000.beat.json").exists() {
        assert!(t0.elapsed().as_secs() < 60, "run A never claimed the day");
        assert!(a.try_wait().unwrap().is_none(), "run A ended before it was frozen");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let signal = |sig: &str, pid: u32| assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    signal("-STOP", a.id());
    let b = lakesight(&w.job, &out, &[]).output().unwrap();
    let text = String::from_utf8_lossy(&b.stderr);
    assert_eq!(b.status.code(), Some(75), "{text}");
    assert!(text.contains("is being run by demo-"), "{text}");
    assert!(!out.join("findings").exists(), "run B or a frozen A wrote findings");

    let c = lakesight(&w.job, &out, &["--take-over"]).output().unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let after_c = seen(&out);
    let record = std::fs::read(out.join(format!("_published/dt={DAY}.json"))).unwrap();
    let c_log = String::from_utf8_lossy(&c.stderr);
    let c_run = c_log
        .split("\"run_id\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("C's run id in its log");
    assert!(String::from_utf8_lossy(&record).contains(c_run), "{c_run}");
    signal("-CONT", a.id());
    let a_out = a.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&a_out.stderr);
    assert_eq!(a_out.status.code(), Some(75), "{text}");
    assert!(text.contains("was taken over by run demo-"), "{text}");
    assert_eq!(seen(&out), after_c, "run A published after losing its lease");
    // A would have written identical rows: the day's record still naming C's run is what shows
    // that A wrote nothing.
    assert_eq!(std::fs::read(out.join(format!("_published/dt={DAY}.json"))).unwrap(), record);

    let alone = tmp.path().join("alone");
    let r = lakesight(&w.job, &alone, &[]).output().unwrap();
    assert!(r.status.success());
    assert_eq!(seen(&out), seen(&alone));
}

/// Proves that a 7-day backfill run as an AWS Batch array job of three children (each given its
/// index, the array's size and the array's job id, as Batch does) publishes exactly what seven
/// nightly runs of those days publish one after the other: the same rows of every table —
/// findings with their conditions, which need the day before as published, and of which some
/// are ongoing, so order matters — and the same files; and that the child of the last day writes
/// the backfill's manifest, naming every day's run and adding up their findings. Once with the
/// demo job (a day waits for the day before at publishing) and once with periods carried night
/// to night (it waits before its stages, to read the day before's periods table).
#[test]
fn a_seven_day_backfill_as_an_array_job_equals_seven_nightly_runs() {
    let w = world();
    backfill_equals_nightlies(&w.job);
    let carried = backfill_equals_nightlies(&w.periods);
    let periods = carried.rows.keys().filter(|k| k.starts_with("series_periods/")).count();
    assert_eq!(periods, 7, "the periods job carries no periods table: {:?}", carried.rows.keys());
}

/// Run the backfill both ways and compare; returns what the array published.
fn backfill_equals_nightlies(job: &Path) -> Seen {
    let tmp = tempfile::tempdir().unwrap();
    let (array, nightly) = (tmp.path().join("array"), tmp.path().join("nightly"));
    let children: Vec<_> = (0..3)
        .map(|i| {
            lakesight_run(job, &array, &["--from", "2025-03-15", "--to", "2025-03-21"])
                .env("AWS_BATCH_JOB_ARRAY_INDEX", i.to_string())
                .env("AWS_BATCH_JOB_ARRAY_SIZE", "3")
                .env("AWS_BATCH_JOB_ID", format!("7f3a-backfill:{i}"))
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for day in 15..=21 {
        let o = lakesight_run(job, &nightly, &["--date", &format!("2025-03-{day}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (a, n) = (seen(&array), seen(&nightly));
    let days: BTreeSet<&str> = a
        .rows
        .keys()
        .filter(|k| k.starts_with("findings/"))
        .filter_map(|k| k.split('/').nth(1))
        .collect();
    assert_eq!(days.len(), 7, "{days:?}");
    let rows: Vec<&String> = a
        .rows
        .iter()
        .filter(|(k, _)| k.starts_with("findings/"))
        .flat_map(|(_, v)| v)
        .collect();
    assert!(
        rows.iter().any(|r| r.contains(" | ongoing | ")),
        "no ongoing condition: the order of publishing is not tested"
    );
    // The `_published` records differ by design (the array's name its backfill): compare the rest.
    let files = |s: &Seen| {
        s.files
            .iter()
            .filter(|f| !f.starts_with("_published/"))
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(a.rows, n.rows);
    assert_eq!(files(&a), files(&n));
    let m: lakesight::runtime::run::BackfillManifest =
        serde_json::from_slice(&std::fs::read(array.join("runs/backfill-7f3a-backfill/manifest.json")).unwrap()).unwrap();
    assert_eq!(m.days.len(), 7, "{m:?}");
    assert!(m.warnings.is_empty(), "{m:?}");
    let named: Vec<&str> = m.days.iter().map(|d| d.run_id.as_str()).collect();
    for (i, d) in m.days.iter().enumerate() {
        assert_eq!(d.day, format!("2025-03-{}", 15 + i));
        assert!(d.run_id.ends_with(&format!("-d202503{}", 15 + i)), "{named:?}");
    }
    assert_eq!(m.findings_total as usize, rows.len());
    a
}
