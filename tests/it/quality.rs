//! The CI slice of the detection-quality benchmark (issue "A world that is hard to fool"): one
//! realistic-world lake (seed 1, 8,000 events a day, 28 days, the second half judged) with four
//! scenario kinds at strength 9 and the three UEBA kinds at strength 8 (calls), scored by key
//! against its labels (`runtime::quality`).
//!
//! What it proves: at this strength the level shifts, trends, DGA bursts, night-time discovery and
//! secrets enumeration are each found (recall 100%, the target), and at least one of the two IAM
//! persistence instances (7 of 10 over five seeds); UEBA stays within its budget of 1 false
//! finding per 1,000 principal-days (none in this lake's 1,003); every instance a budgeted detector found was found by a finding above its
//! gate; the trend and change-point detectors stay within the target budget of 1 false finding
//! per 1,000 entity-days (none on this lake's 112). Not met yet, and held as regression bounds at
//! about 1.5× today's measured figures so that a change making them worse fails here: the
//! outlier detector's false rate (3.4 per 1,000 entity-days on this lake; 3.45 over five benign
//! lakes, mostly release-day bursts of deploy roles and quiet hours of people), and IP Insights
//! (48 per 1,000 new pairs), which finds only some new-IP credential uses: the attacker's network
//! is as new to the principal as a hotel's, and the model has no other context (user agent,
//! hours, API mix: the UEBA issue).

use lakesight::runtime::quality::measure;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_slice_on_the_realistic_world() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "finding_level_shift=9:2,finding_trend=9:2,new_ip_credential_use=9:3,dga_dns=9:2,\
                night_discovery=8:2,iam_persistence=8:2,secrets_enumeration=8:2";
    let r = measure(dir.path(), 1, spec, 2, 8000, 28).await.unwrap();
    assert_eq!(r.instances.len(), 15, "{:?}", r.instances);
    for i in r
        .instances
        .iter()
        .filter(|i| i.kind != "new_ip_credential_use" && i.kind != "iam_persistence")
    {
        assert!(i.found, "not found: {i:?}");
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
    let new_ip = r.instances.iter().filter(|i| i.kind == "new_ip_credential_use" && i.found).count();
    assert!(new_ip >= 1, "no new-IP credential use found: {:?}", r.instances);
    let iam = r.instances.iter().filter(|i| i.kind == "iam_persistence" && i.found).count();
    assert!(iam >= 1, "no IAM persistence found: {:?}", r.instances);
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
    assert!(rate("outliers") <= 5.0, "outliers: {:?}", r.false_per_detector["outliers"]);
    assert!(rate("ueba") <= 1.0, "ueba: {:?}", r.false_per_detector["ueba"]);
    assert!(
        rate("ip_insights") <= 72.0,
        "ip_insights: {:?}",
        r.false_per_detector["ip_insights"]
    );
}
