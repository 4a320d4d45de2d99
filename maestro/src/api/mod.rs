//! Thin gRPC handlers: convert proto to domain types, call the engine, map errors.

pub mod catalog;
pub mod domains;
pub mod orders;
