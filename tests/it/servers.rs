//! Real local servers for the tests: moto in server mode (S3, Glue, Athena APIs) on loopback.
//!
//! `.ci/run` starts one and exports `LAKESIGHT_MOTO_ENDPOINT`; without it (a developer's plain
//! `cargo test`) the first test that needs it installs moto into `$HOME/.cache/lakesight/moto-venv`
//! and starts it on a free port, with a watchdog that stops it when this test process ends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use lakesight::store::{Location, S3Options};
use object_store::ObjectStoreExt;

/// The moto endpoint (`http://127.0.0.1:PORT`), started on first use. Also sets the dummy AWS
/// credentials moto accepts, so lakesight's real credential chain (environment first) finds them.
#[allow(clippy::zombie_processes)] // the watchdog is meant to outlive this process's interest in it
pub fn moto() -> &'static str {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| {
        // SAFETY-free in edition 2021; done once, before any S3 client of this process exists.
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        if let Ok(ep) = std::env::var("LAKESIGHT_MOTO_ENDPOINT") {
            return ep;
        }
        let (port, pid) = start_moto();
        let me = std::process::id();
        std::process::Command::new("sh")
            .args(["-c", &format!("while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pid}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        format!("http://127.0.0.1:{port}")
    })
}

/// Start a moto server on a free loopback port: (port, pid).
fn start_moto() -> (u16, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/moto.sh");
    let out = std::process::Command::new(script)
        .args(["start", &port.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "starting moto: {}", String::from_utf8_lossy(&out.stderr));
    (port, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A moto of one test's own that checks credentials (moto's IAM authentication, server-wide, so
/// not the shared server), holding a lake uploaded before the check was switched on; stopped on drop.
pub struct AuthMoto {
    pid: String,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// An access key of an IAM user allowed to read the lake.
    pub key: String,
    /// Its secret.
    pub secret: String,
}

impl AuthMoto {
    /// Start it with `dir` uploaded as `s3://bucket/prefix/`.
    pub fn start(bucket: &str, prefix: &str, dir: &std::path::Path) -> AuthMoto {
        let (port, pid) = start_moto();
        let endpoint = format!("http://127.0.0.1:{port}");
        let venv = std::env::var("LAKESIGHT_MOTO_VENV")
            .unwrap_or_else(|_| format!("{}/.cache/lakesight/moto-venv", std::env::var("HOME").unwrap()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/moto_auth.py");
        let out = std::process::Command::new(format!("{venv}/bin/python"))
            .args([script, &endpoint, bucket, prefix, dir.to_str().unwrap()])
            .output()
            .unwrap();
        let mut m = AuthMoto {
            pid,
            endpoint,
            key: String::new(),
            secret: String::new(),
        };
        assert!(out.status.success(), "moto_auth.py: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        m.key = v["key"].as_str().unwrap().to_string();
        m.secret = v["secret"].as_str().unwrap().to_string();
        m
    }
}

impl Drop for AuthMoto {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
    }
}

/// S3 settings pointing at moto, with short retries so fault tests finish quickly.
pub fn s3_options() -> S3Options {
    S3Options {
        endpoint: Some(moto().to_string()),
        allow_http: true,
        path_style: true,
        region: Some("us-east-1".into()),
        max_retries: Some(2),
        retry_timeout_secs: Some(10),
        backoff_initial_ms: Some(50),
        backoff_max_ms: Some(200),
        ..S3Options::default()
    }
}

/// A new, empty bucket with a unique name (`CreateBucket` by a plain HTTP request; moto does not
/// check signatures, and `object_store` has no bucket API).
pub fn new_bucket(stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{stem}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let ep = moto().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&ep).unwrap();
    write!(
        s,
        "PUT /{name} HTTP/1.1\r\nHost: {ep}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "CreateBucket {name}: {resp}");
    name
}

/// Copy a local folder to `s3://bucket/prefix` (every file, same relative keys).
pub async fn upload_dir(dir: &std::path::Path, url: &str) -> usize {
    let loc = Location::open(url, &s3_options(), false).await.unwrap();
    let files = crate::common::files_under(dir);
    for p in &files {
        let rel = p.strip_prefix(dir).unwrap().to_str().unwrap().to_string();
        let data = std::fs::read(p).unwrap();
        loc.store.put(&loc.child(&rel), data.into()).await.unwrap();
    }
    files.len()
}

/// AWS SDK settings for a test's own Athena or Glue client against moto.
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await
}

/// The fault proxy in front of moto; killed on drop.
pub struct Proxy {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT` of the proxy.
    pub endpoint: String,
}

impl Proxy {
    /// Start it with fault arguments (see the script).
    pub fn start(args: &[&str]) -> Proxy {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/fault_proxy.py");
        let upstream = moto().trim_start_matches("http://").to_string();
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(["--upstream", &upstream])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 runs the fault proxy");
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("fault proxy printed {line:?}"));
        Proxy {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// What the proxy forwarded or faulted: (X-Amz-Target, fault).
    pub fn calls(&self) -> Vec<(String, Option<String>)> {
        let ep = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(ep).unwrap();
        use std::io::{Read, Write};
        write!(s, "GET /__proxy/calls HTTP/1.1\r\nHost: {ep}\r\nConnection: close\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("[]");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["target"].as_str().unwrap_or("").to_string(),
                    c["fault"].as_str().map(str::to_string),
                )
            })
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
