//! `audit list|export|verify`: maestro's audit log. Verification runs here, on what the server
//! sent (or on an export file), against a key the operator pins: the server is not trusted to
//! say its own log is intact.

use crate::args::AuditCommand;
use crate::client::MaestroClient;
use crate::error::{CliError, CliResult};
use crate::output::{self, Output};
use crate::table::Table;
use maestro_common::audit::{Digest, Entry, Export, Failure, Report};
use maestro_common::manifest::PublicKey;
use maestro_proto::audit::v1::{ExportAuditRequest, ListAuditEntriesRequest};
use std::path::Path;

/// Most bytes of an export file read by `verify --file`.
const MAX_EXPORT_FILE_BYTES: u64 = 1024 * 1024 * 1024;

/// Runs an `audit` command; `client` connects to maestro when the command needs it.
pub async fn run(
    cmd: AuditCommand,
    client: impl FnOnce() -> CliResult<(MaestroClient, Output)>,
) -> CliResult<()> {
    match cmd {
        AuditCommand::List {
            who,
            what,
            since,
            until,
            limit,
        } => {
            let (c, out) = client()?;
            let request = ListAuditEntriesRequest {
                who: who.unwrap_or_default(),
                what: what.unwrap_or_default(),
                since_ms: since.unwrap_or(0).max(0),
                until_ms: until.unwrap_or(0).max(0),
                page_size: 500,
                page_token: String::new(),
            };
            let entries = list(&c, request, limit as usize).await?;
            super::emit(&render(&entries, out));
            Ok(())
        }
        AuditCommand::Export => {
            let (c, _) = client()?;
            let export = fetch(&c).await?;
            let text = serde_json::to_string_pretty(&export)
                .map_err(|e| CliError::Failed(format!("rendering the export: {e}")))?;
            super::emit(&format!("{text}\n"));
            Ok(())
        }
        AuditCommand::Verify {
            file,
            public_key,
            expect_key,
            expect_head,
        } => {
            let pinned = match (&public_key, &expect_key) {
                (Some(f), _) => Some(crate::keys::public_key(f).map_err(CliError::Invalid)?),
                (None, Some(k)) => Some(parse_key(k)?),
                (None, None) => None,
            };
            let head = expect_head.as_deref().map(parse_head).transpose()?;
            let (export, out) = match &file {
                Some(f) => (read_export(f)?, client().map_or(Output::Table, |(_, o)| o)),
                None => {
                    let (c, out) = client()?;
                    (fetch(&c).await?, out)
                }
            };
            verify(&export, pinned, head, out)
        }
    }
}

/// Pages through ListAuditEntries until `limit` entries or the end.
async fn list(
    client: &MaestroClient,
    mut request: ListAuditEntriesRequest,
    limit: usize,
) -> CliResult<Vec<Entry>> {
    let mut entries = Vec::new();
    loop {
        let page = client
            .call(client.audit().list_audit_entries(request.clone()))
            .await?;
        for e in page.entries {
            if entries.len() >= limit {
                return Ok(entries);
            }
            entries.push(Entry::try_from(e).map_err(|e| {
                CliError::Failed(format!("maestro sent an invalid audit entry: {e}"))
            })?);
        }
        if page.next_page_token.is_empty() || entries.len() >= limit {
            return Ok(entries);
        }
        request.page_token = page.next_page_token;
    }
}

/// The whole log as maestro exports it.
async fn fetch(client: &MaestroClient) -> CliResult<Export> {
    let mut stream = client
        .call(client.audit().export_audit(ExportAuditRequest {}))
        .await?;
    let mut chunks = Vec::new();
    loop {
        let next = tokio::time::timeout(client.timeout(), stream.message())
            .await
            .map_err(|_| {
                CliError::Unavailable(format!(
                    "maestro: the audit export stalled for {:?}",
                    client.timeout()
                ))
            })?;
        match next {
            Ok(Some(chunk)) => chunks.push(chunk),
            Ok(None) => break,
            Err(status) => return Err(CliError::from_status("maestro", &status)),
        }
    }
    Export::from_chunks(chunks)
        .map_err(|e| CliError::Failed(format!("maestro sent an invalid audit export: {e}")))
}

fn read_export(path: &Path) -> CliResult<Export> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| CliError::Invalid(format!("{shown}: {e}")))?;
    if meta.len() > MAX_EXPORT_FILE_BYTES {
        return Err(CliError::Invalid(format!(
            "{shown}: larger than {MAX_EXPORT_FILE_BYTES} bytes"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| CliError::Invalid(format!("{shown}: {e}")))?;
    Export::parse(&bytes).map_err(|e| CliError::Invalid(format!("{shown}: {e}")))
}

/// A public key as 64 hex digits or base64 of its 32 bytes.
fn parse_key(text: &str) -> CliResult<PublicKey> {
    use base64::Engine;
    let text = text.trim();
    if let Ok(k) = PublicKey::parse("--expect-key", text) {
        return Ok(k);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            CliError::Invalid("--expect-key: neither 64 hex digits nor base64".to_string())
        })?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        CliError::Invalid(format!(
            "--expect-key: {} bytes, an ed25519 public key has 32",
            bytes.len()
        ))
    })?;
    Ok(PublicKey::from_bytes(bytes))
}

/// `SEQ:HASH`.
fn parse_head(text: &str) -> CliResult<(u64, Digest)> {
    let bad = || CliError::Invalid(format!("--expect-head: {text:?} is not SEQ:HASH"));
    let (seq, hash) = text.split_once(':').ok_or_else(bad)?;
    let seq = seq.trim().parse::<u64>().map_err(|_| bad())?;
    let hash =
        Digest::parse("--expect-head", hash).map_err(|e| CliError::Invalid(e.to_string()))?;
    Ok((seq, hash))
}

/// What `verify` prints as JSON or YAML.
#[derive(Debug, serde::Serialize)]
struct Verdict<'a> {
    ok: bool,
    public_key: String,
    key_pinned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a Failure>,
}

/// Checks `export` against the pinned key (or, said so on stderr, the key it names) and the
/// expected head; prints the outcome and fails (exit 1) on the first bad entry.
fn verify(
    export: &Export,
    pinned: Option<PublicKey>,
    head: Option<(u64, Digest)>,
    out: Output,
) -> CliResult<()> {
    let key = match pinned {
        Some(k) if k != export.public_key => {
            return Err(CliError::Failed(format!(
                "audit verification FAILED: the log names audit key {}, not the expected {k}",
                export.public_key
            )));
        }
        Some(k) => k,
        None => {
            super::note(&format!(
                "warning: no audit key pinned (--public-key or --expect-key): checking against the key the log names, {}",
                export.public_key
            ));
            export.public_key
        }
    };
    let result = export.verify(&key);
    if out != Output::Table {
        let verdict = Verdict {
            ok: result.is_ok(),
            public_key: key.to_string(),
            key_pinned: pinned.is_some(),
            report: result.as_ref().ok(),
            failure: result.as_ref().err(),
        };
        super::emit(&output::structured(&verdict, out));
    }
    let report =
        result.map_err(|f| CliError::Failed(format!("audit verification FAILED at {f}")))?;
    if let Some((seq, hash)) = head {
        match export.entries.iter().find(|e| e.seq == seq) {
            Some(e) if e.hash == hash => {}
            Some(e) => {
                return Err(CliError::Failed(format!(
                    "audit verification FAILED at entry {seq}: expected head {hash}, the log has {}: history was rewritten",
                    e.hash
                )));
            }
            None => {
                return Err(CliError::Failed(format!(
                    "audit verification FAILED at entry {seq}: the expected head is not in the log (it ends at {}): entries were removed",
                    report.head_seq
                )));
            }
        }
    }
    if out == Output::Table {
        super::emit(&format!(
            "OK: {} entries, {} checkpoints; signed through entry {}, {} unsigned after it\nhead {}:{}\n",
            report.entries,
            report.checkpoints,
            report.signed_through,
            report.unsigned_tail,
            report.head_seq,
            report.head
        ));
    }
    Ok(())
}

/// Entries as a table or JSON/YAML.
fn render(entries: &[Entry], out: Output) -> String {
    if out != Output::Table {
        return output::structured(entries, out);
    }
    let mut t = Table::new(&["SEQ", "TIME", "WHO", "CALL", "TARGETS", "RESULT"]);
    for e in entries {
        let result = if e.outcome.message.is_empty() {
            e.outcome.code.clone()
        } else {
            format!("{}: {}", e.outcome.code, e.outcome.message)
        };
        t.row(vec![
            e.seq.to_string(),
            maestro_common::time::rfc3339(e.time_ms),
            e.who.clone(),
            e.call.clone(),
            e.targets_text(),
            result,
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_as_hex_or_base64_and_heads_as_seq_colon_hash() {
        let hex_key = "11".repeat(32);
        let k = parse_key(&hex_key).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode([0x11u8; 32]);
        assert_eq!(parse_key(&b64).unwrap(), k);
        assert!(parse_key("abc").is_err());
        let (seq, hash) = parse_head(&format!("7:{}", "ab".repeat(32))).unwrap();
        assert_eq!(seq, 7);
        assert_eq!(hash.to_string(), "ab".repeat(32));
        assert!(parse_head("7").is_err());
        assert!(parse_head("x:ab").is_err());
    }
}
