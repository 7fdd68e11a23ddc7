//! `acme_resolver` in real rustls handshakes (tokio-rustls over an in-memory
//! pipe): which certificate each kind of client gets.

use std::sync::Arc;

use certs::{CertSlot, Challenges, Issued};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate: these tests look at which one was sent.
#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The front door's own resolver: one file certificate, names it does not
/// know refused.
#[derive(Debug)]
struct Own(Issued);

impl ResolvesServerCert for Own {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(n) if self.0.covers(&[n.to_string()]) => Some(self.0.certified_key().unwrap()),
            _ => None,
        }
    }
}

/// Handshake with `resolver`; the end-entity certificate the client got, or
/// `None` when the handshake failed.
async fn served(
    resolver: Arc<dyn ResolvesServerCert>,
    name: ServerName<'static>,
    alpn: &[&[u8]],
) -> Option<CertificateDer<'static>> {
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    server.alpn_protocols = vec![certs::ACME_TLS_ALPN.to_vec(), b"http/1.1".to_vec()];
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let server_side = tokio::spawn(async move { acceptor.accept(b).await.is_ok() });
    let got = connector
        .connect(name, a)
        .await
        .ok()
        .and_then(|tls| tls.get_ref().1.peer_certificates().map(|c| c[0].clone()));
    let _ = server_side.await;
    got
}

fn dns(n: &str) -> ServerName<'static> {
    ServerName::try_from(n.to_string()).unwrap()
}

fn no_sni() -> ServerName<'static> {
    // rustls sends no SNI for an IP address.
    ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
}

#[tokio::test]
async fn each_client_gets_the_right_certificate() {
    let acme_names = vec!["app.example.test".to_string()];
    let acme_first = certs::placeholder(&acme_names).unwrap();
    let acme_second = certs::placeholder(&acme_names).unwrap();
    let own = certs::placeholder(&["files.example.test".to_string()]).unwrap();
    let der = |i: &Issued| i.end_entity_der().unwrap();

    let challenges = Challenges::new();
    let slot = CertSlot::new();
    let with_own = certs::acme_resolver(
        challenges.clone(),
        slot.clone(),
        Some(Arc::new(Own(own.clone()))),
    );
    let alone = certs::acme_resolver(challenges.clone(), slot.clone(), None);

    // Empty slot: the ACME name is unknown to the front door's resolver.
    assert_eq!(
        served(with_own.clone(), dns("app.example.test"), &[]).await,
        None
    );
    assert_eq!(served(alone.clone(), no_sni(), &[]).await, None);

    slot.set(&acme_first).unwrap();
    assert_eq!(
        served(with_own.clone(), dns("APP.example.test"), &[b"http/1.1"]).await,
        Some(der(&acme_first))
    );
    // The front door's own names and refusals are untouched.
    assert_eq!(
        served(with_own.clone(), dns("files.example.test"), &[]).await,
        Some(der(&own))
    );
    assert_eq!(
        served(with_own.clone(), dns("other.example.test"), &[]).await,
        None
    );
    // No SNI: the own resolver has nothing, the ACME certificate answers.
    assert_eq!(
        served(with_own.clone(), no_sni(), &[]).await,
        Some(der(&acme_first))
    );
    assert_eq!(
        served(alone.clone(), dns("x.example.test"), &[]).await,
        Some(der(&acme_first))
    );

    // A renewal: the next handshake gets the new certificate.
    slot.set(&acme_second).unwrap();
    assert_eq!(
        served(with_own.clone(), dns("app.example.test"), &[]).await,
        Some(der(&acme_second))
    );

    // A bad pair is refused and the old one keeps serving.
    let mut broken = acme_first.clone();
    broken.key_pem = own.key_pem.clone();
    assert!(slot.set(&broken).is_err());
    assert_eq!(
        served(with_own.clone(), dns("app.example.test"), &[]).await,
        Some(der(&acme_second))
    );

    // A TLS-ALPN-01 validation never gets the served certificate: with no
    // pending challenge the handshake fails.
    assert_eq!(
        served(
            with_own.clone(),
            dns("app.example.test"),
            &[certs::ACME_TLS_ALPN]
        )
        .await,
        None
    );
}
