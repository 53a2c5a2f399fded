//! The kinds of resource served: built-ins plus every loaded CustomResourceDefinition.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// One served resource (a group/version/plural).
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Has a `status` subresource: main writes ignore status, status writes touch only status.
    pub status_subresource: bool,
    /// `metadata.generation` is maintained.
    pub generation: bool,
    /// The `openAPIV3Schema` of a custom resource (validated, defaulted, pruned).
    pub schema: Option<Value>,
    /// Is a custom resource.
    pub custom: bool,
    /// A CRD's `additionalPrinterColumns` (for Table answers).
    pub printer_columns: Vec<Value>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            short_names: vec![],
            categories: vec![],
            namespaced,
            status_subresource: false,
            generation: false,
            schema: None,
            custom: false,
            printer_columns: vec![],
        }
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self.generation = true;
        self
    }

    /// Namespaces and Services keep no `metadata.generation` on a real server.
    fn without_generation(mut self) -> Self {
        self.generation = false;
        self
    }

    fn with_generation(mut self) -> Self {
        self.generation = true;
        self
    }

    fn all(mut self) -> Self {
        self.categories = vec!["all".into()];
        self
    }

    /// Every version of a CRD that is served, as resource types.
    pub fn from_crd(crd: &CustomResourceDefinition) -> Vec<ResourceType> {
        let spec = &crd.spec;
        spec.versions
            .iter()
            .filter(|v| v.served)
            .map(|v| ResourceType {
                group: spec.group.clone(),
                version: v.name.clone(),
                plural: spec.names.plural.clone(),
                singular: spec
                    .names
                    .singular
                    .clone()
                    .unwrap_or_else(|| spec.names.kind.to_lowercase()),
                kind: spec.names.kind.clone(),
                short_names: spec.names.short_names.clone().unwrap_or_default(),
                categories: spec.names.categories.clone().unwrap_or_default(),
                namespaced: spec.scope == "Namespaced",
                status_subresource: v.subresources.as_ref().is_some_and(|s| s.status.is_some()),
                generation: true,
                schema: v
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    .and_then(|s| serde_json::to_value(s).ok()),
                custom: true,
                printer_columns: v
                    .additional_printer_columns
                    .as_ref()
                    .and_then(|c| serde_json::to_value(c).ok())
                    .and_then(|c| c.as_array().cloned())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

/// All served resource types.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        use ResourceType as R;
        let types = vec![
            R::builtin("", "v1", "namespaces", "Namespace", false)
                .short(&["ns"])
                .with_status()
                .without_generation(),
            R::builtin("", "v1", "configmaps", "ConfigMap", true).short(&["cm"]),
            R::builtin("", "v1", "secrets", "Secret", true),
            R::builtin("", "v1", "events", "Event", true).short(&["ev"]),
            R::builtin("", "v1", "services", "Service", true)
                .short(&["svc"])
                .with_status()
                .without_generation()
                .all(),
            R::builtin("", "v1", "serviceaccounts", "ServiceAccount", true).short(&["sa"]),
            R::builtin("", "v1", "pods", "Pod", true)
                .short(&["po"])
                .with_status()
                .all(),
            R::builtin("events.k8s.io", "v1", "events", "Event", true).short(&["ev"]),
            R::builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
            R::builtin("apps", "v1", "deployments", "Deployment", true)
                .short(&["deploy"])
                .with_status()
                .all(),
            R::builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
            R::builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "rolebindings",
                "RoleBinding",
                true,
            ),
            R::builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                "ClusterRole",
                false,
            ),
            R::builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterrolebindings",
                "ClusterRoleBinding",
                false,
            ),
            R::builtin(
                "policy",
                "v1",
                "poddisruptionbudgets",
                "PodDisruptionBudget",
                true,
            )
            .short(&["pdb"])
            .with_status(),
            R::builtin(
                "networking.k8s.io",
                "v1",
                "networkpolicies",
                "NetworkPolicy",
                true,
            )
            .short(&["netpol"])
            .with_generation(),
            R::builtin(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
            )
            .short(&["crd", "crds"])
            .with_status(),
        ];
        Registry { types }
    }

    /// Adds (or replaces) the resource types of a CRD.
    pub fn add_crd(&mut self, crd: &CustomResourceDefinition) {
        for rt in ResourceType::from_crd(crd) {
            self.types.retain(|t| {
                !(t.group == rt.group && t.version == rt.version && t.plural == rt.plural)
            });
            self.types.push(rt);
        }
    }

    pub fn remove_crd(&mut self, crd: &CustomResourceDefinition) {
        let (group, plural) = (&crd.spec.group, &crd.spec.names.plural);
        self.types
            .retain(|t| !(&t.group == group && &t.plural == plural && t.custom));
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// Groups (in first-seen order) with their versions.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = vec![];
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, vs)) => {
                    if !vs.contains(&t.version) {
                        vs.push(t.version.clone())
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }
}
