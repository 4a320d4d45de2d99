//! One order is one trace across every tier. Every process of a federation (maestro, the domain
//! orchestrators, the log servers, the site agents with their reconcilers) and `maestroctl`
//! export their spans over OTLP to an in-process collector (the OpenTelemetry protocol's own
//! trace service); the order goes `maestroctl` → maestro → domain (gRPC metadata) → Git (commit
//! trailer) → blueprint (annotation) → site agent → reconciler → status record → log server →
//! domain → maestro. The test asserts that spans of every tier carry the order's trace id and
//! form one tree: one root (maestroctl's), every other span's parent among them.

use maestro_proto::order::v1::OrderState;
use maestro_tests::nodes::ProcessFederation;
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs, workload_cleanup};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    metrics_service_server::{MetricsService, MetricsServiceServer},
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

/// One exported span: its service, name, ids.
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Exported>>>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push(Exported {
                        service: service.clone(),
                        name: s.name,
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        _request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// The tiers an order passes, each as (service, span name).
const TIERS: [(&str, &str); 10] = [
    ("maestroctl", "order.create"),
    ("maestro", "order.create"),
    ("maestro", "intent.deliver"),
    ("domain-orchestrator", "intent.apply"),
    ("domain-orchestrator", "intent.reconcile"),
    ("site-agent", "blueprint.apply"),
    ("site-agent", "blueprint.converge"),
    ("log-server", "status.ingest"),
    ("domain-orchestrator", "status.follow"),
    ("maestro", "order.rollup"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_is_one_trace_across_every_tier() -> anyhow::Result<()> {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    // Every process this test starts exports here, in batches every 100 ms.
    let env: Vec<(std::ffi::OsString, std::ffi::OsString)> = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            format!("http://{addr}").into(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
    ];
    let service = format!("traced-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start_with_env(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
        &env,
        |_, _, _| {},
    )?;
    let result = with_logs(&fed, async {
        orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
        let order_file = dir.path().join("order.yaml");
        std::fs::write(
            &order_file,
            format!(
                "orderItem:\n  - id: \"1\"\n    action: add\n    service:\n      name: {service}\n      serviceSpecification: {{ id: demo-app }}\n      serviceCharacteristic:\n        - {{ name: message, value: traced }}\n    placement: {{ domains: [north] }}\n"
            ),
        )?;
        let created = fed.maestroctl_json(
            maestro_tests::node_bin!(),
            &["order".as_ref(), "create".as_ref(), "-f".as_ref(), order_file.as_os_str()],
            &env,
        )?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no order id in {created}"))?
            .to_string();
        let (done, _) = orders::watch_until_final(&fed.api, &id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");

        // The order's trace id is the one of maestroctl's root span.
        let spans = maestro_testkit::wait::until("a span of every tier", TIMEOUT, async || {
            let spans = collector.spans.lock().unwrap().clone();
            let Some(root) = spans
                .iter()
                .find(|s| s.service == "maestroctl" && s.name == "order.create")
            else {
                return Ok(None);
            };
            let trace: Vec<Exported> = spans
                .iter()
                .filter(|s| s.trace_id == root.trace_id)
                .cloned()
                .collect();
            let all = TIERS
                .iter()
                .all(|(svc, name)| trace.iter().any(|s| s.service == *svc && s.name == *name));
            Ok(all.then_some(trace))
        })
        .await
        .map_err(|e| {
            let seen: BTreeSet<(String, String)> = collector
                .spans
                .lock()
                .unwrap()
                .iter()
                .map(|s| (s.service.clone(), s.name.clone()))
                .collect();
            anyhow::anyhow!("{e}; spans seen: {seen:?}")
        })?;
        let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
        let roots: Vec<&Exported> = spans.iter().filter(|s| s.parent.is_empty()).collect();
        anyhow::ensure!(
            roots.len() == 1 && roots[0].service == "maestroctl",
            "one root, maestroctl's: {roots:#?}"
        );
        let orphans: Vec<&Exported> = spans
            .iter()
            .filter(|s| !s.parent.is_empty() && !ids.contains(s.parent.as_str()))
            .collect();
        anyhow::ensure!(orphans.is_empty(), "every parent is in the trace: {orphans:#?}");
        let per_service: BTreeMap<&str, usize> = spans.iter().fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.service.as_str()).or_default() += 1;
            m
        });
        eprintln!("trace {}: {per_service:?}", spans[0].trace_id);
        Ok(())
    })
    .await;
    server.abort();
    result
}
