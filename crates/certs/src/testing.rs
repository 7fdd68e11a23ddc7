//! A real ACME server for tests (feature `testing`): Debian's `pebble`, with
//! `pebble-challtestsrv` as its DNS server (every name resolves to
//! 127.0.0.1), on loopback ports chosen at run time, killed on drop. Pebble's
//! own HTTPS certificate comes from a throwaway CA made here; trust it with
//! `AcmeConfig::ca_file = Some(pebble.ca_file.clone())` (or
//! `ca_file = "…"` in `[balance.tls.acme]`).
//!
//! Pebble validates HTTP-01 on `127.0.0.1:<http_port>` and TLS-ALPN-01 on
//! `127.0.0.1:<tls_port>`: the ports of whatever answers the challenges (the
//! front door's listeners, in an end-to-end test). Validation is real;
//! `PEBBLE_VA_NOSLEEP=1` only removes pebble's random wait.
//!
//! Missing binaries fail the test loudly: CI installs `pebble`
//! (`.ci/apt-edge.txt`). Used by `crates/certs/tests` and meant for the front
//! door's end-to-end tests (`certs = { workspace = true, features = ["testing"] }`
//! as a dev-dependency).

use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The binary `name` on `PATH`; panics (never skips) when it is missing.
pub fn find_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: these tests need Debian's `pebble` package \
                 (apt-get install pebble; CI installs it from .ci/apt-edge.txt). Not skipping."
            )
        })
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Wait until `addr` accepts; `Err` when `child` exits first (e.g. the port
/// chosen for it was taken in between: the caller retries with new ports).
pub fn wait_port(addr: SocketAddr, child: &mut Child, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited before listening on {addr}: {status}"
            ));
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start a server on fresh free ports (`spawn` gets them), retrying a few
/// times when it dies because a port was taken between choosing and binding.
pub fn start_on_free_ports<const N: usize>(
    what: &str,
    wait_on: usize,
    mut spawn: impl FnMut([u16; N]) -> Child,
) -> (Child, [u16; N]) {
    let mut last = String::new();
    for _ in 0..5 {
        let ports = [(); N].map(|()| free_port());
        let mut child = spawn(ports);
        let addr = SocketAddr::from(([127, 0, 0, 1], ports[wait_on]));
        match wait_port(addr, &mut child, what) {
            Ok(()) => return (child, ports),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last = e;
            }
        }
    }
    panic!("{what} would not start: {last}");
}

/// pebble + pebble-challtestsrv, killed on drop.
pub struct Pebble {
    pub dir: PathBuf,
    pebble: Child,
    dns: Child,
    /// The ACME directory URL.
    pub directory: String,
    /// The management interface (`/roots/0`).
    pub management: SocketAddr,
    /// The CA that signed pebble's own HTTPS certificate.
    pub ca_file: PathBuf,
}

impl Pebble {
    /// Start pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on
    /// `tls_port` of 127.0.0.1.
    pub fn start(dir: &Path, http_port: u16, tls_port: u16) -> Pebble {
        let pebble_bin = find_binary("pebble");
        let dns_bin = find_binary("pebble-challtestsrv");
        let dir = dir.join("pebble");
        std::fs::create_dir_all(&dir).unwrap();

        // pebble's HTTPS certificate, from a CA the client will trust.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "bigstep test CA for pebble");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();

        // The DNS server listens on TCP too; its management port comes up last.
        let (dns, [dns_port, _]) = start_on_free_ports("pebble-challtestsrv", 1, |[dns, mgmt]| {
            Command::new(&dns_bin)
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .args(["-dns01", &format!("127.0.0.1:{dns}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-management", &format!("127.0.0.1:{mgmt}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start pebble-challtestsrv")
        });

        let (mut pebble, [listen, management]) =
            start_on_free_ports("pebble", 0, |[listen, management]| {
                let config = serde_json::json!({
                    "pebble": {
                        "listenAddress": format!("127.0.0.1:{listen}"),
                        "managementListenAddress": format!("127.0.0.1:{management}"),
                        "certificate": dir.join("cert.pem"),
                        "privateKey": dir.join("key.pem"),
                        "httpPort": http_port,
                        "tlsPort": tls_port,
                        "ocspResponderURL": "",
                        "externalAccountBindingRequired": false
                    }
                });
                std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
                let log = std::fs::File::create(dir.join("pebble.log")).unwrap();
                Command::new(&pebble_bin)
                    .arg("-config")
                    .arg(dir.join("pebble.json"))
                    .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
                    // Validate at once, every order validates anew, no random bad nonces.
                    .env("PEBBLE_VA_NOSLEEP", "1")
                    .env("PEBBLE_AUTHZREUSE", "0")
                    .env("PEBBLE_WFE_NONCEREJECT", "0")
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .expect("start pebble")
            });
        let management = SocketAddr::from(([127, 0, 0, 1], management));
        if let Err(e) = wait_port(management, &mut pebble, "pebble management") {
            panic!(
                "{e}; log:\n{}",
                std::fs::read_to_string(dir.join("pebble.log")).unwrap_or_default()
            );
        }
        let p = Pebble {
            dir: dir.clone(),
            pebble,
            dns,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management,
            ca_file,
        };
        p
    }

    /// pebble's issuing root (PEM), from its management interface, with curl.
    pub fn issuing_root(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
            .arg(&self.ca_file)
            .arg(format!("https://{}/roots/0", self.management))
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl /roots/0: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }

    /// Stop pebble (the DNS server too) now.
    pub fn stop(&mut self) {
        for c in [&mut self.pebble, &mut self.dns] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Verify `chain_pem` for `name` against `root_pem` with webpki (rustls's
/// own verifier), at `now`.
pub fn verify_chain(chain_pem: &str, root_pem: &str, name: &str) -> Result<(), rustls::Error> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        verifier.as_ref(),
        &chain[0],
        &chain[1..],
        &ServerName::try_from(name.to_string()).unwrap(),
        &[],
        UnixTime::now(),
    )
    .map(|_| ())
}

/// [`find_binary`] with an install hint for the panic.
pub fn find_binary_or(name: &str, hint: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed ({hint}). Not skipping."))
}
