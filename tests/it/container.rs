//! The binary inside a SageMaker Processing container, faked: a temporary root with
//! `/opt/ml/config/processingjobconfig.json` and `resourceconfig.json` as SageMaker writes them
//! (`LAKESIGHT_CONTAINER_ROOT` points the binary at it), the job writing to the output's
//! `LocalPath`. No container runtime is involved: this proves the contract the binary keeps, not
//! the image.

use std::path::Path;
use std::process::Command;

use crate::spine::demo_like;

fn bin(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lakesight"));
    c.env("LAKESIGHT_LOG_FORMAT", "json").env("LAKESIGHT_CONTAINER_ROOT", root);
    c
}

fn fake_container(root: &Path) {
    let cfg = root.join("opt/ml/config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::create_dir_all(root.join("opt/ml/processing/output")).unwrap();
    std::fs::write(
        cfg.join("processingjobconfig.json"),
        r#"{"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:processing-job/lakesight-nightly",
            "ProcessingJobName": "lakesight-nightly",
            "AppSpecification": {"ImageUri": "lakesight:test", "ContainerEntrypoint": null, "ContainerArguments": null},
            "ProcessingInputs": [],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "findings", "AppManaged": false,
              "S3Output": {"LocalPath": "/opt/ml/processing/output", "S3Uri": "s3://out-bucket/lakesight/",
                           "S3UploadMode": "EndOfJob"}}], "KmsKeyId": null},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
            "RoleArn": "arn:aws:iam::111122223333:role/lakesight",
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}"#,
    )
    .unwrap();
    std::fs::write(
        cfg.join("resourceconfig.json"),
        r#"{"current_host": "algo-1", "hosts": ["algo-1"]}"#,
    )
    .unwrap();
}

/// A whole demo job for one day (`--date`) through the fake container: it succeeds, and every
/// location it publishes — the DDL's `LOCATION`s, the manifest's output, the findings' plot
/// links (the report links relatively and names no `file://` path) — is the S3 URI SageMaker uploads the output folder to, never `file://`. A bad
/// `--date` then fails with exit status 2 (configuration) and its reason in
/// `/opt/ml/output/message`, where SageMaker's console reads it.
#[test]
fn a_job_in_a_sagemaker_container_publishes_s3_locations_and_reports_its_failure() {
    let root = tempfile::tempdir().unwrap();
    fake_container(root.path());
    let out = root.path().join("opt/ml/processing/output");
    let job = root.path().join("job.toml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/demo.toml")).unwrap();
    let text = text
        .replace(
            "lake = \"../demo/lake\"",
            &format!("lake = {:?}", demo_like().path().display().to_string()),
        )
        .replace("output = \"../demo/out\"", &format!("output = {:?}", out.display().to_string()));
    std::fs::write(&job, text).unwrap();
    let o = bin(root.path())
        .args(["run", "--job", job.to_str().unwrap(), "--date", "2025-03-28"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("SageMaker Processing job"), "{stderr}");
    for f in ["findings_table.sql", "features_table.sql", "manifest.json", "report.html"] {
        let body = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(!body.contains("file://"), "{f} publishes a local path");
        // The report links its plots relatively, so it works wherever the folder is copied.
        if f != "report.html" {
            assert!(body.contains("s3://out-bucket/lakesight"), "{f} lacks the S3 URI");
        }
    }
    let ddl = std::fs::read_to_string(out.join("findings_table.sql")).unwrap();
    assert!(ddl.contains("LOCATION 's3://out-bucket/lakesight/findings"), "{ddl}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["output"], "s3://out-bucket/lakesight");
    let mut plots = 0;
    let files: Vec<_> = crate::common::files_under(&out.join("findings"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert!(!files.is_empty());
    for b in files.iter().flat_map(|f| crate::common::read_parquet(f)) {
        use arrow::array::{Array, AsArray};
        let p = b.column_by_name("plot").unwrap().as_string::<i32>().clone();
        for i in (0..p.len()).filter(|i| p.is_valid(*i)) {
            assert!(p.value(i).starts_with("s3://out-bucket/lakesight/plots/"), "{}", p.value(i));
            plots += 1;
        }
    }
    assert!(plots > 0, "no finding with a plot");
    assert!(!root.path().join("opt/ml/output/message").exists(), "a message after success");

    let bad = bin(root.path())
        .args(["run", "--job", job.to_str().unwrap(), "--date", "2025-13-40"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    let msg = std::fs::read_to_string(root.path().join("opt/ml/output/message")).unwrap();
    assert!(msg.starts_with("Config (exit 2)") && msg.contains("--date"), "{msg}");
    let last = String::from_utf8_lossy(&bad.stderr).lines().last().unwrap_or_default().to_string();
    let event: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(event["fields"]["exit_code"], 2, "{last}");
}
