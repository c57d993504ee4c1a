//! The CI slice of the detection-quality benchmark (issue "A world that is hard to fool"): one
//! realistic-world lake (seed 1, 8,000 events a day, 28 days, the second half judged) with four
//! scenario kinds at strength 9, scored by key against its labels (`runtime::quality`).
//!
//! What it proves: at this strength the level shifts, trends, new-IP credential uses and DGA
//! bursts are each found (recall 100%, the target), and the trend detector stays within the
//! target budget of 1 false finding per 1,000 entity-days. For the outlier and IP Insights
//! detectors the target (≤ 1 per 1,000) is not met yet on this world; their assertions are
//! regression ceilings at about 1.5× today's measured rate (outliers ~30, IP Insights ~490 per
//! 1,000), so a change that makes them worse fails here while the work to meet the target goes on.

use lakesight::runtime::quality::measure;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_slice_on_the_realistic_world() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "finding_level_shift=9:2,finding_trend=9:2,new_ip_credential_use=9:3,dga_dns=9:2";
    let r = measure(dir.path(), 1, spec, 8000, 28).await.unwrap();
    assert_eq!(r.instances.len(), 9, "{:?}", r.instances);
    for i in &r.instances {
        assert!(i.found, "not found: {i:?}");
    }
    let rate = |d: &str| {
        let f = &r.false_per_detector[d];
        assert!(f.entity_days > 50, "{d}: {f:?}");
        f.per_1000()
    };
    assert!(rate("trends") <= 1.0, "trends: {:?}", r.false_per_detector["trends"]);
    assert!(rate("outliers") <= 45.0, "outliers: {:?}", r.false_per_detector["outliers"]);
    assert!(
        rate("ip_insights") <= 750.0,
        "ip_insights: {:?}",
        r.false_per_detector["ip_insights"]
    );
}
