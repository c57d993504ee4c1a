//! `lakesight explain FINDING_ID --out DIR` on the demo job's own output.

use std::collections::BTreeMap;
use std::process::Command;

use lakesight::findings::plot::SeriesSnapshot;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;

use crate::spine::{demo_job, demo_like};

/// Proves, on a demo-job run: every finding's series is kept in `series/dt=…/series.json` and
/// lines up with the finding (an outlier's one-bucket window holds its observed value); `explain`
/// given a 12-character prefix — as the run summary prints it — prints that finding's title,
/// observed value, ATT&CK techniques, a sparkline with the window marked, the evidence and the
/// investigation SQL exactly as stored, for a plotted finding and for one that got no plot; an
/// unknown id and an ambiguous prefix are clear usage errors (exit 2), not a panic or an empty page.
#[tokio::test]
async fn explain_prints_any_finding_of_a_run_with_its_series_and_sql() {
    let out = tempfile::tempdir().unwrap();
    let f = demo_like();
    let mut cfg = demo_job(f.path(), out.path());
    cfg.output.max_plots = 3; // most findings get no plot: explain must not need one
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    assert!(r.findings.len() > 5, "{} findings", r.findings.len());

    // The kept series line up with the findings.
    let mut series: BTreeMap<String, SeriesSnapshot> = BTreeMap::new();
    for day in r.manifest.outputs.iter().filter(|o| o.starts_with("series/")) {
        let b = std::fs::read(out.path().join(day)).unwrap();
        series.extend(serde_json::from_slice::<BTreeMap<String, SeriesSnapshot>>(&b).unwrap());
    }
    let mut outliers = 0;
    for fd in &r.findings {
        let Some(s) = series.get(&fd.finding_id) else {
            panic!("no series kept for {} ({})", fd.finding_id, fd.detector)
        };
        assert!(
            s.window.1 <= s.values.len() && s.window.0 < s.window.1,
            "{}: {:?}",
            fd.finding_id,
            s.window
        );
        assert_eq!(
            s.start_ms + s.window.0 as i64 * s.bucket_ms,
            fd.window_start_ms,
            "{}: window start",
            fd.finding_id
        );
        if fd.detector_family == "outlier" && s.window.1 - s.window.0 == 1 {
            outliers += 1;
            let v = s.values[s.window.0];
            assert!(
                (v - fd.observed).abs() <= 1e-9 * v.abs().max(1.0),
                "{}: {v} vs {}",
                fd.finding_id,
                fd.observed
            );
        }
    }
    assert!(outliers > 0, "no one-bucket outlier finding to check alignment on");

    let bin = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lakesight"));
        c.env("RUST_LOG", "warn");
        c
    };
    let plotted = r.findings.iter().find(|f| f.plot.is_some()).expect("a plotted finding");
    let unplotted = r.findings.iter().find(|f| f.plot.is_none()).expect("a finding without a plot");
    for fd in [plotted, unplotted] {
        let o = bin()
            .args(["explain", &fd.finding_id[..12], "--out"])
            .arg(out.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(text.starts_with(&fd.title), "{text}");
        assert!(text.contains(&fd.finding_id), "{text}");
        assert!(
            text.contains(&format!("observed {}", lakesight::detect::fmt_num(fd.observed))),
            "{text}"
        );
        assert!(text.contains(&fd.investigation_sql), "SQL not printed as stored:\n{text}");
        let cond = format!("condition {}: {}", fd.condition.id, fd.condition.status);
        assert!(text.contains(&cond), "{cond} missing:\n{text}");
        for t in &fd.mitre_techniques {
            assert!(text.contains(t.as_str()), "{t} missing:\n{text}");
        }
        let spark = text
            .lines()
            .find(|l| l.chars().any(|c| ('▁'..='█').contains(&c)))
            .expect("a sparkline");
        let marks = text.lines().skip_while(|l| *l != spark).nth(1).unwrap_or("");
        assert!(marks.contains('^'), "window not marked under\n{spark}\n{marks}");
        assert!(text.contains("\"method\"") || text.contains("Evidence:"), "{text}");
    }

    let o = bin()
        .args(["explain", "abcdef0123456789", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no finding with id") && err.contains("findings files"), "{err}");

    // A prefix shared by two findings: the longest common prefix of two ids, if ≥ 6 characters, or
    // else a one-character prefix, which the CLI refuses as too short.
    let mut ids: Vec<&str> = r.findings.iter().map(|f| f.finding_id.as_str()).collect();
    ids.sort_unstable();
    let shared = ids
        .windows(2)
        .map(|w| w[0].chars().zip(w[1].chars()).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0);
    let (prefix, want) = if shared >= 6 {
        let w = ids
            .windows(2)
            .find(|w| w[0].chars().zip(w[1].chars()).take_while(|(a, b)| a == b).count() == shared)
            .unwrap();
        (w[0][..shared].to_string(), "ambiguous")
    } else {
        (ids[0][..3].to_string(), "at least 6")
    };
    let o = bin().args(["explain", &prefix, "--out"]).arg(out.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(want), "{err}");
}
