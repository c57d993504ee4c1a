//! Parity driver: reads `IN/series.csv` (`id,i,value`), runs lakesight's Kats ports on every series
//! in parallel and writes `OUT/outliers.csv`, `OUT/changepoints.csv`, `OUT/trend.csv` in the format
//! `benches/reference/README.md` specifies. Prints the detection time (CSV parsing excluded) and
//! series per second, for the side-by-side speed run.
//!
//! `cargo run --release --example kats_parity -- IN_DIR OUT_DIR`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use lakesight::detect::changepoint::cusum::{cusum, CusumParams};
use lakesight::detect::outlier::decompose::{kats_outliers, Decomp};
use lakesight::detect::trend::mann_kendall::mann_kendall;
use rayon::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        bail!("usage: kats_parity IN_DIR OUT_DIR");
    };
    let path = std::path::Path::new(input).join("series.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut series: BTreeMap<u64, Vec<(u64, f64)>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let mut f = line.split(',');
        let (Some(id), Some(i), Some(v), None) = (f.next(), f.next(), f.next(), f.next()) else {
            bail!("{}:{}: expected id,i,value: {line:?}", path.display(), n + 1);
        };
        let parse_err = || format!("{}:{}: {line:?}", path.display(), n + 1);
        series
            .entry(id.parse().with_context(parse_err)?)
            .or_default()
            .push((i.parse().with_context(parse_err)?, v.parse().with_context(parse_err)?));
    }
    let series: Vec<(u64, Vec<f64>)> = series
        .into_iter()
        .map(|(id, mut pts)| {
            pts.sort_by_key(|p| p.0);
            (id, pts.into_iter().map(|p| p.1).collect())
        })
        .collect();

    let t = Instant::now();
    let params = CusumParams::default();
    let results: Vec<(u64, String, String, String)> = series
        .par_iter()
        .map(|(id, y)| {
            let mut o = String::new();
            if let Some(r) = kats_outliers(y, 7, Decomp::Additive, 3.0) {
                for i in r.outliers {
                    let _ = writeln!(o, "{id},{i}");
                }
            }
            let mut c = String::new();
            for cp in cusum(y, &params) {
                let _ = writeln!(c, "{id},{},{}", cp.index, cp.direction.as_str());
            }
            let mut m = String::new();
            if let Some(r) = mann_kendall(y, 0.05) {
                let _ = writeln!(m, "{id},{:?},{:?},{:?}", r.slope, r.p, r.tau);
            }
            (*id, o, c, m)
        })
        .collect();
    let secs = t.elapsed().as_secs_f64();

    let out = std::path::Path::new(output);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut files = [
        ("outliers.csv", String::from("id,i\n")),
        ("changepoints.csv", String::from("id,index,direction\n")),
        ("trend.csv", String::from("id,slope,p,tau\n")),
    ];
    for (_, o, c, m) in &results {
        files[0].1.push_str(o);
        files[1].1.push_str(c);
        files[2].1.push_str(m);
    }
    for (name, body) in &files {
        std::fs::write(out.join(name), body).with_context(|| format!("writing {name}"))?;
    }
    println!(
        "lakesight: {} series, detection {:.3} s on {} threads, {:.0} series/s ({:.1} us per series, all three detectors)",
        results.len(),
        secs,
        rayon::current_num_threads(),
        results.len() as f64 / secs,
        secs * 1e6 / results.len().max(1) as f64
    );
    Ok(())
}
