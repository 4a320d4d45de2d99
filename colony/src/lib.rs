//! ColonyOS v1.9.12 wire protocol for Maestro: signing (`crypto`), JSON models (`model`),
//! signed envelopes (`envelope`, `messages`), an HTTP client (`ColonyClient`) and an embedded
//! colony server backed by sled (`server`).
//!
//! Invariants: signatures are secp256k1 over SHA3-256 of the base64 payload string, low-S,
//! `R||S||V` hex; identities are SHA3-256 of the uncompressed public key's hex string; every
//! reply carries `error`; the client relies only on behaviour a real ColonyOS server has.

pub mod client;
pub mod crypto;
pub mod envelope;
mod error;
pub mod messages;
pub mod model;
pub mod server;

pub use client::ColonyClient;
pub use crypto::{CryptoError, PrivateKey, recover_id, sha3_256_hex};
pub use error::ColonyError;
pub use model::{
    Blueprint, BlueprintDefinition, BlueprintDefinitionNames, BlueprintDefinitionSpec,
    BlueprintHistory, BlueprintMetadata, Colony, Conditions, Executor, ExecutorState, FunctionSpec,
    HandlerSpec, Log, Process, ProcessState, User,
};
pub use server::{Retention, RunningServer, ServerConfig, ServerError, TlsError, TlsFiles, start};
