//! Mutual TLS and authorization at maestro: domains register and heartbeat only as themselves
//! (no one else can move a domain's endpoint); operators act by role and scope from the policy
//! file; everyone else is refused, and a refused order stores nothing.

mod support;

use maestro_common::tls::{TlsSettings, TlsSource};
use maestro_proto::domain::v1 as dpb;
use maestro_proto::order::v1 as pb;
use maestro_testkit::pki::TestPki;
use pb::ItemAction;
use support::{catalog_dir, item, order, text};
use tonic::Code;
use tonic::transport::Channel;

struct Clients {
    orders: pb::order_service_client::OrderServiceClient<Channel>,
    domains: dpb::domain_registry_client::DomainRegistryClient<Channel>,
}

fn clients(url: &str, tls: &TlsSettings) -> Clients {
    let tls = TlsSource::load(tls).unwrap().unwrap();
    let ch = maestro_common::grpc::channel_with(
        url,
        Some(&tls),
        Some(maestro_common::identity::Role::Maestro),
    )
    .unwrap();
    Clients {
        orders: pb::order_service_client::OrderServiceClient::new(ch.clone()),
        domains: dpb::domain_registry_client::DomainRegistryClient::new(ch),
    }
}

fn refused_by(status: &tonic::Status, rule: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains(rule),
        "{status:?} names rule {rule}"
    );
}

fn register(id: &str, endpoint: &str, region: &str) -> dpb::RegisterDomainRequest {
    dpb::RegisterDomainRequest {
        id: id.into(),
        endpoint: endpoint.into(),
        region: region.into(),
        sites: vec!["s1".into()],
        ..Default::default()
    }
}

fn demo(key: &str, domain: &str) -> pb::CreateOrderRequest {
    order(
        key,
        vec![item(
            "1",
            ItemAction::Add,
            &format!("web-{domain}"),
            &[domain],
            &[("message", text("hi"))],
        )],
    )
}

#[tokio::test]
async fn identities_decide_who_registers_and_who_orders() {
    let pki = TestPki::new("mines.example");
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_dir();
    let policy = dir.path().join("operators.yaml");
    std::fs::write(
        &policy,
        "operators:\n  alice: {role: admin}\n  victor: {role: viewer}\n  \
         olga: {role: operator, domains: [north]}\n",
    )
    .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = maestro::run(
        maestro::Config {
            tls: pki.issue("maestro"),
            operator_policy: Some(policy),
            ..support::config(&dir.path().join("data"), catalog.path())
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let url = format!("https://{}", running.addr);

    // Domains register as themselves only; south cannot move north's endpoint.
    let mut north = clients(&url, &pki.issue("domain/north"));
    let mut south = clients(&url, &pki.issue("domain/south"));
    north
        .domains
        .register_domain(register("north", "https://127.0.0.1:1", "eu"))
        .await
        .unwrap();
    south
        .domains
        .register_domain(register("south", "https://127.0.0.1:2", "us"))
        .await
        .unwrap();
    let e = south
        .domains
        .register_domain(register("north", "https://127.0.0.1:666", "eu"))
        .await
        .unwrap_err();
    refused_by(&e, "domain-registers-as-itself");
    let e = south
        .domains
        .heartbeat(dpb::HeartbeatRequest {
            id: "north".into(),
            capacity: None,
        })
        .await
        .unwrap_err();
    refused_by(&e, "domain-registers-as-itself");
    let mut alice = clients(&url, &pki.issue("operator/alice"));
    let listed = alice
        .domains
        .list_domains(dpb::ListDomainsRequest {})
        .await
        .unwrap()
        .into_inner();
    let endpoint = |id: &str| {
        listed
            .domains
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.endpoint.clone())
            .unwrap()
    };
    assert_eq!(
        endpoint("north"),
        "https://127.0.0.1:1",
        "north's endpoint unchanged"
    );

    // A viewer reads but does not order; an operator orders only in its scope; an operator not
    // in the policy, a domain and a site do nothing.
    let mut victor = clients(&url, &pki.issue("operator/victor"));
    victor
        .orders
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap();
    refused_by(
        &victor
            .orders
            .create_order(demo("k1", "north"))
            .await
            .unwrap_err(),
        "operator-role",
    );
    let mut olga = clients(&url, &pki.issue("operator/olga"));
    refused_by(
        &olga
            .orders
            .create_order(demo("k2", "south"))
            .await
            .unwrap_err(),
        "operator-scope",
    );
    let mut mallory = clients(&url, &pki.issue("operator/mallory"));
    refused_by(
        &mallory
            .orders
            .list_orders(pb::ListOrdersRequest::default())
            .await
            .unwrap_err(),
        "operator-listed",
    );
    refused_by(
        &north
            .orders
            .create_order(demo("k3", "north"))
            .await
            .unwrap_err(),
        "operator-calls-by-operators",
    );
    let mut site = clients(&url, &pki.issue("domain/north/site/s1"));
    refused_by(
        &site
            .orders
            .list_orders(pb::ListOrdersRequest::default())
            .await
            .unwrap_err(),
        "operator-calls-by-operators",
    );
    let all = alice
        .orders
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap();
    assert!(
        all.into_inner().orders.is_empty(),
        "no refused order was stored"
    );

    // Olga orders in north; the admin sees every order, olga only hers, in scope.
    let north_order = olga
        .orders
        .create_order(demo("k4", "north"))
        .await
        .unwrap()
        .into_inner();
    let south_order = alice
        .orders
        .create_order(demo("k5", "south"))
        .await
        .unwrap()
        .into_inner();
    let ids = |r: pb::ListOrdersResponse| r.orders.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let seen = ids(olga
        .orders
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner());
    assert_eq!(seen, vec![north_order.order.as_ref().unwrap().id.clone()]);
    let south_id = south_order.order.unwrap().id;
    let e = olga
        .orders
        .get_order(pb::GetOrderRequest {
            id: south_id.clone(),
        })
        .await
        .unwrap_err();
    refused_by(&e, "operator-scope");
    let e = olga
        .orders
        .cancel_order(pb::CancelOrderRequest {
            id: south_id,
            reason: "mine".into(),
        })
        .await
        .unwrap_err();
    refused_by(&e, "operator-scope");
    // Replaying another's idempotency key does not reveal that order.
    refused_by(
        &olga
            .orders
            .create_order(demo("k5", "north"))
            .await
            .unwrap_err(),
        "operator-scope",
    );

    shutdown.cancel();
    maestro_testkit::within("maestro to stop", support::WAIT, running.task)
        .await
        .unwrap()
        .unwrap();
}
