//! Findings delivered to Security Lake as a custom source: OCSF Detection Findings (2004, see
//! `findings::ocsf`) in the custom-source layout
//! `<source root>/region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/<detector>.zstd.parquet`.
//!
//! Security Lake's rules for a custom source (`../shared/reference/security-lake.md` §1.3): one OCSF
//! class per object and per source (every row here is 2004), zstd, data pages ≤ 1 MB uncompressed,
//! row groups ≤ 256 MB (here at most [`ROWS_PER_GROUP`] findings, a few MB), rows sorted by time,
//! `eventDay` the UTC day, `accountId` `external` for findings not tied to an AWS account.
//!
//! Reruns: one object per (account, day, detector), replaced atomically; for every (day, detector)
//! a run analysed, an account's object whose findings are gone is deleted, so a rerun never leaves
//! a finding the new run did not make (the accounts are found by one delimited listing of the
//! region's folder).

use std::collections::{BTreeMap, BTreeSet};

use super::SinkError;
use crate::findings::{ocsf, Finding};
use crate::store::Location;

/// Most findings per row group.
pub const ROWS_PER_GROUP: usize = 50_000;
/// Data page size limit (Security Lake: ≤ 1 MB uncompressed).
pub const PAGE_BYTES: usize = 1 << 20;

/// Where and as what the findings go.
#[derive(Debug, Clone)]
pub struct OcsfTarget {
    /// The custom source's root (the folder that holds `region=…`).
    pub location: Location,
    /// `region` partition and `cloud.region`.
    pub region: String,
    /// `accountId` of findings without an AWS account.
    pub external_account: String,
}

/// Encode OCSF rows as Security Lake wants a custom source's objects.
pub fn encode(batch: &arrow::record_batch::RecordBatch) -> Result<Vec<u8>, SinkError> {
    let props = super::zstd_props()
        .set_data_page_size_limit(PAGE_BYTES)
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .build();
    super::encode_with(batch, props)
}

/// Write the findings of `days` × `detectors` (days as `YYYY-MM-DD`); returns the objects written
/// (relative to the source root) with their rows, and the number of stale objects deleted.
pub async fn write(
    target: &OcsfTarget,
    findings: &[Finding],
    days: &[String],
    detectors: &[String],
) -> Result<(Vec<(String, usize)>, usize), SinkError> {
    let region_dir = format!("region={}", target.region);
    let mut parts: BTreeMap<(String, String, String), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        let account = f
            .account_id
            .clone()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| target.external_account.clone());
        parts.entry((f.dt.clone(), f.detector.clone(), account)).or_default().push(f);
    }
    let rel = |day: &str, det: &str, account: &str| {
        format!(
            "{region_dir}/accountId={account}/eventDay={}/{det}.zstd.parquet",
            day.replace('-', "")
        )
    };
    let mut written = Vec::new();
    for ((day, det, account), fs) in &parts {
        let batch = ocsf::to_batch(fs, &target.region, account)?;
        let path = rel(day, det, account);
        target.location.put_atomic(&path, &encode(&batch)?).await?;
        written.push((path, fs.len()));
    }
    // Objects of earlier runs for the analysed (day, detector)s whose account has no finding now.
    let mut accounts: BTreeSet<String> = target
        .location
        .list_dirs(&region_dir)
        .await?
        .into_iter()
        .filter_map(|d| d.strip_prefix("accountId=").map(str::to_string))
        .collect();
    accounts.extend(parts.keys().map(|k| k.2.clone()));
    let mut deleted = 0;
    for day in days {
        for det in detectors {
            for account in &accounts {
                if !parts.contains_key(&(day.clone(), det.clone(), account.clone()))
                    && target.location.delete_opt(&rel(day, det, account)).await?
                {
                    deleted += 1;
                }
            }
        }
    }
    Ok((written, deleted))
}
