use super::*;

fn cert_with_uris(uris: &[&str]) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = uris
        .iter()
        .map(|u| rcgen::SanType::URI(rcgen::string::Ia5String::try_from(*u).unwrap()))
        .collect();
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn every_role_round_trips() {
    for uri in [
        "spiffe://maestro.example/maestro",
        "spiffe://maestro.example/domain/north",
        "spiffe://maestro.example/domain/north/site/north-1",
        "spiffe://maestro.example/operator/alice",
    ] {
        let id = PeerIdentity::parse(uri).unwrap();
        assert_eq!(id.to_uri(), uri);
        assert_eq!(id.trust_domain, "maestro.example");
    }
    let site = PeerIdentity::parse("spiffe://td/domain/north/site/n1").unwrap();
    assert_eq!(
        site.role,
        Role::Site {
            domain: ResourceName::parse("d", "north").unwrap(),
            site: ResourceName::parse("s", "n1").unwrap(),
        }
    );
}

#[test]
fn malformed_identities_are_refused_with_the_reason() {
    for (uri, needle) in [
        ("https://td/maestro", "spiffe://"),
        ("spiffe://td", "no path"),
        ("spiffe://TD/maestro", "trust domain"),
        ("spiffe:///maestro", "trust domain"),
        ("spiffe://td/domain/../site/x", "domain"),
        ("spiffe://td/domain/a/b/c", "path must be"),
        ("spiffe://td/domain/north/site/n1/extra", "path must be"),
        ("spiffe://td/operator/al%2Fice", "operator"),
        ("spiffe://td/maestro?x=1", "query"),
        ("spiffe://td/domain/nor\u{0}th", "domain"),
        ("spiffe://td/admin", "path must be"),
    ] {
        let e = PeerIdentity::parse(uri).unwrap_err().to_string();
        assert!(e.contains(needle), "{uri}: {e}");
    }
}

#[test]
fn a_certificate_names_exactly_one_identity() {
    let one = cert_with_uris(&["spiffe://td/domain/north"]);
    assert_eq!(
        PeerIdentity::from_certificate(&one).unwrap().to_uri(),
        "spiffe://td/domain/north"
    );
    // Other URI SANs are ignored; only spiffe:// ones count.
    let mixed = cert_with_uris(&["https://example.org/x", "spiffe://td/maestro"]);
    assert_eq!(
        PeerIdentity::from_certificate(&mixed).unwrap().role,
        Role::Maestro
    );
    assert_eq!(
        PeerIdentity::from_certificate(&cert_with_uris(&[])),
        Err(IdentityError::Missing)
    );
    let two = cert_with_uris(&["spiffe://td/maestro", "spiffe://td/domain/north"]);
    assert_eq!(
        PeerIdentity::from_certificate(&two),
        Err(IdentityError::Ambiguous(2))
    );
    let bad = cert_with_uris(&["spiffe://td/domain/a/b"]);
    assert!(matches!(
        PeerIdentity::from_certificate(&bad),
        Err(IdentityError::Malformed { .. })
    ));
    assert!(matches!(
        PeerIdentity::from_certificate(b"not a certificate"),
        Err(IdentityError::Certificate(_))
    ));
}
