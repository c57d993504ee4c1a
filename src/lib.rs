//! lakesight: batch analytics over an AWS Security Lake (OCSF Parquet).
//!
//! The modules follow the data: [`lake`] (catalog, DataFusion engine, normalised views) →
//! [`series`] (SQL templates → typed series) → [`detect`] (one module per detector family) →
//! [`findings`] (schema, MITRE, investigation SQL) → [`sink`] (Parquet, DDL, report), with
//! [`runtime`] (job files, runs, manifest) and the CLI at the edges. [`sample`] generates a
//! realistic lake with labelled attacks for demos, tests and benchmarks.
#![deny(missing_docs)]

pub mod aws;
pub mod detect;
pub mod findings;
pub mod lake;
pub mod output;
pub mod runtime;
pub mod sample;
pub mod series;
pub mod sink;
pub mod sql;
pub mod store;
