//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch
//! (merge patch plus the merge keys of a few well-known built-in lists and the `$patch`
//! directives; other `$` directives are dropped).

use serde_json::{Map, Value};

use crate::errors::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> ApiResult<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            other => Err(ApiError::unsupported_media(other)),
        }
    }
}

/// Applies a non-apply patch to a copy of `target`.
pub fn apply_patch(kind: PatchType, target: &Value, body: &[u8], custom: bool) -> ApiResult<Value> {
    let mut out = target.clone();
    match kind {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut out, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchType::Merge => {
            let p: Value = parse_json(body)?;
            json_patch::merge(&mut out, &p);
        }
        PatchType::Strategic => {
            if custom {
                return Err(ApiError::unsupported_media(
                    "application/strategic-merge-patch+json",
                ));
            }
            let p: Value = parse_json(body)?;
            strategic_merge(&mut out, &p, "");
        }
        PatchType::Apply => {
            return Err(ApiError::internal("apply patches are handled by apply.rs"));
        }
    }
    Ok(out)
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "hostAliases" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "ownerReferences" => Some("uid"),
        "conditions" => Some("type"),
        _ => None,
    }
}

fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = p.clone();
        clean.remove("$patch");
        *target = Value::Object(clean);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() || v.get("$patch").and_then(Value::as_str) == Some("delete") {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) if merge_key(k).is_some() => {
                let key = merge_key(k).expect("checked");
                for item in items {
                    let id = item.get(key);
                    let pos = id.and_then(|id| cur.iter().position(|c| c.get(key) == Some(id)));
                    let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            cur.remove(i);
                        }
                        (Some(i), false) => strategic_merge(&mut cur[i], item, k),
                        (None, false) => {
                            let mut fresh = Value::Null;
                            strategic_merge(&mut fresh, item, k);
                            cur.push(fresh);
                        }
                        (None, true) => {}
                    }
                }
            }
            (Some(cur), Value::Object(_)) if cur.is_object() => strategic_merge(cur, v, k),
            _ => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, v, k);
                t.insert(k.clone(), fresh);
            }
        }
    }
    let _ = field;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}});
        let p = br#"{"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "b", "image": "2"}]}}"#;
        let out = apply_patch(PatchType::Strategic, &t, p, false).unwrap();
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}])
        );
    }

    #[test]
    fn merge_and_json_patch() {
        let t = json!({"a": 1, "b": {"c": 2}});
        let out =
            apply_patch(PatchType::Merge, &t, br#"{"a": null, "b": {"d": 3}}"#, true).unwrap();
        assert_eq!(out, json!({"b": {"c": 2, "d": 3}}));
        let out = apply_patch(
            PatchType::Json,
            &t,
            br#"[{"op": "replace", "path": "/a", "value": 5}]"#,
            true,
        )
        .unwrap();
        assert_eq!(out["a"], 5);
    }
}
