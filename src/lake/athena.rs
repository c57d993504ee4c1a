//! Amazon Athena as the scale-out engine: the same series SQL, pushed down, results read from S3.
//!
//! Why UNLOAD: `GetQueryResults` pages 1,000 rows per call as strings; a day of hourly series is
//! millions of rows. `UNLOAD (<query>) TO 's3://…' WITH (format = 'PARQUET')` has Athena write typed
//! Parquet in parallel, which lakesight reads back through `object_store` like any lake file.
//!
//! One query's life: the statement is `StartQueryExecution` in the configured workgroup and output
//! location (idempotent: the client request token is a hash of run id, label and SQL, so a retried
//! submit does not start a second query); `GetQueryExecution` is polled with exponential back-off
//! (`poll_initial_ms` doubling to `poll_max_ms`); on time-out or a stop (the run's [`crate::cancel::Cancel`]: SIGINT or SIGTERM) the query is stopped
//! (`StopQueryExecution`) before the error is returned; `FAILED` and `CANCELLED` are errors naming
//! the label, the execution id and Athena's reason. The UNLOAD target is
//! `<scratch>/<run id>/<label>/`, read back and then deleted (also when reading fails), so scratch
//! holds nothing after a run. Data scanned and its cost (`usd_per_tb`, Athena's $5/TB list price by
//! default) are kept per query for the manifest; `max_bytes_scanned` stops the run before a query
//! whose expected scan (the largest scan seen so far in this run) would cross the budget.
//!
//! Dialect: the SQL templates are written once. Everything that differs between DataFusion and
//! Athena lives in the normalised views ([`super::views`], `lakesight views --dialect athena`
//! creates them in Athena); the series SQL over those views is valid in both.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::aws::sdk_message;
use arrow::record_batch::RecordBatch;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use serde::{Deserialize, Serialize};

use crate::sql::quote_literal;
use crate::store::{Location, S3Options};

/// `[athena]` in the job file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AthenaConfig {
    /// Workgroup the queries run in.
    #[serde(default = "d_workgroup")]
    pub workgroup: String,
    /// `s3://` location for Athena's own query metadata (the workgroup's may be used instead when
    /// it enforces one).
    #[serde(default)]
    pub output_location: Option<String>,
    /// `s3://` prefix the UNLOAD results go to (read back, then deleted). Default:
    /// `<output_location>/lakesight-unload`.
    #[serde(default)]
    pub scratch: Option<String>,
    /// Database the queries run in (where `lakesight views --dialect athena` created the views).
    #[serde(default = "d_database")]
    pub database: String,
    /// Data catalog.
    #[serde(default = "d_catalog")]
    pub catalog: String,
    /// Region (default: the `[s3]` region, then the AWS chain).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override (an Athena-compatible server).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// First wait between polls.
    #[serde(default = "d_poll_initial")]
    pub poll_initial_ms: u64,
    /// Longest wait between polls.
    #[serde(default = "d_poll_max")]
    pub poll_max_ms: u64,
    /// A query running longer is stopped and the run fails.
    #[serde(default = "d_timeout")]
    pub timeout_secs: u64,
    /// Budget: bytes scanned by the whole run.
    #[serde(default)]
    pub max_bytes_scanned: Option<u64>,
    /// Price per TB (10^12 bytes) scanned, for the cost estimate.
    #[serde(default = "d_price")]
    pub usd_per_tb: f64,
    /// Attempts per API call (the SDK's standard retry with back-off: throttling, 5xx, resets).
    #[serde(default = "d_attempts")]
    pub max_attempts: u32,
}

fn d_workgroup() -> String {
    "primary".into()
}
fn d_database() -> String {
    "lakesight".into()
}
fn d_catalog() -> String {
    "AwsDataCatalog".into()
}
fn d_poll_initial() -> u64 {
    250
}
fn d_poll_max() -> u64 {
    5_000
}
fn d_timeout() -> u64 {
    1_800
}
fn d_price() -> f64 {
    5.0
}
fn d_attempts() -> u32 {
    5
}

impl Default for AthenaConfig {
    fn default() -> Self {
        AthenaConfig {
            workgroup: d_workgroup(),
            output_location: None,
            scratch: None,
            database: d_database(),
            catalog: d_catalog(),
            region: None,
            endpoint: None,
            poll_initial_ms: d_poll_initial(),
            poll_max_ms: d_poll_max(),
            timeout_secs: d_timeout(),
            max_bytes_scanned: None,
            usd_per_tb: d_price(),
            max_attempts: d_attempts(),
        }
    }
}

fn valid_ident(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

impl AthenaConfig {
    /// Problems, each naming its field as `athena.<field>`.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if !valid_ident(&self.workgroup, 128) {
            e.push(format!("athena.workgroup: {:?} is not a workgroup name", self.workgroup));
        }
        if !valid_ident(&self.database, 255) || self.database.contains('.') {
            e.push(format!("athena.database: {:?} is not a database name", self.database));
        }
        if !valid_ident(&self.catalog, 255) {
            e.push(format!("athena.catalog: {:?} is not a catalog name", self.catalog));
        }
        for (field, v) in [("output_location", &self.output_location), ("scratch", &self.scratch)] {
            if let Some(v) = v {
                if !v.starts_with("s3://") || v.len() <= 5 || v.contains('\'') {
                    e.push(format!("athena.{field}: {v:?} must be an s3:// URL"));
                }
            }
        }
        if self.output_location.is_none() && self.scratch.is_none() {
            e.push("athena.scratch: set scratch or output_location (where UNLOAD results go)".into());
        }
        if self.poll_initial_ms == 0 || self.poll_initial_ms > self.poll_max_ms {
            e.push("athena.poll_initial_ms: must be > 0 and ≤ poll_max_ms".into());
        }
        if self.timeout_secs == 0 {
            e.push("athena.timeout_secs: must be > 0".into());
        }
        if !(self.usd_per_tb.is_finite() && self.usd_per_tb >= 0.0) {
            e.push("athena.usd_per_tb: must be ≥ 0".into());
        }
        if self.max_attempts == 0 || self.max_attempts > 20 {
            e.push("athena.max_attempts: must be within 1..=20".into());
        }
        if self.max_bytes_scanned == Some(0) {
            e.push("athena.max_bytes_scanned: must be > 0 (leave it out for no budget)".into());
        }
        e
    }

    /// The UNLOAD scratch prefix, without a trailing slash.
    pub fn scratch_url(&self) -> String {
        match (&self.scratch, &self.output_location) {
            (Some(s), _) => s.trim_end_matches('/').to_string(),
            (None, Some(o)) => format!("{}/lakesight-unload", o.trim_end_matches('/')),
            (None, None) => String::new(),
        }
    }
}

/// Errors of the Athena engine; each names the query (label and execution id when known).
#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    /// An API call failed after the SDK's retries.
    #[error("Athena {call} for query {label}: {message}")]
    Api {
        /// The API operation.
        call: &'static str,
        /// The query's label.
        label: String,
        /// Code and message.
        message: String,
    },
    /// Athena ran the query and it failed.
    #[error("Athena query {label} ({id}) FAILED: {reason}")]
    Failed {
        /// The query's label.
        label: String,
        /// Execution id.
        id: String,
        /// Athena's reason.
        reason: String,
    },
    /// Someone (or a workgroup limit) cancelled the query.
    #[error("Athena query {label} ({id}) was CANCELLED: {reason}")]
    Cancelled {
        /// The query's label.
        label: String,
        /// Execution id.
        id: String,
        /// Athena's reason.
        reason: String,
    },
    /// The query ran past `timeout_secs`; it was stopped.
    #[error("Athena query {label} ({id}) did not finish within {secs} s; it was stopped")]
    Timeout {
        /// The query's label.
        label: String,
        /// Execution id.
        id: String,
        /// The limit.
        secs: u64,
    },
    /// The run was stopped (SIGINT or SIGTERM) while a query ran; the query was stopped.
    #[error("interrupted while Athena query {label} ({id}) ran; it was stopped")]
    Interrupted {
        /// The query's label.
        label: String,
        /// Execution id.
        id: String,
    },
    /// The next query would take the run past its scan budget.
    #[error(
        "Athena budget: {scanned} bytes scanned so far, the next query ({label}) may scan {expected} more, the budget is {budget}; run stopped before it"
    )]
    Budget {
        /// The query that was not started.
        label: String,
        /// Bytes scanned so far.
        scanned: u64,
        /// Expected scan of the next query.
        expected: u64,
        /// The budget.
        budget: u64,
    },
    /// Reading the UNLOAD result failed.
    #[error("reading the result of Athena query {label} from {location}: {message}")]
    Result {
        /// The query's label.
        label: String,
        /// UNLOAD location.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// Bad settings or label.
    #[error("Athena settings: {0}")]
    Config(String),
}

/// What one query cost, for the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryStat {
    /// The query's label (series family and bucket).
    pub label: String,
    /// Athena's execution id.
    pub query_execution_id: String,
    /// Final state.
    pub state: String,
    /// Bytes scanned (Athena's statistics).
    pub bytes_scanned: u64,
    /// Cost estimate in USD at `usd_per_tb`.
    pub cost_usd: f64,
    /// Wall time from submit to result read, ms.
    pub elapsed_ms: u64,
    /// Rows read back (UNLOAD queries).
    pub rows: u64,
}

/// A connected Athena engine for one run.
pub struct Athena {
    client: aws_sdk_athena::Client,
    cfg: AthenaConfig,
    scratch: Location,
    run_id: String,
    stats: Mutex<Vec<QueryStat>>,
    cancel: crate::cancel::Cancel,
}

impl std::fmt::Debug for Athena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Athena")
            .field("workgroup", &self.cfg.workgroup)
            .field("scratch", &self.scratch.display)
            .field("run_id", &self.run_id)
            .finish()
    }
}

impl Athena {
    /// Connect with the standard AWS credential chain. `s3` reaches the scratch prefix.
    pub async fn connect(cfg: &AthenaConfig, s3: &S3Options, run_id: &str, cancel: crate::cancel::Cancel) -> Result<Athena, AthenaError> {
        let problems = cfg.validate();
        if !problems.is_empty() {
            return Err(AthenaError::Config(problems.join("; ")));
        }
        if !valid_ident(run_id, 200) {
            return Err(AthenaError::Config(format!("run id {run_id:?} is not usable in an S3 key")));
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(cfg.max_attempts));
        if let Some(r) = cfg.region.clone().or_else(|| s3.region.clone()) {
            loader = loader.region(aws_config::Region::new(r));
        }
        if let Some(ep) = &cfg.endpoint {
            loader = loader.endpoint_url(ep);
        }
        let conf = loader.load().await;
        let client = aws_sdk_athena::Client::new(&conf);
        let scratch_url = cfg.scratch_url();
        let scratch = Location::open(&format!("{scratch_url}/{run_id}"), s3, false)
            .await
            .map_err(|e| AthenaError::Config(format!("athena.scratch: {e}")))?;
        Ok(Athena {
            client,
            cfg: cfg.clone(),
            scratch,
            run_id: run_id.to_string(),
            stats: Mutex::new(Vec::new()),
            cancel,
        })
    }

    /// Everything the run's queries cost so far.
    pub fn stats(&self) -> Vec<QueryStat> {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `s3://…/<run id>/<label>/`: where the UNLOAD of `label` goes.
    pub fn unload_location(&self, label: &str) -> String {
        format!("{}/{}/{label}/", self.cfg.scratch_url(), self.run_id)
    }

    /// The UNLOAD statement wrapping `sql`.
    pub fn unload_sql(&self, label: &str, sql: &str) -> String {
        format!(
            "UNLOAD (\n{}\n) TO {} WITH (format = 'PARQUET', compression = 'SNAPPY')",
            sql.trim().trim_end_matches(';'),
            quote_literal(&self.unload_location(label))
        )
    }

    /// Run `sql` through UNLOAD and read the result back; scratch is emptied afterwards.
    pub async fn query(&self, label: &str, sql: &str) -> Result<Vec<RecordBatch>, AthenaError> {
        if !valid_ident(label, 100) || label.contains('.') {
            return Err(AthenaError::Config(format!("query label {label:?} is not a plain name")));
        }
        let t = Instant::now();
        let location = self.unload_location(label);
        let mut stat = self.execute(label, &self.unload_sql(label, sql)).await?;
        let read = self.read_result(label, &location).await;
        let cleaned = self.delete_prefix(label).await;
        let batches = read?;
        if let Err(e) = cleaned {
            tracing::warn!(%label, %location, error = %e, "could not empty the UNLOAD scratch prefix");
        }
        stat.rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        stat.elapsed_ms = t.elapsed().as_millis() as u64;
        if let Ok(mut s) = self.stats.lock() {
            if let Some(last) = s.iter_mut().rev().find(|q| q.query_execution_id == stat.query_execution_id) {
                *last = stat;
            }
        }
        Ok(batches)
    }

    /// Submit one statement and wait for it to finish. Checks the budget first.
    pub async fn execute(&self, label: &str, statement: &str) -> Result<QueryStat, AthenaError> {
        self.check_budget(label)?;
        let api = |call: &'static str, message: String| AthenaError::Api {
            call,
            label: label.to_string(),
            message,
        };
        let token = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(self.run_id.as_bytes());
            h.update([0]);
            h.update(label.as_bytes());
            h.update([0]);
            h.update(statement.as_bytes());
            hex::encode(&h.finalize()[..24])
        };
        let mut req = self
            .client
            .start_query_execution()
            .query_string(statement)
            .work_group(&self.cfg.workgroup)
            .client_request_token(token)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&self.cfg.database)
                    .catalog(&self.cfg.catalog)
                    .build(),
            );
        if let Some(o) = &self.cfg.output_location {
            req = req.result_configuration(ResultConfiguration::builder().output_location(o).build());
        }
        let started = Instant::now();
        // From the submission on, the query may run in AWS: on a stop it is stopped before the
        // process exits (a stop during the submission is acted on at the first poll).
        let _in_flight = self.cancel.guard();
        let id = req
            .send()
            .await
            .map_err(|e| api("StartQueryExecution", sdk_message(&e)))?
            .query_execution_id()
            .unwrap_or_default()
            .to_string();
        tracing::info!(%label, query_execution_id = %id, workgroup = %self.cfg.workgroup, "Athena query submitted");
        let deadline = started + Duration::from_secs(self.cfg.timeout_secs);
        let mut delay = Duration::from_millis(self.cfg.poll_initial_ms);
        loop {
            let out = match self.client.get_query_execution().query_execution_id(&id).send().await {
                Ok(out) => out,
                Err(e) => {
                    // The query may still be running in AWS: stop it rather than leave it billing.
                    self.stop(label, &id).await;
                    return Err(api("GetQueryExecution", sdk_message(&e)));
                }
            };
            let qe = out.query_execution();
            let status = qe.and_then(|q| q.status());
            let state = status.and_then(|s| s.state()).cloned();
            let reason = status
                .and_then(|s| s.state_change_reason())
                .or_else(|| status.and_then(|s| s.athena_error()).and_then(|a| a.error_message()))
                .unwrap_or("no reason given")
                .to_string();
            let scanned = qe
                .and_then(|q| q.statistics())
                .and_then(|s| s.data_scanned_in_bytes())
                .unwrap_or(0)
                .max(0) as u64;
            let stat = |state: &str| QueryStat {
                label: label.to_string(),
                query_execution_id: id.clone(),
                state: state.to_string(),
                bytes_scanned: scanned,
                cost_usd: scanned as f64 / 1e12 * self.cfg.usd_per_tb,
                elapsed_ms: started.elapsed().as_millis() as u64,
                rows: 0,
            };
            match state {
                Some(QueryExecutionState::Succeeded) => {
                    let s = stat("SUCCEEDED");
                    tracing::info!(%label, query_execution_id = %id, bytes_scanned = scanned, "Athena query succeeded");
                    self.record(s.clone());
                    return Ok(s);
                }
                Some(QueryExecutionState::Failed) => {
                    self.record(stat("FAILED"));
                    return Err(AthenaError::Failed {
                        label: label.into(),
                        id,
                        reason,
                    });
                }
                Some(QueryExecutionState::Cancelled) => {
                    self.record(stat("CANCELLED"));
                    return Err(AthenaError::Cancelled {
                        label: label.into(),
                        id,
                        reason,
                    });
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                self.stop(label, &id).await;
                self.record(stat("STOPPED_TIMEOUT"));
                return Err(AthenaError::Timeout {
                    label: label.into(),
                    id,
                    secs: self.cfg.timeout_secs,
                });
            }
            let wait = delay.min(deadline - now);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.cancel.cancelled() => {
                    self.stop(label, &id).await;
                    self.record(stat("STOPPED_INTERRUPT"));
                    return Err(AthenaError::Interrupted { label: label.into(), id });
                }
            }
            delay = (delay * 2).min(Duration::from_millis(self.cfg.poll_max_ms));
        }
    }

    fn record(&self, s: QueryStat) {
        if let Ok(mut v) = self.stats.lock() {
            v.push(s);
        }
    }

    /// Bytes scanned by the run so far.
    pub fn bytes_scanned(&self) -> u64 {
        self.stats().iter().map(|s| s.bytes_scanned).sum()
    }

    /// Stop the run before a query that could cross the budget. The next query's scan is not
    /// known in advance; the largest scan so far stands in for it (the nightly queries scan
    /// similar windows).
    fn check_budget(&self, label: &str) -> Result<(), AthenaError> {
        let Some(budget) = self.cfg.max_bytes_scanned else { return Ok(()) };
        let stats = self.stats();
        let scanned: u64 = stats.iter().map(|s| s.bytes_scanned).sum();
        let expected = stats.iter().map(|s| s.bytes_scanned).max().unwrap_or(0);
        if scanned.saturating_add(expected) > budget {
            return Err(AthenaError::Budget {
                label: label.into(),
                scanned,
                expected,
                budget,
            });
        }
        Ok(())
    }

    async fn stop(&self, label: &str, id: &str) {
        match self.client.stop_query_execution().query_execution_id(id).send().await {
            Ok(_) => tracing::warn!(%label, query_execution_id = %id, "Athena query stopped"),
            Err(e) => tracing::error!(%label, query_execution_id = %id, error = %sdk_message(&e), "could not stop Athena query"),
        }
    }

    /// Read every Parquet object UNLOAD wrote under the label's prefix.
    async fn read_result(&self, label: &str, location: &str) -> Result<Vec<RecordBatch>, AthenaError> {
        let err = |message: String| AthenaError::Result {
            label: label.into(),
            location: location.into(),
            message,
        };
        let prefix = self.scratch.prefix.clone().join(label);
        let mut objects: Vec<object_store::ObjectMeta> = self
            .scratch
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| err(e.to_string()))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        let mut out = Vec::new();
        for o in objects.into_iter().filter(|o| o.size > 0) {
            let reader = ParquetObjectReader::new(self.scratch.store.clone(), o.location.clone()).with_file_size(o.size);
            let stream = ParquetRecordBatchStreamBuilder::new(reader)
                .await
                .map_err(|e| err(format!("{}: {e}", o.location)))?
                .build()
                .map_err(|e| err(format!("{}: {e}", o.location)))?;
            let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| err(format!("{}: {e}", o.location)))?;
            out.extend(batches);
        }
        Ok(out)
    }

    async fn delete_prefix(&self, label: &str) -> Result<(), object_store::Error> {
        let prefix = self.scratch.prefix.clone().join(label);
        let objects: Vec<object_store::ObjectMeta> = self.scratch.store.list(Some(&prefix)).try_collect().await?;
        for o in objects {
            self.scratch.store.delete(&o.location).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl super::SqlRunner for Athena {
    async fn run_sql(&self, label: &str, sql: &str) -> super::Result<Vec<RecordBatch>> {
        Ok(self.query(label, sql).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_their_field() {
        let c = AthenaConfig {
            workgroup: "x'; DROP".into(),
            output_location: Some("/tmp/x".into()),
            poll_initial_ms: 10_000,
            max_bytes_scanned: Some(0),
            ..Default::default()
        };
        let e = c.validate();
        for f in [
            "athena.workgroup",
            "athena.output_location",
            "athena.poll_initial_ms",
            "athena.max_bytes_scanned",
        ] {
            assert!(e.iter().any(|m| m.starts_with(f)), "{f}: {e:?}");
        }
        let ok = AthenaConfig {
            output_location: Some("s3://results/athena".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_empty(), "{:?}", ok.validate());
        assert_eq!(ok.scratch_url(), "s3://results/athena/lakesight-unload");
    }
}
