//! How a failed command ends: an exit status that tells a retry policy what kind of failure it
//! was, and (in a SageMaker Processing container) the reason where the console shows it.
//!
//! | status | failure | what to do | AWS Batch `evaluateOnExit` / SageMaker |
//! |---|---|---|---|
//! | 0 | — | — | — |
//! | 2 | `config`: the job file, an argument, a URL, a permission, a query over the memory limit | fix the job or the role; a retry fails the same way | `EXIT` on `2` |
//! | 3 | `data`: a lake file or query result that cannot be read as it should | look at the named file; a retry fails the same way | `EXIT` on `3` |
//! | 75 | `transient`: network, S3/Athena throttling or 5xx after the client's own retries, an Athena time-out; another run holds a day of the run (its lease, `sink::lease`) | retry (the run published nothing) | `RETRY` on `75` |
//! | 130 / 143 | `stopped`: SIGINT / SIGTERM (a stop, or Batch/SageMaker ending the job) | nothing was published | `EXIT` |
//! | 1 | `internal`: anything else (a bug) | report it | `EXIT` |
//!
//! The failure is read from the error chain, outermost first: the first error whose type says
//! what it is decides (a stage's error wrapping an S3 time-out is transient). Object-store and
//! Athena API errors carry their cause as text only (HTTP status, SDK error code), so those are
//! matched by words — which is why an unknown object-store error counts as transient (the run is
//! safe to repeat) and an unknown Athena failure as data.

use std::error::Error;
use std::path::Path;

use crate::lake::athena::AthenaError;
use crate::lake::LakeError;
use crate::runtime::config::ConfigError;
use crate::runtime::run::RunError;
use crate::series::SeriesError;
use crate::stages::StageError;

/// What kind of failure ended a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The job, an argument, a URL or a permission: retrying does not help.
    Config,
    /// A file or result that cannot be read as it should: retrying does not help.
    Data,
    /// Network, throttling, a service's 5xx or time-out: retry.
    Transient,
    /// SIGINT or SIGTERM.
    Stopped,
    /// Anything else.
    Internal,
}

impl Failure {
    /// The exit status (module docs). `Stopped` is 143 (SIGTERM, what Batch and SageMaker send);
    /// the signal handler exits with 130 itself for SIGINT when nothing is in flight.
    pub fn code(self) -> i32 {
        match self {
            Failure::Config => 2,
            Failure::Data => 3,
            Failure::Transient => 75,
            Failure::Stopped => 143,
            Failure::Internal => 1,
        }
    }

    /// Classify an error chain, outermost first.
    pub fn of<'a>(chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> Failure {
        for e in chain {
            if let Some(f) = one(e) {
                return f;
            }
        }
        Failure::Internal
    }
}

fn has_any(text: &str, words: &[&str]) -> bool {
    let t = text.to_ascii_lowercase();
    words.iter().any(|w| t.contains(w))
}

const TRANSIENT_WORDS: &[&str] = &[
    "throttl",
    "slowdown",
    "slow down",
    "too many requests",
    "rate exceeded",
    "toomanyrequests",
    "serviceunavailable",
    "service unavailable",
    "internalerror",
    "internal server",
    "internalserverexception",
    "timed out",
    "timeout",
    "connection",
    "dispatch failure",
    "broken pipe",
    " 500",
    " 502",
    " 503",
    " 504",
];
const PERMISSION_WORDS: &[&str] = &["accessdenied", "access denied", "not authorized", "unauthorized", "forbidden"];

/// The failure one error says by its type, if it says one.
fn one(e: &(dyn Error + 'static)) -> Option<Failure> {
    if let Some(r) = e.downcast_ref::<RunError>() {
        return match r {
            RunError::Cancelled => Some(Failure::Stopped),
            RunError::NoDate | RunError::Plan(_) => Some(Failure::Config),
            RunError::Register(m) => Some(if has_any(m, PERMISSION_WORDS) {
                Failure::Config
            } else {
                Failure::Transient
            }),
            // `transparent` wrappers hide the wrapped error from `source()`: look inside.
            RunError::Lake(l) => one(l),
            RunError::Series(s) => one(s),
            RunError::Stage(s) => one(s),
            RunError::Sink(s) => one(s),
            RunError::Lease(l) => one(l),
            // Retried later, the days before are published (or their children are running).
            RunError::Backfill(_) => Some(Failure::Transient),
        };
    }
    if let Some(s) = e.downcast_ref::<StageError>() {
        return match s {
            StageError::Cancelled { .. } => Some(Failure::Stopped),
            StageError::Series(inner) => one(inner),
        };
    }
    if let Some(x) = e.downcast_ref::<crate::runtime::explain::ExplainError>() {
        use crate::runtime::explain::ExplainError as X;
        return match x {
            // What the user asked for is not there: a usage error, like a bad job file.
            X::BadId(_) | X::NotFound { .. } | X::Ambiguous { .. } => Some(Failure::Config),
            X::Read(inner) => one(inner),
            X::Url(inner) => one(inner),
            X::Decode { .. } | X::Arrow(_) => Some(Failure::Data),
        };
    }
    if e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<crate::runtime::container::ContainerError>().is_some() {
        return Some(Failure::Config);
    }
    if let Some(s) = e.downcast_ref::<SeriesError>() {
        return match s {
            SeriesError::Template { .. } => Some(Failure::Config),
            SeriesError::Shape { .. } => Some(Failure::Data),
            _ => None,
        };
    }
    if let Some(l) = e.downcast_ref::<LakeError>() {
        return match l {
            // Raising `memory_limit` (or the instance) is a change to the job, like a bad setting.
            LakeError::Config(_) | LakeError::Url { .. } | LakeError::MemoryExhausted { .. } => Some(Failure::Config),
            LakeError::Schema(_) | LakeError::Arrow(_) | LakeError::Parquet(_) => Some(Failure::Data),
            LakeError::Io { source, .. } => Some(io(source)),
            LakeError::StoreRead { .. } => Some(Failure::Transient),
            LakeError::ObjectStore(o) => Some(object_store(o)),
            LakeError::DataFusion(d) => one(d),
            LakeError::Athena(a) => Some(athena(a)),
        };
    }
    if let Some(a) = e.downcast_ref::<AthenaError>() {
        return Some(athena(a));
    }
    if e.downcast_ref::<crate::store::StoreError>().is_some() {
        return Some(Failure::Config);
    }
    if let Some(l) = e.downcast_ref::<crate::sink::lease::LeaseError>() {
        use crate::sink::lease::LeaseError as L;
        return match l {
            // Another run has the day: retried later, the day is free (or published).
            L::Busy { .. } | L::Lost { .. } | L::Contended { .. } => Some(Failure::Transient),
            L::Decode { .. } => Some(Failure::Data),
            L::Store(p) => one(p),
        };
    }
    if let Some(s) = e.downcast_ref::<crate::sink::SinkError>() {
        use crate::sink::SinkError as S;
        return match s {
            S::Put(p) => one(p),
            S::Url(_) => Some(Failure::Config),
            S::Arrow(_) | S::Parquet(_) => Some(Failure::Internal),
            S::Decode { .. } => Some(Failure::Data),
        };
    }
    if let Some(p) = e.downcast_ref::<crate::store::PutError>() {
        return Some(match p {
            crate::store::PutError::Io { source, .. } => io(source),
            crate::store::PutError::Store { source, .. } => object_store(source),
        });
    }
    if let Some(o) = e.downcast_ref::<object_store::Error>() {
        return Some(object_store(o));
    }
    if let Some(i) = e.downcast_ref::<std::io::Error>() {
        return Some(io(i));
    }
    if let Some(d) = e.downcast_ref::<datafusion::error::DataFusionError>() {
        use datafusion::error::DataFusionError as D;
        return match d {
            D::ObjectStore(o) => Some(object_store(o)),
            D::IoError(i) => Some(io(i)),
            D::ParquetError(_) | D::ArrowError(..) | D::SchemaError(..) => Some(Failure::Data),
            _ => None,
        };
    }
    if e.downcast_ref::<parquet::errors::ParquetError>().is_some() || e.downcast_ref::<arrow::error::ArrowError>().is_some() {
        return Some(Failure::Data);
    }
    None
}

fn io(e: &std::io::Error) -> Failure {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::ConnectionReset | K::ConnectionRefused | K::ConnectionAborted | K::BrokenPipe | K::Interrupted | K::WouldBlock => {
            Failure::Transient
        }
        K::NotFound | K::PermissionDenied => Failure::Config,
        K::InvalidData | K::UnexpectedEof => Failure::Data,
        _ => Failure::Internal,
    }
}

fn object_store(e: &object_store::Error) -> Failure {
    use object_store::Error as O;
    match e {
        O::NotFound { .. } => Failure::Config,
        O::PermissionDenied { .. } | O::Unauthenticated { .. } => Failure::Config,
        O::NotSupported { .. } | O::NotImplemented { .. } | O::UnknownConfigurationKey { .. } => Failure::Config,
        other => {
            let text = chain_text(other);
            if has_any(&text, PERMISSION_WORDS) {
                Failure::Config
            } else {
                Failure::Transient
            }
        }
    }
}

fn athena(e: &AthenaError) -> Failure {
    match e {
        AthenaError::Interrupted { .. } => Failure::Stopped,
        AthenaError::Timeout { .. } => Failure::Transient,
        AthenaError::Budget { .. } => Failure::Config,
        AthenaError::Api { message, .. } => {
            if has_any(message, PERMISSION_WORDS) || has_any(message, &["invalidrequest", "validation"]) {
                Failure::Config
            } else {
                Failure::Transient
            }
        }
        AthenaError::Failed { reason, .. } => {
            if has_any(reason, PERMISSION_WORDS) {
                Failure::Config
            } else if has_any(reason, TRANSIENT_WORDS) {
                Failure::Transient
            } else {
                Failure::Data
            }
        }
        _ => Failure::Internal,
    }
}

/// An error and its causes as one line of text.
fn chain_text(e: &(dyn Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The most SageMaker keeps of a failure reason (`FailureReason`, 1 KB).
pub const MESSAGE_LIMIT: usize = 1024;

/// Write `reason` where SageMaker Processing reads a failed job's reason
/// (`<root>/opt/ml/output/message`), cut to [`MESSAGE_LIMIT`] bytes on a character boundary.
/// Only inside a SageMaker container (`<root>/opt/ml` exists); returns whether it wrote.
pub fn write_failure_message(root: &Path, reason: &str) -> std::io::Result<bool> {
    if !root.join("opt/ml").is_dir() {
        return Ok(false);
    }
    let dir = root.join("opt/ml/output");
    std::fs::create_dir_all(&dir)?;
    let mut end = reason.len().min(MESSAGE_LIMIT);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    std::fs::write(dir.join("message"), &reason.as_bytes()[..end])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(e: &(dyn Error + 'static)) -> Failure {
        let mut v: Vec<&(dyn Error + 'static)> = vec![e];
        let mut cur = e.source();
        while let Some(c) = cur {
            v.push(c);
            cur = c.source();
        }
        Failure::of(v)
    }

    /// Proves the classification of the failures an operator meets, each by the type that says
    /// it, through the wrappers a run puts around it: a bad job or plan is `config` (2), a lake
    /// file that is not Parquet is `data` (3), an S3 time-out under a stage or an Athena
    /// throttle is `transient` (75), a stop is `stopped` (143), an unknown error `internal` (1).
    #[test]
    fn failures_are_classified_through_their_wrappers() {
        assert_eq!(of(&RunError::NoDate), Failure::Config);
        assert_eq!(of(&RunError::Plan(vec!["job.engine: x".into()])), Failure::Config);
        assert_eq!(of(&RunError::Cancelled), Failure::Stopped);
        let parquet = RunError::Lake(LakeError::Parquet(parquet::errors::ParquetError::General("bad magic".into())));
        assert_eq!(of(&parquet), Failure::Data);
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
        let stage = RunError::Series(SeriesError::Query {
            family: "api_calls".into(),
            source: LakeError::Io {
                path: "s3://lake/x".into(),
                source: timeout,
            },
        });
        assert_eq!(of(&stage), Failure::Transient);
        let throttled = RunError::Lake(LakeError::Athena(AthenaError::Api {
            call: "StartQueryExecution",
            label: "api_calls_day".into(),
            message: "ThrottlingException: Rate exceeded".into(),
        }));
        assert_eq!(of(&throttled), Failure::Transient);
        let denied = AthenaError::Api {
            call: "StartQueryExecution",
            label: "q".into(),
            message: "AccessDeniedException: not authorized".into(),
        };
        assert_eq!(of(&denied), Failure::Config);
        // A throttled request whose text holds "403" only in a path (April 3rd's partition) and
        // a port stays transient; a 403 answer says "Forbidden" or "AccessDenied" as well.
        let store = |m: &str| {
            RunError::Lake(LakeError::ObjectStore(object_store::Error::Generic {
                store: "S3",
                source: m.into(),
            }))
        };
        assert_eq!(
            of(&store(
                "503 Service Unavailable for GET http://127.0.0.1:40403/lake/eventDay=20250403/x.parquet"
            )),
            Failure::Transient
        );
        assert_eq!(of(&store("Client error with status 403 Forbidden: AccessDenied")), Failure::Config);
        let bad_data = AthenaError::Failed {
            label: "q".into(),
            id: "1".into(),
            reason: "HIVE_BAD_DATA: malformed Parquet file".into(),
        };
        assert_eq!(of(&bad_data), Failure::Data);
        assert_eq!(of(&std::fmt::Error), Failure::Internal);
        assert_eq!(
            [
                Failure::Config,
                Failure::Data,
                Failure::Transient,
                Failure::Stopped,
                Failure::Internal
            ]
            .map(Failure::code),
            [2, 3, 75, 143, 1]
        );
    }

    /// Proves the SageMaker message: written only under `<root>/opt/ml`, cut to 1 KB without
    /// splitting a character.
    #[test]
    fn the_failure_message_is_written_only_in_a_sagemaker_container_and_cut_to_1_kb() {
        let root = tempfile::tempdir().unwrap();
        assert!(!write_failure_message(root.path(), "x").unwrap(), "no /opt/ml: not a container");
        std::fs::create_dir_all(root.path().join("opt/ml")).unwrap();
        let long = "é".repeat(700); // 1,400 bytes
        assert!(write_failure_message(root.path(), &long).unwrap());
        let got = std::fs::read_to_string(root.path().join("opt/ml/output/message")).unwrap();
        assert_eq!(got.len(), 1024);
        assert!(got.chars().all(|c| c == 'é'));
    }
}
