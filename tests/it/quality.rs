//! The CI slice of the detection-quality benchmark (issue "A world that is hard to fool"): one
//! realistic-world lake (seed 1, 8,000 events a day, 28 days, the second half judged) with four
//! scenario kinds at strength 9, the three UEBA kinds at strength 8 (calls) and the five network
//! kinds at strength 8, scored by key against its labels (`runtime::quality`).
//!
//! What it proves: at this strength the level shifts, trends, DGA bursts, low-and-slow
//! exfiltration over five days, beacons, admin-port fan-out and DNS tunnels are each found, one
//! 2-hour exfiltration of two (the other is under the floor), (recall 100%, the target; the network kinds
//! by the hunts, not by an outlier on the host's series); each hunt stays within 1 false finding
//! per 1,000 host-days and flags none of the benign look-alikes; and at least one of the two
//! instances of each UEBA kind (night-time discovery, secrets enumeration, IAM persistence), and
//! every instance of the last two (first privileged operations: the UEBA stage's own law). The
//! job is a range run, which judges every day exactly as that day's nightly run would (its own
//! 14-day window, its own forest): measured so, UEBA's recall is below the figures measured
//! before range runs did that (their later days saw more history and one forest trained on
//! attack-free days) — `benches/quality/results-2026-12-05-nightly-semantics.md`; UEBA stays within its budget of 1 false
//! finding per 1,000 principal-days (none in this lake's 1,003); every instance a budgeted detector found was found by a finding above its
//! gate; the trend and change-point detectors stay within the target budget of 1 false finding
//! per 1,000 entity-days (none on this lake's 112). Not met yet, and held as regression bounds at
//! about 1.5× today's measured figures so that a change making them worse fails here: the
//! outlier detector's false rate (2.35 per 1,000 entity-days on this lake, 3.4 before spikes seen
//! in the baseline counted as normal; 2.02 over three benign lakes, mostly quiet hours and days of
//! people and hosts). IP Insights finds
//! all three new-IP credential uses (9 calls each, from networks the principals never used, among
//! benign travel, lease and laptop changes) and stays within its budget of 1 false finding per
//! 1,000 principal-days (0 in 8,907 on the benchmark's attacked lakes).

use lakesight::runtime::quality::measure;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_slice_on_the_realistic_world() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "finding_level_shift=9:2,finding_trend=9:2,new_ip_credential_use=9:3,dga_dns=9:2,\
                night_discovery=8:2,iam_persistence=8:2,secrets_enumeration=8:2,\
                exfiltration=8:2,slow_exfiltration=8:2,beaconing=8:2,lateral_movement=8:2,dns_tunnelling=8:1,\
                brute_force=8:3";
    let r = measure(dir.path(), 1, spec, 2, 8000, 28).await.unwrap();
    assert_eq!(r.instances.len(), 27, "{:?}", r.instances);
    // The UEBA kinds are judged as nightly runs judge them: each day by a forest trained on the
    // days before it, earlier days' attacks included (this lake injects ten identity attacks into
    // fourteen days); at least one night-time discovery is found, and every IAM persistence and
    // secrets enumeration (first privileged operations, judged by their own law: see the module docs).
    const UEBA: [&str; 3] = ["iam_persistence", "night_discovery", "secrets_enumeration"];
    for i in r
        .instances
        .iter()
        .filter(|i| !UEBA.contains(&i.kind.as_str()) && i.kind != "exfiltration")
    {
        assert!(i.found, "not found: {i:?}");
    }
    for k in UEBA {
        let found = r.instances.iter().filter(|i| i.kind == k && i.found).count();
        assert!(found >= 1, "no {k} found: {:?}", r.instances);
    }
    for k in ["iam_persistence", "secrets_enumeration"] {
        for i in r.instances.iter().filter(|i| i.kind == k) {
            assert!(i.found, "not found: {i:?}");
        }
    }
    // Every instance found by a budgeted detector was found by a finding that cleared its gate
    // (score ≥ 3 − log10(budget) = 3 at the default budget of 1 per 1,000).
    for d in ["changepoints", "outliers"] {
        let v = r
            .found_scores
            .get(d)
            .unwrap_or_else(|| panic!("no {d} finding found an instance: {:?}", r.found_scores));
        assert!(!v.is_empty() && v.iter().all(|s| *s >= 3.0), "{d}: {v:?}");
    }
    // One of the two 2-hour exfiltrations is 85 KB from a host that sends 11 KB a day: under the
    // demo job's 100 KB floor, by design (the floor is what keeps tiny hosts from flooding).
    let exfil = r.instances.iter().filter(|i| i.kind == "exfiltration" && i.found).count();
    assert!(exfil >= 1, "no exfiltration found: {:?}", r.instances);
    for (d, f) in &r.false_per_detector {
        eprintln!(
            "{d}: {} false findings in {} entity-days ({:.2} per 1,000)",
            f.false_findings,
            f.entity_days,
            f.per_1000()
        );
    }
    let rate = |d: &str| {
        let f = &r.false_per_detector[d];
        assert!(f.entity_days > 50, "{d}: {f:?}");
        f.per_1000()
    };
    assert!(rate("trends") <= 1.0, "trends: {:?}", r.false_per_detector["trends"]);
    assert!(
        rate("changepoints") <= 1.0,
        "changepoints: {:?}",
        r.false_per_detector["changepoints"]
    );
    assert!(rate("outliers") <= 1.0, "outliers: {:?}", r.false_per_detector["outliers"]);
    let falses = |d: &str| {
        r.false_findings
            .iter()
            .filter(|f| f.detector == d)
            .map(|f| format!("{} ({:.2})", f.title, f.score))
            .collect::<Vec<_>>()
    };
    assert!(
        rate("ueba") <= 1.0,
        "ueba: {:?}: {:#?}",
        r.false_per_detector["ueba"],
        falses("ueba")
    );
    // The network and DNS hunts: within the budget of 1 per 1,000 host-days each, and none of
    // the benign look-alikes (SaaS pollers, NTP, backups, the scanner, CDN names) flagged.
    for h in ["beaconing", "exfiltration", "lateral_movement", "dns"] {
        assert!(rate(h) <= 1.0, "{h}: {:?}", r.false_per_detector[h]);
    }
    assert!(r.lookalikes > 20, "look-alike sources labelled: {}", r.lookalikes);
    assert!(r.lookalikes_flagged.is_empty(), "{:?}", r.lookalikes_flagged);
    assert!(rate("ip_insights") <= 1.0, "ip_insights: {:?}", r.false_per_detector["ip_insights"]);
}
