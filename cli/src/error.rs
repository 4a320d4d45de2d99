//! The CLI's error type and the one place where errors become exit codes.

use std::process::ExitCode;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the operation ran but failed (e.g. the order ended not completed).
pub const EXIT_FAILED: u8 = 1;
/// Exit status: usage error (bad flag or argument; clap's own status).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the named object does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit status: the input was rejected (bad file, InvalidArgument, FailedPrecondition, AlreadyExists).
pub const EXIT_INVALID: u8 = 4;
/// Exit status: a server was unreachable or a call timed out.
pub const EXIT_UNAVAILABLE: u8 = 5;
/// Exit status: the caller's identity was refused (PermissionDenied, Unauthenticated).
pub const EXIT_DENIED: u8 = 6;
/// Exit status: invalid configuration (EX_USAGE, = `maestro_common::config::EXIT_CONFIG`).
pub const EXIT_CONFIG: u8 = 64;

/// Why a command failed. Every variant maps to one exit status ([`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The operation ran and did not succeed (exit 1).
    #[error("{0}")]
    Failed(String),
    /// The object does not exist (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// The input was rejected, locally or by a server (exit 4).
    #[error("{0}")]
    Invalid(String),
    /// A server could not be reached or did not answer in time (exit 5).
    #[error("{0}")]
    Unavailable(String),
    /// The caller's identity may not make the call (exit 6).
    #[error("{0}")]
    Denied(String),
    /// The configuration is invalid (exit 64).
    #[error("{0}")]
    Config(String),
}

/// Result alias of the CLI.
pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed(_) => EXIT_FAILED,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::Invalid(_) => EXIT_INVALID,
            CliError::Unavailable(_) => EXIT_UNAVAILABLE,
            CliError::Denied(_) => EXIT_DENIED,
            CliError::Config(_) => EXIT_CONFIG,
        }
    }

    /// The error as one line: newlines folded so `error: ...` stays on one line.
    pub fn one_line(&self) -> String {
        one_line(&self.to_string())
    }

    /// The gRPC error of a call to `what` (e.g. "maestro at http://..."), classified by code.
    pub fn from_status(what: &str, status: &tonic::Status) -> Self {
        let message = status_message(status);
        let text = format!("{what}: {message}");
        // A connection that broke before any reply (e.g. plaintext against a TLS server) is
        // the server being unreachable, not a failed call.
        let code = match status.code() {
            tonic::Code::Unknown | tonic::Code::Cancelled | tonic::Code::Internal
                if std::error::Error::source(status)
                    .is_some_and(|s| s.is::<tonic::transport::Error>()) =>
            {
                tonic::Code::Unavailable
            }
            code => code,
        };
        match exit_code_for(code) {
            EXIT_NOT_FOUND => CliError::NotFound(text),
            EXIT_INVALID => CliError::Invalid(text),
            EXIT_UNAVAILABLE => CliError::Unavailable(text),
            EXIT_DENIED => CliError::Denied(text),
            _ => CliError::Failed(text),
        }
    }
}

/// Exit status for a gRPC status code: the single mapping the CLI uses.
pub fn exit_code_for(code: tonic::Code) -> u8 {
    use tonic::Code;
    match code {
        Code::Ok => EXIT_OK,
        Code::NotFound => EXIT_NOT_FOUND,
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::AlreadyExists
        | Code::OutOfRange => EXIT_INVALID,
        Code::Unavailable | Code::DeadlineExceeded => EXIT_UNAVAILABLE,
        Code::PermissionDenied | Code::Unauthenticated => EXIT_DENIED,
        _ => EXIT_FAILED,
    }
}

/// A human description of a status: its message plus the transport cause when there is one.
fn status_message(status: &tonic::Status) -> String {
    let code = match status.code() {
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::DeadlineExceeded => "deadline exceeded",
        tonic::Code::NotFound => "not found",
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::FailedPrecondition => "failed precondition",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::Unimplemented => "unimplemented",
        tonic::Code::Internal => "internal error",
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::Unauthenticated => "unauthenticated",
        tonic::Code::Cancelled => "cancelled",
        _ => "error",
    };
    let mut message = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message = if message.is_empty() {
                text
            } else {
                format!("{message}: {text}")
            };
        }
        source = s.source();
    }
    if message.is_empty() {
        code.to_string()
    } else {
        format!("{code}: {message}")
    }
}

/// Folds a multi-line message into one line.
pub fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Prints `error: ...` on stderr and returns the exit code.
pub fn report(err: &CliError) -> ExitCode {
    crate::commands::note(&format!("error: {}", err.one_line()));
    ExitCode::from(err.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn grpc_codes_map_to_exit_codes() {
        assert_eq!(exit_code_for(Code::NotFound), 3);
        assert_eq!(exit_code_for(Code::InvalidArgument), 4);
        assert_eq!(exit_code_for(Code::FailedPrecondition), 4);
        assert_eq!(exit_code_for(Code::AlreadyExists), 4);
        assert_eq!(exit_code_for(Code::Unavailable), 5);
        assert_eq!(exit_code_for(Code::DeadlineExceeded), 5);
        assert_eq!(exit_code_for(Code::PermissionDenied), 6);
        assert_eq!(exit_code_for(Code::Unauthenticated), 6);
        assert_eq!(exit_code_for(Code::Internal), 1);
        assert_eq!(exit_code_for(Code::Ok), 0);
    }

    #[test]
    fn status_becomes_classified_error() {
        let e = CliError::from_status("maestro", &tonic::Status::not_found("order x not found"));
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.to_string(), "maestro: not found: order x not found");
        let e = CliError::from_status("maestro", &tonic::Status::invalid_argument("bad\nthing"));
        assert_eq!(e.exit_code(), 4);
        assert_eq!(e.one_line(), "maestro: invalid argument: bad; thing");
        let e = CliError::from_status("maestro", &tonic::Status::unavailable(""));
        assert_eq!(e.exit_code(), 5);
        assert_eq!(e.to_string(), "maestro: unavailable");
    }

    #[test]
    fn config_errors_use_ex_usage() {
        assert_eq!(
            CliError::Config("x".into()).exit_code() as i32,
            maestro_common::config::EXIT_CONFIG
        );
    }
}
