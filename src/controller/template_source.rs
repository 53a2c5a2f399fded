//! Fetching the template from where `spec.template` says it is: a ConfigMap or Secret key
//! (plain or gzip-compressed), a file in a Flux source's artifact, or an HTTPS URL.
//!
//! Downloads are read as streams in a blocking task: digested, decompressed and unpacked while
//! they arrive, within the template's limits, so that the operator holds at most one copy of
//! the template (plus, later, its decoded rows).
//!
//! A ConfigMap or Secret is read with a GET of that one object: the controller watches them as
//! metadata only (see `watches`), so no cache holds their content. For the controller, a key
//! read before is not read again while its object keeps the `resourceVersion` it was read at
//! ([`fetch_watched`]).

use std::io::{self, Read};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::DynamicObject;
use kube::{Api, Client};

use super::conditions::{
    ARTIFACT_NOT_READY, ARTIFACT_UNREADABLE, FLUX_SOURCES_DISABLED, INVALID_TEMPLATE_PATH,
    INVALID_TEMPLATE_REF, TEMPLATE_DIGEST_MISMATCH, TEMPLATE_KEY_NOT_FOUND,
    TEMPLATE_PATH_NOT_FOUND, TEMPLATE_SOURCE_NOT_FOUND,
};
use super::context::Settings;
use super::download::{self, BodyReader, Credentials, Response};
use super::error::{Error, Result};
use super::flux::{self, Artifact};
use super::reasons::TEMPLATE_HOST_NOT_ALLOWED;
use super::watches::{ObjectKind, TemplateObjects};
use user_import_engine::archive::{
    ArchiveError, ArchiveLimits, DigestAlgorithm, Digesting, ExpectedDigest, extract_file, is_gzip,
    normalize_path, read_unpacked,
};
use user_import_engine::template::{TemplateLimits, digest};
use user_import_resources::{
    FluxSourceRef, KeyRef, SecretName, TemplateRef, TemplateSource, UrlSource,
};

/// The template as fetched, with the digest that identifies it. The digest is computed before
/// parsing, so that an import that is already done is recognised without parsing again.
#[derive(Debug)]
pub(crate) struct TemplateBytes {
    pub(crate) content: Content,
    /// `sha256:<lower-case hex>` of the CSV (decompressed), the same definition as
    /// `Template::digest`; for a [`Content::Rejected`] template that could not be read whole,
    /// the digest of the data as stored or downloaded.
    pub(crate) digest: String,
    /// The Flux artifact's revision the template was read from.
    pub(crate) revision: Option<String>,
    /// The ETag of the downloaded file (a URL source).
    pub(crate) etag: Option<String>,
}

/// What was fetched.
#[derive(Debug)]
pub(crate) enum Content {
    /// The CSV's bytes, decompressed when they were compressed.
    Csv(Vec<u8>),
    /// Data that is no acceptable template before it is even parsed (over the size limit once
    /// decompressed, damaged gzip): the message says why. Rejected as a template is.
    Rejected(String),
    /// Not downloaded: the source says it is the one of `Known` (same ETag, same revision).
    Unchanged,
}

/// What the last finished import of the current generation read: a source whose version is
/// still this one is not downloaded again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Known {
    pub(crate) digest: String,
    pub(crate) revision: Option<String>,
    pub(crate) etag: Option<String>,
}

/// Why the template cannot be fetched: the user must fix the spec or create the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceProblem {
    /// A kstatus-style reason, PascalCase.
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl SourceProblem {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        SourceProblem {
            reason,
            message: message.into(),
        }
    }
}

/// What a look for the template, or for a part of it (a key, a URL's credentials), found: the
/// thing looked for, or a problem the user must fix, on which the import stalls.
#[derive(Debug)]
pub(crate) enum Sourced<T> {
    Ready(T),
    Stalled(SourceProblem),
}

/// The outcome of [`fetch`]: the template, or why the import stalls.
pub(crate) type Fetched = Sourced<TemplateBytes>;

impl<T> Sourced<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        match self {
            Sourced::Ready(value) => Sourced::Ready(f(value)),
            Sourced::Stalled(problem) => Sourced::Stalled(problem),
        }
    }
}

impl<T> From<std::result::Result<T, SourceProblem>> for Sourced<T> {
    fn from(result: std::result::Result<T, SourceProblem>) -> Self {
        match result {
            Ok(value) => Sourced::Ready(value),
            Err(problem) => Sourced::Stalled(problem),
        }
    }
}

/// Fetches the template, or says why it is not there. `Err` for failures that a retry may cure
/// (the API server, a download), retried with back-off. Downloads make their own HTTP client
/// (see [`download`]); `settings` gives the limits and whether Flux sources are read.
pub(crate) async fn fetch(
    client: &Client,
    settings: &Settings,
    namespace: &str,
    source: &TemplateSource,
    known: Option<&Known>,
) -> Result<Fetched> {
    fetch_watched(client, settings, namespace, source, known, None).await
}

/// [`fetch`], for the controller: a ConfigMap or Secret key that `objects` says is unchanged
/// since it gave `known`'s digest (its object has the `resourceVersion` it was read at) is
/// not read again, and each one read is recorded there.
pub(crate) async fn fetch_watched(
    client: &Client,
    settings: &Settings,
    namespace: &str,
    source: &TemplateSource,
    known: Option<&Known>,
    objects: Option<&TemplateObjects>,
) -> Result<Fetched> {
    let reference = match source.resolve() {
        Ok(reference) => reference,
        Err(message) => {
            return Ok(Sourced::Stalled(SourceProblem::new(
                INVALID_TEMPLATE_REF,
                message,
            )));
        }
    };
    let limits = &settings.limits;
    match &reference {
        TemplateRef::ConfigMap(key) => {
            let object = (ObjectKind::ConfigMap, namespace, key);
            if let Some(unchanged) = unchanged(objects, object, known) {
                return Ok(Sourced::Ready(unchanged));
            }
            let stored = config_map_key(client, namespace, key).await?;
            Ok(stored.map(|stored| read_stored(stored, limits, objects, object)))
        }
        TemplateRef::Secret(key) => {
            let object = (ObjectKind::Secret, namespace, key);
            if let Some(unchanged) = unchanged(objects, object, known) {
                return Ok(Sourced::Ready(unchanged));
            }
            let stored = secret_key(client, namespace, key).await?;
            Ok(stored.map(|stored| read_stored(stored, limits, objects, object)))
        }
        TemplateRef::Flux { source, path } => {
            flux_source(client, settings, namespace, source, path, known).await
        }
        TemplateRef::Url(url) => url_source(client, settings, namespace, url, known).await,
    }
}

/// A key of a ConfigMap or Secret: its kind, its namespace, its name and key.
type StoredKey<'a> = (ObjectKind, &'a str, &'a KeyRef);

/// The template of a finished import (`known`), not read again: its object still has the
/// `resourceVersion` it was read at.
fn unchanged(
    objects: Option<&TemplateObjects>,
    (kind, namespace, key): StoredKey<'_>,
    known: Option<&Known>,
) -> Option<TemplateBytes> {
    let (objects, known) = (objects?, known?);
    let same = objects.unchanged(kind, namespace, &key.name, &key.key, &known.digest);
    same.then(|| TemplateBytes {
        content: Content::Unchanged,
        digest: known.digest.clone(),
        revision: None,
        etag: None,
    })
}

/// A key's bytes read at a `resourceVersion`, recorded in `objects` with the digest they give.
fn read_stored(
    (stored, version): (Vec<u8>, Option<String>),
    limits: &TemplateLimits,
    objects: Option<&TemplateObjects>,
    (kind, namespace, key): StoredKey<'_>,
) -> TemplateBytes {
    let template = from_stored(stored, limits);
    if let (Some(objects), Some(version)) = (objects, version) {
        objects.read(
            kind,
            namespace,
            &key.name,
            &key.key,
            &version,
            &template.digest,
        );
    }
    template
}

/// Bytes of a ConfigMap or Secret key: a CSV, or a gzip-compressed CSV (by its magic bytes,
/// whatever the key is called).
fn from_stored(stored: Vec<u8>, limits: &TemplateLimits) -> TemplateBytes {
    let template = |content, digest| TemplateBytes {
        content,
        digest,
        revision: None,
        etag: None,
    };
    let csv = if is_gzip(&stored) {
        match read_unpacked(&stored[..], limits) {
            // The compressed copy is dropped here, before the CSV is parsed.
            Ok(csv) => csv,
            Err(rejection) => {
                return template(Content::Rejected(rejection.to_string()), digest(&stored));
            }
        }
    } else {
        stored
    };
    let digest = digest(&csv);
    template(Content::Csv(csv), digest)
}

/// The bytes of a ConfigMap's key, and the ConfigMap's `resourceVersion`: one GET of that
/// ConfigMap.
async fn config_map_key(
    client: &Client,
    namespace: &str,
    key: &KeyRef,
) -> Result<Sourced<(Vec<u8>, Option<String>)>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let Some(config_map) = api.get_opt(&key.name).await? else {
        return Ok(Sourced::Stalled(not_found("ConfigMap", &key.name)));
    };
    let version = config_map.metadata.resource_version;
    // `data` holds UTF-8 text; `binaryData` holds anything else (a Windows-1252 export, gzip).
    let text = config_map
        .data
        .and_then(|mut data| data.remove(&key.key))
        .map(String::into_bytes);
    let binary = || {
        config_map
            .binary_data
            .and_then(|mut data| data.remove(&key.key))
            .map(|bytes| bytes.0)
    };
    Ok(text
        .or_else(binary)
        .map(|bytes| (bytes, version))
        .ok_or_else(|| key_missing("ConfigMap", key))
        .into())
}

/// The bytes of a Secret's key, and the Secret's `resourceVersion`: one GET of that Secret.
async fn secret_key(
    client: &Client,
    namespace: &str,
    key: &KeyRef,
) -> Result<Sourced<(Vec<u8>, Option<String>)>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret) = api.get_opt(&key.name).await? else {
        return Ok(Sourced::Stalled(not_found("Secret", &key.name)));
    };
    let version = secret.metadata.resource_version;
    let data = secret.data.and_then(|mut data| data.remove(&key.key));
    let string_data = || {
        secret
            .string_data
            .and_then(|mut data| data.remove(&key.key))
            .map(String::into_bytes)
    };
    Ok(data
        .map(|bytes| bytes.0)
        .or_else(string_data)
        .map(|bytes| (bytes, version))
        .ok_or_else(|| key_missing("Secret", key))
        .into())
}

fn not_found(kind: &str, name: &str) -> SourceProblem {
    SourceProblem::new(
        TEMPLATE_SOURCE_NOT_FOUND,
        format!("{kind} {name:?} not found"),
    )
}

fn key_missing(kind: &str, key: &KeyRef) -> SourceProblem {
    SourceProblem::new(
        TEMPLATE_KEY_NOT_FOUND,
        format!("{kind} {:?} has no key {:?}", key.name, key.key),
    )
}

/// The file `path` of a Flux source's artifact.
async fn flux_source(
    client: &Client,
    settings: &Settings,
    namespace: &str,
    source: &FluxSourceRef,
    path: &str,
    known: Option<&Known>,
) -> Result<Fetched> {
    let kind = source.kind.kind();
    if !settings.flux_sources {
        return Ok(Sourced::Stalled(SourceProblem::new(
            FLUX_SOURCES_DISABLED,
            format!(
                "spec.template.sourceRef names a {kind}, and this operator does not read Flux \
                 sources (run it with --flux-sources=true; the chart: fluxSources.enabled=true)"
            ),
        )));
    }
    // Checked before any request: a path that leaves the archive is never looked for.
    if let Err(error) = normalize_path(path) {
        return Ok(Sourced::Stalled(SourceProblem::new(
            INVALID_TEMPLATE_PATH,
            format!("spec.template.path: {error}"),
        )));
    }
    let resource = flux::api_resource(source.kind);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let Some(object) = api.get_opt(&source.name).await? else {
        return Ok(Sourced::Stalled(SourceProblem::new(
            TEMPLATE_SOURCE_NOT_FOUND,
            format!(
                "{kind} {:?} not found (or the API server does not serve {}/{})",
                source.name, resource.api_version, resource.plural
            ),
        )));
    };
    let described = flux::describe(source.kind, &object);
    let artifact = match flux::artifact_of(&object) {
        Ok(artifact) => artifact,
        Err(why) => {
            return Ok(Sourced::Stalled(SourceProblem::new(
                ARTIFACT_NOT_READY,
                format!("{described}: {why}; the import starts when it has one"),
            )));
        }
    };
    let revision = Some(artifact.revision.clone());
    if let Some(known) =
        known.filter(|known| known.revision.is_some() && known.revision == revision)
    {
        return Ok(Sourced::Ready(TemplateBytes {
            content: Content::Unchanged,
            digest: known.digest.clone(),
            revision,
            etag: None,
        }));
    }
    let credentials = Credentials::default();
    let request = download::Request {
        url: &artifact.url,
        https_only: false,
        credentials: &credentials,
        if_none_match: None,
    };
    let body = match download::get(&request).await {
        Ok(Response::Body { body, .. }) => body,
        Ok(Response::NotModified) => {
            return Err(Error::Fetch(format!(
                "GET {}: 304 Not Modified to a request without If-None-Match",
                artifact.url
            )));
        }
        Err(error) => return Err(Error::Fetch(format!("{described}: {error}"))),
    };
    let reader = download::body_reader(body, &artifact.url);
    let limits = settings.limits;
    let archive = ArchiveLimits {
        max_archive_bytes: settings.max_archive_bytes,
    };
    let path = path.to_string();
    let read = tokio::task::spawn_blocking(move || {
        read_artifact(reader, &artifact, &described, &path, &limits, &archive)
    });
    let read = read
        .await
        .map_err(|error| Error::Fetch(format!("the artifact's reader failed: {error}")))?;
    Ok(read?.map(|(content, digest)| TemplateBytes {
        content,
        digest,
        revision,
        etag: None,
    }))
}

/// What a blocking read of a download found: the content and its digest, a problem the user
/// must fix, or a failure to retry.
type Reading = Result<Sourced<(Content, String)>>;

/// Reads an artifact as it downloads: digests every byte, takes the file out of the tarball,
/// then reads the rest only to finish the digest. Nothing is used unless the digest is the one
/// the source's status announced.
fn read_artifact(
    reader: BodyReader,
    artifact: &Artifact,
    described: &str,
    path: &str,
    limits: &TemplateLimits,
    archive: &ArchiveLimits,
) -> Reading {
    let mut digesting = Digesting::new(reader, artifact.digest.algorithm);
    let extracted = extract_file(&mut digesting, path, limits, archive);
    network_failure(&mut digesting)?;
    let of_artifact = |what: String| {
        format!(
            "{what} (the artifact of {described}, revision {:?})",
            artifact.revision
        )
    };
    if let Err(ArchiveError::TooLarge { .. }) = &extracted {
        // Read no further; nothing of it is used.
        let error = extracted.unwrap_err();
        let message = of_artifact(error.to_string());
        return Ok(Sourced::Ready((
            Content::Rejected(message),
            artifact.digest.digest.clone(),
        )));
    }
    let left = archive.max_archive_bytes.saturating_sub(digesting.bytes);
    let drained = io::copy(&mut (&mut digesting).take(left + 1), &mut io::sink());
    network_failure(&mut digesting)?;
    drained.map_err(|error| Error::Fetch(format!("{described}: {error}")))?;
    if digesting.bytes > archive.max_archive_bytes {
        let message = of_artifact(
            ArchiveError::TooLarge {
                limit: archive.max_archive_bytes,
            }
            .to_string(),
        );
        return Ok(Sourced::Ready((
            Content::Rejected(message),
            artifact.digest.digest.clone(),
        )));
    }
    let actual = digesting.digest();
    if actual != artifact.digest.digest {
        return Ok(Sourced::Stalled(SourceProblem::new(
            TEMPLATE_DIGEST_MISMATCH,
            format!(
                "the artifact of {described} downloaded from {} has the digest {actual}, not \
                 {} as its status.artifact.digest says: it was not used",
                artifact.url, artifact.digest.digest
            ),
        )));
    }
    Ok(match extracted {
        Ok(csv) => {
            let digest = digest(&csv);
            Sourced::Ready((Content::Csv(csv), digest))
        }
        Err(ArchiveError::Template(rejection)) => Sourced::Ready((
            Content::Rejected(of_artifact(format!("{path:?}: {rejection}"))),
            artifact.digest.digest.clone(),
        )),
        Err(error @ (ArchiveError::NotFound { .. } | ArchiveError::NotAFile { .. })) => {
            Sourced::Stalled(SourceProblem::new(
                TEMPLATE_PATH_NOT_FOUND,
                of_artifact(error.to_string()),
            ))
        }
        Err(error @ ArchiveError::InvalidPath { .. }) => Sourced::Stalled(SourceProblem::new(
            INVALID_TEMPLATE_PATH,
            format!("spec.template.path: {error}"),
        )),
        Err(error) => Sourced::Stalled(SourceProblem::new(
            ARTIFACT_UNREADABLE,
            of_artifact(error.to_string()),
        )),
    })
}

/// A failure of the download itself (not of its content): retried.
fn network_failure(digesting: &mut Digesting<BodyReader>) -> Result<()> {
    match digesting.get_mut().failure() {
        Some(failure) => Err(Error::Fetch(failure)),
        None => Ok(()),
    }
}

/// A template downloaded from `spec.template.url`.
async fn url_source(
    client: &Client,
    settings: &Settings,
    namespace: &str,
    source: &UrlSource,
    known: Option<&Known>,
) -> Result<Fetched> {
    let expected = match source.digest.as_deref().map(ExpectedDigest::parse) {
        None => None,
        Some(Ok(expected)) => Some(expected),
        Some(Err(why)) => {
            return Ok(Sourced::Stalled(SourceProblem::new(
                INVALID_TEMPLATE_REF,
                format!("spec.template.url.digest: {why}"),
            )));
        }
    };
    let credentials = match &source.secret_ref {
        None => Credentials::default(),
        Some(secret) => match credentials(client, namespace, secret).await? {
            Sourced::Ready(credentials) => credentials,
            Sourced::Stalled(problem) => return Ok(Sourced::Stalled(problem)),
        },
    };
    let if_none_match = known.and_then(|known| known.etag.as_deref());
    let request = download::Request {
        url: &source.url,
        https_only: true,
        credentials: &credentials,
        if_none_match,
    };
    let (etag, body) = match download::get_allowed(&request, &settings.template_hosts).await {
        Ok(Response::Body { etag, body }) => (etag, body),
        Ok(Response::NotModified) => {
            return match known {
                Some(known) => Ok(Sourced::Ready(TemplateBytes {
                    content: Content::Unchanged,
                    digest: known.digest.clone(),
                    revision: None,
                    etag: known.etag.clone(),
                })),
                None => Err(Error::Fetch(format!(
                    "GET {}: 304 Not Modified to a request without If-None-Match",
                    source.url
                ))),
            };
        }
        Err(download::GetError::Refused(refused)) => {
            return Ok(Sourced::Stalled(SourceProblem::new(
                TEMPLATE_HOST_NOT_ALLOWED,
                format!(
                    "spec.template.url {}: {refused}; nothing was requested",
                    source.url
                ),
            )));
        }
        Err(download::GetError::Failed(error)) => return Err(Error::Fetch(error.to_string())),
    };
    let reader = download::body_reader(body, &source.url);
    let limits = settings.limits;
    let url = source.url.clone();
    let read = tokio::task::spawn_blocking(move || read_file(reader, &url, expected, &limits));
    let read = read
        .await
        .map_err(|error| Error::Fetch(format!("the download's reader failed: {error}")))?;
    Ok(read?.map(|(content, digest)| TemplateBytes {
        content,
        digest,
        revision: None,
        etag,
    }))
}

/// Reads a downloaded template (plain or gzip) as it arrives, digesting the file as served.
fn read_file(
    reader: BodyReader,
    url: &str,
    expected: Option<ExpectedDigest>,
    limits: &TemplateLimits,
) -> Reading {
    let algorithm = expected
        .as_ref()
        .map_or(DigestAlgorithm::Sha256, |expected| expected.algorithm);
    let mut digesting = Digesting::new(reader, algorithm);
    let content = read_unpacked(&mut digesting, limits);
    network_failure(&mut digesting)?;
    let csv = match content {
        Ok(csv) => csv,
        // Read no further: nothing of it is used. The digest of what was read tells this file.
        Err(rejection) => {
            return Ok(Sourced::Ready((
                Content::Rejected(rejection.to_string()),
                digesting.digest(),
            )));
        }
    };
    // Anything after a gzip stream's end still counts for the file's digest (bounded: at most
    // the template limit more).
    let left = u64::try_from(limits.max_bytes).unwrap_or(u64::MAX);
    let drained = io::copy(&mut (&mut digesting).take(left), &mut io::sink());
    network_failure(&mut digesting)?;
    drained.map_err(|error| Error::Fetch(format!("GET {url}: {error}")))?;
    let served = digesting.digest();
    if let Some(expected) = expected.filter(|expected| served != expected.digest) {
        return Ok(Sourced::Stalled(SourceProblem::new(
            TEMPLATE_DIGEST_MISMATCH,
            format!(
                "the file at {url} has the digest {served}, not {} as spec.template.url.digest \
                 requires: it was not used",
                expected.digest
            ),
        )));
    }
    let digest = digest(&csv);
    Ok(Sourced::Ready((Content::Csv(csv), digest)))
}

/// The credentials of a URL source's Secret: `token`, or `username` and `password`; `ca.crt`.
async fn credentials(
    client: &Client,
    namespace: &str,
    secret: &SecretName,
) -> Result<Sourced<Credentials>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret_object) = api.get_opt(&secret.name).await? else {
        return Ok(Sourced::Stalled(not_found("Secret", &secret.name)));
    };
    let mut data = secret_object.data.unwrap_or_default();
    let mut text = |key: &str| {
        data.remove(key)
            .map(|bytes| String::from_utf8_lossy(&bytes.0).trim().to_string())
            .filter(|value| !value.is_empty())
    };
    let token = text("token");
    let basic = match (text("username"), text("password")) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => {
            return Ok(Sourced::Stalled(SourceProblem::new(
                INVALID_TEMPLATE_REF,
                format!(
                    "Secret {:?} has one of username and password: basic auth needs both",
                    secret.name
                ),
            )));
        }
    };
    let ca_pem = text("ca.crt").map(String::into_bytes);
    Ok(Sourced::Ready(Credentials {
        token,
        basic,
        ca_pem,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_in_lower_case_hex() {
        assert_eq!(
            digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn stored_gzip_is_the_csv_and_a_bomb_is_rejected_with_the_stored_digest() {
        use std::io::Write;
        let csv = b"First Name,Last Name,Email,Coupa Username,Coupa User ID\n".to_vec();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&csv).unwrap();
        let packed = encoder.finish().unwrap();
        let limits = TemplateLimits::default();
        let read = from_stored(packed.clone(), &limits);
        assert_eq!(read.digest, digest(&csv), "the digest is the CSV's");
        assert!(matches!(read.content, Content::Csv(ref bytes) if *bytes == csv));
        let small = TemplateLimits {
            max_bytes: 10,
            ..limits
        };
        let rejected = from_stored(packed.clone(), &small);
        assert_eq!(rejected.digest, digest(&packed));
        assert!(
            matches!(&rejected.content, Content::Rejected(message) if message.contains("limit of 10 bytes"))
        );
    }
}
