//! A test certificate authority: a CA and leaf certificates for any names,
//! written as PEM files the front door (and curl, openssl, Chromium) read.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA whose certificate is at [`TestCa::ca_pem`].
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    /// The CA certificate (PEM), for `curl --cacert` and friends.
    pub ca_pem: PathBuf,
}

/// A leaf certificate's files.
pub struct Leaf {
    /// Certificate then CA (PEM).
    pub cert: PathBuf,
    /// Private key (PKCS#8 PEM), mode 0600.
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA writing its files into `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "bigstep test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, issuer.pem()).expect("write CA");
        TestCa {
            issuer,
            dir: dir.to_path_buf(),
            ca_pem,
        }
    }

    /// A server certificate for `names` (DNS names), saved as `<file>.pem`/`<file>.key`.
    pub fn server(&self, file: &str, names: &[&str]) -> Leaf {
        self.leaf(
            file,
            names,
            names.first().copied().unwrap_or("server"),
            false,
            None,
        )
    }

    /// A server certificate that expires on `(year, month, day)`.
    pub fn server_expiring(&self, file: &str, names: &[&str], ymd: (i32, u8, u8)) -> Leaf {
        self.leaf(file, names, names[0], false, Some(ymd))
    }

    /// A client certificate with common name `cn` (for mutual TLS).
    pub fn client(&self, file: &str, cn: &str) -> Leaf {
        self.leaf(file, &[], cn, true, None)
    }

    fn leaf(
        &self,
        file: &str,
        names: &[&str],
        cn: &str,
        client: bool,
        expires: Option<(i32, u8, u8)>,
    ) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if let Some((y, m, d)) = expires {
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let cert_path = self.dir.join(format!("{file}.pem"));
        let key_path = self.dir.join(format!("{file}.key"));
        std::fs::write(&cert_path, format!("{}{}", cert.pem(), self.issuer.pem()))
            .expect("write certificate");
        write_private(&key_path, &key.serialize_pem());
        Leaf {
            cert: cert_path,
            key: key_path,
        }
    }
}

/// Write a key file readable by its owner only (as an operator should).
pub fn write_private(path: &Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    // Replace atomically, so a watcher never sees half a key.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).expect("write key");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    std::fs::rename(&tmp, path).expect("rename key");
}
