//! Shared files: an S3 bucket (`bigstep files`, or any S3 store reachable over
//! plain HTTP) named by `S3_ENDPOINT_URL`/`AWS_ENDPOINT_URL`, `BIGSTEP_BUCKET`
//! and the usual `AWS_*` variables.
//!
//! Requests are signed with SigV4 by `rusty-s3` (presigned URLs, so the body is
//! not hashed and streams as it is) and sent with hyper, one connection each.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

/// How long a signed request stays valid (it is sent at once).
const SIGNED_FOR: Duration = Duration::from_secs(60);
/// How long connecting and getting a response head may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The object metadata that names the instance an object was uploaded on.
pub(crate) const UPLOADED_BY: &str = "x-amz-meta-uploaded-by";

/// A bucket and the keys to sign requests for it.
pub(crate) struct Objects {
    /// `http://127.0.0.1:9000/uploads`, for the page.
    pub(crate) shown: String,
    bucket: Bucket,
    credentials: Credentials,
}

/// Where an S3 request went wrong.
#[derive(Debug)]
pub(crate) enum S3Error {
    /// No such object.
    NotFound,
    /// Anything else, described.
    Other(String),
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            S3Error::NotFound => f.write_str("no such object"),
            S3Error::Other(s) => f.write_str(s),
        }
    }
}

impl Objects {
    /// A client for `bucket` at `endpoint`.
    pub(crate) fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self, String> {
        let url: url::Url = endpoint
            .parse()
            .map_err(|e| format!("bad S3 endpoint {endpoint:?}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "S3 endpoint {endpoint:?}: the demo app speaks plain http only"
            ));
        }
        let bucket = Bucket::new(url, UrlStyle::Path, bucket.to_string(), region.to_string())
            .map_err(|e| format!("bad S3 bucket {bucket:?} at {endpoint:?}: {e}"))?;
        Ok(Self {
            shown: bucket.base_url().to_string(),
            bucket,
            credentials: Credentials::new(access_key, secret_key),
        })
    }

    /// PUT `body` as `key`, recording the instance it was uploaded on.
    pub(crate) async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        uploaded_by: &str,
    ) -> Result<(), S3Error> {
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        // Signed headers: the server checks that they arrive unchanged.
        action
            .headers_mut()
            .insert(UPLOADED_BY, uploaded_by.to_string());
        let url = action.sign(SIGNED_FOR);
        let req = Request::put(origin_form(&url))
            .header(hyper::header::HOST, host(&url))
            .header(UPLOADED_BY, uploaded_by)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .body(Full::new(body))
            .map_err(|e| S3Error::Other(e.to_string()))?;
        let resp = send(&url, req).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(failure("PUT", resp).await)
    }

    /// GET `key`: the response, its body still streaming.
    pub(crate) async fn get(&self, key: &str) -> Result<Response<Incoming>, S3Error> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let req = Request::get(origin_form(&url))
            .header(hyper::header::HOST, host(&url))
            .body(Full::new(Bytes::new()))
            .map_err(|e| S3Error::Other(e.to_string()))?;
        let resp = send(&url, req).await?;
        match resp.status().as_u16() {
            200..=299 => Ok(resp),
            404 => Err(S3Error::NotFound),
            _ => Err(failure("GET", resp).await),
        }
    }
}

/// `/bucket/key?X-Amz-…`: the request target.
fn origin_form(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// `host:port` as signed.
fn host(url: &url::Url) -> String {
    let h = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{h}:{p}"),
        None => h.to_string(),
    }
}

async fn send(url: &url::Url, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, S3Error> {
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(80)
    );
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| S3Error::Other(format!("cannot connect to S3 at {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| S3Error::Other(format!("S3 at {addr}: {e}")))?;
        // Runs until the response body has been read (or dropped).
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender
            .send_request(req)
            .await
            .map_err(|e| S3Error::Other(format!("S3 at {addr}: {e}")))
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| S3Error::Other(format!("S3 at {addr} did not answer in time")))?
}

/// An error response, with the S3 error code from its XML body when there is one.
async fn failure(what: &str, resp: Response<Incoming>) -> S3Error {
    use http_body_util::BodyExt;
    let status = resp.status();
    let body = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string());
    S3Error::Other(match code {
        Some(code) => format!("S3 {what} failed: {status} {code}"),
        None => format!("S3 {what} failed: {status}"),
    })
}
