//! The detection-quality benchmark: sample lakes of the realistic world over seeds and attack
//! strengths, the demo job run over each, findings scored against `labels.json`
//! (`lakesight::runtime::quality`). Prints a markdown table: recall per scenario kind and strength,
//! the detection limit (the smallest strength with recall ≥ 90%), and false findings per 1,000
//! entity-days per detector on benign lakes (same world and seeds, nothing injected).
//!
//! ```sh
//! cargo run --example quality -- [--seeds 1,2] [--strengths 1,3,9] [--events-per-day 20000] [--days 28] [--accounts 2]
//!     [--kinds night_discovery,iam_persistence] [--benign-only | --attacked-only] [--all-false ueba]
//! ```
//! (`benches/quality/run.sh` runs it and writes `benches/quality/results.md`.)

use std::collections::BTreeMap;

use lakesight::runtime::quality::{measure, QualityReport};

/// Kinds a detector of the demo job is meant to find, with instances per lake.
const KINDS: &[(&str, u32)] = &[
    ("s3_bulk_download", 3),
    ("finding_level_shift", 2),
    ("finding_trend", 2),
    ("new_ip_credential_use", 3),
    ("brute_force", 3),
    ("exfiltration", 3),
    ("slow_exfiltration", 3),
    ("beaconing", 3),
    ("lateral_movement", 3),
    ("dga_dns", 3),
    ("dns_tunnelling", 2),
    ("night_discovery", 2),
    ("iam_persistence", 2),
    ("secrets_enumeration", 2),
    ("instance_credential_theft", 2),
    ("root_activity", 2),
    ("console_login_without_mfa", 2),
    ("new_principal_discovery", 2),
];

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: &str) -> Vec<T> {
    let v = args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .unwrap_or(default);
    v.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .filter_map(|x| x.parse().ok())
        .collect()
}

async fn one(
    seed: u64,
    strength: Option<f64>,
    kinds: &[String],
    accounts: u32,
    epd: u64,
    days: u32,
) -> Result<QualityReport, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let spec = match strength {
        Some(s) => KINDS
            .iter()
            .filter(|(k, _)| kinds.is_empty() || kinds.iter().any(|x| x == k))
            .map(|(k, n)| format!("{k}={s}:{n}"))
            .collect::<Vec<_>>()
            .join(","),
        None => String::new(),
    };
    let q = measure(dir.path(), seed, &spec, accounts, epd, days).await?;
    // Which instances were missed, so that a miss can be regenerated and looked at.
    for i in q.instances.iter().filter(|i| !i.found) {
        eprintln!("  missed: seed {seed}, {} at strength {:?} ({})", i.kind, i.strength, i.id);
    }
    Ok(q)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seeds: Vec<u64> = arg(&args, "--seeds", "1,2");
    let strengths: Vec<f64> = arg(&args, "--strengths", "1,3,9");
    let epd = arg::<u64>(&args, "--events-per-day", "20000").first().copied().unwrap_or(20_000);
    let days = arg::<u32>(&args, "--days", "28").first().copied().unwrap_or(28);
    let accounts = arg::<u32>(&args, "--accounts", "2").first().copied().unwrap_or(2);
    let benign_only = args.iter().any(|a| a == "--benign-only");
    // Skip the benign lakes (their figures measured by another run).
    let attacked_only = args.iter().any(|a| a == "--attacked-only");
    // Only these kinds (default: all of KINDS, injected together so no family loses another's).
    let only: Vec<String> = arg(&args, "--kinds", "");
    let t0 = std::time::Instant::now();
    let mut attacked = QualityReport::default();
    let mut benign = QualityReport::default();
    for &seed in &seeds {
        if !attacked_only {
            eprintln!("seed {seed}: benign lake");
            benign.merge(one(seed, None, &only, accounts, epd, days).await?);
        }
        if benign_only {
            continue;
        }
        for &s in &strengths {
            eprintln!("seed {seed}: strength {s}");
            attacked.merge(one(seed, Some(s), &only, accounts, epd, days).await?);
        }
    }
    let recall = attacked.recall();
    println!(
        "# Detection quality ({} seeds: {:?}; strengths {:?}; realistic world, {} accounts, {} events/day, {} days, the last half judged; {:.0} s)\n",
        seeds.len(),
        seeds,
        strengths,
        accounts,
        epd,
        days,
        t0.elapsed().as_secs_f64()
    );
    println!(
        "## Recall per instance\n\n| kind | {} | detection limit (recall ≥ 90%) |",
        strengths.iter().map(|s| format!("strength {s}")).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(strengths.len()));
    let kinds: Vec<&str> = KINDS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| only.is_empty() || only.iter().any(|x| x == k))
        .collect();
    for k in &kinds {
        let mut cells = Vec::new();
        let mut limit = None;
        for s in &strengths {
            let (f, n) = recall.get(&(k.to_string(), format!("{s}"))).copied().unwrap_or((0, 0));
            cells.push(format!("{f}/{n}"));
            if limit.is_none() && n > 0 && f * 10 >= 9 * n {
                limit = Some(*s);
            }
        }
        let limit = limit.map(|s| format!("{s}")).unwrap_or_else(|| "> tested".into());
        println!("| {k} | {} | {limit} |", cells.join(" | "));
    }
    println!("\n## False findings per 1,000 entity-days (benign lakes, nothing injected)\n");
    println!(
        "Findings count every day a condition lasts; conditions count its first finding only (what \
         an analyst is sent anew).\n"
    );
    println!("| detector | false findings | of them new conditions | entity-days judged | per 1,000 | conditions per 1,000 |\n|---|---|---|---|---|---|");
    for (d, f) in &benign.false_per_detector {
        let c = if f.entity_days == 0 {
            f64::NAN
        } else {
            f.false_conditions as f64 * 1000.0 / f.entity_days as f64
        };
        println!(
            "| {d} | {} | {} | {} | {:.2} | {c:.2} |",
            f.false_findings,
            f.false_conditions,
            f.entity_days,
            f.per_1000()
        );
    }
    println!(
        "\n### By series (benign lakes)\n\n| detector and series | false findings | entity-days judged | per 1,000 |\n|---|---|---|---|"
    );
    for (d, f) in &benign.false_per_series {
        println!("| {d} | {} | {} | {:.2} |", f.false_findings, f.entity_days, f.per_1000());
    }
    let mut worst = benign.false_findings.clone();
    worst.sort_by(|a, b| b.score.total_cmp(&a.score));
    let row = |f: &lakesight::runtime::quality::FalseFinding| {
        println!(
            "| {} | {} | {:.2} | {} | {} | {} |",
            f.detector,
            f.series,
            f.score,
            f.title.replace('|', "\\|"),
            f.status,
            f.seed
        )
    };
    println!("\n### The highest-scoring false findings (benign lakes)\n\n| detector | series | score | title | status | seed |\n|---|---|---|---|---|---|");
    worst.iter().take(12).for_each(row);
    // `--all-false ueba,outliers`: every false finding of those detectors (what an analyst of
    // that detector would have been sent), beyond the samples below.
    for d in arg::<String>(&args, "--all-false", "") {
        println!("\n### Every false finding of {d} (benign lakes)\n\n| detector | series | score | title | status | seed |\n|---|---|---|---|---|---|");
        worst.iter().filter(|f| f.detector == d).for_each(row);
    }
    // A sample of each series' false findings (the 3 highest and the 3 lowest scores), to see what
    // kind of benign behaviour each one is.
    println!("\n### Each series' false findings: highest and lowest scores (benign lakes)\n\n| detector | series | score | title | status | seed |\n|---|---|---|---|---|---|");
    let mut by_series: BTreeMap<(String, String), Vec<_>> = BTreeMap::new();
    for f in &worst {
        by_series.entry((f.detector.clone(), f.series.clone())).or_default().push(f);
    }
    for v in by_series.values() {
        let picks: Vec<_> = if v.len() <= 6 {
            v.iter().collect()
        } else {
            v[..3].iter().chain(&v[v.len() - 3..]).collect()
        };
        picks.into_iter().for_each(|f| row(f));
    }
    // Score distributions: the findings that found an instance (attacked lakes) against the false
    // findings (benign lakes), per detector.
    println!("\n## Scores: findings of injected instances vs false findings\n\n| detector | findings | n | min | 10% | median | 90% | max |\n|---|---|---|---|---|---|---|---|");
    let quantiles = |v: &mut Vec<f64>| -> String {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        format!(
            "{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}",
            v.len(),
            q(0.0),
            q(0.1),
            q(0.5),
            q(0.9),
            q(1.0)
        )
    };
    let mut false_scores: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for f in &benign.false_findings {
        false_scores.entry(f.detector.clone()).or_default().push(f.score);
    }
    let detectors: std::collections::BTreeSet<&String> = attacked.found_scores.keys().chain(false_scores.keys()).collect();
    for d in detectors {
        for (what, v) in [("injected", attacked.found_scores.get(d)), ("false (benign)", false_scores.get(d))] {
            match v {
                Some(v) if !v.is_empty() => println!("| {d} | {what} | {} |", quantiles(&mut v.clone())),
                _ => println!("| {d} | {what} | 0 | | | | | |"),
            }
        }
    }
    println!(
        "\n## Benign look-alikes flagged by a hunt (all lakes)\n\n{} flagged of {} look-alike sources.\n",
        attacked.lookalikes_flagged.len() + benign.lookalikes_flagged.len(),
        attacked.lookalikes + benign.lookalikes
    );
    for (k, d, t) in attacked.lookalikes_flagged.iter().chain(&benign.lookalikes_flagged) {
        println!("- {k} ({d}): {t}");
    }
    println!("\n## False findings per 1,000 entity-days (attacked lakes, findings on unlabelled entities)\n");
    println!("| detector | false findings | entity-days judged | per 1,000 |\n|---|---|---|---|");
    for (d, f) in &attacked.false_per_detector {
        println!("| {d} | {} | {} | {:.2} |", f.false_findings, f.entity_days, f.per_1000());
    }
    Ok(())
}
