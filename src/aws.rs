//! What the AWS SDK clients (Athena, Glue) share.

// Every aws-sdk-* crate re-exports the same smithy `SdkError` and `ProvideErrorMetadata`; these
// paths serve Glue's errors as well as Athena's.
use aws_sdk_athena::error::{ProvideErrorMetadata, SdkError};

/// An SDK error as `Code: message` for a service error, or the error and its causes for a
/// transport one. Never the request, its signature or credentials.
pub fn sdk_message<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            format!("{}: {}", err.code().unwrap_or("error"), err.message().unwrap_or("no message"))
        }
        other => {
            use std::error::Error as _;
            let mut m = other.to_string();
            let mut src = other.source();
            while let Some(s) = src {
                m.push_str(": ");
                m.push_str(&s.to_string());
                src = s.source();
            }
            m
        }
    }
}
