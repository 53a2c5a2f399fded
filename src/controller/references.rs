//! Every name a spec refers to is checked as a Kubernetes object name before a request uses
//! it: the name becomes a segment of the request path, and `../../team-b/tenants/acme` must not
//! be sent for the server to resolve. The CRD schema refuses such names at apply time; this
//! check covers objects stored before it did.

use super::conditions::INVALID_REFERENCE;
use super::template_source::SourceProblem;
use user_import_resources::{OBJECT_NAME_MAX_LENGTH, Tenant, UserImportSpec, is_object_name};

/// The names of a UserImport's spec: `spec.tenantRef.name`, the template source's name, and
/// the Secret of a URL's credentials.
pub(crate) fn of_import(spec: &UserImportSpec) -> Result<(), SourceProblem> {
    check("spec.tenantRef.name", &spec.tenant_ref.name)?;
    let template = &spec.template;
    if let Some(key) = &template.config_map_key_ref {
        check("spec.template.configMapKeyRef.name", &key.name)?;
    }
    if let Some(key) = &template.secret_key_ref {
        check("spec.template.secretKeyRef.name", &key.name)?;
    }
    if let Some(source) = &template.source_ref {
        check("spec.template.sourceRef.name", &source.name)?;
    }
    if let Some(secret) = template
        .url
        .as_ref()
        .and_then(|url| url.secret_ref.as_ref())
    {
        check("spec.template.url.secretRef.name", &secret.name)?;
    }
    Ok(())
}

/// The names of a Tenant's spec: `spec.smtpSecretRef.name`.
pub(crate) fn of_tenant(tenant: &Tenant) -> Result<(), SourceProblem> {
    let Some(reference) = &tenant.spec.smtp_secret_ref else {
        return Ok(());
    };
    check("spec.smtpSecretRef.name", &reference.name).map_err(|problem| SourceProblem {
        message: format!(
            "the Tenant {:?}: {}",
            tenant.metadata.name.as_deref().unwrap_or_default(),
            problem.message
        ),
        ..problem
    })
}

/// `name`, the value of `field`, as an object name, or the problem that names the field.
pub(crate) fn check(field: &str, name: &str) -> Result<(), SourceProblem> {
    if is_object_name(name) {
        return Ok(());
    }
    Err(SourceProblem {
        reason: INVALID_REFERENCE,
        message: format!(
            "{field} {:?} is not a valid object name: lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most {OBJECT_NAME_MAX_LENGTH} characters",
            shown(name)
        ),
    })
}

/// At most 100 characters of a name, for a message.
fn shown(name: &str) -> String {
    match name.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use user_import_resources::{KeyRef, SecretName, TemplateSource, TenantRef, TenantSpec};

    fn spec(tenant: &str, config_map: Option<&str>, secret: Option<&str>) -> UserImportSpec {
        let key = |name: &str| KeyRef {
            name: name.into(),
            key: "template.csv".into(),
        };
        UserImportSpec {
            tenant_ref: TenantRef {
                name: tenant.into(),
            },
            template: TemplateSource {
                config_map_key_ref: config_map.map(key),
                secret_key_ref: secret.map(key),
                ..Default::default()
            },
            mode: Default::default(),
            on_problem: Default::default(),
        }
    }

    fn field_of(result: Result<(), SourceProblem>) -> String {
        let problem = result.unwrap_err();
        assert_eq!(problem.reason, INVALID_REFERENCE);
        problem.message.split(' ').next().unwrap().to_string()
    }

    #[test]
    fn each_name_of_an_import_is_checked_and_named() {
        assert_eq!(of_import(&spec("acme", Some("tpl"), None)), Ok(()));
        assert_eq!(of_import(&spec("acme", None, Some("tpl.v2"))), Ok(()));
        let traversal = of_import(&spec("../../team-b/tenants/acme", Some("tpl"), None));
        assert_eq!(field_of(traversal), "spec.tenantRef.name");
        let config_map = of_import(&spec("acme", Some("../tpl"), None));
        assert_eq!(field_of(config_map), "spec.template.configMapKeyRef.name");
        let secret = of_import(&spec("acme", None, Some("Tpl")));
        assert_eq!(field_of(secret), "spec.template.secretKeyRef.name");
        let mut flux = spec("acme", None, None);
        flux.template.source_ref = Some(user_import_resources::FluxSourceRef {
            kind: user_import_resources::FluxSourceKind::Bucket,
            name: "../x".into(),
        });
        assert_eq!(field_of(of_import(&flux)), "spec.template.sourceRef.name");
        let mut url = spec("acme", None, None);
        url.template.url = Some(user_import_resources::UrlSource {
            secret_ref: Some(SecretName { name: "a/b".into() }),
            ..Default::default()
        });
        assert_eq!(
            field_of(of_import(&url)),
            "spec.template.url.secretRef.name"
        );
    }

    #[test]
    fn a_tenants_smtp_secret_name_is_checked() {
        let tenant = |secret: Option<&str>| {
            Tenant::new(
                "acme",
                TenantSpec {
                    smtp_secret_ref: secret.map(|name| SecretName { name: name.into() }),
                    ..Default::default()
                },
            )
        };
        assert_eq!(of_tenant(&tenant(None)), Ok(()));
        assert_eq!(of_tenant(&tenant(Some("acme-smtp"))), Ok(()));
        let problem = of_tenant(&tenant(Some("../kube-system/smtp"))).unwrap_err();
        assert!(
            problem.message.starts_with(
                "the Tenant \"acme\": spec.smtpSecretRef.name \"../kube-system/smtp\""
            ),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_long_name_is_shown_cut() {
        let problem = check("spec.tenantRef.name", &"a".repeat(300)).unwrap_err();
        assert!(
            problem
                .message
                .contains(&format!("\"{}…\"", "a".repeat(100)))
        );
        assert!(problem.message.len() < 300, "{}", problem.message);
    }
}
