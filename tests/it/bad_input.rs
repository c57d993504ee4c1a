//! Bad input in the lake: each is a named, counted skip; every good file is still read.

use lakesight::sample::{generate, VersionMode};

use crate::common::{config, engine, scalar_i64};

#[tokio::test]
async fn corrupt_truncated_unknown_and_stray_inputs_are_skipped_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let s = generate(&config(d.path().into(), VersionMode::V1, 7, 5_000)).unwrap();
    let base = d.path().join("aws/VPC_FLOW/1.0/region=us-east-1");
    let acct = std::fs::read_dir(&base).unwrap().next().unwrap().unwrap().path();
    let day = std::fs::read_dir(&acct).unwrap().next().unwrap().unwrap().path();
    let good = std::fs::read_dir(&day).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&good).unwrap();
    // 1. random bytes with a Parquet name, 2. a truncated copy of a good file,
    std::fs::write(day.join("corrupt.gz.parquet"), b"this is not parquet at all, not even close").unwrap();
    std::fs::write(day.join("truncated.gz.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    // 3. an unknown source version, 4. a stray folder, 5. an empty partition, 6. a file whose
    // schema conflicts with its table (time as a string).
    let unknown = d
        .path()
        .join("aws/VPC_FLOW/9.9/region=us-east-1/accountId=123456789012/eventDay=20250301");
    std::fs::create_dir_all(&unknown).unwrap();
    std::fs::copy(&good, unknown.join("x.parquet")).unwrap();
    std::fs::create_dir_all(d.path().join("misc")).unwrap();
    std::fs::write(d.path().join("misc/notes.parquet"), b"x").unwrap();
    std::fs::create_dir_all(
        d.path()
            .join("aws/ROUTE53/1.0/region=us-east-1/accountId=123456789012/eventDay=20250302"),
    )
    .unwrap();
    {
        use arrow::array::StringArray;
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![Field::new("time", DataType::Utf8, true)]));
        let b = arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![std::sync::Arc::new(StringArray::from(vec!["yesterday"]))])
            .unwrap();
        let f = std::fs::File::create(day.join("wrongschema.gz.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let e = engine(&d.path().display().to_string()).await;
    let reasons: Vec<String> = e.catalog.skipped.iter().map(|k| format!("{} => {}", k.path, k.reason)).collect();
    assert_eq!(e.catalog.skipped.len(), 5, "{reasons:#?}");
    for (needle, why) in [
        ("corrupt.gz.parquet", "corrupt"),
        ("truncated.gz.parquet", "corrupt"),
        ("9.9", "unknown source version"),
        ("misc/notes.parquet", "not under aws/"),
        ("wrongschema.gz.parquet", "time"),
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle) && r.contains(why)),
            "{needle}/{why} not in {reasons:#?}"
        );
    }
    // Every good row is still read.
    let mut total = 0;
    for t in &e.catalog.tables {
        total += scalar_i64(&e, &format!("SELECT count(*) FROM {}", t.glue_name)).await as u64;
    }
    assert_eq!(total, s.events);
}

#[tokio::test]
async fn a_lake_url_that_is_not_a_folder_is_a_clear_error() {
    let err = lakesight::lake::engine::Engine::open("/definitely/not/here", &Default::default())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}
