//! A TLS front on 127.0.0.1: terminates TLS with a certificate from a throwaway CA and
//! passes the bytes on to a plaintext server (as stunnel or a cloud load balancer
//! would). With [`crate::kafka::TestBroker::start_advertising`], a real Kafka-protocol
//! broker is reachable only over TLS, so clients' certificate checks are exercised.

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// A bound TLS listener whose certificate names `127.0.0.1` and `localhost`.
pub struct TlsFront {
    listener: Option<std::net::TcpListener>,
    port: u16,
    ca_pem: String,
    acceptor: TlsAcceptor,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TlsFront {
    /// Binds a free port and makes a CA and a server certificate signed by it.
    pub fn bind() -> TlsFront {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind TLS front");
        let port = listener.local_addr().expect("local addr").port();

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pulsegate test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server params");
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .expect("server certificate");

        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("TLS server config");
        TlsFront {
            listener: Some(listener),
            port,
            ca_pem: ca.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            task: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Starts passing every accepted connection, once its TLS handshake succeeds, to
    /// `upstream`. Needs a tokio runtime.
    pub fn forward_to(&mut self, upstream: SocketAddr) {
        let listener = self.listener.take().expect("forward_to once");
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let acceptor = self.acceptor.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that fails the handshake (wrong CA, plaintext) is dropped.
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        }));
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
