//! Test certificates, generated fresh for each run so that no key is ever checked in and no
//! certificate can expire under the test suite.
//!
//! The set covers each way certificate checking can go wrong: a server certificate signed by
//! the test CA (valid for `localhost` and `127.0.0.1`), an unrelated CA (chain check must fail
//! when only it is trusted), and a certificate from the right CA for the wrong host name (only
//! the host-name check must fail).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// PEM texts of the test PKI.
#[derive(Clone)]
pub struct TestPki {
    /// The CA that signed both server certificates.
    pub ca_pem: String,
    /// For `localhost` and IP `127.0.0.1`, signed by `ca_pem`.
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// A CA that signed nothing here.
    pub wrong_ca_pem: String,
    /// Signed by `ca_pem`, but only for `not-this-host.example`.
    pub wrong_host_cert_pem: String,
    pub wrong_host_key_pem: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

/// Paths of the PEM files written by [`TestPki::write_to`].
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub wrong_host_cert: PathBuf,
    pub wrong_host_key: PathBuf,
}

/// Creates a fresh CA, server certificates and an unrelated CA.
pub fn generate() -> anyhow::Result<TestPki> {
    let (ca_cert, ca_key) = make_ca("Sluice Test CA")?;
    let (wrong_ca_cert, _wrong_ca_key) = make_ca("Unrelated Test CA")?;
    let (server_cert_pem, server_key_pem) =
        make_server(&["localhost", "127.0.0.1"], "localhost", &ca_cert, &ca_key)?;
    let (wrong_host_cert_pem, wrong_host_key_pem) = make_server(
        &["not-this-host.example"],
        "not-this-host.example",
        &ca_cert,
        &ca_key,
    )?;
    Ok(TestPki {
        ca_pem: ca_cert.pem(),
        server_cert_pem,
        server_key_pem,
        wrong_ca_pem: wrong_ca_cert.pem(),
        wrong_host_cert_pem,
        wrong_host_key_pem,
    })
}

impl TestPki {
    /// Writes every PEM to `dir` (keys with mode 0600, as servers require).
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<PkiFiles> {
        let files = PkiFiles {
            ca: write_pem(dir, "ca.pem", &self.ca_pem, false)?,
            wrong_ca: write_pem(dir, "wrong-ca.pem", &self.wrong_ca_pem, false)?,
            server_cert: write_pem(dir, "server.crt", &self.server_cert_pem, false)?,
            server_key: write_pem(dir, "server.key", &self.server_key_pem, true)?,
            wrong_host_cert: write_pem(dir, "wrong-host.crt", &self.wrong_host_cert_pem, false)?,
            wrong_host_key: write_pem(dir, "wrong-host.key", &self.wrong_host_key_pem, true)?,
        };
        Ok(files)
    }
}

/// Writes one PEM file; `private` restricts it to the owner.
pub fn write_pem(dir: &Path, name: &str, pem: &str, private: bool) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, pem).with_context(|| format!("cannot write {}", path.display()))?;
    let mode = if private { 0o600 } else { 0o644 };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(path)
}

fn make_ca(name: &str) -> anyhow::Result<(rcgen::Certificate, KeyPair)> {
    let key = KeyPair::generate().context("generating a CA key")?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Sluice tests");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).context("self-signing the CA")?;
    Ok((cert, key))
}

fn make_server(
    names: &[&str],
    common_name: &str,
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate().context("generating a server key")?;
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, ca, ca_key)
        .context("signing a server certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}
