//! W3C trace context across the hops of an order, so one order is one trace: `maestroctl` →
//! maestro → domain in gRPC metadata (`traceparent`), then in the data that carries the order
//! down — the intent, the Git commit (a trailer), the blueprint (an annotation), the site's
//! status records — and back up to maestro.
//!
//! A traceparent from outside is data: it is parsed strictly (`00-<32 hex>-<16 hex>-<2 hex>`,
//! neither id all zeros) and anything else is ignored, never an error of the call.

use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The gRPC metadata key (and W3C header) of the trace context.
pub const TRACEPARENT: &str = "traceparent";

/// The span context a W3C `traceparent` names; `None` when it is not a valid one.
pub fn parse(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let lower_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if parts.next().is_some()
        || version != "00"
        || !lower_hex(trace, 32)
        || !lower_hex(span, 16)
        || !lower_hex(flags, 2)
    {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let sc = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// The W3C `traceparent` of `sc`.
pub fn format(sc: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    )
}

/// A new random `traceparent` (sampled), for a trace that starts here without an exporter.
pub fn fresh() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

/// The trace id of a valid `traceparent`, as 32 hex digits.
pub fn trace_id(traceparent: &str) -> Option<String> {
    parse(traceparent).map(|sc| sc.trace_id().to_string())
}

/// The `traceparent` of `span` when it is recorded by OpenTelemetry (`None` without an OTLP
/// exporter in this process).
pub fn of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| format(&sc))
}

/// The `traceparent` of the current span, see [`of`].
pub fn current() -> Option<String> {
    of(&tracing::Span::current())
}

/// Makes the span `traceparent` names the parent of `span` (call it right after creating the
/// span). Returns whether it was valid.
pub fn set_parent(span: &tracing::Span, traceparent: &str) -> bool {
    let Some(sc) = parse(traceparent) else {
        return false;
    };
    let _ = span.set_parent(Context::new().with_remote_span_context(sc));
    true
}

/// Adds the current span's trace context to an outgoing request, or `fallback` when the
/// current span is not recorded (a process without an exporter still passes the order's trace
/// on).
pub fn inject<T>(request: &mut tonic::Request<T>, fallback: Option<&str>) {
    let Some(tp) = current().or_else(|| fallback.filter(|f| parse(f).is_some()).map(String::from))
    else {
        return;
    };
    if let Ok(v) = tp.parse() {
        request.metadata_mut().insert(TRACEPARENT, v);
    }
}

/// The valid `traceparent` of an incoming request, if it carries one.
pub fn extract<T>(request: &tonic::Request<T>) -> Option<String> {
    let tp = request.metadata().get(TRACEPARENT)?.to_str().ok()?;
    parse(tp).is_some().then(|| tp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_traceparent_round_trips_and_bad_ones_are_ignored() {
        let sc = parse(TP).unwrap();
        assert_eq!(format(&sc), TP);
        assert_eq!(trace_id(TP).unwrap(), "0af7651916cd43dd8448eb211c80319c");
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            "00-0af7651916cd43dd8448eb211c8031;c-b7ad6b7169203331-01",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_carries_a_valid_traceparent_only() {
        let mut req = tonic::Request::new(());
        inject(&mut req, Some(TP));
        assert_eq!(extract(&req).as_deref(), Some(TP));
        let mut bad = tonic::Request::new(());
        bad.metadata_mut()
            .insert(TRACEPARENT, "00-zz-zz-01".parse().unwrap());
        assert_eq!(extract(&bad), None);
        let mut none = tonic::Request::new(());
        inject(&mut none, Some("garbage"));
        assert!(none.metadata().get(TRACEPARENT).is_none());
    }
}
