//! One integration-test binary (links once). Modules group the tests by stage.

mod bad_input;
mod common;
mod lake;
mod samples;
mod spine;
