//! One integration-test binary (links once). Modules group the tests by stage.

mod athena;
mod athena_sql;
mod bad_input;
mod cli;
mod common;
mod container;
mod deploy;
mod features;
mod glue;
mod golden;
mod hunts;
mod iceberg;
mod iforest;
mod ip_insights;
mod lake;
mod layers;
mod ocsf;
mod parity;
mod quality;
mod rollup;
mod s3;
mod sample_world;
mod samples;
mod servers;
mod spine;
mod ueba;
