//! One integration-test binary (links once). Modules group the tests by stage.

mod athena_sql;
mod bad_input;
mod cli;
mod common;
mod lake;
mod samples;
mod spine;
