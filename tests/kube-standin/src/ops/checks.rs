//! Checks before a write: names, namespaces, custom-resource schemas; generated names.

use serde_json::{Value, json};

use super::{Params, Target};
use crate::errors::{ApiError, ApiResult};
use crate::resources::ResourceType;
use crate::schema;
use crate::store::{ObjKey, Store};

pub(super) fn dns_subdomain(name: &str) -> bool {
    let re = crate::regexes::compiled(
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    )
    .expect("regex");
    name.len() <= 253 && re.is_match(name)
}

pub(super) fn dns_label(name: &str) -> bool {
    let re = crate::regexes::compiled(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("regex");
    name.len() <= 63 && re.is_match(name)
}

pub(super) fn validate_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
    let ok = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces" | "services") => dns_label(name),
        ("rbac.authorization.k8s.io", _) => {
            !name.is_empty() && !name.contains('/') && name != "." && name != ".."
        }
        _ => dns_subdomain(name),
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::invalid(
        &rt.kind,
        &rt.group,
        name,
        &[(
            "metadata.name".into(),
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        )],
    ))
}

pub(super) fn check_namespace(store: &Store, t: &Target, object: &mut Value) -> ApiResult<String> {
    if !t.rt.namespaced {
        if let Some(m) = object["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        return Ok(String::new());
    }
    let ns = t.namespace.clone().unwrap_or_default();
    if let Some(body_ns) = object["metadata"]["namespace"].as_str()
        && !body_ns.is_empty()
        && body_ns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    object["metadata"]["namespace"] = json!(ns);
    let ns_key = ObjKey {
        group: String::new(),
        resource: "namespaces".into(),
        namespace: String::new(),
        name: ns.clone(),
    };
    match store.get(&ns_key) {
        None => Err(ApiError::not_found("", "namespaces", &ns)),
        Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                t.rt.plural,
                object["metadata"]["name"].as_str().unwrap_or("")
            ),
        )),
        Some(_) => Ok(ns),
    }
}

pub(super) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let id = uuid::Uuid::new_v4();
    id.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Custom-resource schema processing; 422 on errors.
pub(super) fn run_schema(rt: &ResourceType, object: &mut Value, params: &Params) -> ApiResult<()> {
    let Some(s) = &rt.schema else { return Ok(()) };
    let report = schema::process(s, object);
    // fieldValidation=Strict: unknown fields are an error rather than silently dropped.
    if params.get("fieldValidation").is_some_and(|v| v == "Strict") && !report.pruned.is_empty() {
        let fields: Vec<String> = report
            .pruned
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            fields.join(", "),
            kind = rt.kind,
            v = rt.version
        )));
    }
    let errors = report.errors;
    if errors.is_empty() {
        return Ok(());
    }
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    Err(ApiError::invalid(&rt.kind, &rt.group, &name, &errors))
}
