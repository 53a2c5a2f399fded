//! The `UserImport` resource: its spec (tenant, template source, mode) and its status.

// kube's `KubeSchema` derive (for the CEL rules) emits a module-private copy of each struct it
// validates, with the struct's `pub`: the lint would fire on code that is not ours to change.
#![allow(unreachable_pub)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::entries::{Counts, NewEntry, ProblemEntry, UpdateEntry};
use super::names::{OBJECT_NAME_MAX_LENGTH, OBJECT_NAME_PATTERN};
use super::tenant::SecretName;

/// One import of a User Import Template into a tenant.
// The CRD carries CEL rules (`x-kubernetes-validations`) that only an API server enforces:
// exactly one template source, and a `tenantRef` that never changes. The controller keeps its
// own checks (status reasons) for objects stored before the rules existed.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "riskassess.io",
    version = "v1alpha1",
    kind = "UserImport",
    namespaced,
    status = "UserImportStatus",
    shortname = "uimp",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"New","type":"integer","jsonPath":".status.counts.new"}"#,
    printcolumn = r#"{"name":"Update","type":"integer","jsonPath":".status.counts.update"}"#,
    printcolumn = r#"{"name":"Problem","type":"integer","jsonPath":".status.counts.problem"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct UserImportSpec {
    /// The Tenant (same namespace) to import into. Immutable: an import's counts, report and
    /// users belong to one tenant; another tenant is another UserImport.
    #[x_kube(validation = Rule::new("self == oldSelf").message(TENANT_REF_IMMUTABLE))]
    pub tenant_ref: TenantRef,
    /// Where the template CSV is: exactly one of `configMapKeyRef`, `secretKeyRef`, `sourceRef`
    /// (with `path`), `url`.
    pub template: TemplateSource,
    /// `Apply` (default) writes users; `DryRun` only reports.
    #[serde(default)]
    pub mode: ImportMode,
    /// `Continue` (default) applies the good rows; `Abort` applies nothing if any row is a problem.
    #[serde(default)]
    pub on_problem: OnProblem,
}

/// The Tenant an import writes into.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TenantRef {
    /// The Tenant's name: a Kubernetes object name.
    #[schemars(length(max = OBJECT_NAME_MAX_LENGTH), pattern(OBJECT_NAME_PATTERN))]
    pub name: String,
}

/// The template's source: exactly one of `configMapKeyRef`, `secretKeyRef`, `sourceRef` (with
/// `path`) and `url`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(ONE_TEMPLATE_SOURCE_RULE).message(ONE_TEMPLATE_SOURCE),
    validation = Rule::new(PATH_WITH_SOURCE_REF_RULE).message(PATH_WITH_SOURCE_REF)
)]
pub struct TemplateSource {
    /// A key of a ConfigMap (`data`, or `binaryData` for bytes such as a gzip-compressed CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
    /// A key of a Secret (plain or gzip-compressed CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
    /// A Flux source in the UserImport's namespace: the template is the file `path` of its
    /// artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<FluxSourceRef>,
    /// With `sourceRef` (and only with it): the template's path inside the source's artifact,
    /// relative to its root (`./imports/users.csv`, `imports/users.csv.gz`). It may not leave
    /// the artifact (no `..`, not absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub path: Option<String>,
    /// An HTTPS URL, fetched and re-checked every `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<UrlSource>,
}

/// CEL: exactly one template source is set. A list of `has()`, so that another source kind
/// is one more entry (and one more name in [`ONE_TEMPLATE_SOURCE`]).
pub(crate) const ONE_TEMPLATE_SOURCE_RULE: &str = "[has(self.configMapKeyRef), has(self.secretKeyRef), \
     has(self.sourceRef), has(self.url)].filter(set, set).size() == 1";
/// The message of [`ONE_TEMPLATE_SOURCE_RULE`].
pub(crate) const ONE_TEMPLATE_SOURCE: &str =
    "spec.template must set exactly one of configMapKeyRef, secretKeyRef, sourceRef, url";
/// CEL: `path` goes with `sourceRef`, and only with it.
pub(crate) const PATH_WITH_SOURCE_REF_RULE: &str = "has(self.sourceRef) == has(self.path)";
/// The message of [`PATH_WITH_SOURCE_REF_RULE`].
pub(crate) const PATH_WITH_SOURCE_REF: &str =
    "spec.template.path is required with sourceRef, and allowed only with it";
/// The message of the CEL rule that keeps `spec.tenantRef` as created.
pub(crate) const TENANT_REF_IMMUTABLE: &str =
    "spec.tenantRef is immutable: create another UserImport to import into another Tenant";

/// A key of a ConfigMap or Secret in the UserImport's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub struct KeyRef {
    /// The ConfigMap's or Secret's name: a Kubernetes object name.
    #[schemars(length(max = OBJECT_NAME_MAX_LENGTH), pattern(OBJECT_NAME_PATTERN))]
    pub name: String,
    /// The key in `data` or `binaryData`.
    pub key: String,
}

/// A Flux source object (API group `source.toolkit.fluxcd.io`, version `v1`) in the
/// UserImport's namespace, as a Flux Kustomization's `sourceRef` names one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct FluxSourceRef {
    /// `GitRepository`, `OCIRepository`, `Bucket` or `ExternalArtifact`.
    pub kind: FluxSourceKind,
    /// The source's name: a Kubernetes object name.
    #[schemars(length(max = OBJECT_NAME_MAX_LENGTH), pattern(OBJECT_NAME_PATTERN))]
    pub name: String,
}

/// The Flux kinds whose `status.artifact` (a `.tar.gz` served over HTTP) can hold a template:
/// `GitRepository`, `OCIRepository`, `Bucket` (`source.toolkit.fluxcd.io/v1`) and
/// `ExternalArtifact`.
// Variants carry no doc comments on purpose: schemars would turn them into a `oneOf` of
// `const`s, which a CRD's structural schema does not allow. The type's doc says what each means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum FluxSourceKind {
    GitRepository,
    #[serde(rename = "OCIRepository")]
    OciRepository,
    Bucket,
    ExternalArtifact,
}

impl FluxSourceKind {
    /// Every kind, in the order of the docs.
    pub const ALL: [FluxSourceKind; 4] = [
        FluxSourceKind::GitRepository,
        FluxSourceKind::OciRepository,
        FluxSourceKind::Bucket,
        FluxSourceKind::ExternalArtifact,
    ];

    /// The kind as Kubernetes spells it.
    pub fn kind(self) -> &'static str {
        match self {
            FluxSourceKind::GitRepository => "GitRepository",
            FluxSourceKind::OciRepository => "OCIRepository",
            FluxSourceKind::Bucket => "Bucket",
            FluxSourceKind::ExternalArtifact => "ExternalArtifact",
        }
    }

    /// The resource's plural, as in its API path.
    pub fn plural(self) -> &'static str {
        match self {
            FluxSourceKind::GitRepository => "gitrepositories",
            FluxSourceKind::OciRepository => "ocirepositories",
            FluxSourceKind::Bucket => "buckets",
            FluxSourceKind::ExternalArtifact => "externalartifacts",
        }
    }
}

/// The API group of the Flux source kinds.
pub const FLUX_SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// The version of the Flux source kinds that the operator reads (each kind is served as `v1`
/// since Flux 2.7).
pub const FLUX_SOURCE_VERSION: &str = "v1";

/// A template downloaded from an HTTPS URL.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UrlSource {
    /// The template's `https://` URL (a CSV, or a gzip-compressed CSV).
    #[schemars(length(max = 2048), pattern(r"^https://[^\s]+$"))]
    pub url: String,
    /// When set, `sha256:<hex>` (or `sha384:`/`sha512:`) of the file as served: a file with
    /// another digest is refused and nothing is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(sha256|sha384|sha512):[0-9a-fA-F]+$"))]
    pub digest: Option<String>,
    /// A Secret in the UserImport's namespace with credentials: `token` (a bearer token), or
    /// `username` and `password` (basic auth); and optionally `ca.crt` (PEM CA certificates
    /// the server's certificate must chain to, beside the public roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretName>,
    /// How often the URL is checked for a new file, as a Go duration (`10m`, `1h`, `30s`). An
    /// unchanged file (same ETag) is not downloaded again.
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,
}

impl UrlSource {
    /// `interval` as a duration (a Go duration: `1h30m`, `10m`, `30s`, `500ms`), at least one
    /// second; None when it is not one.
    pub fn interval(&self) -> Option<std::time::Duration> {
        parse_go_duration(&self.interval)
            .map(|interval| interval.max(std::time::Duration::from_secs(1)))
    }
}

/// A Go duration of the units `h`, `m`, `s`, `ms` (what Flux's `interval` fields take).
fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut seconds = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        rest = &rest[unit_end..];
        seconds += number * factor;
    }
    std::time::Duration::try_from_secs_f64(seconds).ok()
}

/// The resolved template source, once exactly one reference is known to be set.
#[derive(Clone, Debug, PartialEq)]
pub enum TemplateRef {
    /// A key of a ConfigMap.
    ConfigMap(KeyRef),
    /// A key of a Secret.
    Secret(KeyRef),
    /// A file in a Flux source's artifact.
    Flux {
        /// The source object.
        source: FluxSourceRef,
        /// The file's path in the artifact.
        path: String,
    },
    /// An HTTPS URL.
    Url(UrlSource),
}

impl TemplateSource {
    /// The one reference that is set, or a message saying what is wrong.
    pub fn resolve(&self) -> Result<TemplateRef, String> {
        let set = self.set_sources();
        if set.len() != 1 {
            let which = if set.is_empty() {
                "none".to_string()
            } else {
                set.join(", ")
            };
            return Err(format!("{ONE_TEMPLATE_SOURCE} (it sets {which})"));
        }
        if self.source_ref.is_some() != self.path.is_some() {
            return Err(PATH_WITH_SOURCE_REF.to_string());
        }
        Ok(match self {
            TemplateSource {
                config_map_key_ref: Some(key),
                ..
            } => TemplateRef::ConfigMap(key.clone()),
            TemplateSource {
                secret_key_ref: Some(key),
                ..
            } => TemplateRef::Secret(key.clone()),
            TemplateSource {
                source_ref: Some(source),
                path: Some(path),
                ..
            } => TemplateRef::Flux {
                source: source.clone(),
                path: path.clone(),
            },
            TemplateSource { url: Some(url), .. } => TemplateRef::Url(url.clone()),
            _ => unreachable!("exactly one source is set"),
        })
    }

    /// The names of the sources that are set.
    fn set_sources(&self) -> Vec<&'static str> {
        [
            ("configMapKeyRef", self.config_map_key_ref.is_some()),
            ("secretKeyRef", self.secret_key_ref.is_some()),
            ("sourceRef", self.source_ref.is_some()),
            ("url", self.url.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
    }
}

/// `Apply` (the default) writes the users; `DryRun` only reports what it would write.
// Variants carry no doc comments on purpose: schemars would turn them into a `oneOf` of
// `const`s, which a CRD's structural schema does not allow. The type's doc says what each means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ImportMode {
    #[default]
    Apply,
    DryRun,
}

/// `Continue` (the default) applies the good rows and reports the problem rows; `Abort` applies
/// nothing when any row is a problem.
// Variants carry no doc comments on purpose: schemars would turn them into a `oneOf` of
// `const`s, which a CRD's structural schema does not allow. The type's doc says what each means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OnProblem {
    #[default]
    Continue,
    Abort,
}

/// What the controller last did with this import.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::kubernetes_integer_formats)]
pub struct UserImportStatus {
    /// `Pending`, `Running`, `Succeeded`, `SucceededWithProblems` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ImportPhase>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `sha256:<hex>` of the template CSV this status describes (decompressed, when it came
    /// compressed). A template rejected before it could be read whole has the digest of the
    /// data as stored or downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_digest: Option<String>,
    /// The Flux source's artifact revision (`main@sha1:…`) the template was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_revision: Option<String>,
    /// The `ETag` of the file last downloaded from `spec.template.url`: sent as `If-None-Match`,
    /// so that an unchanged file is not downloaded again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_etag: Option<String>,
    /// `utf-8` or `windows-1252` (a file that was not valid UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_encoding: Option<String>,
    /// How many rows fell in each section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// New Data, in row order (at most 100 entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub new: Vec<NewEntry>,
    /// Update Data, in row order (at most 100 entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub update: Vec<UpdateEntry>,
    /// Problem Data, in row order (at most 100 entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub problem: Vec<ProblemEntry>,
    /// True when any of the three lists was cut at 100 entries; `counts` has the full numbers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The sentence shown under New Data when SSO-synced users keep highlighted fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight_message: Option<String>,
    /// Headers of the template's columns that map to no field, in column order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub ignored_columns: Vec<String>,
    /// The error report of the problem rows, and its delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_report: Option<ErrorReportStatus>,
    /// RFC 3339 time the current import started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339 time the current import finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// `Ready`, `Reconciling`, `Stalled` (kstatus), `TemplateValid`, `ReportDelivered`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Where an import stands: `Pending` (not started, or waiting for its template or tenant),
/// `Running`, `Succeeded`, `SucceededWithProblems` (applied, with problem rows reported) or
/// `Failed` (nothing applied).
// Variants carry no doc comments on purpose: schemars would turn them into a `oneOf` of
// `const`s, which a CRD's structural schema does not allow. The type's doc says what each means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImportPhase {
    Pending,
    Running,
    Succeeded,
    SucceededWithProblems,
    Failed,
}

/// The error report and its delivery.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReportStatus {
    /// The CSV's file name, as attached to the mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Problem rows in the report.
    #[serde(default)]
    pub rows: usize,
    /// The default site administrator the report goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// `NotNeeded`, `Pending`, `Sent` or `Failed`.
    pub state: ErrorReportState,
    /// RFC 3339 time the mail was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where the error report's delivery stands: `NotNeeded` (no problem rows), `Pending`, `Sent` or
/// `Failed` (given up after the retries; the status says why).
// Variants carry no doc comments on purpose: schemars would turn them into a `oneOf` of
// `const`s, which a CRD's structural schema does not allow. The type's doc says what each means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ErrorReportState {
    #[default]
    NotNeeded,
    Pending,
    Sent,
    Failed,
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;
    use serde_json::{Value, json};

    use super::*;

    /// The schema of `spec` in the generated CRD.
    fn spec_schema() -> Value {
        let crd = serde_json::to_value(UserImport::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }

    #[test]
    fn the_crd_carries_the_cel_rules_with_their_messages() {
        let spec = spec_schema();
        assert_eq!(
            spec["properties"]["template"]["x-kubernetes-validations"],
            json!([
                {"rule": ONE_TEMPLATE_SOURCE_RULE, "message": ONE_TEMPLATE_SOURCE},
                {"rule": PATH_WITH_SOURCE_REF_RULE, "message": PATH_WITH_SOURCE_REF},
            ])
        );
        assert_eq!(
            spec["properties"]["tenantRef"]["x-kubernetes-validations"],
            json!([{"rule": "self == oldSelf", "message": TENANT_REF_IMMUTABLE}])
        );
        // Each rule sits on its own field, nowhere else.
        let yaml = crate::crds_yaml();
        assert_eq!(yaml.matches("x-kubernetes-validations").count(), 2);
    }

    #[test]
    fn the_one_source_rule_names_every_source_kind() {
        // A source kind added to `TemplateSource` must be added to the rule and its message.
        let spec = spec_schema();
        let sources = spec["properties"]["template"]["properties"]
            .as_object()
            .unwrap();
        assert!(sources.len() >= 5, "{sources:?}");
        // `path` is no source: it goes with `sourceRef` (its own rule).
        for kind in sources.keys().filter(|key| *key != "path") {
            assert!(
                ONE_TEMPLATE_SOURCE_RULE.contains(&format!("has(self.{kind})")),
                "{kind}"
            );
            assert!(ONE_TEMPLATE_SOURCE.contains(kind.as_str()), "{kind}");
        }
    }
}

#[cfg(test)]
mod resolve_tests {
    use super::*;

    fn key() -> KeyRef {
        KeyRef {
            name: "tpl".into(),
            key: "template.csv".into(),
        }
    }

    #[test]
    fn exactly_one_source_resolves() {
        let flux = FluxSourceRef {
            kind: FluxSourceKind::GitRepository,
            name: "repo".into(),
        };
        let with_flux = TemplateSource {
            source_ref: Some(flux.clone()),
            path: Some("users.csv".into()),
            ..Default::default()
        };
        assert_eq!(
            with_flux.resolve(),
            Ok(TemplateRef::Flux {
                source: flux,
                path: "users.csv".into()
            })
        );
        let none = TemplateSource::default().resolve().unwrap_err();
        assert!(none.ends_with("(it sets none)"), "{none}");
        let two = TemplateSource {
            config_map_key_ref: Some(key()),
            url: Some(UrlSource::default()),
            ..Default::default()
        };
        assert!(
            two.resolve()
                .unwrap_err()
                .ends_with("(it sets configMapKeyRef, url)")
        );
        let path_alone = TemplateSource {
            config_map_key_ref: Some(key()),
            path: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(path_alone.resolve(), Err(PATH_WITH_SOURCE_REF.to_string()));
    }

    #[test]
    fn intervals_are_go_durations_of_at_least_a_second() {
        let interval = |text: &str| {
            UrlSource {
                interval: text.into(),
                ..Default::default()
            }
            .interval()
            .map(|d| d.as_millis())
        };
        assert_eq!(interval("10m"), Some(600_000));
        assert_eq!(interval("1h30m"), Some(5_400_000));
        assert_eq!(interval("1.5s"), Some(1_500));
        assert_eq!(interval("100ms"), Some(1_000));
        for bad in ["", "10", "m", "10x", "1d", "-1s"] {
            assert_eq!(interval(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn flux_kinds_serialise_as_kubernetes_spells_them() {
        for kind in FluxSourceKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.kind());
        }
    }
}
