//! Downloads over HTTP(S) for the template sources that live outside the cluster's API: a Flux
//! artifact and `spec.template.url`. hyper's client (the one kube uses) with rustls; the body is
//! handed to blocking code as a [`Read`] stream, so that digesting, decompressing and unpacking
//! happen while it arrives and no download is ever held whole.
//!
//! A URL source is checked against the operator's [`TemplateHosts`] first ([`get_allowed`]):
//! its host, then every address the host resolves to; the connection then goes to those
//! addresses only (the connector's resolver returns them, and resolves nothing itself), so a
//! name that resolves differently a moment later (DNS rebinding) changes nothing.

use std::future::Future;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{self, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::mpsc;

use crate::policy::{HostRefused, TemplateHosts};
use crate::task::AbortOnDrop;

/// How long the connection and the response's head may take.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the body may go without a byte before the download is given up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Chunks of the body buffered between the network and the reader: a few hundred KiB at most.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Credentials for a download, from a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// `Authorization: Bearer <token>`.
    pub(crate) token: Option<String>,
    /// `Authorization: Basic …`.
    pub(crate) basic: Option<(String, String)>,
    /// PEM certificates the server's certificate may chain to, beside the public roots.
    pub(crate) ca_pem: Option<Vec<u8>>,
}

/// What a request asks for.
pub(crate) struct Request<'a> {
    pub(crate) url: &'a str,
    /// Refuse `http://` (a URL source), or allow it (a Flux artifact, which source-controller
    /// serves over plain HTTP inside the cluster).
    pub(crate) https_only: bool,
    pub(crate) credentials: &'a Credentials,
    /// `If-None-Match`: the ETag of the copy already imported.
    pub(crate) if_none_match: Option<&'a str>,
}

/// The answer to a request.
pub(crate) enum Response {
    /// 304: the file is the one whose ETag was sent.
    NotModified,
    /// 200: the file, still to be read.
    Body {
        etag: Option<String>,
        body: Incoming,
    },
}

/// Why a download failed, for the status (the URL and the cause).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DownloadError(pub String);

/// Why [`get_allowed`] got no response.
#[derive(Debug)]
pub(crate) enum GetError {
    /// The operator's policy refuses the URL's host, or an address it resolves to: nothing
    /// was requested.
    Refused(HostRefused),
    /// The download failed (see [`DownloadError`]).
    Failed(DownloadError),
}

/// [`get`], for a URL whose host `hosts` must allow: the host is checked, resolved, each of
/// its addresses checked, and the request sent to those addresses only.
pub(crate) async fn get_allowed(
    request: &Request<'_>,
    hosts: &TemplateHosts,
) -> Result<Response, GetError> {
    let fail =
        |what: String| GetError::Failed(DownloadError(format!("GET {}: {what}", request.url)));
    let uri: hyper::Uri = request
        .url
        .parse()
        .map_err(|error| fail(format!("not a URL: {error}")))?;
    let host = uri.host().unwrap_or_default();
    let listed = hosts.check_host(host).map_err(GetError::Refused)?;
    let https = uri.scheme() == Some(&hyper::http::uri::Scheme::HTTPS);
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::net::lookup_host((bare, port));
            tokio::time::timeout(HEAD_TIMEOUT, lookup)
                .await
                .map_err(|_| {
                    fail(format!(
                        "{host:?} not resolved within {} s",
                        HEAD_TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|error| fail(format!("cannot resolve {host:?}: {error}")))?
                .map(|address| address.ip())
                .collect()
        }
    };
    if addresses.is_empty() {
        return Err(fail(format!("{host:?} resolves to no address")));
    }
    for ip in &addresses {
        hosts
            .check_address(host, *ip, listed)
            .map_err(GetError::Refused)?;
    }
    let pinned = addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    send(request, uri, Resolver::Pinned(Arc::new(pinned)))
        .await
        .map_err(GetError::Failed)
}

/// Sends a GET and waits for the response's head (the body is read by [`body_reader`]).
pub(crate) async fn get(request: &Request<'_>) -> Result<Response, DownloadError> {
    let uri: hyper::Uri = request
        .url
        .parse()
        .map_err(|error| DownloadError(format!("GET {}: not a URL: {error}", request.url)))?;
    send(request, uri, Resolver::System).await
}

/// The GET itself, connecting through `resolver`.
async fn send(
    request: &Request<'_>,
    uri: hyper::Uri,
    resolver: Resolver,
) -> Result<Response, DownloadError> {
    let fail = |what: String| DownloadError(format!("GET {}: {what}", request.url));
    let client = client(request.https_only, request.credentials, resolver).map_err(fail)?;
    let mut builder = hyper::Request::get(uri).header(header::USER_AGENT, "user-import-operator");
    if let Some(token) = &request.credentials.token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", token.trim()));
    } else if let Some((user, password)) = &request.credentials.basic {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        builder = builder.header(header::AUTHORIZATION, format!("Basic {pair}"));
    }
    if let Some(Ok(value)) = request.if_none_match.map(HeaderValue::from_str) {
        builder = builder.header(header::IF_NONE_MATCH, value);
    }
    let http_request = builder
        .body(Empty::<Bytes>::new())
        .map_err(|error| fail(error.to_string()))?;
    let response = tokio::time::timeout(HEAD_TIMEOUT, client.request(http_request))
        .await
        .map_err(|_| fail(format!("no answer within {} s", HEAD_TIMEOUT.as_secs())))?
        .map_err(|error| fail(describe(&error)))?;
    let status = response.status();
    if status == hyper::StatusCode::NOT_MODIFIED {
        return Ok(Response::NotModified);
    }
    if !status.is_success() {
        // Redirects are not followed: an artifact's or a template's URL names the file itself.
        return Err(fail(format!("the server answered {status}")));
    }
    let etag = response
        .headers()
        .get(header::ETAG)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    Ok(Response::Body {
        etag,
        body: response.into_body(),
    })
}

/// The error and its causes, on one line (hyper's own message says only "client error").
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How the connector finds the addresses of a host.
#[derive(Clone)]
enum Resolver {
    /// The system's resolver (`getaddrinfo`, on a blocking thread).
    System,
    /// The addresses checked by [`get_allowed`], and no others.
    Pinned(Arc<Vec<SocketAddr>>),
}

type Addresses = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for Resolver {
    type Response = Addresses;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Addresses>> + Send>>;

    fn poll_ready(&mut self, _: &mut task::Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move {
            match resolver {
                // The connector puts the URL's port on each address.
                Resolver::System => Ok(tokio::net::lookup_host((name.as_str(), 0))
                    .await?
                    .collect::<Vec<_>>()
                    .into_iter()),
                Resolver::Pinned(addresses) => Ok(Vec::clone(&addresses).into_iter()),
            }
        })
    }
}

/// A client for one request: the public roots (webpki-roots, built in, so that a distroless
/// image needs no CA files), plus the Secret's CA certificates when it has any.
fn client(
    https_only: bool,
    credentials: &Credentials,
    resolver: Resolver,
) -> Result<Client<HttpsConnector<HttpConnector<Resolver>>, Empty<Bytes>>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &credentials.ca_pem {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate
                .map_err(|error| format!("the CA bundle (ca.crt) is not PEM: {error}"))?;
            roots
                .add(certificate)
                .map_err(|error| format!("a certificate of ca.crt is unusable: {error}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the CA bundle (ca.crt) holds no certificate".to_string());
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let connector = if https_only {
        builder.https_only().enable_http1().wrap_connector(http)
    } else {
        builder.https_or_http().enable_http1().wrap_connector(http)
    };
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The body as a blocking [`Read`]: a task moves its chunks through a small bounded channel,
/// so that at most [`CHUNKS_IN_FLIGHT`] chunks wait for the reader. Read it from
/// `spawn_blocking`, never from an async task.
pub(crate) fn body_reader(body: Incoming, url: &str) -> BodyReader {
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let url = url.to_string();
    let task = tokio::spawn(async move {
        let mut body = body;
        loop {
            let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("GET {url}: no data for {} s", IDLE_TIMEOUT.as_secs()),
                )),
                Ok(None) => return,
                Ok(Some(Err(error))) => {
                    Err(io::Error::other(format!("GET {url}: {}", describe(&error))))
                }
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Ok(data),
                    // Trailers: no data.
                    Err(_) => continue,
                },
            };
            let failed = frame.is_err();
            // The reader is gone (it stopped at a limit, or found its file): stop downloading.
            if sender.send(frame).await.is_err() || failed {
                return;
            }
        }
    });
    BodyReader {
        receiver,
        chunk: Bytes::new(),
        failure: None,
        _task: AbortOnDrop(task),
    }
}

/// See [`body_reader`].
pub(crate) struct BodyReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
    /// The download's own failure, once there was one: a reader above (a decompressor) turns
    /// it into an error of its own, and this tells a network failure (retried) from damaged
    /// content (rejected).
    failure: Option<String>,
    /// The task that pumps the body: a reader dropped early stops the download.
    _task: AbortOnDrop<()>,
}

impl BodyReader {
    /// The download's failure, if it failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(error)) => {
                    self.failure = Some(error.to_string());
                    return Err(error);
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
