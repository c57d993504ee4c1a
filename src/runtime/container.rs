//! The SageMaker Processing contract: what the container learns from
//! `/opt/ml/config/processingjobconfig.json` and `/opt/ml/config/resourceconfig.json`.
//!
//! Why it matters: SageMaker copies `/opt/ml/processing/output` to S3 *after* the container
//! exits, so a run that writes there publishes `file:///opt/ml/processing/…` locations — a DDL
//! `LOCATION`, a Glue table and report links that no reader can open. With this contract the run
//! writes locally as before but publishes every location as the S3 URI SageMaker uploads to.
//! The lake is better read straight from `s3://` (the job file's `lake`, with no
//! `ProcessingInput`), which avoids copying the baseline window to the instance's disk every night;
//! a lake given as an input's local path is read from that path, as SageMaker downloaded it.
//!
//! The files are read under a root (`/` in the container; a temporary folder in tests).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors reading the contract's files (a container whose files are not as SageMaker writes them).
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not the JSON SageMaker writes.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// Cause.
        source: serde_json::Error,
    },
}

/// One input or output channel of the job: where SageMaker puts or takes it, and its S3 URI.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// `InputName` / `OutputName`.
    pub name: String,
    /// The path inside the container.
    pub local_path: String,
    /// The S3 URI.
    pub s3_uri: String,
}

/// What this container of a SageMaker Processing job knows about the job.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingJob {
    /// `ProcessingJobName`.
    pub name: String,
    /// S3 inputs.
    pub inputs: Vec<Channel>,
    /// S3 outputs.
    pub outputs: Vec<Channel>,
    /// Instances of the job (`ClusterConfig.InstanceCount`).
    pub instance_count: usize,
    /// This host's place among `hosts` (0-based), from `resourceconfig.json`.
    pub host_rank: usize,
    /// The job's hosts (`algo-1`, …).
    pub hosts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobFile {
    processing_job_name: String,
    #[serde(default)]
    processing_inputs: Vec<InputFile>,
    #[serde(default)]
    processing_output_config: Option<OutputConfigFile>,
    #[serde(default)]
    processing_resources: Option<ResourcesFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InputFile {
    input_name: String,
    #[serde(default)]
    s3_input: Option<S3File>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OutputConfigFile {
    #[serde(default)]
    outputs: Vec<OutputFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OutputFile {
    output_name: String,
    #[serde(default)]
    s3_output: Option<S3File>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3File {
    local_path: String,
    s3_uri: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResourcesFile {
    cluster_config: ClusterFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClusterFile {
    instance_count: usize,
}

#[derive(Deserialize)]
struct HostsFile {
    current_host: String,
    hosts: Vec<String>,
}

/// `processingjobconfig.json` under `root`.
pub fn job_config_path(root: &Path) -> PathBuf {
    root.join("opt/ml/config/processingjobconfig.json")
}

impl ProcessingJob {
    /// Read the contract under `root`; `None` outside a SageMaker Processing container (no
    /// `processingjobconfig.json`). A missing `resourceconfig.json` means one host.
    pub fn detect(root: &Path) -> Result<Option<ProcessingJob>, ContainerError> {
        let path = job_config_path(root);
        if !path.is_file() {
            return Ok(None);
        }
        let job: JobFile = read_json(&path)?;
        let chan = |name: &str, s3: &Option<S3File>| {
            s3.as_ref().map(|s| Channel {
                name: name.to_string(),
                local_path: s.local_path.trim_end_matches('/').to_string(),
                s3_uri: s.s3_uri.trim_end_matches('/').to_string(),
            })
        };
        let inputs = job
            .processing_inputs
            .iter()
            .filter_map(|i| chan(&i.input_name, &i.s3_input))
            .collect();
        let outputs = job
            .processing_output_config
            .map(|o| o.outputs.iter().filter_map(|o| chan(&o.output_name, &o.s3_output)).collect())
            .unwrap_or_default();
        let hosts_path = root.join("opt/ml/config/resourceconfig.json");
        let (host_rank, hosts) = if hosts_path.is_file() {
            let h: HostsFile = read_json(&hosts_path)?;
            (h.hosts.iter().position(|x| *x == h.current_host).unwrap_or(0), h.hosts)
        } else {
            (0, vec!["algo-1".to_string()])
        };
        Ok(Some(ProcessingJob {
            name: job.processing_job_name,
            inputs,
            outputs,
            instance_count: job.processing_resources.map(|r| r.cluster_config.instance_count).unwrap_or(1),
            host_rank,
            hosts,
        }))
    }

    /// The S3 URI SageMaker uploads the container path `local` to (an output's `LocalPath` or a
    /// path under it), if an output covers it. `root` is where the container's `/` is, so a job
    /// file can name `<root>/opt/ml/processing/output` in tests and `/opt/ml/processing/output` in
    /// the container.
    pub fn published_url(&self, root: &Path, local: &str) -> Option<String> {
        map_path(&self.outputs, root, local)
    }

    /// The S3 URI an input's local path was downloaded from, if an input covers `local`.
    pub fn input_url(&self, root: &Path, local: &str) -> Option<String> {
        map_path(&self.inputs, root, local)
    }
}

fn map_path(channels: &[Channel], root: &Path, local: &str) -> Option<String> {
    let local = local.strip_prefix("file://").unwrap_or(local);
    if local.contains("://") {
        return None;
    }
    // The path as the container sees it: without the root, with one leading slash.
    let p = Path::new(local);
    let inside = p.strip_prefix(root).unwrap_or(p);
    let inside = format!("/{}", inside.to_string_lossy().trim_start_matches('/').trim_end_matches('/'));
    channels.iter().find_map(|c| {
        let rest = inside.strip_prefix(&c.local_path)?;
        if rest.is_empty() {
            Some(c.s3_uri.clone())
        } else {
            rest.strip_prefix('/').map(|r| format!("{}/{r}", c.s3_uri))
        }
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ContainerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ContainerError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ContainerError::Json {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the contract is read as SageMaker writes it (a trimmed copy of the documented
    /// `processingjobconfig.json`, with `null`s and fields lakesight does not use) and that
    /// container paths map to the S3 URIs: the output root and a path under it, not a sibling
    /// with the same prefix, not an `s3://` lake; the host's rank comes from `resourceconfig.json`.
    #[test]
    fn the_processing_contract_maps_container_paths_to_s3() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(ProcessingJob::detect(root.path()).unwrap(), None, "not a container");
        let cfg = root.path().join("opt/ml/config");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            cfg.join("processingjobconfig.json"),
            r#"{
              "ProcessingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:processing-job/lakesight-nightly",
              "ProcessingJobName": "lakesight-nightly",
              "AppSpecification": {"ImageUri": "111122223333.dkr.ecr.us-east-1.amazonaws.com/lakesight:1",
                                   "ContainerEntrypoint": null, "ContainerArguments": null},
              "Environment": {"LAKESIGHT_JOB": "/opt/lakesight/jobs/nightly.toml"},
              "NetworkConfig": null,
              "ProcessingInputs": [{"InputName": "lake", "AppManaged": false,
                 "S3Input": {"LocalPath": "/opt/ml/processing/input/lake", "S3Uri": "s3://lake-bucket/aws/",
                             "S3DataDistributionType": "FullyReplicated", "S3DataType": "S3Prefix",
                             "S3InputMode": "File", "S3CompressionType": "None", "S3DownloadMode": "StartOfJob"},
                 "DatasetDefinition": null}],
              "ProcessingOutputConfig": {"Outputs": [{"OutputName": "findings", "AppManaged": false,
                 "S3Output": {"LocalPath": "/opt/ml/processing/output/", "S3Uri": "s3://out-bucket/lakesight",
                              "S3UploadMode": "EndOfJob"}, "FeatureStoreOutput": null}], "KmsKeyId": null},
              "ProcessingResources": {"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge",
                                      "VolumeSizeInGB": 30, "VolumeKmsKeyId": null}},
              "RoleArn": "arn:aws:iam::111122223333:role/lakesight",
              "StoppingCondition": {"MaxRuntimeInSeconds": 3600}
            }"#,
        )
        .unwrap();
        std::fs::write(
            cfg.join("resourceconfig.json"),
            r#"{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}"#,
        )
        .unwrap();
        let j = ProcessingJob::detect(root.path()).unwrap().unwrap();
        assert_eq!((j.name.as_str(), j.instance_count, j.host_rank), ("lakesight-nightly", 2, 1));
        let r = root.path();
        let out = r.join("opt/ml/processing/output");
        assert_eq!(
            j.published_url(r, out.to_str().unwrap()).as_deref(),
            Some("s3://out-bucket/lakesight")
        );
        assert_eq!(
            j.published_url(Path::new("/"), "/opt/ml/processing/output/findings/x.parquet")
                .as_deref(),
            Some("s3://out-bucket/lakesight/findings/x.parquet")
        );
        assert_eq!(j.published_url(Path::new("/"), "/opt/ml/processing/output2"), None);
        assert_eq!(j.published_url(Path::new("/"), "s3://elsewhere/x"), None);
        assert_eq!(
            j.input_url(Path::new("/"), "file:///opt/ml/processing/input/lake").as_deref(),
            Some("s3://lake-bucket/aws")
        );
        std::fs::write(cfg.join("resourceconfig.json"), "{").unwrap();
        assert!(ProcessingJob::detect(root.path())
            .unwrap_err()
            .to_string()
            .contains("resourceconfig.json"));
    }
}
