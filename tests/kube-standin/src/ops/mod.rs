//! The verbs on stored objects: reads (get, list), writes (create, update, patch, apply) and
//! deletes, sharing the request target and body parsing defined here.

mod checks;
mod delete;
mod read;
mod write;

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::apply::{self, Scope};
use crate::errors::{ApiError, ApiResult};
use crate::resources::ResourceType;
use crate::store::ObjKey;

pub use delete::{delete, delete_collection};
pub use read::{ListFilter, get, list};
pub use write::{create, ensure_namespace, patch, update};

/// The object(s) a request is about.
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    pub fn key(&self, name: &str) -> ObjKey {
        ObjKey {
            group: self.rt.group.clone(),
            resource: self.rt.plural.clone(),
            namespace: if self.rt.namespaced {
                self.namespace.clone().unwrap_or_default()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    fn name(&self) -> ApiResult<&str> {
        self.name
            .as_deref()
            .ok_or_else(|| ApiError::method_not_allowed("a resource name is required"))
    }

    fn scope(&self) -> ApiResult<Scope> {
        match self.subresource.as_deref() {
            None => Ok(Scope::Main {
                status_subresource: self.rt.status_subresource,
            }),
            Some("status") if self.rt.status_subresource => Ok(Scope::Status),
            Some(other) => Err(ApiError::not_found(
                &self.rt.group,
                &format!("{}/{other}", self.rt.plural),
                self.name.as_deref().unwrap_or(""),
            )),
        }
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.rt.group, &self.rt.plural, name)
    }
}

pub type Params = HashMap<String, String>;

pub(super) fn dry_run(params: &Params) -> bool {
    params.get("dryRun").is_some_and(|v| v == "All")
}

/// Presents a stored object as the requested version.
pub fn present(rt: &ResourceType, mut object: Value) -> Value {
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    object
}

pub(super) fn parse_body(body: &[u8], content_type: &str) -> ApiResult<Value> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    match base {
        "" | "application/json" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}"))),
        "application/yaml" | "application/apply-patch+yaml" | "application/apply-patch+json" => {
            serde_norway::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode(body),
        other => Err(ApiError::unsupported_media(other)),
    }
}

pub fn parse_object(body: &[u8], content_type: &str) -> ApiResult<Value> {
    let v = parse_body(body, content_type)?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

pub(super) fn check_type(rt: &ResourceType, object: &Value) -> ApiResult<()> {
    if let Some(av) = object["apiVersion"].as_str()
        && av != rt.api_version()
        && !(rt.custom && av.split('/').next() == Some(rt.group.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if let Some(kind) = object["kind"].as_str()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

pub(super) fn timestamp() -> String {
    apply::now()
}

/// Who manages a write.
pub enum Ownership {
    /// An `Update` operation by this manager.
    Update(String),
    /// managedFields were already computed by server-side apply.
    Applied,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_bodies_may_be_yaml_or_json() {
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: '1'\n";
        let json = br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}}"#;
        let a = parse_object(yaml, "application/apply-patch+yaml").unwrap();
        let b = parse_object(json, "application/apply-patch+yaml").unwrap();
        assert_eq!(a, b);
        assert_eq!(a["data"]["a"], "1");
        assert_eq!(parse_object(b"x", "text/plain").unwrap_err().code, 415);
    }
}
