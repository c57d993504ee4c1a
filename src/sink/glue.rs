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
    /// Detectors the `detector` partition projection lists (findings table; empty for others).
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

pub use crate::table::TableSpec;

/// The table definition: columns, `dt` (+ enum) partitions, Parquet, projection.
pub fn table_input(spec: &TableSpec, location: &str) -> Result<TableInput, String> {
    let location = location.trim_end_matches('/');
    let folder = format!("{location}/{}", spec.folder);
    let columns = spec
        .schema
        .fields()
        .iter()
        .map(|f| Column::builder().name(f.name()).r#type(super::hive_type(f.data_type())).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let part = |n: &str| Column::builder().name(n).r#type("string").build().map_err(|e| e.to_string());
    let mut partitions = vec![part("dt")?];
    let mut template = format!("{folder}/dt=${{dt}}/");
    for (k, _) in &spec.enums {
        partitions.push(part(k)?);
        template.push_str(&format!("{k}=${{{k}}}/"));
    }
    let sd = StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(format!("{folder}/"))
        .input_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
        .output_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
        .serde_info(
            SerDeInfo::builder()
                .serialization_library("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
                .build(),
        )
        .build();
    let mut t = TableInput::builder()
        .name(&spec.table)
        .description(&spec.description)
        .table_type("EXTERNAL_TABLE")
        .set_partition_keys(Some(partitions))
        .storage_descriptor(sd)
        .parameters("EXTERNAL", "TRUE")
        .parameters("classification", "parquet")
        .parameters("projection.enabled", "true")
        .parameters("projection.dt.type", "date")
        .parameters("projection.dt.format", "yyyy-MM-dd")
        .parameters("projection.dt.range", "2020-01-01,NOW")
        .parameters("storage.location.template", template);
    for (k, values) in &spec.enums {
        t = t
            .parameters(format!("projection.{k}.type"), "enum")
            .parameters(format!("projection.{k}.values"), values.join(","));
    }
    t.build().map_err(|e| e.to_string())
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
    register_table(cfg, s3_region, database, &crate::findings::table_spec(table, detectors), location).await
}

/// Create or update the table `spec` in `database` over `location` (the run's output URL).
pub async fn register_table(
    cfg: &GlueConfig,
    s3_region: Option<&str>,
    database: &str,
    spec: &TableSpec,
    location: &str,
) -> Result<Registration, GlueError> {
    let table = spec.table.as_str();
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
            match client
                .create_database()
                .set_catalog_id(cfg.catalog_id.clone())
                .database_input(input)
                .send()
                .await
            {
                Ok(_) => {}
                // Another run created it since our GetDatabase: what we wanted.
                Err(e) if e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) => {}
                Err(e) => return Err(err("CreateDatabase", sdk_message(&e))),
            }
        }
        Err(e) => return Err(err("GetDatabase", sdk_message(&e))),
    }

    // Two runs registering at once (array children, a rerun beside the nightly job) can both find
    // no table and both create it: the loser reads the winner's table and updates it like any
    // existing one (a second attempt), instead of failing on "already exists".
    let mut attempt = 0;
    let (action, all) = loop {
        attempt += 1;
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
        let mut spec = spec.clone();
        for (k, values) in &mut spec.enums {
            if let Some(v) = existing
                .as_ref()
                .and_then(|t| t.parameters())
                .and_then(|p| p.get(&format!("projection.{k}.values")))
            {
                values.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string));
            }
            values.sort();
            values.dedup();
        }
        let all: Vec<String> = spec
            .enums
            .iter()
            .find(|(k, _)| k == "detector")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let input = table_input(&spec, location).map_err(|m| err("TableInput", m))?;
        let action = match &existing {
            None => {
                match client
                    .create_table()
                    .set_catalog_id(cfg.catalog_id.clone())
                    .database_name(database)
                    .table_input(input)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if attempt == 1 && e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) => {
                        tracing::info!(%database, %table, "table created by another run meanwhile; registering again");
                        continue;
                    }
                    Err(e) => return Err(err("CreateTable", sdk_message(&e))),
                }
                "created"
            }
            Some(t) => {
                let same_params = t.parameters() == Some(input.parameters().unwrap_or(&Default::default()));
                // Location, and every column's name and type in order (a changed type is a change).
                let shape = |sd: Option<&StorageDescriptor>| {
                    sd.map(|s| {
                        (
                            s.location().map(str::to_string),
                            s.columns()
                                .iter()
                                .map(|c| (c.name().to_string(), c.r#type().map(str::to_string)))
                                .collect::<Vec<_>>(),
                        )
                    })
                };
                let same_keys = t
                    .partition_keys()
                    .iter()
                    .map(|c| c.name())
                    .eq(input.partition_keys().iter().map(|c| c.name()));
                let same_sd = same_keys && shape(t.storage_descriptor()) == shape(input.storage_descriptor());
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
        break (action, all);
    };
    tracing::info!(%database, %table, action, "table registered in Glue");
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
        let t = table_input(
            &crate::findings::table_spec("findings", &["outliers".into(), "trends".into()]),
            "s3://b/out/",
        )
        .unwrap();
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
        let keys: Vec<&str> = t.partition_keys().iter().map(|c| c.name()).collect();
        assert_eq!(keys, ["dt", "detector"]);
    }

    #[test]
    fn the_features_table_projects_dates_only() {
        let t = table_input(&crate::stages::features::table_spec("features"), "s3://b/out").unwrap();
        let p = t.parameters().unwrap();
        assert_eq!(p["storage.location.template"], "s3://b/out/features/dt=${dt}/");
        assert!(!p.contains_key("projection.detector.values"));
        let keys: Vec<&str> = t.partition_keys().iter().map(|c| c.name()).collect();
        assert_eq!(keys, ["dt"]);
        let sd = t.storage_descriptor().unwrap();
        assert_eq!(sd.location(), Some("s3://b/out/features/"));
        let cols: Vec<(&str, &str)> = sd.columns().iter().map(|c| (c.name(), c.r#type().unwrap_or(""))).collect();
        assert!(
            cols.contains(&("principal", "string")) && cols.contains(&("src_ips", "bigint")),
            "{cols:?}"
        );
    }
}
