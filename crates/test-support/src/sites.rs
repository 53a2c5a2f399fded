//! Where templates come from besides a plain ConfigMap, for the tests and the scale bench: gzip
//! and tar.gz packing, a tiny HTTP(S) file server with a test CA, and Flux's source kinds
//! (CRDs of our own with Flux's `status.artifact` shape: Flux itself is not installed).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use user_import_resources::{FluxSourceKind, FluxSourceRef, TemplateSource};

use crate::AbortOnDrop;
pub use crate::pki::TestPki;

/// `bytes` gzip-compressed (default level).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// 64 MiB of zeros in about 64 KiB of gzip.
pub fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

/// A .tar.gz of regular files, as source-controller serves an artifact.
pub fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *bytes).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A tarball whose one file, `path`, holds `size` zero bytes: small once compressed, since tar
/// stores the file as it is and gzip compresses the whole stream.
pub fn tarball_bomb(path: &str, size: u64) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, path, std::io::repeat(0).take(size))
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// `sha256:<hex>` of `bytes`, as Flux writes an artifact's digest.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

// ----------------------------------------------------------------------------- HTTP server

/// A file served by [`Site`].
struct Served {
    body: Vec<u8>,
    etag: Option<String>,
    /// Requests still to answer with 503 before the file is served.
    fail_next: usize,
}

/// One request the server answered.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The request's path.
    pub path: String,
    /// The status code answered.
    pub status: u16,
    /// When it was answered.
    pub at: Instant,
    /// The request's `Authorization` header.
    pub authorization: Option<String>,
    /// The request's `If-None-Match` header.
    pub if_none_match: Option<String>,
}

/// A small HTTP/1.1 file server on 127.0.0.1 (hyper; plain, or TLS with a test CA):
/// `ETag`/`If-None-Match`, injected 503s, and a log of every request.
#[derive(Clone)]
pub struct Site {
    files: Arc<Mutex<HashMap<String, Served>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    base: String,
    _task: Arc<AbortOnDrop>,
}

impl Site {
    /// Plain HTTP, as source-controller serves artifacts inside a cluster.
    pub async fn http() -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Site::serve(listener, None)
    }

    /// HTTPS with a certificate for 127.0.0.1 signed by `pki`'s CA.
    pub async fn https(pki: &TestPki) -> Site {
        Site::https_on(
            pki,
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        )
    }

    /// HTTPS on a listener of the caller's (a port chosen before the site comes up).
    pub fn https_on(pki: &TestPki, listener: tokio::net::TcpListener) -> Site {
        Site::serve(
            listener,
            Some(tokio_rustls::TlsAcceptor::from(pki.server_config())),
        )
    }

    /// Serves on `listener`, over TLS when `tls` is given.
    pub fn serve(
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Site {
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let files: Arc<Mutex<HashMap<String, Served>>> = Arc::default();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let (served, seen) = (files.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (served, seen, tls) = (served.clone(), seen.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            // A client that does not trust the CA hangs up here.
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                answer(stream, served, seen).await;
                            }
                        }
                        None => answer(tcp, served, seen).await,
                    }
                });
            }
        });
        Site {
            files,
            hits,
            base: format!("{scheme}://{addr}"),
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Serves `body` at `path` (with an ETag derived from it); returns its URL.
    pub fn put(&self, path: &str, body: &[u8]) -> String {
        let etag = format!("\"{}\"", &sha256(body)[7..23]);
        self.files.lock().unwrap().insert(
            path.to_string(),
            Served {
                body: body.to_vec(),
                etag: Some(etag),
                fail_next: 0,
            },
        );
        format!("{}{path}", self.base)
    }

    /// The next `n` requests for `path` get 503.
    pub fn fail_next(&self, path: &str, n: usize) {
        if let Some(served) = self.files.lock().unwrap().get_mut(path) {
            served.fail_next = n;
        }
    }

    /// Every request answered so far, oldest first.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Requests answered with the file's bytes (200).
    pub fn downloads(&self) -> usize {
        self.hits().iter().filter(|hit| hit.status == 200).count()
    }
}

/// Answers the requests of one connection with hyper's HTTP/1.1 server: `ETag`s,
/// `If-None-Match`, the injected 503s, and a log of every request.
async fn answer<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    files: Arc<Mutex<HashMap<String, Served>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let response = respond(&request, &files, &hits);
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    // A client that hangs up mid-request is no failure of the site.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The answer to one request, logged as a [`Hit`].
fn respond(
    request: &hyper::Request<Incoming>,
    files: &Mutex<HashMap<String, Served>>,
    hits: &Mutex<Vec<Hit>>,
) -> hyper::Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let path = request.uri().path().to_string();
    let if_none_match = header("if-none-match");
    let (status, etag, body) = {
        let mut files = files.lock().unwrap();
        match files.get_mut(&path) {
            None => (404, None, b"not found".to_vec()),
            Some(served) if served.fail_next > 0 => {
                served.fail_next -= 1;
                (503, None, b"try later".to_vec())
            }
            Some(served) if if_none_match.is_some() && if_none_match == served.etag => {
                (304, served.etag.clone(), Vec::new())
            }
            Some(served) => (200, served.etag.clone(), served.body.clone()),
        }
    };
    hits.lock().unwrap().push(Hit {
        path,
        status,
        at: Instant::now(),
        authorization: header("authorization"),
        if_none_match,
    });
    let mut response = hyper::Response::builder().status(status);
    if let Some(etag) = etag {
        response = response.header("ETag", etag);
    }
    response
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

// ---------------------------------------------------------------------------- Flux sources

/// The API resource of a Flux source kind, as the operator names it.
pub fn flux_resource(kind: FluxSourceKind) -> ApiResource {
    user_import_operator::controller::flux::api_resource(kind)
}

/// Flux's source kinds in one namespace, as source-controller would show them to a consumer.
pub struct Flux {
    client: Client,
    namespace: String,
}

impl Flux {
    /// Installs a CRD for each Flux source kind with Flux's group, version and names, and a
    /// `status` of any shape (Flux's own CRDs have `status.artifact` with `url`, `digest` and
    /// `revision`, which is all the operator reads). Waits until the server serves them.
    pub async fn install(client: &Client, namespace: &str) -> Flux {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for kind in FluxSourceKind::ALL {
            let resource = flux_resource(kind);
            let name = format!("{}.{}", resource.plural, resource.group);
            let singular = resource.kind.to_ascii_lowercase();
            let any = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
            let crd: CustomResourceDefinition = serde_json::from_value(json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": name},
                "spec": {
                    "group": resource.group,
                    "scope": "Namespaced",
                    "names": {
                        "kind": resource.kind,
                        "listKind": format!("{}List", resource.kind),
                        "plural": resource.plural,
                        "singular": singular,
                    },
                    "versions": [{
                        "name": resource.version,
                        "served": true,
                        "storage": true,
                        "subresources": {"status": {}},
                        "schema": {"openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": any, "status": any},
                        }},
                    }],
                },
            }))
            .unwrap();
            crds.patch(
                &name,
                &PatchParams::apply("tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("apply a Flux CRD");
        }
        let flux = Flux {
            client: client.clone(),
            namespace: namespace.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !flux.served().await {
            assert!(
                Instant::now() < deadline,
                "the Flux source kinds not served"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        flux
    }

    /// Whether discovery lists every kind and a list of each works.
    async fn served(&self) -> bool {
        let discovery = self
            .client
            .list_api_group_resources("source.toolkit.fluxcd.io/v1")
            .await;
        let Ok(served) = discovery else {
            return false;
        };
        for kind in FluxSourceKind::ALL {
            let listed = served.resources.iter().any(|r| r.name == kind.plural());
            if !listed || self.api(kind).list(&Default::default()).await.is_err() {
                return false;
            }
        }
        true
    }

    /// The namespace's objects of `kind`.
    pub fn api(&self, kind: FluxSourceKind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &flux_resource(kind))
    }

    /// Creates a source object without an artifact.
    pub async fn create_source(&self, kind: FluxSourceKind, name: &str) {
        let mut object = DynamicObject::new(name, &flux_resource(kind));
        object.data = json!({"spec": {"interval": "1m"}});
        self.api(kind)
            .patch(name, &PatchParams::apply("tests"), &Patch::Apply(&object))
            .await
            .expect("create the Flux source");
    }

    /// Sets the source's `status.artifact`, as source-controller does.
    pub async fn publish_artifact(
        &self,
        kind: FluxSourceKind,
        name: &str,
        url: &str,
        digest: &str,
        revision: &str,
    ) {
        let status = json!({"status": {"artifact": {
            "url": url,
            "digest": digest,
            "revision": revision,
            "path": format!("{}/{}/{name}/artifact.tar.gz", kind.plural(), self.namespace),
            "lastUpdateTime": "2026-11-25T10:00:00Z",
        }}});
        self.api(kind)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("publish the artifact");
    }

    /// Creates the source, serves `artifact` from `site` and publishes it at `revision`.
    pub async fn source_with_artifact(
        &self,
        site: &Site,
        kind: FluxSourceKind,
        name: &str,
        artifact: &[u8],
        revision: &str,
    ) {
        self.create_source(kind, name).await;
        let url = site.put(
            &format!("/{}/{name}/{revision}.tar.gz", kind.plural()),
            artifact,
        );
        self.publish_artifact(kind, name, &url, &sha256(artifact), revision)
            .await;
    }
}

/// A template read from `path` in the Flux source `name`.
pub fn flux_template(kind: FluxSourceKind, name: &str, path: &str) -> TemplateSource {
    TemplateSource {
        source_ref: Some(FluxSourceRef {
            kind,
            name: name.into(),
        }),
        path: Some(path.into()),
        ..Default::default()
    }
}

/// `bytes` gzip-compressed as tightly as gzip can: how a large template fits a ConfigMap.
pub fn gzip_best(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
