//! Harness for Maestro's end-to-end tests: components as real child processes on loopback, the
//! native workloads they start, the domains' Git repositories, and waits on gRPC streams.

pub mod git;
pub mod nodes;
pub mod orders;
pub mod scenario;
pub mod workloads;
