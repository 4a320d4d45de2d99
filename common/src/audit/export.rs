//! An exported log as one JSON document (`maestroctl audit export`), for verification away from
//! the component that wrote it.

use maestro_proto::audit::v1 as pb;

use super::checkpoint::Checkpoint;
use super::entry::Entry;
use super::verify::{Failure, Report, verify};
use crate::FieldError;
use crate::manifest::PublicKey;

/// The `format` of an export.
pub const EXPORT_FORMAT: &str = "maestro.audit-export/v1";

/// Every entry and checkpoint of a log, and the public key its checkpoints claim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// [`EXPORT_FORMAT`].
    pub format: String,
    /// The key the server says signs its checkpoints (pin your own copy: see `verify`).
    pub public_key: PublicKey,
    /// The entries, in the server's order.
    pub entries: Vec<Entry>,
    /// The checkpoints.
    pub checkpoints: Vec<Checkpoint>,
}

impl Export {
    /// Assembles the chunks of an `ExportAudit` stream; the first names the public key.
    pub fn from_chunks(chunks: Vec<pb::ExportAuditChunk>) -> Result<Self, FieldError> {
        let mut key = None;
        let mut entries = Vec::new();
        let mut checkpoints = Vec::new();
        for (i, chunk) in chunks.into_iter().enumerate() {
            if !chunk.public_key.is_empty() {
                let k: [u8; 32] = chunk.public_key.as_slice().try_into().map_err(|_| {
                    FieldError::new(
                        format!("chunks[{i}].public_key"),
                        format!("{} bytes, not 32", chunk.public_key.len()),
                    )
                })?;
                key = Some(PublicKey::from_bytes(k));
            }
            for (j, e) in chunk.entries.into_iter().enumerate() {
                entries.push(
                    Entry::try_from(e)
                        .map_err(|e| e.within(&format!("chunks[{i}].entries[{j}]")))?,
                );
            }
            for (j, c) in chunk.checkpoints.into_iter().enumerate() {
                checkpoints.push(
                    Checkpoint::try_from(c)
                        .map_err(|e| e.within(&format!("chunks[{i}].checkpoints[{j}]")))?,
                );
            }
        }
        Ok(Self {
            format: EXPORT_FORMAT.into(),
            public_key: key.ok_or_else(|| FieldError::new("public_key", "no chunk names it"))?,
            entries,
            checkpoints,
        })
    }

    /// Reads an export file's JSON; the error names the field or the format.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let export: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if export.format != EXPORT_FORMAT {
            return Err(format!(
                "format: {:?} is not {EXPORT_FORMAT}",
                export.format
            ));
        }
        Ok(export)
    }

    /// [`verify`] of this export's entries and checkpoints against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<Report, Failure> {
        verify(&self.entries, &self.checkpoints, key)
    }
}
