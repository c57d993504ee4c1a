//! Where data lives: a local folder or `s3://bucket/prefix`, as an [`object_store`] store plus a
//! prefix inside it. The lake, the findings output and the report all open their URL here, so
//! every path takes S3 as readily as a local folder.
//!
//! Credentials for S3 come from the standard AWS chain of the AWS SDK (`aws-config`): environment
//! variables, shared config/credentials files and `AWS_PROFILE`, web identity (EKS), the container
//! role (ECS, AWS Batch, SageMaker Processing) and the instance role (IMDSv2) — what a SageMaker or
//! Batch job has. `object_store`'s own `from_env` chain lacks profiles, so [`SdkCredentials`]
//! adapts the SDK chain to `object_store`'s `CredentialProvider`, caching credentials until five
//! minutes before they expire. Keys are never logged: [`S3Options`] holds none, and
//! [`Location`]'s `Debug` shows only the URL.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ClientOptions, CredentialProvider, ObjectStore, RetryConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

pub mod cache;

/// Makes the temporary names of concurrent writers within one process distinct.
static TMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> PutError {
    let path = path.display().to_string();
    move |source| PutError::Io { path, source }
}

/// Write `data` to a hidden temporary file (`.tmp-<pid>-<seq>-<name>`, which Athena, Hive and
/// pyarrow skip) beside `root/rel`; returns it and the final path. Distinct per writer, also
/// within one process.
fn write_hidden(root: &std::path::Path, rel: &str, data: &[u8]) -> Result<(std::path::PathBuf, std::path::PathBuf), PutError> {
    let path = root.join(rel);
    let dir = path.parent().unwrap_or(root).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        path.file_name().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    std::fs::write(&tmp, data).map_err(io_err(&tmp))?;
    Ok((tmp, path))
}

/// Default of `[s3] cache_mb`.
pub const DEFAULT_CACHE_MB: u64 = 512;

/// Errors of opening a location.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL cannot be used.
    #[error("{url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
}

/// S3 settings (`[s3]` in the job file). Every field is optional; the defaults suit AWS.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// Region of the buckets; default: the AWS chain's region (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Endpoint override for S3-compatible stores (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// Allow `http://` endpoints (only for a local S3-compatible server).
    #[serde(default)]
    pub allow_http: bool,
    /// Path-style requests (`endpoint/bucket/key`), which most S3-compatible servers need.
    #[serde(default)]
    pub path_style: bool,
    /// Retries of a failed request (5xx, throttling, connection errors). Default 10.
    pub max_retries: Option<usize>,
    /// Give up retrying a request after this many seconds. Default 180.
    pub retry_timeout_secs: Option<u64>,
    /// First back-off in milliseconds, doubled each retry up to `backoff_max_ms`. Default 100.
    pub backoff_initial_ms: Option<u64>,
    /// Longest back-off in milliseconds. Default 15000.
    pub backoff_max_ms: Option<u64>,
    /// Time-out of one request in seconds. Default 30.
    pub request_timeout_secs: Option<u64>,
    /// Time-out of connecting in seconds. Default 5.
    pub connect_timeout_secs: Option<u64>,
    /// Memory for byte ranges read once and served from memory after (see
    /// [`cache::RangeCache`]), in MiB. Default 512; 0 turns it off.
    pub cache_mb: Option<u64>,
}

impl S3Options {
    /// Problems with the settings, each naming its field (`s3.<field>`).
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if let Some(e) = &self.endpoint {
            match url::Url::parse(e) {
                Err(err) => errs.push(format!("s3.endpoint: {e:?} is not a URL: {err}")),
                Ok(u) if u.scheme() == "http" && !self.allow_http => errs.push(format!(
                    "s3.endpoint: {e:?} is plain http; set s3.allow_http = true for a local server"
                )),
                Ok(u) if u.scheme() != "http" && u.scheme() != "https" => {
                    errs.push(format!("s3.endpoint: scheme {:?} is not http or https", u.scheme()))
                }
                Ok(_) => {}
            }
        }
        if let Some(r) = &self.region {
            if r.is_empty() || !r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                errs.push(format!("s3.region: {r:?} is not a region name"));
            }
        }
        for (name, v) in [
            ("retry_timeout_secs", self.retry_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("backoff_initial_ms", self.backoff_initial_ms),
            ("backoff_max_ms", self.backoff_max_ms),
        ] {
            if v == Some(0) {
                errs.push(format!("s3.{name}: must be greater than 0"));
            }
        }
        if let (Some(a), Some(b)) = (self.backoff_initial_ms, self.backoff_max_ms) {
            if a > b {
                errs.push(format!("s3.backoff_initial_ms: {a} is larger than s3.backoff_max_ms {b}"));
            }
        }
        errs
    }

    /// Settings from the environment for commands without a job file: `AWS_ENDPOINT_URL` (the
    /// SDK's name) or `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `AWS_REGION`. A local endpoint implies path
    /// style.
    pub fn from_env() -> S3Options {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok()
            .filter(|s| !s.is_empty());
        let allow_http = std::env::var("AWS_ALLOW_HTTP").map(|v| v == "true" || v == "1").unwrap_or(false)
            || endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
        S3Options {
            region: std::env::var("AWS_REGION").ok().filter(|s| !s.is_empty()),
            path_style: endpoint.is_some(),
            endpoint,
            allow_http,
            ..S3Options::default()
        }
    }

    /// Fill unset fields from `other` (job file settings over environment settings).
    pub fn or(mut self, other: &S3Options) -> S3Options {
        self.region = self.region.or_else(|| other.region.clone());
        if self.endpoint.is_none() {
            self.endpoint = other.endpoint.clone();
            self.allow_http |= other.allow_http;
            self.path_style |= other.path_style;
        }
        self.max_retries = self.max_retries.or(other.max_retries);
        self.retry_timeout_secs = self.retry_timeout_secs.or(other.retry_timeout_secs);
        self.backoff_initial_ms = self.backoff_initial_ms.or(other.backoff_initial_ms);
        self.backoff_max_ms = self.backoff_max_ms.or(other.backoff_max_ms);
        self.request_timeout_secs = self.request_timeout_secs.or(other.request_timeout_secs);
        self.connect_timeout_secs = self.connect_timeout_secs.or(other.connect_timeout_secs);
        self.cache_mb = self.cache_mb.or(other.cache_mb);
        self
    }

    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(self.backoff_initial_ms.unwrap_or(100)),
                max_backoff: Duration::from_millis(self.backoff_max_ms.unwrap_or(15_000)),
                base: 2.0,
            },
            max_retries: self.max_retries.unwrap_or(10),
            retry_timeout: Duration::from_secs(self.retry_timeout_secs.unwrap_or(180)),
        }
    }
}

/// An opened URL: the store, DataFusion's URL for it, and the prefix inside it.
#[derive(Clone)]
pub struct Location {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// DataFusion's object store URL (`file://`, `s3://bucket`).
    pub store_url: String,
    /// Root of the data inside the store.
    pub prefix: ObjPath,
    /// The URL as the user gave it, for messages.
    pub display: String,
    /// The local folder, when the location is one.
    pub local: Option<std::path::PathBuf>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location").field("url", &self.display).finish()
    }
}

impl Location {
    /// Open `url`: `s3://bucket[/prefix]`, `file:///abs/path` or a local path. A local folder is
    /// created when `create` is set (outputs), and must exist otherwise (inputs).
    pub async fn open(url: &str, s3: &S3Options, create: bool) -> Result<Location, StoreError> {
        let bad = |reason: String| StoreError::Url { url: url.into(), reason };
        if let Some(rest) = url.strip_prefix("s3://").or_else(|| url.strip_prefix("s3a://")) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty()
                || !bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            {
                return Err(bad(format!("{bucket:?} is not an S3 bucket name")));
            }
            let store = s3_store(bucket, s3).await.map_err(|e| bad(e.to_string()))?;
            let prefix = ObjPath::parse(key.trim_end_matches('/')).map_err(|e| bad(e.to_string()))?;
            return Ok(Location {
                store,
                store_url: format!("s3://{bucket}"),
                prefix,
                display: url.into(),
                local: None,
            });
        }
        if let Some((scheme, _)) = url.split_once("://") {
            if scheme != "file" {
                return Err(bad(format!("scheme {scheme}:// is not supported; use s3:// or a local folder")));
            }
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        if create {
            std::fs::create_dir_all(path).map_err(|e| bad(e.to_string()))?;
        }
        let canon = std::fs::canonicalize(path).map_err(|e| bad(e.to_string()))?;
        if !canon.is_dir() {
            return Err(bad("not a folder".into()));
        }
        let prefix = ObjPath::from_absolute_path(&canon).map_err(|e| bad(e.to_string()))?;
        Ok(Location {
            store: Arc::new(LocalFileSystem::new()),
            store_url: "file://".into(),
            prefix,
            display: url.into(),
            local: Some(canon),
        })
    }

    /// The object path of `rel` (slash-separated) under the prefix.
    pub fn child(&self, rel: &str) -> ObjPath {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    /// Write bytes at `rel` (slash-separated) so that readers see the whole object or nothing;
    /// returns the object's URL.
    ///
    /// Local folders: a hidden `.tmp-…` file (which Athena and Hive skip) renamed into place. S3: one
    /// PUT, or a multipart upload above [`MULTIPART_PART`] — either way the object appears whole
    /// or not at all, and a failed multipart upload is aborted.
    pub async fn put_atomic(&self, rel: &str, data: &[u8]) -> Result<String, PutError> {
        let url = self.url_of(rel);
        if let Some(root) = &self.local {
            let (tmp, path) = write_hidden(root, rel, data)?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
            return Ok(url);
        }
        use object_store::ObjectStoreExt;
        let path = self.child(rel);
        let err = |source| PutError::Store { url: url.clone(), source };
        if data.len() <= MULTIPART_PART {
            self.store
                .put(&path, bytes::Bytes::copy_from_slice(data).into())
                .await
                .map_err(err)?;
        } else {
            let upload = self.store.put_multipart(&path).await.map_err(err)?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART);
            w.write(data);
            w.finish().await.map_err(err)?;
        }
        Ok(url)
    }

    /// Write `data` at `rel` only if no object is there yet; `false` when one was (nothing
    /// written). Of two writers racing for one name exactly one gets `true`: on S3 a PUT with
    /// `If-None-Match: *` (answered 412 when the key exists), on a local folder a hard link of a
    /// hidden temporary file, which fails when the name exists. Readers see the whole object or
    /// none. Small objects only (one PUT): leases, markers.
    pub async fn create_new(&self, rel: &str, data: &[u8]) -> Result<bool, PutError> {
        let url = self.url_of(rel);
        if let Some(root) = &self.local {
            let (tmp, path) = write_hidden(root, rel, data)?;
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            return match linked {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(io_err(&path)(e)),
            };
        }
        let opts = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.child(rel), bytes::Bytes::copy_from_slice(data).into(), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
            Err(source) => Err(PutError::Store { url, source }),
        }
    }

    /// Names of the objects directly under `rel` (one delimited listing; folders not included).
    pub async fn list_files(&self, rel: &str) -> Result<Vec<String>, PutError> {
        Ok(self.list_level(rel).await?.1)
    }

    /// One delimited listing of `rel`: the folders and the objects directly under it (names).
    async fn list_level(&self, rel: &str) -> Result<(Vec<String>, Vec<String>), PutError> {
        let url = self.url_of(rel);
        let base = self.child(rel);
        let name = |p: &ObjPath| p.filename().map(str::to_string);
        match self.store.list_with_delimiter(Some(&base)).await {
            Ok(l) => Ok((
                l.common_prefixes.iter().filter_map(name).collect(),
                l.objects.iter().filter_map(|o| name(&o.location)).collect(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok((Vec::new(), Vec::new())),
            Err(source) => Err(PutError::Store { url, source }),
        }
    }

    /// The bytes at `rel`, or `None` when there is no such object.
    pub async fn get_opt(&self, rel: &str) -> Result<Option<bytes::Bytes>, PutError> {
        use object_store::ObjectStoreExt;
        let url = self.url_of(rel);
        match self.store.get(&self.child(rel)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|source| PutError::Store { url, source })?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(PutError::Store { url, source }),
        }
    }

    /// Delete the object at `rel`; `false` when there was none.
    pub async fn delete_opt(&self, rel: &str) -> Result<bool, PutError> {
        let url = self.url_of(rel);
        use object_store::ObjectStoreExt;
        match self.store.delete(&self.child(rel)).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(PutError::Store { url, source }),
        }
    }

    /// Names of the folders directly under `rel` (one delimited listing, not a recursive one).
    pub async fn list_dirs(&self, rel: &str) -> Result<Vec<String>, PutError> {
        Ok(self.list_level(rel).await?.0)
    }

    /// The full URL of `rel`, for manifests, DDL and messages.
    pub fn url_of(&self, rel: &str) -> String {
        match &self.local {
            Some(root) => format!("file://{}", root.join(rel).display()),
            None => {
                let base = self.store_url.trim_end_matches('/');
                let prefix = self.prefix.as_ref();
                match (prefix.is_empty(), rel.is_empty()) {
                    (true, true) => base.to_string(),
                    (true, false) => format!("{base}/{rel}"),
                    (false, true) => format!("{base}/{prefix}"),
                    (false, false) => format!("{base}/{prefix}/{rel}"),
                }
            }
        }
    }
}

/// Objects above this size are uploaded in parts of this size (S3 multipart upload), so a large
/// output neither needs one huge request nor becomes visible before its last part is in.
pub const MULTIPART_PART: usize = 8 << 20;

/// A failed [`Location::put_atomic`], naming what it was writing.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// File system error with the path.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Object store error with the object's URL.
    #[error("{url}: {source}")]
    Store {
        /// The object's URL.
        url: String,
        /// Cause.
        source: object_store::Error,
    },
}

async fn s3_store(bucket: &str, s3: &S3Options) -> object_store::Result<Arc<dyn ObjectStore>> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let region = s3
        .region
        .clone()
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".to_string());
    let mut client = ClientOptions::new()
        .with_timeout(Duration::from_secs(s3.request_timeout_secs.unwrap_or(30)))
        .with_connect_timeout(Duration::from_secs(s3.connect_timeout_secs.unwrap_or(5)));
    if s3.allow_http {
        client = client.with_allow_http(true);
    }
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_client_options(client)
        .with_retry(s3.retry())
        .with_virtual_hosted_style_request(!s3.path_style);
    if let Some(e) = &s3.endpoint {
        b = b.with_endpoint(e.clone());
    }
    if let Some(provider) = sdk.credentials_provider() {
        b = b.with_credentials(Arc::new(SdkCredentials {
            provider,
            cached: Mutex::new(None),
        }));
    }
    let store: Arc<dyn ObjectStore> = Arc::new(b.build()?);
    Ok(match s3.cache_mb.unwrap_or(DEFAULT_CACHE_MB) {
        0 => store,
        mb => Arc::new(cache::RangeCache::new(store, mb.saturating_mul(1024 * 1024))),
    })
}

/// The AWS SDK's default credential chain as an `object_store` credential provider.
pub struct SdkCredentials {
    provider: aws_credential_types::provider::SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl fmt::Debug for SdkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SdkCredentials")
    }
}

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        use aws_credential_types::provider::ProvideCredentials;
        let mut cached = self.cached.lock().await;
        if let Some((c, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: format!("no AWS credentials from the default chain (environment, profile, web identity, container, instance): {e}")
                    .into(),
            })?;
        let cred = Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        });
        *cached = Some((cred.clone(), c.expiry()));
        Ok(cred)
    }
}

/// An object store error for people: for an S3 error answer, its code and message (and what to
/// check when the code says the credentials or permissions were refused) instead of the raw XML;
/// anything else as `object_store` words it. Never includes the request's signature.
pub fn describe_error(e: &object_store::Error) -> String {
    let raw = e.to_string();
    let tag = |name: &str| -> Option<&str> {
        let open = format!("<{name}>");
        let start = raw.find(&open)? + open.len();
        let end = raw[start..].find(&format!("</{name}>"))? + start;
        Some(&raw[start..end])
    };
    let Some(code) = tag("Code") else { return raw };
    let message = tag("Message").unwrap_or("no message");
    let request = tag("RequestId").map(|r| format!(", request id {r}")).unwrap_or_default();
    // What object_store says before the XML: the operation, the URL and the status.
    let before = raw
        .split(": <?xml")
        .next()
        .unwrap_or(&raw)
        .split(": <Error>")
        .next()
        .unwrap_or(&raw);
    let hint = match code {
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken" | "TokenRefreshRequired" => {
            " - the credentials were refused: check the access key and secret in the environment, \
             AWS_PROFILE, or the job's role"
        }
        "AccessDenied" | "AllAccessDisabled" => {
            " - the credentials are valid but not allowed this: check the role's policy and the bucket policy"
        }
        "NoSuchBucket" => " - check the bucket name and the region",
        _ => "",
    };
    format!("{before}: {code}: {message}{request}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_every_bad_field() {
        let o = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("US East".into()),
            retry_timeout_secs: Some(0),
            backoff_initial_ms: Some(500),
            backoff_max_ms: Some(100),
            ..S3Options::default()
        };
        let errs = o.validate().join("\n");
        for field in ["s3.endpoint", "s3.region", "s3.retry_timeout_secs", "s3.backoff_initial_ms"] {
            assert!(errs.contains(field), "{field} missing in {errs}");
        }
        assert!(S3Options::default().validate().is_empty());
    }

    #[test]
    fn s3_error_answers_are_described_by_code_message_and_what_to_check() {
        let xml = r#"Error performing GET http://h/b?list-type=2 in 16ms - Server returned non-2xx status code: 403 Forbidden: <?xml version="1.0" encoding="utf-8"?>
<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message><RequestId>R1</RequestId></Error>"#;
        let e = object_store::Error::Generic {
            store: "S3",
            source: xml.into(),
        };
        let d = describe_error(&e);
        assert!(d.contains("403 Forbidden: InvalidAccessKeyId: The AWS Access Key Id"), "{d}");
        assert!(d.contains("request id R1") && d.contains("credentials were refused"), "{d}");
        assert!(!d.contains("<?xml") && !d.contains("<Error>"), "{d}");
        let denied = object_store::Error::Generic {
            store: "S3",
            source: "403 Forbidden: <Error><Code>AccessDenied</Code><Message>no</Message></Error>".into(),
        };
        assert!(describe_error(&denied).contains("AccessDenied: no - the credentials are valid but not allowed"));
        // Not an S3 error answer: object_store's own words.
        let plain = object_store::Error::NotFound {
            path: "a/b".into(),
            source: "gone".into(),
        };
        assert_eq!(describe_error(&plain), plain.to_string());
    }

    #[tokio::test]
    async fn bad_urls_are_clear_errors() {
        let o = S3Options::default();
        let e = Location::open("s3://Bad_Bucket/x", &o, false).await.unwrap_err().to_string();
        assert!(e.contains("not an S3 bucket name"), "{e}");
        let e = Location::open("gs://b/x", &o, false).await.unwrap_err().to_string();
        assert!(e.contains("gs://"), "{e}");
        let e = Location::open("/definitely/not/here", &o, false).await.unwrap_err().to_string();
        assert!(e.contains("/definitely/not/here"), "{e}");
    }

    #[tokio::test]
    async fn local_urls_resolve_children() {
        let dir = tempfile::tempdir().unwrap();
        let l = Location::open(dir.path().join("out").to_str().unwrap(), &S3Options::default(), true)
            .await
            .unwrap();
        assert!(l.url_of("a/b.parquet").ends_with("/out/a/b.parquet"));
        assert_eq!(l.child("a/b").parts().count(), l.prefix.parts().count() + 2);
    }
}
