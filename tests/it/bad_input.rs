//! Bad input in the lake: each is a named, counted skip; every good file is still read.

use lakesight::sample::{generate, VersionMode};

use crate::common::{config, engine, rewrite, scalar_i64};

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

/// `b` with its column `name` replaced (made nullable, as the new values may be null).
fn with_column(b: &arrow::record_batch::RecordBatch, name: &str, col: arrow::array::ArrayRef) -> arrow::record_batch::RecordBatch {
    use arrow::datatypes::{Field, Schema};
    let i = b.schema().index_of(name).unwrap();
    let mut fields: Vec<Field> = b.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[i] = Field::new(name, col.data_type().clone(), true);
    let mut cols = b.columns().to_vec();
    cols[i] = col;
    arrow::record_batch::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), cols).unwrap()
}

/// `b` with its `unmapped` map holding one entry per row, `requestParameters.bucketName` →
/// `values[i]`.
fn with_unmapped(b: &arrow::record_batch::RecordBatch, values: arrow::array::ArrayRef) -> arrow::record_batch::RecordBatch {
    use arrow::array::{ArrayRef, StringArray};
    match b.schema().field_with_name("unmapped").map(|f| f.data_type().clone()) {
        Ok(arrow::datatypes::DataType::Map(entry, sorted)) => {
            let n = b.num_rows();
            let arrow::datatypes::DataType::Struct(kv) = entry.data_type() else {
                panic!("map entries")
            };
            let keys: ArrayRef = std::sync::Arc::new(StringArray::from(vec!["requestParameters.bucketName"; n]));
            let entries = arrow::array::StructArray::new(kv.clone(), vec![keys, values], None);
            let offsets = arrow::buffer::OffsetBuffer::from_lengths(vec![1; n]);
            let m = arrow::array::MapArray::new(entry.clone(), offsets, entries, None, sorted);
            with_column(b, "unmapped", std::sync::Arc::new(m))
        }
        other => panic!("unmapped is {other:?}"),
    }
}

fn time_ms(b: &arrow::record_batch::RecordBatch) -> Vec<i64> {
    use arrow::array::AsArray;
    let c = arrow::compute::cast(b.column_by_name("time").unwrap(), &arrow::datatypes::DataType::Int64).unwrap();
    c.as_primitive::<arrow::datatypes::Int64Type>().values().to_vec()
}

/// Bad data at scale (issue #17 item 5). A million-event lake is copied and the copy spoiled: 1% of
/// its file count each of corrupt, truncated, zero-byte and schema-drifted files (`time` as
/// text), spread over the window, plus three copies of an analysed-day CloudTrail file whose
/// rows cannot be placed in time — every `time` in seconds instead of milliseconds, every `time`
/// a century ahead, every `time` missing — with a 1 MB `unmapped` value on each row. Proves that
/// the demo job over the spoiled lake names every bad file with its reason in the manifest, counts
/// the misplaced rows against their table and day (`row_times`) and warns about them, and finds
/// exactly what it finds on the clean lake (same ids, titles, observed and expected values).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_with_bad_files_and_misplaced_rows_find_what_the_clean_lake_finds() {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;
    let clean = tempfile::tempdir().unwrap();
    let s = generate(&config(clean.path().into(), VersionMode::V1, 30, 36_000)).unwrap();
    assert!(s.events >= 1_000_000, "{} events", s.events);
    let spoiled = tempfile::tempdir().unwrap();
    let files = crate::common::files_under(clean.path());
    for f in &files {
        let to = spoiled.path().join(f.strip_prefix(clean.path()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f, &to).unwrap();
    }
    let data: Vec<_> = crate::common::files_under(spoiled.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    let per_kind = data.len().div_ceil(100);
    let stride = data.len() / (4 * per_kind);
    // (file name, why it is skipped, its eventDay)
    let mut expected: Vec<(String, &str, String, bool)> = Vec::new();
    for k in 0..4 * per_kind {
        let victim = &data[k * stride];
        let dir = victim.parent().unwrap();
        let (name, why) = match k % 4 {
            0 => {
                let p = dir.join(format!("bad-corrupt-{k}.parquet"));
                std::fs::write(&p, vec![0x5a; 4096]).unwrap();
                (p, "corrupt or truncated")
            }
            1 => {
                let bytes = std::fs::read(victim).unwrap();
                let p = dir.join(format!("bad-truncated-{k}.parquet"));
                std::fs::write(&p, &bytes[..bytes.len() * 2 / 3]).unwrap();
                (p, "corrupt or truncated")
            }
            2 => {
                let p = dir.join(format!("bad-empty-{k}.parquet"));
                std::fs::write(&p, b"").unwrap();
                (p, "too small to be Parquet")
            }
            _ => {
                let p = dir.join(format!("bad-drift-{k}.parquet"));
                rewrite(victim, &p, |b| {
                    let t = arrow::compute::cast(b.column_by_name("time").unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
                    with_column(b, "time", t)
                });
                (p, "schema does not fit its table")
            }
        };
        let day = dir.to_string_lossy().rsplit("eventDay=").next().unwrap().to_string();
        let findings = dir.to_string_lossy().contains("/SH_FINDINGS/");
        expected.push((name.file_name().unwrap().to_string_lossy().to_string(), why, day, findings));
    }

    // Rows no analysis can place: in the analysed day's CloudTrail partition of one account.
    let ct = data
        .iter()
        .find(|p| {
            let s = p.to_string_lossy();
            s.contains("CLOUD_TRAIL_MGMT") && s.contains("region=us-east-1") && s.contains("eventDay=20250330/")
        })
        .expect("a CloudTrail file of the analysed day");
    let huge = "x".repeat(1 << 20);
    let spoil = |b: &arrow::record_batch::RecordBatch, t: ArrayRef| {
        // Every row's `unmapped` value 1 MB.
        let n = b.num_rows();
        with_unmapped(&with_column(b, "time", t), Arc::new(StringArray::from(vec![huge.as_str(); n])))
    };
    let seconds = rewrite(ct, &ct.with_file_name("rows-seconds.parquet"), |b| {
        spoil(b, Arc::new(Int64Array::from_iter_values(time_ms(b).into_iter().map(|t| t / 1000))))
    });
    rewrite(ct, &ct.with_file_name("rows-future.parquet"), |b| {
        spoil(
            b,
            Arc::new(Int64Array::from_iter_values(
                time_ms(b).into_iter().map(|t| t + 100 * 365 * 86_400_000),
            )),
        )
    });
    rewrite(ct, &ct.with_file_name("rows-no-time.parquet"), |b| {
        spoil(b, Arc::new(Int64Array::new_null(b.num_rows())))
    });

    let run = |lake: std::path::PathBuf| async move {
        let out = tempfile::tempdir().unwrap();
        let cfg = crate::spine::demo_job(&lake, out.path());
        let c = lakesight::series::SeriesCatalog::builtin().unwrap();
        cfg.validate(&c).unwrap();
        lakesight::runtime::run::run(
            &cfg,
            &c,
            &lakesight::runtime::run::RunOverrides::default(),
            &lakesight::runtime::FixedClock(1_743_400_000_000),
        )
        .await
        .unwrap()
    };
    let a = run(clean.path().to_path_buf()).await;
    let b = run(spoiled.path().to_path_buf()).await;
    let found = crate::common::finding_summary;
    assert!(!a.findings.is_empty());
    assert_eq!(found(&a), found(&b));

    assert!(a.manifest.skipped_inputs.is_empty(), "{:?}", a.manifest.skipped_inputs);
    // The bad files of the days the run opens: the analysed day and its 14-day baseline, and for
    // the findings family the longest history a detector judges on (the trend test's 28 days).
    let ymd = |d: chrono::NaiveDate| d.format("%Y%m%d").to_string();
    let read_from = b.manifest.read_from.expect("read_from in the manifest");
    assert!(read_from < b.manifest.baseline_from);
    let (from, baseline, to) = (ymd(read_from), ymd(b.manifest.baseline_from), ymd(b.manifest.range.to));
    let bad_in_window: Vec<_> = expected
        .iter()
        .filter(|(_, _, d, findings)| d >= if *findings { &from } else { &baseline } && *d <= to)
        .collect();
    assert!(bad_in_window.len() >= 3 * per_kind, "{bad_in_window:?}");
    let before_baseline = expected
        .iter()
        .filter(|(_, _, d, findings)| !findings && *d >= from && *d < baseline)
        .count();
    assert!(
        before_baseline > 0,
        "no bad file of another family before the baseline: the per-family days are not tested"
    );
    let skipped = &b.manifest.skipped_inputs;
    assert_eq!(skipped.len(), bad_in_window.len(), "{skipped:#?}");
    for (name, why, _, _) in &bad_in_window {
        assert!(
            skipped.iter().any(|s| s.path.ends_with(name.as_str()) && s.reason.contains(why)),
            "{name}: {why} not in {skipped:#?}"
        );
        assert!(b.manifest.warnings.iter().any(|w| w.contains(name.as_str())), "{name} not warned");
    }

    let rt = |r: &lakesight::runtime::run::RunResult| {
        r.manifest
            .stage::<lakesight::stages::row_times::RowTimesStats>("row_times")
            .unwrap()
    };
    let (ra, rb) = (rt(&a), rt(&b));
    assert!(ra.misplaced.is_empty(), "{ra:?}");
    assert!(ra.rows_checked > 0);
    assert_eq!(rb.rows_checked, ra.rows_checked + 3 * seconds as u64);
    assert_eq!(rb.misplaced.len(), 1, "{rb:?}");
    let m = &rb.misplaced[0];
    assert!(m.table.contains("us_east_1_cloud_trail_mgmt") && m.day == "20250330", "{m:?}");
    assert_eq!((m.no_time, m.outside_day), (seconds as u64, 2 * seconds as u64), "{m:?}");
    assert!(
        m.min_time_ms.unwrap() < 2_000_000_000 && m.max_time_ms.unwrap() > 4_000_000_000_000,
        "{m:?}"
    );
    assert!(b
        .manifest
        .warnings
        .iter()
        .any(|w| w.contains(&m.table) && w.contains("20250330") && w.contains("seconds instead of milliseconds")));
}

/// A file whose footer is sound but whose `unmapped` values and `activity_name` are not UTF-8 (a
/// third-party writer that copied raw bytes): DataFusion fails every query that decodes the column, without
/// naming the file. Proves the engine then finds the file by reading each file the failed query
/// read, skips it for the rest of the run with the decoder's reason, and answers the query from
/// the other files; and that the nightly job over such a lake completes, naming the file in the
/// manifest and the warnings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_bytes_that_are_not_utf8_is_skipped_by_the_query_that_meets_it() {
    use arrow::array::{ArrayRef, StringArray};
    use std::sync::Arc;
    let d = tempfile::tempdir().unwrap();
    generate(&config(d.path().into(), VersionMode::V1, 21, 5_000)).unwrap();
    let ct = crate::common::files_under(d.path())
        .into_iter()
        .find(|p| {
            let s = p.to_string_lossy();
            s.contains("CLOUD_TRAIL_MGMT") && s.contains("eventDay=20250320/") && s.ends_with(".parquet")
        })
        .unwrap();
    let poisoned = ct.with_file_name("third-party.parquet");
    let rows = rewrite(&ct, &poisoned, |b| {
        let n = b.num_rows();
        // SAFETY: deliberately invalid UTF-8 (0xFF never occurs in UTF-8), to write what a
        // careless writer writes; nothing in this process reads it as `str`.
        let invalid = |text: &[u8]| -> ArrayRef {
            Arc::new(unsafe {
                StringArray::new_unchecked(
                    arrow::buffer::OffsetBuffer::from_lengths(vec![text.len(); n]),
                    arrow::buffer::Buffer::from_vec(text.repeat(n)),
                    None,
                )
            })
        };
        let b = with_unmapped(b, invalid(b"b\xffx"));
        // And `activity_name`, which the nightly job's queries read (a key of api_calls).
        assert_eq!(
            b.schema().field_with_name("activity_name").unwrap().data_type(),
            &arrow::datatypes::DataType::Utf8
        );
        with_column(&b, "activity_name", invalid(b"Re\xffd"))
    });

    let e = engine(&d.path().display().to_string()).await;
    let all = scalar_i64(&e, "SELECT count(*) FROM lakesight.api_activity").await;
    // The query that decodes `unmapped` (the view's `bucket`) meets the bad bytes.
    let b = e
        .collect("SELECT count(*) AS n, count(bucket) AS b FROM lakesight.api_activity")
        .await
        .expect("answered without the bad file");
    let n = arrow::compute::cast(b[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    use arrow::array::AsArray;
    assert_eq!(n.as_primitive::<arrow::datatypes::Int64Type>().value(0), all - rows as i64);
    let skipped = e.catalog.all_skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].path.ends_with("third-party.parquet") && skipped[0].reason.contains("UTF-8"),
        "{skipped:?}"
    );
    // Later queries leave it out too.
    assert_eq!(
        scalar_i64(&e, "SELECT count(*) FROM lakesight.api_activity").await,
        all - rows as i64
    );

    let out = tempfile::tempdir().unwrap();
    let mut cfg = crate::spine::demo_job(d.path(), out.path());
    cfg.hunts = None;
    let c = lakesight::series::SeriesCatalog::builtin().unwrap();
    cfg.validate(&c).unwrap();
    let ov = lakesight::runtime::run::RunOverrides {
        date: chrono::NaiveDate::from_ymd_opt(2025, 3, 20),
        ..Default::default()
    };
    let r = lakesight::runtime::run::run(&cfg, &c, &ov, &lakesight::runtime::FixedClock(1_743_400_000_000))
        .await
        .expect("the run completes");
    let named: Vec<_> = r
        .manifest
        .skipped_inputs
        .iter()
        .filter(|s| s.path.ends_with("third-party.parquet"))
        .collect();
    assert_eq!(named.len(), 1, "{:?}", r.manifest.skipped_inputs);
    assert!(named[0].reason.contains("data cannot be decoded"), "{named:?}");
    assert!(r.manifest.warnings.iter().any(|w| w.contains("third-party.parquet")));
}
