//! A throwaway CA for tests of mutual TLS: it issues certificates naming one `spiffe://`
//! identity each (with `localhost` and `127.0.0.1` for servers) and writes them as the PEM files
//! a component's `tls` settings point at.

use std::path::{Path, PathBuf};

use maestro_common::tls::TlsSettings;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// A CA of trust domain `trust_domain`, its files in a directory of its own.
pub struct TestPki {
    dir: tempfile::TempDir,
    issuer: CertifiedIssuer<'static, KeyPair>,
    trust_domain: String,
}

impl TestPki {
    /// A new CA (a new key: certificates of another `TestPki` do not chain to it).
    pub fn new(trust_domain: &str) -> Self {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("test CA {trust_domain}"));
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().expect("CA key"))
            .expect("self-signed CA");
        let dir = tempfile::tempdir().expect("PKI dir");
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).expect("writing the CA");
        Self {
            dir,
            issuer,
            trust_domain: trust_domain.to_string(),
        }
    }

    /// The CA certificate file.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Issues a certificate for `spiffe://<trust domain>/<path>` (e.g. `maestro`,
    /// `domain/north`, `domain/north/site/n1`, `operator/alice`) and returns TLS settings with
    /// it, its key and this CA.
    pub fn issue(&self, path: &str) -> TlsSettings {
        self.issue_with(path, |_| {})
    }

    /// [`Self::issue`] with an expired certificate.
    pub fn issue_expired(&self, path: &str) -> TlsSettings {
        self.issue_with(path, |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
    }

    /// [`Self::issue`] for an identity of another trust domain (signed by this CA all the same).
    pub fn issue_in(&self, trust_domain: &str, path: &str) -> TlsSettings {
        self.issue_uri(&format!("spiffe://{trust_domain}/{path}"), |_| {})
    }

    /// [`Self::issue`] with the parameters edited before signing.
    pub fn issue_with(&self, path: &str, edit: impl FnOnce(&mut CertificateParams)) -> TlsSettings {
        self.issue_uri(&format!("spiffe://{}/{path}", self.trust_domain), edit)
    }

    fn issue_uri(&self, uri: &str, edit: impl FnOnce(&mut CertificateParams)) -> TlsSettings {
        let path = uri.trim_start_matches("spiffe://");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        p.subject_alt_names = vec![
            SanType::URI(uri.try_into().expect("URI SAN")),
            SanType::DnsName("localhost".try_into().expect("DNS SAN")),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        edit(&mut p);
        let key = KeyPair::generate().expect("leaf key");
        let cert = p.signed_by(&key, &self.issuer).expect("signing");
        let stem = path.replace('/', "-");
        let (cert_path, key_path) = (
            self.dir.path().join(format!("{stem}.pem")),
            self.dir.path().join(format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("writing the certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("writing the key");
        TlsSettings::files(self.ca(), cert_path, key_path)
    }
}
