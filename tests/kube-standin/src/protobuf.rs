//! Just enough of the Kubernetes protobuf encoding to read the request bodies that kubectl's
//! typed clients send (`kubectl create configmap|secret|namespace|serviceaccount`): the `k8s\0`
//! envelope (`runtime.Unknown`), `ObjectMeta`, `ConfigMap`, `Secret`, `Namespace`,
//! `ServiceAccount`. Answers are always JSON, which clients accept.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ApiResult};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let mut pos = 0;
    let mut out = vec![];
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let value = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                pos += 8;
                Wire::Fixed
            }
            2 => {
                let len = varint(buf, &mut pos)? as usize;
                let bytes = buf.get(pos..pos + len)?;
                pos += len;
                Wire::Bytes(bytes)
            }
            5 => {
                pos += 4;
                Wire::Fixed
            }
            _ => return None,
        };
        out.push((tag >> 3, value));
    }
    Some(out)
}

fn string(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn b64(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// A `map<string, V>` entry.
fn map_entry(b: &[u8], value: fn(&[u8]) -> Value) -> Option<(String, Value)> {
    let (mut k, mut v) = (String::new(), value(&[]));
    for (n, w) in fields(b)? {
        match (n, w) {
            (1, Wire::Bytes(x)) => k = String::from_utf8_lossy(x).into_owned(),
            (2, Wire::Bytes(x)) => v = value(x),
            _ => {}
        }
    }
    Some((k, v))
}

fn insert_entry(obj: &mut Value, key: &str, b: &[u8], value: fn(&[u8]) -> Value) -> Option<()> {
    let (k, v) = map_entry(b, value)?;
    if !obj[key].is_object() {
        obj[key] = Value::Object(Map::new());
    }
    obj[key][k] = v;
    Some(())
}

fn push(obj: &mut Value, key: &str, v: Value) {
    if !obj[key].is_array() {
        obj[key] = json!([]);
    }
    obj[key].as_array_mut().expect("array").push(v);
}

fn time(b: &[u8]) -> Option<Value> {
    let mut secs = 0i64;
    for (n, w) in fields(b)? {
        if let (1, Wire::Varint(x)) = (n, w) {
            secs = x as i64;
        }
    }
    // Whole seconds, so RFC 3339 with `Z` and no fraction, as the real server writes it.
    let t = jiff::Timestamp::from_second(secs).ok()?;
    Some(json!(t.to_string()))
}

fn owner_reference(b: &[u8]) -> Option<Value> {
    let mut o = json!({});
    for (n, w) in fields(b)? {
        match (n, w) {
            (1, Wire::Bytes(x)) => o["kind"] = string(x),
            (3, Wire::Bytes(x)) => o["name"] = string(x),
            (4, Wire::Bytes(x)) => o["uid"] = string(x),
            (5, Wire::Bytes(x)) => o["apiVersion"] = string(x),
            (6, Wire::Varint(x)) => o["controller"] = json!(x != 0),
            (7, Wire::Varint(x)) => o["blockOwnerDeletion"] = json!(x != 0),
            _ => {}
        }
    }
    Some(o)
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = json!({});
    for (n, w) in fields(b)? {
        if matches!(w, Wire::Bytes([])) && n <= 6 {
            continue;
        }
        match (n, w) {
            (1, Wire::Bytes(x)) => m["name"] = string(x),
            (2, Wire::Bytes(x)) => m["generateName"] = string(x),
            (3, Wire::Bytes(x)) => m["namespace"] = string(x),
            (5, Wire::Bytes(x)) => m["uid"] = string(x),
            (6, Wire::Bytes(x)) => m["resourceVersion"] = string(x),
            (7, Wire::Varint(x)) => m["generation"] = json!(x as i64),
            (8, Wire::Bytes(x)) => m["creationTimestamp"] = time(x)?,
            (11, Wire::Bytes(x)) => insert_entry(&mut m, "labels", x, string)?,
            (12, Wire::Bytes(x)) => insert_entry(&mut m, "annotations", x, string)?,
            (13, Wire::Bytes(x)) => push(&mut m, "ownerReferences", owner_reference(x)?),
            (14, Wire::Bytes(x)) => push(&mut m, "finalizers", string(x)),
            _ => {}
        }
    }
    Some(m)
}

fn decode_kind(kind: &str, b: &[u8]) -> Option<Value> {
    let mut o = json!({});
    for (n, w) in fields(b)? {
        let Wire::Bytes(x) = w else {
            if let (Wire::Varint(v), true) = (
                &w,
                matches!(
                    (kind, n),
                    ("ConfigMap", 4) | ("Secret", 5) | ("ServiceAccount", 4)
                ),
            ) {
                let key = if kind == "ServiceAccount" {
                    "automountServiceAccountToken"
                } else {
                    "immutable"
                };
                o[key] = json!(*v != 0);
            }
            continue;
        };
        match (kind, n) {
            (_, 1) => o["metadata"] = object_meta(x)?,
            ("ConfigMap", 2) => insert_entry(&mut o, "data", x, string)?,
            ("ConfigMap", 3) => insert_entry(&mut o, "binaryData", x, b64)?,
            ("Secret", 2) => insert_entry(&mut o, "data", x, b64)?,
            ("Secret", 3) => o["type"] = string(x),
            ("Secret", 4) => insert_entry(&mut o, "stringData", x, string)?,
            ("Namespace", 2) => {
                let mut spec = json!({});
                for (sn, sw) in fields(x)? {
                    if let (1, Wire::Bytes(f)) = (sn, sw) {
                        push(&mut spec, "finalizers", string(f));
                    }
                }
                o["spec"] = spec;
            }
            _ => {}
        }
    }
    Some(o)
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let unsupported = |what: &str| {
        ApiError::unsupported_media(&format!(
            "{CONTENT_TYPE} ({what}); kube-standin reads JSON or YAML"
        ))
    };
    let inner = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| unsupported("no k8s envelope"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, w) in fields(inner).ok_or_else(|| unsupported("malformed"))? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (tn, tw) in fields(tm).ok_or_else(|| unsupported("malformed"))? {
                    match (tn, tw) {
                        (1, Wire::Bytes(x)) => {
                            api_version = String::from_utf8_lossy(x).into_owned()
                        }
                        (2, Wire::Bytes(x)) => kind = String::from_utf8_lossy(x).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    if !matches!(
        kind.as_str(),
        "ConfigMap" | "Secret" | "Namespace" | "ServiceAccount"
    ) {
        return Err(unsupported(&format!("kind {kind:?} not readable")));
    }
    let mut o = decode_kind(&kind, raw).ok_or_else(|| unsupported("malformed"))?;
    o["apiVersion"] = json!(api_version);
    o["kind"] = json!(kind);
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![((n << 3) | 2) as u8, bytes.len() as u8];
        v.extend_from_slice(bytes);
        v
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = [field(1, b"cm"), field(3, b"default")].concat();
        let entry = [field(1, b"k"), field(2, b"v")].concat();
        let cm = [field(1, &meta), field(2, &entry)].concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let unknown = [field(1, &tm), field(2, &cm)].concat();
        let body = [b"k8s\0".as_slice(), &unknown].concat();
        let o = decode(&body).unwrap();
        assert_eq!(
            o,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}, "data": {"k": "v"}})
        );
    }
}
