//! Flux sources (`GitRepository`, `OCIRepository`, `Bucket`, `ExternalArtifact`): their
//! `status.artifact`, read with kube's dynamic API (Flux's types are not compiled in), and a
//! metadata-only watch of each kind whose CRD the API server serves, so that a new artifact
//! revision re-triggers the UserImports that use the source.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::api::{ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use user_import_engine::archive::ExpectedDigest;
use user_import_resources::{FLUX_SOURCE_GROUP, FLUX_SOURCE_VERSION, FluxSourceKind, UserImport};

/// The API resource of a Flux source kind, for the dynamic API.
pub fn api_resource(kind: FluxSourceKind) -> ApiResource {
    ApiResource {
        group: FLUX_SOURCE_GROUP.into(),
        version: FLUX_SOURCE_VERSION.into(),
        api_version: format!("{FLUX_SOURCE_GROUP}/{FLUX_SOURCE_VERSION}"),
        kind: kind.kind().into(),
        plural: kind.plural().into(),
    }
}

/// A source's current artifact: where to download it, what it must digest to, its revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Artifact {
    pub(crate) url: String,
    pub(crate) digest: ExpectedDigest,
    pub(crate) revision: String,
}

/// The artifact in a source's `status.artifact`, or why there is none to use yet.
pub(crate) fn artifact_of(source: &DynamicObject) -> Result<Artifact, String> {
    let artifact = &source.data["status"]["artifact"];
    let text = |field: &str| {
        artifact[field]
            .as_str()
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let (Some(url), Some(digest)) = (text("url"), text("digest")) else {
        return Err("it has no artifact yet (status.artifact with url and digest)".to_string());
    };
    let digest = ExpectedDigest::parse(digest)?;
    Ok(Artifact {
        url: url.to_string(),
        digest,
        revision: text("revision").unwrap_or_default().to_string(),
    })
}

/// Watches the Flux source kinds that the API server serves, and sends the UserImports that use
/// a source each time the source changes. The group's discovery is asked every `every` until
/// every kind is served (Flux may be installed after the operator), and a kind the server does
/// not serve is never listed: without Flux, no request about it is made beyond discovery.
pub(crate) async fn watch_sources(
    client: Client,
    namespace: Option<String>,
    imports: Store<UserImport>,
    triggers: UnboundedSender<ObjectRef<UserImport>>,
    every: Duration,
) {
    let mut watched = HashSet::new();
    let mut tasks = Vec::new();
    let group_version = format!("{FLUX_SOURCE_GROUP}/{FLUX_SOURCE_VERSION}");
    loop {
        if let Ok(served) = client.list_api_group_resources(&group_version).await {
            for kind in FluxSourceKind::ALL {
                let is_served = served.resources.iter().any(|r| r.name == kind.plural());
                if is_served && watched.insert(kind) {
                    tracing::info!(kind = kind.kind(), "watching the Flux source kind");
                    let task = watch_kind(
                        client.clone(),
                        namespace.clone(),
                        kind,
                        imports.clone(),
                        triggers.clone(),
                    );
                    tasks.push(super::AbortOnDrop(tokio::spawn(task)));
                }
            }
        }
        if watched.len() == FluxSourceKind::ALL.len() {
            // Every kind is watched; the watchers re-list by themselves after errors.
            futures::future::pending::<()>().await;
        }
        tokio::time::sleep(every).await;
    }
}

async fn watch_kind(
    client: Client,
    namespace: Option<String>,
    kind: FluxSourceKind,
    imports: Store<UserImport>,
    triggers: UnboundedSender<ObjectRef<UserImport>>,
) {
    let resource = api_resource(kind);
    // Metadata only: a new artifact changes the source's resourceVersion, which is all this
    // needs; the reconcile reads the status of the one source an import names with a GET.
    let api: Api<PartialObjectMeta<DynamicObject>> = match &namespace {
        Some(namespace) => Api::namespaced_with(client, namespace, &resource),
        None => Api::all_with(client, &resource),
    };
    let mut changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .boxed();
    while let Some(change) = changes.next().await {
        match change {
            Ok(source) => {
                for import in super::watches::imports_of_flux_source(&imports, kind, &source) {
                    if triggers.unbounded_send(import).is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::debug!(kind = kind.kind(), %error, "the Flux source watch failed; retrying")
            }
        }
    }
}

/// The namespace and name of a source, for messages.
pub(crate) fn describe(kind: FluxSourceKind, source: &DynamicObject) -> String {
    format!("{} {:?}", kind.kind(), source.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(status: serde_json::Value) -> DynamicObject {
        let mut object = DynamicObject::new("repo", &api_resource(FluxSourceKind::GitRepository));
        object.data = json!({ "status": status });
        object
    }

    #[test]
    fn the_artifact_is_read_from_the_status() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let artifact = artifact_of(&source(json!({"artifact": {
            "url": "http://source-controller/gitrepository/acme/repo/abc.tar.gz",
            "digest": digest,
            "revision": "main@sha1:abc",
        }})))
        .unwrap();
        assert_eq!(artifact.revision, "main@sha1:abc");
        assert_eq!(artifact.digest.digest, digest);
        assert!(
            artifact_of(&source(json!({})))
                .unwrap_err()
                .contains("no artifact yet")
        );
        let no_digest = source(json!({"artifact": {"url": "http://x/a.tar.gz"}}));
        assert!(artifact_of(&no_digest).is_err());
        let unsupported = source(json!({"artifact": {"url": "http://x", "digest": "blake3:00"}}));
        assert!(
            artifact_of(&unsupported)
                .unwrap_err()
                .contains("not supported")
        );
    }

    #[test]
    fn every_kind_is_in_the_flux_source_group_v1() {
        for kind in FluxSourceKind::ALL {
            let resource = api_resource(kind);
            assert_eq!(resource.api_version, "source.toolkit.fluxcd.io/v1");
            assert_eq!(resource.plural, kind.plural());
        }
    }
}
