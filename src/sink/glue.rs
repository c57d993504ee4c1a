//! Registering the findings table in the AWS Glue Data Catalog, so Athena and QuickSight see it on
//! the first run without anyone pasting DDL.
//!
//! The table is the one `findings_table.sql` describes: Parquet under `<output>/findings/`,
//! partitioned by `dt` and `detector`, with **partition projection** (`projection.*` table
//! parameters), so new partitions are queryable the moment their files land — no `MSCK REPAIR`,
//! no `BatchCreatePartition`. The database is created if missing; the table is created if missing
//! and updated when its location or columns differ or when a detector is not yet in the projected
//! `detector` values (a new detector's findings would otherwise be invisible). Run before any
//! finding is written, so a failure leaves nothing new for readers.

use serde::{Deserialize, Serialize};

use crate::aws::sdk_message;
use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};

/// `[glue]` in the job file: register the findings table in this Glue catalog.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GlueConfig {
    /// Region (default: the `[s3]` region, then the AWS chain).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override (a Glue-compatible server).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Catalog id (AWS account) when it is not the caller's.
    #[serde(default)]
    pub catalog_id: Option<String>,
}

impl GlueConfig {
    /// Problems, each naming its field as `glue.<field>`.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if let Some(c) = &self.catalog_id {
            if c.len() != 12 || !c.bytes().all(|b| b.is_ascii_digit()) {
                e.push(format!("glue.catalog_id: {c:?} is not a 12-digit account id"));
            }
        }
        if let Some(ep) = &self.endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                e.push(format!("glue.endpoint: {ep:?} must be an http(s) URL"));
            }
        }
        e
    }
}

/// What registration did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Registration {
    /// Glue database.
    pub database: String,
    /// Table name.
    pub table: String,
    /// `created`, `updated` or `unchanged`.
    pub action: String,
    /// Detectors the `detector` partition projection lists.
    pub detectors: Vec<String>,
}

/// Errors of registration, naming the table.
#[derive(Debug, thiserror::Error)]
#[error("registering {database}.{table} in Glue ({call}): {message}")]
pub struct GlueError {
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
    /// API operation.
    pub call: &'static str,
    /// Code and message.
    pub message: String,
}

/// Glue type of an Arrow type of the findings schema.
fn glue_type(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType::*;
    match t {
        Utf8 | LargeUtf8 => "string".into(),
        Int32 => "int".into(),
        Int64 => "bigint".into(),
        Float64 => "double".into(),
        Boolean => "boolean".into(),
        Timestamp(..) => "timestamp".into(),
        List(f) => format!("array<{}>", glue_type(f.data_type())),
        other => format!("string /* {other} */"),
    }
}

/// The table definition: findings columns, `dt`/`detector` partitions, Parquet, projection.
pub fn table_input(table: &str, location: &str, detectors: &[String]) -> Result<TableInput, String> {
    let location = location.trim_end_matches('/');
    let columns = crate::findings::schema()
        .fields()
        .iter()
        .map(|f| Column::builder().name(f.name()).r#type(glue_type(f.data_type())).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let part = |n: &str| Column::builder().name(n).r#type("string").build();
    let sd = StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(format!("{location}/findings/"))
        .input_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
        .output_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
        .serde_info(
            SerDeInfo::builder()
                .serialization_library("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
                .build(),
        )
        .build();
    TableInput::builder()
        .name(table)
        .description("lakesight findings (one row per finding; see findings_table.sql)")
        .table_type("EXTERNAL_TABLE")
        .set_partition_keys(Some(vec![
            part("dt").map_err(|e| e.to_string())?,
            part("detector").map_err(|e| e.to_string())?,
        ]))
        .storage_descriptor(sd)
        .parameters("EXTERNAL", "TRUE")
        .parameters("classification", "parquet")
        .parameters("projection.enabled", "true")
        .parameters("projection.dt.type", "date")
        .parameters("projection.dt.format", "yyyy-MM-dd")
        .parameters("projection.dt.range", "2020-01-01,NOW")
        .parameters("projection.detector.type", "enum")
        .parameters("projection.detector.values", detectors.join(","))
        .parameters(
            "storage.location.template",
            format!("{location}/findings/dt=${{dt}}/detector=${{detector}}/"),
        )
        .build()
        .map_err(|e| e.to_string())
}

/// Create or update the findings table `database.table` over `location` (the run's output URL).
pub async fn register_findings_table(
    cfg: &GlueConfig,
    s3_region: Option<&str>,
    database: &str,
    table: &str,
    location: &str,
    detectors: &[String],
) -> Result<Registration, GlueError> {
    let err = |call: &'static str, message: String| GlueError {
        database: database.into(),
        table: table.into(),
        call,
        message,
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = cfg.region.as_deref().or(s3_region) {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(ep) = &cfg.endpoint {
        loader = loader.endpoint_url(ep);
    }
    let client = aws_sdk_glue::Client::new(&loader.load().await);

    match client
        .get_database()
        .set_catalog_id(cfg.catalog_id.clone())
        .name(database)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_not_found_exception()) => {
            let input = DatabaseInput::builder()
                .name(database)
                .description("lakesight: findings of the Security Lake detectors")
                .build()
                .map_err(|e| err("CreateDatabase", e.to_string()))?;
            client
                .create_database()
                .set_catalog_id(cfg.catalog_id.clone())
                .database_input(input)
                .send()
                .await
                .map_err(|e| err("CreateDatabase", sdk_message(&e)))?;
        }
        Err(e) => return Err(err("GetDatabase", sdk_message(&e))),
    }

    let existing = match client
        .get_table()
        .set_catalog_id(cfg.catalog_id.clone())
        .database_name(database)
        .name(table)
        .send()
        .await
    {
        Ok(out) => out.table().cloned(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_not_found_exception()) => None,
        Err(e) => return Err(err("GetTable", sdk_message(&e))),
    };
    let mut all: Vec<String> = detectors.to_vec();
    if let Some(t) = &existing {
        if let Some(v) = t.parameters().and_then(|p| p.get("projection.detector.values")) {
            all.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string));
        }
    }
    all.sort();
    all.dedup();
    let input = table_input(table, location, &all).map_err(|m| err("TableInput", m))?;
    let action = match &existing {
        None => {
            client
                .create_table()
                .set_catalog_id(cfg.catalog_id.clone())
                .database_name(database)
                .table_input(input)
                .send()
                .await
                .map_err(|e| err("CreateTable", sdk_message(&e)))?;
            "created"
        }
        Some(t) => {
            let same_params = t.parameters() == Some(input.parameters().unwrap_or(&Default::default()));
            let same_sd = t.storage_descriptor().map(|s| (s.location(), s.columns().len()))
                == input.storage_descriptor().map(|s| (s.location(), s.columns().len()));
            if same_params && same_sd {
                "unchanged"
            } else {
                client
                    .update_table()
                    .set_catalog_id(cfg.catalog_id.clone())
                    .database_name(database)
                    .table_input(input)
                    .send()
                    .await
                    .map_err(|e| err("UpdateTable", sdk_message(&e)))?;
                "updated"
            }
        }
    };
    tracing::info!(%database, %table, action, "findings table registered in Glue");
    Ok(Registration {
        database: database.into(),
        table: table.into(),
        action: action.into(),
        detectors: all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_projects_dates_and_every_detector() {
        let t = table_input("findings", "s3://b/out/", &["outliers".into(), "trends".into()]).unwrap();
        let p = t.parameters().unwrap();
        assert_eq!(p["projection.detector.values"], "outliers,trends");
        assert_eq!(p["storage.location.template"], "s3://b/out/findings/dt=${dt}/detector=${detector}/");
        let sd = t.storage_descriptor().unwrap();
        assert_eq!(sd.location(), Some("s3://b/out/findings/"));
        let cols: Vec<(&str, &str)> = sd.columns().iter().map(|c| (c.name(), c.r#type().unwrap_or(""))).collect();
        assert!(
            cols.contains(&("window_start", "timestamp")) && cols.contains(&("mitre_tactics", "array<string>")),
            "{cols:?}"
        );
        assert!(cols.iter().all(|(_, t)| !t.contains("/*")), "unmapped type in {cols:?}");
    }
}
