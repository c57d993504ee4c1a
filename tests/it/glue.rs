//! Findings table registration in Glue, against moto's Glue API on loopback.

use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;
use lakesight::sink::glue::GlueConfig;

use crate::servers::{moto, moto_sdk_config, new_bucket, s3_options};
use crate::spine::{demo_job, demo_like};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_findings_table_is_created_in_glue_on_the_first_run_and_kept_up_to_date() {
    let bucket = new_bucket("glue");
    let out = format!("s3://{bucket}/lakesight");
    let scratch = tempfile::tempdir().unwrap();
    let mut cfg = demo_job(demo_like().path(), scratch.path());
    cfg.job.output = out.clone();
    cfg.s3 = s3_options();
    cfg.output.database = format!("lakesight_it_{}", bucket.replace('-', "_"));
    cfg.glue = Some(GlueConfig {
        endpoint: Some(moto().to_string()),
        region: Some("us-east-1".into()),
        ..GlueConfig::default()
    });
    let c = SeriesCatalog::builtin().unwrap();
    let ov = RunOverrides {
        date: chrono::NaiveDate::from_ymd_opt(2025, 3, 28),
        ..RunOverrides::default()
    };
    let clock = FixedClock(1_743_400_000_000);
    let r = run(&cfg, &c, &ov, &clock).await.unwrap();
    let g = r.manifest.glue.clone().unwrap();
    assert_eq!(g.action, "created");

    let conf = moto_sdk_config().await;
    let glue = aws_sdk_glue::Client::new(&conf);
    let get = || async {
        glue.get_table()
            .database_name(&cfg.output.database)
            .name(&cfg.output.table)
            .send()
            .await
            .unwrap()
            .table()
            .cloned()
            .unwrap()
    };
    let t = get().await;
    let params = t.parameters().unwrap();
    assert_eq!(params["projection.enabled"], "true");
    assert_eq!(params["projection.dt.type"], "date");
    let keys: Vec<&str> = t.partition_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys, ["dt", "detector"]);
    let sd = t.storage_descriptor().unwrap();
    assert_eq!(sd.location(), Some(format!("{out}/findings/").as_str()));
    // Every detector that wrote findings is in the projected values, so Athena sees its partition.
    let projected: Vec<&str> = params["projection.detector.values"].split(',').collect();
    for f in &r.findings {
        assert!(projected.contains(&f.detector.as_str()), "{} not in {projected:?}", f.detector);
    }

    // A rerun changes nothing; a new detector updates the projection and keeps the old ones.
    assert_eq!(run(&cfg, &c, &ov, &clock).await.unwrap().manifest.glue.unwrap().action, "unchanged");
    let mut more = cfg.clone();
    let dc = more.detectors["outliers"].clone();
    more.detectors.insert("outliers_new".into(), dc);
    more.series[0].detectors.push("outliers_new".into());
    let g = run(&more, &c, &ov, &clock).await.unwrap().manifest.glue.unwrap();
    assert_eq!(g.action, "updated");
    let projected = get().await.parameters().unwrap()["projection.detector.values"].clone();
    assert!(projected.contains("outliers_new") && projected.contains("trends"), "{projected}");
}
