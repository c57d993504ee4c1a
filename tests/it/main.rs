//! One integration-test binary (links once). Modules group the tests by stage.

mod athena;
mod athena_sql;
mod bad_input;
mod cli;
mod features;
mod common;
mod glue;
mod ip_insights;
mod golden;
mod iceberg;
mod lake;
mod s3;
mod samples;
mod servers;
mod spine;
