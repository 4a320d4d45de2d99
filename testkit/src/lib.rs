//! The test kit every Maestro test harness shares: one way to wait (a condition polled under a
//! deadline, a future under a deadlock guard), free ports and a tiny HTTP client, bare Git
//! repositories and real Git servers (HTTPS, SSH, a silent one), links a test can cut ([`link`]), a disk a test can fill ([`tmpfs`]), workloads found through /proc,
//! child processes of the real binaries, in-test gRPC servers on ephemeral ports (and an in-test log server), the Docker Engine from
//! `scripts/docker.sh`, a real ColonyOS server from `scripts/colonies.sh`, and test logging.
//!
//! Invariants: nothing here sleeps to synchronise (waits poll a condition or await a signal,
//! always under a timeout that only guards against deadlock); servers bind 127.0.0.1; a child
//! process or workload a test starts is stopped when its guard drops, also on panic. Used only as
//! a dev-dependency (and by the end-to-end `tests` crate).

pub mod binary;
pub mod colonies;
pub mod docker;
pub mod git;
pub mod git_servers;
pub mod grpc;
pub mod link;
pub mod logs;
pub mod net;
pub mod netns;
pub mod pki;
pub mod procs;
pub mod raw_grpc;
pub mod scripts;
pub mod tmpfs;
pub mod tracing;
pub mod wait;

pub use wait::{GUARD, until, within};
