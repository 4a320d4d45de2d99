//! Certificates for deployments without a PKI: `maestroctl pki init` creates a CA, `pki issue`
//! signs component and operator certificates naming one SPIFFE-shaped identity each, `pki inspect`
//! shows what a certificate (from here or any other CA) says.
//!
//! Invariants: private keys are written 0600, atomically, and never replaced without `--force`;
//! identity URIs are built and read only by `maestro_common::identity`; every name that becomes
//! part of a path is a validated `ResourceName`.

pub mod ca;
pub mod files;
pub mod inspect;
pub mod issue;

pub use ca::{InitOutcome, init};
pub use inspect::{CertificateView, inspect_file};
pub use issue::{IssueOutcome, IssueRequest, issue};
