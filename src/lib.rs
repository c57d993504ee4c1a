//! lakesight: batch analytics over an AWS Security Lake (OCSF Parquet).
//!
//! The modules follow the data, and each layer only looks down (a test, `tests/it/layers.rs`,
//! keeps it so):
//!
//! ```text
//! store, sql, aws, cancel, clock, table      object stores, quoting, tokens, table descriptions
//!   ← lake                                   catalog, DataFusion engine, Athena, normalised views
//!   ← series, sample                         SQL templates → typed series; the sample lake
//!   ← detect                                 detectors: pure numerics + each one's evidence
//!   ← findings                               the Finding record, ids, MITRE, investigation SQL
//!   ← stages                                 series detectors, features, IP Insights: one Stage each
//!   ← sink, output                           Parquet, DDL, Glue, plots, report, manifest
//!   ← runtime                                job files, the run plan, the run
//!   ← CLI (main.rs)
//! ```
#![deny(missing_docs)]

pub mod aws;
pub mod cancel;
pub mod clock;
pub mod detect;
pub mod findings;
pub mod lake;
pub mod output;
pub mod runtime;
pub mod sample;
pub mod series;
pub mod sink;
pub mod sql;
pub mod stages;
pub mod store;
pub mod table;
