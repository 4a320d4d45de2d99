//! Generated gRPC types and services of Maestro. Proto types stop at the gRPC edge: every
//! service converts them into its domain types with `TryFrom` and rejects invalid input there.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Encoded file descriptor set of every Maestro proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/maestro_descriptor.bin"));

pub mod order {
    pub mod v1 {
        tonic::include_proto!("maestro.order.v1");
    }
}
pub mod catalog {
    pub mod v1 {
        tonic::include_proto!("maestro.catalog.v1");
    }
}
pub mod domain {
    pub mod v1 {
        tonic::include_proto!("maestro.domain.v1");
    }
}
pub mod intent {
    pub mod v1 {
        tonic::include_proto!("maestro.intent.v1");
    }
}
pub mod status {
    pub mod v1 {
        tonic::include_proto!("maestro.status.v1");
    }
}
pub mod logs {
    pub mod v1 {
        tonic::include_proto!("maestro.logs.v1");
    }
}

pub mod audit {
    pub mod v1 {
        tonic::include_proto!("maestro.audit.v1");
    }
}

pub use prost_types;
