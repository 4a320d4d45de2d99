//! A request that does not decode is the caller's fault: `INVALID_ARGUMENT`, not `INTERNAL`.
//!
//! tonic decodes a request inside the generated service, before any handler runs, and its
//! Protobuf codec reports every failure (a truncated message, a string that is not UTF-8, a
//! message nested deeper than prost's recursion limit) as `INTERNAL`, as do its own framing
//! errors (a body that ends inside a frame, no message at all, a bad compression flag).
//!
//! Why here and not in a codec: the generated code uses one codec for both sides, and in a
//! client a reply that does not decode is *not* the caller's fault (maestro would then take a
//! domain's garbled reply for a permanent refusal). Only servers run [`super::serve_with`], so
//! the rewrite sits around its routes, for every Maestro server at once: a reply whose status
//! is `INTERNAL` with one of the fixed texts tonic and prost give a request that does not
//! decode becomes `INVALID_ARGUMENT`, with the field path prost reports (outermost first) and
//! what was wrong. Handlers never produce these texts; tests against real servers pin them, so
//! an upgrade that changes them fails the tests instead of silently reverting to `INTERNAL`.

use http::Response;
use tonic::{Code, Status};

/// What prost's `DecodeError` says first.
const PROST_PREFIX: &str = "failed to decode Protobuf message: ";
/// What tonic says when a request body is malformed as gRPC framing.
const FRAMING: &[&str] = &[
    "Unexpected EOF decoding stream.",
    "Missing request message.",
    "protocol error: received message with",
    "Error decompressing:",
];

/// Rewrites a reply whose status says the request did not decode (see the module docs);
/// passes every other reply unchanged.
pub fn invalid_argument_for_malformed<B>(mut response: Response<B>) -> Response<B> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() != Code::Internal {
        return response;
    }
    let Some(message) = describe(status.message()) else {
        return response;
    };
    let headers = response.headers_mut();
    headers.remove("grpc-message");
    headers.remove("grpc-status-details-bin");
    // Cannot fail: the message is ours and valid UTF-8 (it is percent-encoded).
    let _ = Status::invalid_argument(message).add_header(headers);
    response
}

/// The caller-facing description of a decode failure, `None` when `message` is not one.
fn describe(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix(PROST_PREFIX) {
        return Some(describe_prost(rest));
    }
    FRAMING
        .iter()
        .any(|f| message.starts_with(f))
        .then(|| format!("malformed request: {message}"))
}

/// prost lists the fields innermost first (`Inner.field: Outer.field: what`); callers read a
/// path outermost first (`Outer.field.field: what`). A recursive message is cut where its type
/// repeats, so the path stays short however deep the input went.
fn describe_prost(mut rest: &str) -> String {
    let mut frames: Vec<(&str, &str)> = Vec::new();
    while let Some((head, tail)) = rest.split_once(": ") {
        let Some(frame) = head
            .split_once('.')
            .filter(|(m, f)| is_ident(m) && is_ident(f))
        else {
            break;
        };
        frames.push(frame);
        rest = tail;
    }
    let what = rest;
    let mut seen: Vec<&str> = Vec::new();
    let mut path = String::new();
    for (message, field) in frames.into_iter().rev() {
        if seen.contains(&message) {
            path.push_str("...");
            break;
        }
        if path.is_empty() {
            path.push_str(message);
        }
        seen.push(message);
        path.push('.');
        path.push_str(field);
    }
    let what = if what == "recursion limit reached" {
        format!(
            "nested too deep to decode (values may nest at most {} levels)",
            crate::json::MAX_VALUE_DEPTH
        )
    } else {
        what.to_string()
    };
    if path.is_empty() {
        format!("malformed request: {what}")
    } else {
        format!("malformed request: {path}: {what}")
    }
}

/// A message or field name as prost reports it.
fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(status: Status) -> Status {
        let response: Response<()> = status.into_http();
        Status::from_header_map(invalid_argument_for_malformed(response).headers()).unwrap()
    }

    #[test]
    fn prost_errors_name_the_field_outermost_first() {
        let s = rewritten(Status::internal(
            "failed to decode Protobuf message: OrderSpec.description: \
             CreateOrderRequest.order: invalid string value: data is not UTF-8 encoded",
        ));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "malformed request: CreateOrderRequest.order.description: \
             invalid string value: data is not UTF-8 encoded"
        );
    }

    #[test]
    fn recursion_is_cut_where_the_type_repeats() {
        let mut stack = vec!["Value.kind: ListValue.values:"; 50].join(" ");
        stack.push_str(" Characteristic.value: CreateOrderRequest.order");
        let s = rewritten(Status::internal(format!(
            "failed to decode Protobuf message: {stack}: recursion limit reached"
        )));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "malformed request: CreateOrderRequest.order.value.values.kind...: \
             nested too deep to decode (values may nest at most 32 levels)"
        );
    }

    #[test]
    fn framing_errors_are_the_callers() {
        let s = rewritten(Status::internal("Unexpected EOF decoding stream."));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("Unexpected EOF"), "{}", s.message());
    }

    #[test]
    fn other_statuses_pass_unchanged() {
        for status in [
            Status::internal("database: disk full"),
            Status::not_found("failed to decode Protobuf message: not a decode error"),
            Status::ok(""),
        ] {
            let code = status.code();
            let message = status.message().to_string();
            let s = rewritten(status);
            assert_eq!((s.code(), s.message()), (code, message.as_str()));
        }
    }
}
