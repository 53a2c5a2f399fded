//! Mapping a change of a ConfigMap, Secret, Tenant or Flux source back to the UserImports that
//! use it, over the controller's own cache of UserImports (no API call per event).

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::resources::{FluxSourceKind, Tenant, UserImport};

pub(crate) fn imports_of_config_map(
    store: &Store<UserImport>,
    object: &ConfigMap,
) -> Vec<ObjectRef<UserImport>> {
    matching(store, object.namespace(), |import| {
        import
            .spec
            .template
            .config_map_key_ref
            .as_ref()
            .map(|key| key.name.as_str())
            == Some(object.name_any().as_str())
    })
}

/// The UserImports whose template is in the Secret, or whose URL's credentials are.
pub(crate) fn imports_of_secret(
    store: &Store<UserImport>,
    object: &Secret,
) -> Vec<ObjectRef<UserImport>> {
    let name = object.name_any();
    matching(store, object.namespace(), |import| {
        let template = &import.spec.template;
        let key = template.secret_key_ref.as_ref().map(|key| &key.name);
        let credentials = template
            .url
            .as_ref()
            .and_then(|url| url.secret_ref.as_ref())
            .map(|secret| &secret.name);
        key == Some(&name) || credentials == Some(&name)
    })
}

/// The UserImports whose `sourceRef` names this Flux source.
pub(crate) fn imports_of_flux_source(
    store: &Store<UserImport>,
    kind: FluxSourceKind,
    object: &DynamicObject,
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
