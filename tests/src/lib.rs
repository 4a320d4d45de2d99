//! Harness for Maestro's end-to-end tests: federations of real child processes on loopback,
//! orders and waits on them through maestro's gRPC API, and the scenarios' shared pieces. Waiting,
//! processes, workloads, Git and Docker come from `maestro-testkit`.

pub mod api;
pub mod bench;
pub mod faults;
pub mod git_server;
pub mod hosts;
pub mod nodes;
pub mod orders;
pub mod scenario;
pub mod sitebench;
pub mod usage;
