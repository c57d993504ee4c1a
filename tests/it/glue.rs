//! Findings and features table registration in Glue, against moto's Glue API on loopback.

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
    let actions: Vec<(&str, &str)> = r.manifest.glue.iter().map(|g| (g.table.as_str(), g.action.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("findings", "created"),
            ("features", "created"),
            ("embeddings", "created"),
            ("ueba_days", "created")
        ]
    );

    let conf = moto_sdk_config().await;
    let glue = aws_sdk_glue::Client::new(&conf);
    let get_named = |name: String| {
        let glue = glue.clone();
        let db = cfg.output.database.clone();
        async move {
            glue.get_table()
                .database_name(db)
                .name(name)
                .send()
                .await
                .unwrap()
                .table()
                .cloned()
                .unwrap()
        }
    };
    let get = || get_named(cfg.output.table.clone());
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

    // The features table: dt partitions projected over the features folder the run wrote, and its
    // columns are those of the files there.
    let ft = get_named(cfg.output.features_table.clone()).await;
    let keys: Vec<&str> = ft.partition_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys, ["dt"]);
    assert_eq!(
        ft.parameters().unwrap()["storage.location.template"],
        format!("{out}/features/dt=${{dt}}/")
    );
    let cols: Vec<&str> = ft.storage_descriptor().unwrap().columns().iter().map(|c| c.name()).collect();
    let loc = lakesight::store::Location::open(&out, &s3_options(), false).await.unwrap();
    let bytes = {
        use object_store::ObjectStoreExt;
        let o = loc.store.get(&loc.child("features/dt=2025-03-28/features.parquet")).await.unwrap();
        o.bytes().await.unwrap()
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    assert!(reader.metadata().file_metadata().num_rows() > 0, "no features written");
    let schema = reader.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(cols, names);

    // The embeddings table likewise, its vector column an array of floats.
    let et = get_named(cfg.output.embeddings_table.clone()).await;
    let cols: Vec<(&str, &str)> = et
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .map(|c| (c.name(), c.r#type().unwrap_or("")))
        .collect();
    assert!(cols.contains(&("vector", "array<float>")), "{cols:?}");
    // Every detector that wrote findings is projected, IP Insights included.
    assert!(params["projection.detector.values"].contains("ip_insights"));

    // A rerun changes nothing; a new detector updates the projection and keeps the old ones.
    let again = run(&cfg, &c, &ov, &clock).await.unwrap().manifest.glue;
    assert!(again.iter().all(|g| g.action == "unchanged"), "{again:?}");
    let mut more = cfg.clone();
    let dc = more.detectors["outliers"].clone();
    more.detectors.insert("outliers_new".into(), dc);
    more.series[0].detectors.push("outliers_new".into());
    let g = run(&more, &c, &ov, &clock).await.unwrap().manifest.glue;
    assert_eq!(g[0].action, "updated");
    assert!(g[1..].iter().all(|r| r.action == "unchanged"), "{g:?}");
    let projected = get().await.parameters().unwrap()["projection.detector.values"].clone();
    assert!(projected.contains("outliers_new") && projected.contains("trends"), "{projected}");

    // Someone changes a column's type in the catalog (same number of columns): the next run
    // notices and puts the table back as lakesight writes it.
    let t = get().await;
    let mut sd = t.storage_descriptor().unwrap().clone();
    let mut cols = sd.columns().to_vec();
    let i = cols.iter().position(|c| c.name() == "score").unwrap();
    cols[i] = aws_sdk_glue::types::Column::builder()
        .name("score")
        .r#type("string")
        .build()
        .unwrap();
    sd.columns = Some(cols);
    let input = aws_sdk_glue::types::TableInput::builder()
        .name(t.name())
        .table_type(t.table_type().unwrap_or("EXTERNAL_TABLE"))
        .set_partition_keys(Some(t.partition_keys().to_vec()))
        .set_parameters(t.parameters().cloned())
        .storage_descriptor(sd)
        .build()
        .unwrap();
    glue.update_table()
        .database_name(&cfg.output.database)
        .table_input(input)
        .send()
        .await
        .unwrap();
    let g = run(&more, &c, &ov, &clock).await.unwrap().manifest.glue;
    assert_eq!(g[0].action, "updated", "{g:?}");
    let t = get().await;
    let score = t
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .find(|c| c.name() == "score")
        .unwrap()
        .r#type()
        .unwrap()
        .to_string();
    assert_eq!(score, "double");
}

/// Eight runs registering the same new table at once (array children, a rerun beside the nightly
/// job), in a database none of them has seen: every one succeeds — the ones that lose the race
/// to CreateDatabase or CreateTable read the winner's table instead of failing on "already
/// exists" — and exactly one of them created the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_registering_one_table_all_succeed_and_one_creates_it() {
    let bucket = new_bucket("glue-race");
    let database = format!("lakesight_race_{}", bucket.replace('-', "_"));
    let cfg = GlueConfig {
        endpoint: Some(moto().to_string()),
        region: Some("us-east-1".into()),
        ..GlueConfig::default()
    };
    let spec = lakesight::findings::table_spec("findings", &["outliers".to_string()]);
    let location = format!("s3://{bucket}/lakesight");
    let runs = (0..8).map(|_| lakesight::sink::glue::register_table(&cfg, Some("us-east-1"), &database, &spec, &location));
    let got = futures::future::join_all(runs).await;
    let actions: Vec<String> = got
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("a concurrent registration failed: {e}")).action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "created").count(), 1, "{actions:?}");
    assert!(actions.iter().all(|a| a == "created" || a == "unchanged"), "{actions:?}");
}
