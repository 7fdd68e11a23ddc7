//! `bigstep files`: an S3-compatible object store over a local directory.
//!
//! [`serve`] runs the server on a listener with a [`FilesConfig`]; the `bigstep files`
//! command and `bigstep up` both embed it. The S3 protocol (SigV4 headers and
//! presigned URLs, aws-chunked bodies, XML) is the `s3s` crate's; the storage —
//! atomic, crash-safe and confined to its directory — is ours, in [`store`]; see its
//! module documentation for the on-disk layout and the life of a write.

mod app;
pub mod checksum;
pub mod config;
mod conn;
mod fast;
pub mod key;
pub mod lifecycle;
mod lifecycle_dto;
mod metrics;
mod s3;
mod server;
mod sigv4;
#[cfg(any(test, feature = "fuzzing"))]
mod sigv4_ref;
pub mod store;
pub mod tags;
mod threads;
mod vhost;

pub use config::{generate_keys, ConfigError, FilesConfig, FilesToml};
pub use server::{serve, FilesServer, ServeError};

/// Fuzzing entry point for the read fast path's SigV4 checks (see the
/// `sigv4` target in `fuzz/`); built only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_sigv4(data: &[u8]) {
    sigv4_ref::fuzz(data);
}
