//! `maestroctl`: Maestro's operator CLI (orders, domains, intents, catalog, logs), the single binary
//! that runs each component (`run`), and the all-in-one local federation (`dev`,
//! [`dev::start_federation`]).
//!
//! Invariants: every failure becomes one `error: ...` line on stderr and one exit status, mapped in
//! [`error`]; JSON/YAML output serialises the views of [`view`], never proto types; an order file
//! without an `idempotencyKey` gets a key derived from its bytes, so resubmitting never duplicates.

pub mod args;
pub mod client;
pub mod commands;
pub mod dev;
pub mod entry;
pub mod error;
pub mod escape;
pub mod keys;
pub mod order_file;
pub mod output;
pub mod pki;
pub mod plan_view;
pub mod progress;
pub mod rollout_view;
pub mod run;
pub mod settings;
pub mod states;
pub mod table;
pub mod view;

pub use dev::{DevOptions, Federation, start_federation};
pub use entry::{execute, main_entry};
pub use error::{CliError, CliResult};
