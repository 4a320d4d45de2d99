use super::*;

const TD: &str = "maestro.example";

fn peer(path: &str) -> PeerIdentity {
    PeerIdentity::parse(&format!("spiffe://{TD}/{path}")).unwrap()
}

fn rule(p: &PeerIdentity, call: Call<'_>, policy: &OperatorPolicy) -> Option<&'static str> {
    authorize(p, TD, &call, policy).err().map(|d| d.rule)
}

#[test]
fn only_maestro_changes_or_reads_intents() {
    let none = OperatorPolicy::default();
    let write = || Call::WriteIntents { domain: "north" };
    assert_eq!(rule(&peer("maestro"), write(), &none), None);
    for p in ["domain/north", "domain/north/site/n1", "operator/alice"] {
        assert_eq!(
            rule(&peer(p), write(), &none),
            Some("intents-from-maestro-only"),
            "{p}"
        );
    }
    let read = Call::ReadIntents { domain: "north" };
    assert_eq!(rule(&peer("maestro"), read.clone(), &none), None);
    assert_eq!(
        rule(&peer("domain/south"), read, &none),
        Some("intents-read-by-maestro-only")
    );
}

#[test]
fn a_domain_registers_only_as_itself() {
    let none = OperatorPolicy::default();
    let call = |d| Call::RegisterDomain { domain: d };
    assert_eq!(rule(&peer("domain/north"), call("north"), &none), None);
    assert_eq!(
        rule(&peer("domain/north"), call("south"), &none),
        Some("domain-registers-as-itself")
    );
    assert_eq!(
        rule(&peer("maestro"), call("north"), &none),
        Some("domain-registers-as-itself")
    );
}

#[test]
fn a_site_pushes_only_its_own_records_to_its_own_domain() {
    let none = OperatorPolicy::default();
    let push = |server_domain, domain, site| Call::PushRecord {
        server_domain,
        domain,
        site,
    };
    let n1 = peer("domain/north/site/n1");
    assert_eq!(rule(&n1, push("north", "north", "n1"), &none), None);
    assert_eq!(
        rule(&n1, push("north", "north", "n2"), &none),
        Some("site-pushes-own-records")
    );
    assert_eq!(
        rule(&n1, push("north", "south", "n1"), &none),
        Some("site-pushes-own-records")
    );
    assert_eq!(
        rule(&n1, push("south", "south", "n1"), &none),
        Some("site-pushes-to-own-domain")
    );
    assert_eq!(
        rule(&peer("domain/north"), push("north", "north", "n1"), &none),
        Some("records-from-sites-only")
    );
    let read = |d| Call::ReadRecords { server_domain: d };
    assert_eq!(rule(&peer("domain/north"), read("north"), &none), None);
    assert_eq!(
        rule(&peer("domain/south"), read("north"), &none),
        Some("records-read-by-own-domain")
    );
    assert_eq!(
        rule(&n1, read("north"), &none),
        Some("records-read-by-own-domain")
    );
}

#[test]
fn commits_are_announced_by_the_domain_and_followed_by_its_sites() {
    let none = OperatorPolicy::default();
    let announce = |d| Call::AnnounceCommit { server_domain: d };
    assert_eq!(rule(&peer("domain/north"), announce("north"), &none), None);
    for p in ["domain/south", "domain/north/site/n1", "maestro"] {
        assert_eq!(
            rule(&peer(p), announce("north"), &none),
            Some("commits-announced-by-own-domain"),
            "{p}"
        );
    }
    let watch = |d| Call::WatchCommits { server_domain: d };
    assert_eq!(
        rule(&peer("domain/north/site/n1"), watch("north"), &none),
        None
    );
    for p in ["domain/south/site/s1", "domain/north", "maestro"] {
        assert_eq!(
            rule(&peer(p), watch("north"), &none),
            Some("commits-watched-by-own-sites"),
            "{p}"
        );
    }
}

#[test]
fn operators_act_by_role_and_scope() {
    let policy: OperatorPolicy = serde_yaml::from_str(
        "operators:\n  alice: { role: admin }\n  bob: { role: operator, domains: [north] }\n  \
         carol: { role: viewer, regions: [eu] }\n",
    )
    .unwrap();
    let north = [Target {
        domain: "north",
        region: "eu",
    }];
    let south = [Target {
        domain: "south",
        region: "us",
    }];
    let op = |verb, targets| Call::Operate { verb, targets };
    let (alice, bob, carol) = (
        peer("operator/alice"),
        peer("operator/bob"),
        peer("operator/carol"),
    );
    assert_eq!(rule(&alice, op(Verb::Admin, &south), &policy), None);
    assert_eq!(rule(&bob, op(Verb::Write, &north), &policy), None);
    assert_eq!(
        rule(&bob, op(Verb::Write, &south), &policy),
        Some("operator-scope")
    );
    assert_eq!(
        rule(&bob, op(Verb::Admin, &north), &policy),
        Some("operator-role")
    );
    assert_eq!(rule(&carol, op(Verb::Read, &north), &policy), None);
    assert_eq!(
        rule(&carol, op(Verb::Write, &north), &policy),
        Some("operator-role")
    );
    assert_eq!(
        rule(&carol, op(Verb::Read, &south), &policy),
        Some("operator-scope")
    );
    assert_eq!(
        rule(&peer("operator/mallory"), op(Verb::Read, &[]), &policy),
        Some("operator-listed")
    );
    assert_eq!(
        rule(&peer("domain/north"), op(Verb::Read, &[]), &policy),
        Some("operator-calls-by-operators")
    );
    assert!(serde_yaml::from_str::<OperatorPolicy>("operators:\n  x: { role: root }\n").is_err());
    assert!(
        serde_yaml::from_str::<OperatorPolicy>("operators:\n  x: { role: admin, sites: [a] }\n")
            .is_err()
    );
}

#[test]
fn maestros_audit_log_is_read_by_unscoped_admins_only() {
    let policy: OperatorPolicy = serde_yaml::from_str(
        "operators:\n  alice: { role: admin }\n  dora: { role: admin, domains: [north] }\n  \
         bob: { role: operator }\n  carol: { role: viewer }\n",
    )
    .unwrap();
    let call = || Call::ReadAudit { domain: None };
    assert_eq!(rule(&peer("operator/alice"), call(), &policy), None);
    for p in ["operator/dora", "operator/bob", "operator/carol"] {
        assert_eq!(
            rule(&peer(p), call(), &policy),
            Some("audit-read-by-admins"),
            "{p}"
        );
    }
    assert_eq!(
        rule(&peer("operator/mallory"), call(), &policy),
        Some("operator-listed")
    );
    for p in ["maestro", "domain/north", "domain/north/site/n1"] {
        assert_eq!(
            rule(&peer(p), call(), &policy),
            Some("audit-read-by-admins"),
            "{p}"
        );
    }
}

#[test]
fn a_domains_audit_log_is_read_by_maestro_and_the_domain_itself() {
    let policy: OperatorPolicy =
        serde_yaml::from_str("operators:\n  alice: { role: admin }\n").unwrap();
    let call = || Call::ReadAudit {
        domain: Some("north"),
    };
    assert_eq!(rule(&peer("maestro"), call(), &policy), None);
    assert_eq!(rule(&peer("domain/north"), call(), &policy), None);
    for p in ["domain/south", "domain/north/site/n1", "operator/alice"] {
        assert_eq!(
            rule(&peer(p), call(), &policy),
            Some("audit-read-by-maestro-or-own-domain"),
            "{p}"
        );
    }
}

#[test]
fn another_trust_domain_is_refused_first() {
    let stranger = PeerIdentity::parse("spiffe://other.example/maestro").unwrap();
    let d = authorize(
        &stranger,
        TD,
        &Call::WriteIntents { domain: "north" },
        &OperatorPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(d.rule, "same-trust-domain");
    assert!(
        d.to_string().contains("refused by rule same-trust-domain"),
        "{d}"
    );
}
