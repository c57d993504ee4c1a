//! The deployment files in `jobs/aws/`: the IAM policy against what the code calls, and the
//! SageMaker, Batch and Scheduler requests against the AWS API models and a real local server.

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Rust files under `src/`, each without its `#[cfg(test)]` part.
fn sources() -> Vec<(String, String)> {
    crate::common::files_under(&Path::new(ROOT).join("src"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            (p.display().to_string(), code)
        })
        .collect()
}

/// `<op>` of every `client . <op>()` (whitespace and line breaks allowed around the dot).
fn sdk_calls(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("client") {
        let rest = code[i + "client".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('.') else { continue };
        let rest = rest.trim_start();
        let op: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !op.is_empty() && rest[op.len()..].starts_with("()") {
            out.push(op);
        }
    }
    out
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The IAM actions the code needs, read from the source: every Athena and Glue SDK call
/// (`client.<operation>()`), and the S3 actions behind the object-store calls it makes.
fn actions_the_code_calls() -> BTreeSet<String> {
    let mut need = BTreeSet::new();
    for (path, code) in sources() {
        for (sdk, service) in [("aws_sdk_athena::Client", "athena"), ("aws_sdk_glue::Client", "glue")] {
            if code.contains(sdk) {
                for op in sdk_calls(&code) {
                    need.insert(format!("{service}:{}", pascal(&op)));
                }
            }
        }
        let uses = |pat: &str| code.contains(pat);
        if uses("ParquetObjectReader::new") || uses(".get_range(") || uses(".get_opts(") {
            need.insert("s3:GetObject".into());
        }
        if uses("store.list(") {
            need.insert("s3:ListBucket".into());
        }
        if uses(".put(&") && path.ends_with("store.rs") || uses(".put_opts(") {
            need.insert("s3:PutObject".into());
        }
        if uses("put_multipart(") {
            need.extend(["s3:PutObject".to_string(), "s3:AbortMultipartUpload".to_string()]);
        }
        if uses("store.delete(") {
            need.insert("s3:DeleteObject".into());
        }
        if uses("store.copy(") || uses("store.rename(") {
            panic!("{path}: copy/rename need s3:GetObject + s3:PutObject (+ DeleteObject): add them here and to the policy");
        }
    }
    need
}

/// Actions in the policy that no lakesight call makes, each needed by a service acting for it.
const INDIRECT: &[(&str, &str)] = &[
    ("s3:GetBucketLocation", "Athena checks the region of the results bucket"),
    (
        "glue:GetPartition",
        "Athena plans a query over the Security Lake tables' partitions",
    ),
    (
        "glue:GetPartitions",
        "Athena plans a query over the Security Lake tables' partitions",
    ),
    (
        "lakeformation:GetDataAccess",
        "Security Lake tables are governed by Lake Formation grants",
    ),
];

/// Proves the least-privilege policy matches the code: every action the code calls (read from
/// `src/`, so a new SDK call without a policy line fails here) is allowed, the policy allows
/// nothing else but the listed actions services take on lakesight's behalf, and no statement
/// that writes or deletes reaches beyond the output and Athena scratch prefixes.
#[test]
fn the_iam_policy_allows_what_the_code_calls_and_nothing_else() {
    let need = actions_the_code_calls();
    for a in [
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:StopQueryExecution",
        "glue:CreateTable",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
    ] {
        assert!(need.contains(a), "the source scan missed {a}: {need:?}");
    }
    let policy: serde_json::Value = serde_json::from_str(&read("jobs/aws/iam-policy.json")).unwrap();
    let mut allowed = BTreeSet::new();
    for st in policy["Statement"].as_array().unwrap() {
        assert_eq!(st["Effect"], "Allow");
        let actions: Vec<String> = st["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let resources: Vec<&str> = st["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        if actions.iter().any(|a| a == "s3:PutObject" || a == "s3:DeleteObject") {
            assert!(
                resources
                    .iter()
                    .all(|r| r.starts_with("arn:aws:s3:::example-lakesight-output/lakesight/")
                        || r.starts_with("arn:aws:s3:::example-athena-results/lakesight/")),
                "{} writes beyond the output prefix: {resources:?}",
                st["Sid"]
            );
        }
        for a in &actions {
            assert!(!a.contains('*'), "{}: wildcard action {a}", st["Sid"]);
        }
        allowed.extend(actions);
    }
    let missing: Vec<_> = need.difference(&allowed).collect();
    assert!(missing.is_empty(), "the code calls {missing:?}, the policy does not allow it");
    let indirect: BTreeSet<String> = INDIRECT.iter().map(|(a, _)| a.to_string()).collect();
    let extra: Vec<_> = allowed.difference(&need).filter(|a| !indirect.contains(*a)).collect();
    assert!(extra.is_empty(), "the policy allows {extra:?}, which nothing calls");
}

/// Proves the job definitions are requests AWS accepts and that they agree with lakesight:
/// boto3 validates each against the service's API model and sends it to moto (SageMaker
/// `CreateProcessingJob`, Batch `RegisterJobDefinition`, EventBridge Scheduler `CreateSchedule`);
/// the array backfill's `SubmitJob` is validated against the model only (moto runs Batch jobs in
/// Docker); the processing job's output folder is `jobs/nightly.toml`'s output; Batch retries exactly the
/// transient exit status (75) and exits on everything else; and the container arguments are a
/// command line this binary accepts (`--dry-run` of each, which plans without touching AWS).
#[test]
fn the_job_definitions_are_valid_requests_that_agree_with_the_binary() {
    let sm: serde_json::Value = serde_json::from_str(&read("jobs/aws/sagemaker-processing-job.json")).unwrap();
    let batch: serde_json::Value = serde_json::from_str(&read("jobs/aws/batch-job-definition.json")).unwrap();
    let sched: serde_json::Value = serde_json::from_str(&read("jobs/aws/scheduler-schedule.json")).unwrap();

    let nightly = lakesight::runtime::config::JobConfig::load(
        &Path::new(ROOT).join("jobs/nightly.toml"),
        &lakesight::series::SeriesCatalog::builtin().unwrap(),
    )
    .unwrap();
    assert_eq!(
        sm["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"].as_str(),
        Some(nightly.job.output.as_str())
    );
    let retry = batch["retryStrategy"]["evaluateOnExit"].as_array().unwrap();
    let transient = lakesight::runtime::exit::Failure::Transient.code().to_string();
    assert_eq!(retry[0]["onExitCode"].as_str(), Some(transient.as_str()));
    assert_eq!(retry[0]["action"], "RETRY");
    assert_eq!(retry.last().unwrap()["action"], "EXIT");
    let input: serde_json::Value = serde_json::from_str(sched["Target"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input["JobDefinition"], batch["jobDefinitionName"]);

    // The binary accepts both command lines (the job file path inside the image is the repo's).
    let job = Path::new(ROOT).join("jobs/nightly.toml");
    let swap = |args: Vec<String>| -> Vec<String> {
        args.into_iter()
            .map(|a| {
                if a == "/opt/lakesight/jobs/nightly.toml" {
                    job.display().to_string()
                } else {
                    a
                }
            })
            .collect()
    };
    let strings =
        |v: &serde_json::Value| -> Vec<String> { v.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect() };
    let sm_args = strings(&sm["AppSpecification"]["ContainerArguments"]);
    let batch_args = strings(&batch["containerProperties"]["command"]);
    // The array backfill (`batch-backfill-submit.json`): child 0 of 7 plans days 1, 8, 15, 22
    // and 29 of March, each as its own run (runtime::shard).
    let backfill: serde_json::Value = serde_json::from_str(&read("jobs/aws/batch-backfill-submit.json")).unwrap();
    assert_eq!(backfill["jobDefinition"], batch["jobDefinitionName"]);
    let backfill_args = strings(&backfill["containerOverrides"]["command"]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lakesight"))
        .args(swap(backfill_args))
        .arg("--dry-run")
        .env("LAKESIGHT_LOG_FORMAT", "json")
        .env("AWS_BATCH_JOB_ARRAY_INDEX", "0")
        .env("AWS_BATCH_JOB_ARRAY_SIZE", backfill["arrayProperties"]["size"].to_string())
        .env("AWS_BATCH_JOB_ID", "5d1c-backfill:0")
        .output()
        .unwrap();
    let plans = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let planned: Vec<&str> = plans
        .lines()
        .filter(|l| l.starts_with("run nightly-"))
        .filter_map(|l| l.split_whitespace().nth(1).and_then(|id| id.rsplit_once("-d")).map(|(_, d)| d))
        .collect();
    assert_eq!(planned, ["20250301", "20250308", "20250315", "20250322", "20250329"], "{plans}");

    for (args, env_job) in [(swap(sm_args), true), (swap(batch_args), false)] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lakesight"));
        c.args(&args).arg("--dry-run").env("LAKESIGHT_LOG_FORMAT", "json");
        if env_job {
            c.env("LAKESIGHT_JOB", &job);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("run nightly-"), "{args:?}");
    }

    // The requests against the API models (boto3's parameter validation) and moto.
    let endpoint = crate::servers::moto();
    let venv = std::env::var("LAKESIGHT_MOTO_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/lakesight/moto-venv", std::env::var("HOME").unwrap_or_default()));
    let script = r#"
import json, sys, boto3
ep, root = sys.argv[1], sys.argv[2]
load = lambda f: json.load(open(f"{root}/jobs/aws/{f}"))
kw = dict(endpoint_url=ep, region_name="us-east-1")
boto3.client("iam", **kw).create_role(RoleName="lakesight-job", AssumeRolePolicyDocument="{}")
sm = boto3.client("sagemaker", **kw)
sm.create_processing_job(**load("sagemaker-processing-job.json"))
d = sm.describe_processing_job(ProcessingJobName="lakesight-nightly-2025-03-31")
assert d["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"] == "/opt/ml/processing/output", d
b = boto3.client("batch", **kw).register_job_definition(**load("batch-job-definition.json"))
# moto's Batch runs submitted jobs in Docker: the array submission is checked against the model only.
from botocore.validate import validate_parameters
batch_model = boto3.client("batch", **kw).meta.service_model
validate_parameters(load("batch-backfill-submit.json"), batch_model.operation_model("SubmitJob").input_shape)
assert b["jobDefinitionName"] == "lakesight-nightly", b
s = boto3.client("scheduler", **kw).create_schedule(**load("scheduler-schedule.json"))
assert s["ScheduleArn"].endswith("schedule/default/lakesight-nightly"), s
print("ok")
"#;
    let o = std::process::Command::new(format!("{venv}/bin/python"))
        .args(["-c", script, endpoint, ROOT])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
