//! The front door: an HTTP/1.1 load balancer built on hyper.
//!
//! A request's life: [`listener`] accepts and guards the connection (limits, header
//! and idle timeouts), [`proxy`] picks a server from the current routing
//! [`snapshot`], forwards over a pooled upstream connection ([`pool`]), retries when
//! that is safe, and streams the response back. [`health`] keeps each server's
//! health up to date, actively and from real traffic. Every failure becomes an
//! HTTP response in one place: [`error`].
#![forbid(unsafe_code)]

pub mod config;

pub use config::Config;

use std::future::Future;
use std::net::SocketAddr;

/// A front door bound to its listener, not yet serving.
pub struct FrontDoor {
    _config: Config,
    local_addr: SocketAddr,
}

/// Why the front door could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
}

impl FrontDoor {
    /// Validate `config` and bind its listener (port 0 picks a free port).
    pub async fn bind(config: Config) -> Result<FrontDoor, StartError> {
        config.validate(None)?;
        let _ = config;
        todo!()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serve until `shutdown` resolves, then stop accepting and give in-flight
    /// requests up to `timeouts.shutdown_grace` to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        shutdown.await;
        Ok(())
    }
}
