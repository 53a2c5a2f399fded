//! The watches of what imports use, and mapping a change back to the UserImports that use it,
//! over the controller's own cache of UserImports (no API call per event).
//!
//! ConfigMaps, Secrets and Flux sources are watched as metadata only
//! (`PartialObjectMetadata`): in cluster-wide mode that is every one of them in every
//! namespace, and almost none holds a template. A change of an object still changes its
//! `resourceVersion`, which is all a watch needs to wake the imports that name it; the content
//! of the few an import names is read with a GET of that one object, once per
//! `resourceVersion` ([`TemplateObjects`]). Nothing decodes the content of the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::{Stream, TryStreamExt};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use user_import_resources::{FluxSourceKind, Tenant, UserImport};

/// The kind of a template object, as [`TemplateObjects`] keys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ObjectKind {
    ConfigMap,
    Secret,
}

/// Whether `import` names the ConfigMap `name` (as its template).
pub(crate) fn names_config_map(import: &UserImport, name: &str) -> bool {
    let key = import.spec.template.config_map_key_ref.as_ref();
    key.is_some_and(|key| key.name == name)
}

/// Whether `import` names the Secret `name`: its template's, or its URL's credentials.
pub(crate) fn names_secret(import: &UserImport, name: &str) -> bool {
    let template = &import.spec.template;
    let key = template.secret_key_ref.as_ref().map(|key| &key.name);
    let credentials = template
        .url
        .as_ref()
        .and_then(|url| url.secret_ref.as_ref())
        .map(|secret| &secret.name);
    key.is_some_and(|key| key == name) || credentials.is_some_and(|secret| secret == name)
}

/// The UserImports of the object's namespace that name it (`names`: [`names_config_map`],
/// [`names_secret`]).
pub(crate) fn imports_naming<K: Resource>(
    store: &Store<UserImport>,
    object: &K,
    names: fn(&UserImport, &str) -> bool,
) -> Vec<ObjectRef<UserImport>> {
    let name = object.name_any();
    matching(store, object.namespace(), |import| names(import, &name))
}

/// The UserImports whose `sourceRef` names this Flux source.
pub(crate) fn imports_of_flux_source<K: Resource>(
    store: &Store<UserImport>,
    kind: FluxSourceKind,
    object: &K,
) -> Vec<ObjectRef<UserImport>> {
    let name = object.name_any();
    matching(store, object.namespace(), |import| {
        import
            .spec
            .template
            .source_ref
            .as_ref()
            .is_some_and(|source| source.kind == kind && source.name == name)
    })
}

pub(crate) fn imports_of_tenant(
    store: &Store<UserImport>,
    object: &Tenant,
) -> Vec<ObjectRef<UserImport>> {
    matching(store, object.namespace(), |import| {
        import.spec.tenant_ref.name == object.name_any()
    })
}

/// The UserImports of `namespace` for which `uses` is true.
fn matching(
    store: &Store<UserImport>,
    namespace: Option<String>,
    uses: impl Fn(&UserImport) -> bool,
) -> Vec<ObjectRef<UserImport>> {
    store
        .state()
        .iter()
        .filter(|import| import.namespace() == namespace && uses(import))
        .map(|import| ObjectRef::from_obj(import.as_ref()))
        .collect()
}

/// The metadata of every object of `api`, as it changes (for `Controller::watches_stream`; an
/// `Api` of `PartialObjectMeta` makes metadata-only lists and watches);
/// on the way, the `resourceVersion` of each one an import names (`names`) goes into
/// `objects`, so that a template read before is not read again while its object keeps that
/// version.
pub(crate) fn template_objects<K>(
    api: Api<PartialObjectMeta<K>>,
    kind: ObjectKind,
    imports: Store<UserImport>,
    objects: Arc<TemplateObjects>,
    names: fn(&UserImport, &str) -> bool,
) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    watcher(api, watcher::Config::default())
        .map_ok(move |event| {
            objects.observe(kind, &event, |object| {
                !imports_naming(&imports, object, names).is_empty()
            });
            event
        })
        .touched_objects()
}

/// One template object: its namespace and name, and its kind.
type ObjectKey = (ObjectKind, String, String);

/// What is known of one template object.
#[derive(Debug, Default)]
struct Versions {
    /// The `resourceVersion` the watch last saw (or, when it had shown none since an import
    /// named the object, the one a GET returned).
    seen: Option<String>,
    /// Per key read: the `resourceVersion` it was read at and the template's digest.
    read: HashMap<String, (String, String)>,
}

/// The ConfigMaps and Secrets that imports name: the `resourceVersion` the metadata watch
/// last saw of each, and the digest of each key read from it at the version it was read at.
///
/// A template whose object still has the version it was read at is the same template: the
/// finished import it gave is not fetched again at each reconcile (every status write, the
/// resync). Only objects an import names are kept, and only their versions and digests.
#[derive(Debug, Default)]
pub(crate) struct TemplateObjects {
    objects: Mutex<HashMap<ObjectKey, Versions>>,
}

impl TemplateObjects {
    /// Locked even when a panic poisoned it: each change leaves it consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectKey, Versions>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A watch event of `kind`. `named` says whether an import names an object: only those
    /// are kept.
    fn observe<K: Resource>(
        &self,
        kind: ObjectKind,
        event: &Event<PartialObjectMeta<K>>,
        named: impl Fn(&PartialObjectMeta<K>) -> bool,
    ) {
        let key = |object: &PartialObjectMeta<K>| {
            (
                kind,
                object.namespace().unwrap_or_default(),
                object.name_any(),
            )
        };
        match event {
            Event::Apply(object) | Event::InitApply(object) => {
                let key = key(object);
                if named(object) {
                    let version = object.resource_version();
                    self.lock().entry(key).or_default().seen = version;
                } else {
                    self.lock().remove(&key);
                }
            }
            Event::Delete(object) => {
                self.lock().remove(&key(object));
            }
            // The watch lists again (after a gap it may have missed deletions): what it saw
            // before is not trusted until the list shows it again.
            Event::Init => {
                for (_, versions) in self.lock().iter_mut().filter(|(k, _)| k.0 == kind) {
                    versions.seen = None;
                }
            }
            Event::InitDone => {}
        }
    }

    /// Whether `key` of the object, read before as `digest`, is still what the object holds:
    /// the watch's last version of it is the one it was read at.
    pub(crate) fn unchanged(
        &self,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
        key: &str,
        digest: &str,
    ) -> bool {
        let objects = self.lock();
        let Some(versions) = objects.get(&(kind, namespace.to_string(), name.to_string())) else {
            return false;
        };
        match (&versions.seen, versions.read.get(key)) {
            (Some(seen), Some((read_at, read))) => seen == read_at && read == digest,
            _ => false,
        }
    }

    /// `key` of the object was read at `version` and gave `digest`.
    pub(crate) fn read(
        &self,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
        key: &str,
        version: &str,
        digest: &str,
    ) {
        let mut objects = self.lock();
        let versions = objects
            .entry((kind, namespace.to_string(), name.to_string()))
            .or_default();
        // A version the watch showed is kept, even an older one: the watch will show the
        // newer, and until then the template is read again rather than taken as unchanged.
        // With none (the watch saw the object before any import named it), the GET's is the
        // latest: it was made after that.
        versions.seen.get_or_insert_with(|| version.to_string());
        let read = (version.to_string(), digest.to_string());
        versions.read.insert(key.to_string(), read);
    }

    /// How many objects are kept (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn meta(name: &str, version: &str) -> PartialObjectMeta<ConfigMap> {
        PartialObjectMeta {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            ..PartialObjectMeta::default()
        }
    }

    const CM: ObjectKind = ObjectKind::ConfigMap;

    #[test]
    fn a_template_is_unchanged_while_its_object_keeps_the_version_it_was_read_at() {
        let objects = TemplateObjects::default();
        let named = |_: &PartialObjectMeta<ConfigMap>| true;
        objects.observe(CM, &Event::Apply(meta("t", "5")), named);
        assert!(!objects.unchanged(CM, "ns", "t", "users.csv", "sha256:a"));
        objects.read(CM, "ns", "t", "users.csv", "5", "sha256:a");
        assert!(objects.unchanged(CM, "ns", "t", "users.csv", "sha256:a"));
        // Another key, another digest, another kind, another namespace: not known.
        assert!(!objects.unchanged(CM, "ns", "t", "other.csv", "sha256:a"));
        assert!(!objects.unchanged(CM, "ns", "t", "users.csv", "sha256:b"));
        assert!(!objects.unchanged(ObjectKind::Secret, "ns", "t", "users.csv", "sha256:a"));
        assert!(!objects.unchanged(CM, "other", "t", "users.csv", "sha256:a"));
        // A new version: read again.
        objects.observe(CM, &Event::Apply(meta("t", "6")), named);
        assert!(!objects.unchanged(CM, "ns", "t", "users.csv", "sha256:a"));
        objects.read(CM, "ns", "t", "users.csv", "6", "sha256:a");
        assert!(objects.unchanged(CM, "ns", "t", "users.csv", "sha256:a"));
    }

    #[test]
    fn a_get_older_than_the_watch_is_read_again() {
        let objects = TemplateObjects::default();
        objects.observe(CM, &Event::Apply(meta("t", "7")), |_| true);
        // The GET was served before version 7.
        objects.read(CM, "ns", "t", "k", "6", "sha256:a");
        assert!(!objects.unchanged(CM, "ns", "t", "k", "sha256:a"));
        // Read before any watch event named it: the GET's version is the latest.
        objects.read(CM, "ns", "u", "k", "3", "sha256:b");
        assert!(objects.unchanged(CM, "ns", "u", "k", "sha256:b"));
    }

    #[test]
    fn deleted_unnamed_and_relisted_objects_are_not_taken_as_unchanged() {
        let objects = TemplateObjects::default();
        for name in ["a", "b", "c"] {
            objects.observe(CM, &Event::Apply(meta(name, "1")), |_| true);
            objects.read(CM, "ns", name, "k", "1", "sha256:x");
        }
        objects.observe(CM, &Event::Delete(meta("a", "1")), |_| true);
        assert!(!objects.unchanged(CM, "ns", "a", "k", "sha256:x"));
        objects.observe(CM, &Event::Apply(meta("b", "2")), |_| false);
        assert!(!objects.unchanged(CM, "ns", "b", "k", "sha256:x"));
        assert_eq!(objects.len(), 1, "only the object still named is kept");
        objects.observe(CM, &Event::<PartialObjectMeta<ConfigMap>>::Init, |_| true);
        assert!(!objects.unchanged(CM, "ns", "c", "k", "sha256:x"));
        objects.observe(CM, &Event::InitApply(meta("c", "1")), |_| true);
        objects.observe(CM, &Event::<PartialObjectMeta<ConfigMap>>::InitDone, |_| {
            true
        });
        assert!(objects.unchanged(CM, "ns", "c", "k", "sha256:x"));
    }
}
