//! One test PKI for every test that needs TLS: the template sites (HTTPS downloads), the SMTP
//! relays (STARTTLS, implicit TLS) and whatever comes next.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test CA and a server certificate for 127.0.0.1 that it signed: as PEM (`ca_pem`, and files
/// in a folder of its own for servers that read files, such as mailin) and as DER (`chain`,
/// `key`) for rustls.
pub struct TestPki {
    /// The CA's certificate, PEM: what a client trusts.
    pub ca_pem: String,
    /// The server's certificate, then the CA's.
    pub chain: Vec<CertificateDer<'static>>,
    /// The server's private key, PKCS#8 DER.
    pub key: Vec<u8>,
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A new CA and server certificate; `ca.pem`, `server.pem` and `server.key` written to a
    /// temporary folder that goes with the value.
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            chain: vec![cert.der().clone(), ca.der().clone()],
            key: key.serialize_der(),
            dir,
        }
    }

    /// The folder of the PEM files (a test may put more files there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file of the folder, as a string (`ca.pem`, `server.pem`, `server.key`).
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// The CA's certificate file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A rustls server configuration presenting the server certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        crate::install_crypto_provider();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .unwrap();
        Arc::new(config)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}
