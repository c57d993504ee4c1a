//! The notebooks in `notebooks/`, executed top to bottom as an analyst opens them.

use std::path::PathBuf;
use std::process::Command;

use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;

use crate::spine::{demo_job, demo_like};

/// The Python with the notebooks' packages: `LAKESIGHT_NOTEBOOK_PYTHON`, else the venv
/// `notebooks/setup.sh` makes. `None` when there is none and CI did not ask for it; `.ci/run` runs
/// `notebooks/setup.sh` and sets `LAKESIGHT_REQUIRE_NOTEBOOKS=1`, so there its absence fails.
fn python() -> Option<PathBuf> {
    crate::common::external_tool(
        "LAKESIGHT_NOTEBOOK_PYTHON",
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/lakesight/nb-venv/bin/python"),
        "LAKESIGHT_REQUIRE_NOTEBOOKS",
        "run notebooks/setup.sh",
    )
}

/// Execute one notebook with nbclient (a cell that raises fails the run); returns the text of
/// every cell's outputs, and keeps the executed notebook under `$CARGO_TARGET_DIR/tmp/`.
fn execute(py: &PathBuf, name: &str, envs: &[(&str, String)]) -> String {
    let nb = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("notebooks").join(name);
    let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("executed-{name}"));
    let script = r#"
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])
for c in nb.cells:
    for o in c.get('outputs', []):
        print(o.get('text', '') or o.get('data', {}).get('text/plain', ''))
"#;
    let mut c = Command::new(py);
    c.arg("-c").arg(script).arg(&nb).arg(&kept).arg(nb.parent().unwrap());
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Proves that both notebooks run top to bottom with `SOURCE = 'local'` against a demo-job run,
/// without a Rust toolchain (they call the built `lakesight` binary through `LAKESIGHT_BIN`), and
/// that what they print is this run's: the findings count, the strongest finding's `explain`
/// text, its investigation query's events, the ground-truth table of the sample lake's labels
/// (with at least one injected scenario found), and the UEBA days judged.
#[tokio::test]
async fn the_notebooks_run_top_to_bottom_on_a_demo_run() {
    let Some(py) = python() else { return };
    let out = tempfile::tempdir().unwrap();
    let f = demo_like();
    let cfg = demo_job(f.path(), out.path());
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    let envs = [
        ("LAKESIGHT_SOURCE", "local".to_string()),
        ("LAKESIGHT_OUT", out.path().display().to_string()),
        ("LAKESIGHT_LAKE", f.path().display().to_string()),
        ("LAKESIGHT_BIN", env!("CARGO_BIN_EXE_lakesight").to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    let text = execute(&py, "findings.ipynb", &envs);
    assert!(text.contains(&format!("{} findings over", r.findings.len())), "{text}");
    let top = r.findings.iter().max_by(|a, b| a.score.total_cmp(&b.score)).unwrap();
    assert!(text.contains(&top.title), "strongest finding not shown:\n{text}");
    assert!(text.contains("Investigation SQL"), "explain output missing:\n{text}");
    let found = text
        .lines()
        .find_map(|l| l.strip_suffix(" injected scenarios found"))
        .unwrap_or_else(|| panic!("no ground-truth line:\n{text}"));
    let (hit, of) = found.split_once(" of ").unwrap();
    let (hit, of): (usize, usize) = (hit.trim().parse().unwrap(), of.trim().parse().unwrap());
    assert!(of > 0 && hit > 0, "{found}");

    let text = execute(&py, "ueba.ipynb", &envs);
    let judged: usize = text
        .lines()
        .find_map(|l| l.split_once(" principal-days judged").map(|(n, _)| n.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no UEBA line:\n{text}"));
    assert!(judged > 100, "{judged} principal-days");
    assert!(text.contains("IP Insights findings"), "{text}");
}
