//! A throwaway CA (rcgen) and a server certificate for 127.0.0.1 and localhost.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA of a test; its certificate is written to `ca.pem` in the folder given.
pub struct TestCa {
    /// The CA certificate (PEM file).
    pub cert: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`, its certificate written to `dir/<name>.pem`.
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("maestro test CA {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, cert.pem())?;
        Ok(Self {
            cert: path,
            issuer: Issuer::new(params, key),
        })
    }

    /// Issues a server certificate for 127.0.0.1 and localhost; writes `dir/server.pem` and
    /// `dir/server-key.pem` and returns their paths.
    pub fn issue_server(&self, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        self.issue_server_for(dir, &["127.0.0.1".to_string(), "localhost".to_string()])
    }

    /// [`Self::issue_server`] for the names and addresses `sans`.
    pub fn issue_server_for(
        &self,
        dir: &Path,
        sans: &[String],
    ) -> anyhow::Result<(PathBuf, PathBuf)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(sans.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "maestro test git server");
        let cert = params.signed_by(&key, &self.issuer)?;
        let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server-key.pem"));
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        Ok((cert_path, key_path))
    }
}
