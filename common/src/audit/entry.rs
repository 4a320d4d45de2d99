//! One audit entry, its bounded parts, and the canonical encoding its hash covers.

use std::fmt;

use crate::access::Access;

/// Most bytes of `who`.
pub const MAX_WHO_BYTES: usize = 256;
/// Most bytes of a call name.
pub const MAX_CALL_BYTES: usize = 64;
/// Most targets of one entry (more are dropped, the last kept one says how many).
pub const MAX_TARGETS: usize = 16;
/// Most bytes of a target's kind.
pub const MAX_KIND_BYTES: usize = 32;
/// Most bytes of a target's id.
pub const MAX_ID_BYTES: usize = 256;
/// Most bytes of a result's code.
pub const MAX_CODE_BYTES: usize = 32;
/// Most bytes of a result's message.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// What `who` says when the server checks no identities (`tls.insecure`).
pub const ANONYMOUS: &str = "anonymous";
/// What `who` says when a checked caller presented no usable identity.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// Domain separation of the entry encoding: no other hashed or signed message starts so.
const ENTRY_TAG: &[u8] = b"maestro.audit.entry/v1\0";

/// A SHA-256 value (an entry's hash), written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The `prev` of the first entry: 32 zero bytes.
    pub const GENESIS: Self = Self([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut d = [0u8; 32];
        d.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        Self(d)
    }

    /// Reads 32 bytes; the error names `field`.
    pub fn from_slice(field: &str, bytes: &[u8]) -> Result<Self, crate::FieldError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| crate::FieldError::new(field, format!("{} bytes, not 32", bytes.len())))
    }

    /// Parses 64 hex digits; the error names `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, crate::FieldError> {
        let mut d = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut d)
            .map_err(|_| crate::FieldError::new(field, "not 64 hex digits"))?;
        Ok(Self(d))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse("hash", &text).map_err(|e| serde::de::Error::custom(e.reason))
    }
}

/// `text` with every forbidden character escaped (`\u{1b}`) and cut to `max` bytes (marked `…`).
fn bounded(text: &str, max: usize) -> String {
    let escaped: String = if text.chars().any(crate::text::is_forbidden) {
        text.chars()
            .map(|c| {
                if crate::text::is_forbidden(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_string()
    };
    crate::text::truncated(&escaped, max)
}

/// What a call acted on: a kind (`order`, `intent`, `domain`, `idempotency_key`, …) and an id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// What the id names.
    pub kind: String,
    /// The id, as the request gave it (escaped and cut).
    pub id: String,
}

impl Target {
    /// A target of `kind` named `id`; both escaped and cut to their bounds.
    pub fn new(kind: &str, id: &str) -> Self {
        Self {
            kind: bounded(kind, MAX_KIND_BYTES),
            id: bounded(id, MAX_ID_BYTES),
        }
    }
}

/// How a call ended: `OK`, or a gRPC code's name and the message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// `OK` or e.g. `PERMISSION_DENIED`.
    pub code: String,
    /// The error's message (escaped and cut); empty for `OK`.
    pub message: String,
}

impl Outcome {
    /// The call succeeded.
    pub fn ok() -> Self {
        Self {
            code: "OK".into(),
            message: String::new(),
        }
    }

    /// The call was answered with `status`.
    pub fn of_status(status: &tonic::Status) -> Self {
        Self {
            code: code_name(status.code()).into(),
            message: bounded(status.message(), MAX_MESSAGE_BYTES),
        }
    }

    /// The outcome of a handler's `result`.
    pub fn of<T>(result: &Result<T, tonic::Status>) -> Self {
        match result {
            Ok(_) => Self::ok(),
            Err(status) => Self::of_status(status),
        }
    }

    /// Whether the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.code == "OK"
    }
}

/// The canonical name of a gRPC code.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// What a handler hands to the log: everything of an entry but its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The caller ([`who_of`]).
    pub who: String,
    /// The call, e.g. `CreateOrder`.
    pub call: String,
    /// What it acted on.
    pub targets: Vec<Target>,
    /// How it ended.
    pub outcome: Outcome,
}

impl Record {
    /// A record with every part bounded: `who` and `call` escaped and cut, at most
    /// [`MAX_TARGETS`] targets (the last of them counts the ones left out).
    pub fn new(who: &str, call: &str, mut targets: Vec<Target>, outcome: Outcome) -> Self {
        if targets.len() > MAX_TARGETS {
            let left_out = targets.len() - (MAX_TARGETS - 1);
            targets.truncate(MAX_TARGETS - 1);
            targets.push(Target::new("more", &left_out.to_string()));
        }
        Self {
            who: bounded(who, MAX_WHO_BYTES),
            call: bounded(call, MAX_CALL_BYTES),
            targets,
            outcome: Outcome {
                code: bounded(&outcome.code, MAX_CODE_BYTES),
                message: bounded(&outcome.message, MAX_MESSAGE_BYTES),
            },
        }
    }
}

/// Who made `request`: the URI of its authenticated identity; [`ANONYMOUS`] when `access`
/// checks no identities; [`UNAUTHENTICATED`] when it does and the caller has none. Never a
/// field of the request.
pub fn who_of<T>(access: &Access, request: &tonic::Request<T>) -> String {
    if !access.is_checked() {
        return ANONYMOUS.into();
    }
    match crate::tls::peer_identity(request) {
        Ok(peer) => peer.to_uri(),
        Err(_) => UNAUTHENTICATED.into(),
    }
}

/// One entry of the log: a [`Record`] with its sequence number, time and place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1, 2, 3, …
    pub seq: u64,
    /// When the call was answered (ms since the epoch; never less than the previous entry's).
    pub time_ms: i64,
    /// The caller's identity URI.
    pub who: String,
    /// The call.
    pub call: String,
    /// What it acted on.
    pub targets: Vec<Target>,
    /// How it ended.
    pub outcome: Outcome,
    /// The previous entry's hash ([`Digest::GENESIS`] for the first).
    pub prev: Digest,
    /// SHA-256 of [`Entry::canonical`].
    pub hash: Digest,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Fields are bounded far below 4 GiB; a longer one could not have been built by Record.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Entry {
    /// Makes entry `seq` of `record`, at `time_ms`, after the entry hashed `prev`.
    pub fn new(seq: u64, time_ms: i64, prev: Digest, record: Record) -> Self {
        let mut entry = Self {
            seq,
            time_ms,
            who: record.who,
            call: record.call,
            targets: record.targets,
            outcome: record.outcome,
            prev,
            hash: Digest::GENESIS,
        };
        entry.hash = entry.computed_hash();
        entry
    }

    /// The bytes the hash covers, in this order, every integer big-endian and every string as
    /// a 4-byte length followed by its UTF-8 bytes (so no two entries encode alike):
    ///
    /// ```text
    /// "maestro.audit.entry/v1" 0x00 | seq u64 | time_ms i64 | prev (32 bytes)
    /// | who | call | number of targets u32 | (kind | id) per target | code | message
    /// ```
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.message_len());
        out.extend_from_slice(ENTRY_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out.extend_from_slice(&self.prev.0);
        put_str(&mut out, &self.who);
        put_str(&mut out, &self.call);
        let n = u32::try_from(self.targets.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for t in &self.targets {
            put_str(&mut out, &t.kind);
            put_str(&mut out, &t.id);
        }
        put_str(&mut out, &self.outcome.code);
        put_str(&mut out, &self.outcome.message);
        out
    }

    fn message_len(&self) -> usize {
        self.who.len() + self.call.len() + self.outcome.message.len()
    }

    /// SHA-256 of [`Entry::canonical`]: what `hash` must be.
    pub fn computed_hash(&self) -> Digest {
        Digest::of(&self.canonical())
    }

    /// `kind:id` of every target, comma-separated (for tables).
    pub fn targets_text(&self) -> String {
        self.targets
            .iter()
            .map(|t| format!("{}:{}", t.kind, t.id))
            .collect::<Vec<_>>()
            .join(",")
    }
}
