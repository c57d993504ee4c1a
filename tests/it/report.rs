//! The run report in a real browser (Debian's `chromium`, headless).

use std::path::PathBuf;
use std::process::Command;

use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;

use crate::spine::{demo_job, demo_like};

/// The browser to use: `LAKESIGHT_CHROMIUM`, else Debian's `/usr/bin/chromium`. `None` when there
/// is none and CI did not ask for one; `.ci/run` installs chromium and sets
/// `LAKESIGHT_REQUIRE_CHROMIUM=1`, so there its absence fails the test instead of skipping it.
fn chromium() -> Option<PathBuf> {
    crate::common::external_tool(
        "LAKESIGHT_CHROMIUM",
        "/usr/bin/chromium".into(),
        "LAKESIGHT_REQUIRE_CHROMIUM",
        "apt-get install chromium",
    )
}

fn headless(browser: &PathBuf, args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
        .args(args)
        .output()
        .expect("run chromium")
}

/// Proves, in headless Chromium on the demo job's report: the page loads without a console message
/// (no script error), every embedded plot decodes and lays out with a width (the page's own
/// `data-plots-rendered` count equals the number of plots, and there are some), and a screenshot is
/// kept as an artifact (`$CARGO_TARGET_TMPDIR/report-screenshot.png`). The Markdown summary names
/// the top finding.
#[tokio::test]
async fn the_report_renders_in_chromium_without_errors() {
    let out = tempfile::tempdir().unwrap();
    let cfg = demo_job(demo_like().path(), out.path());
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    assert!(!r.findings.is_empty());
    let report = out.path().join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    let plots = html.matches("class=\"plot\"").count();
    assert!(plots > 0, "the report embeds plots");
    assert!(!html.contains("src=\"plots/"), "no plot is an external asset");
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    let top = r.findings.iter().max_by(|a, b| a.confidence.total_cmp(&b.confidence)).unwrap();
    assert!(md.contains(&top.finding_id), "report.md lists the top finding");

    let Some(browser) = chromium() else { return };
    let url = format!("file://{}", report.display());
    let dom = headless(&browser, &["--virtual-time-budget=5000", "--dump-dom", &url]);
    assert!(dom.status.success(), "chromium failed: {}", String::from_utf8_lossy(&dom.stderr));
    let page = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let rendered: usize = page
        .split("data-plots-rendered=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("the page's load handler did not run"))
        .parse()
        .unwrap();
    assert_eq!(rendered, plots, "plots that rendered");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let s = headless(
        &browser,
        &["--window-size=1280,2400", &format!("--screenshot={}", shot.display()), &url],
    );
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    eprintln!("report screenshot: {}", shot.display());
}
