//! Server-side apply and `managedFields`.
//!
//! The ownership model is simple but honest: a manager owns a set of leaf field paths (objects
//! are walked into, lists and scalars are atomic). `Update` operations (create, PUT, PATCH) give
//! their manager every leaf they change and take it away from everyone else. An `Apply` takes
//! the leaves of its configuration; a leaf owned by another manager with a different value is a
//! 409 Conflict unless `force` is set (then ownership moves); leaves the applier owned before
//! and no longer sets are removed unless another manager still owns them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ApiResult};

pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
    pub time: String,
    pub fields: FieldSet,
}

/// Which part of an object a request may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The main resource; `status` excluded when the type has a status subresource.
    Main { status_subresource: bool },
    /// The `status` subresource.
    Status,
}

impl Scope {
    pub fn subresource(self) -> &'static str {
        match self {
            Scope::Main { .. } => "",
            Scope::Status => "status",
        }
    }
}

const OWNED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// Field paths of `v` that managers may own within `scope`: every leaf (lists and scalars are
/// atomic) plus every map below the top level (the `.` of fieldsV1).
pub fn owned_leaves(v: &Value, scope: Scope) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(obj) = v.as_object() else { return out };
    for (k, sub) in obj {
        let take = match (scope, k.as_str()) {
            (_, "apiVersion" | "kind") => false,
            (Scope::Status, key) => key == "status",
            (Scope::Main { status_subresource }, "status") => !status_subresource,
            (Scope::Main { .. }, "metadata") => {
                if let Some(m) = sub.as_object() {
                    for (mk, mv) in m {
                        if OWNED_METADATA.contains(&mk.as_str()) {
                            nodes(mv, vec!["metadata".into(), mk.clone()], &mut out);
                        }
                    }
                }
                false
            }
            _ => true,
        };
        if take {
            match sub {
                Value::Object(m) if !m.is_empty() => {
                    for (k2, v2) in m {
                        nodes(v2, vec![k.clone(), k2.clone()], &mut out);
                    }
                }
                _ => {
                    out.insert(vec![k.clone()]);
                }
            }
        }
    }
    out
}

fn nodes(v: &Value, path: FieldPath, out: &mut FieldSet) {
    if let Value::Object(m) = v {
        for (k, sub) in m {
            let mut p = path.clone();
            p.push(k.clone());
            nodes(sub, p, out);
        }
    }
    out.insert(path);
}

/// A path whose value in `v` is not a non-empty map.
fn is_leaf(v: &Value, path: &[String]) -> bool {
    get_path(v, path)
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty())
}

pub fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.as_object()?.get(k))
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        match cur.as_object_mut().and_then(|m| m.get_mut(k)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

fn deep_merge(target: &mut Value, config: &Value) {
    match (target.as_object_mut(), config) {
        (Some(t), Value::Object(c)) => {
            for (k, v) in c {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = config.clone(),
    }
}

fn related(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

pub fn fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for k in path {
            cur = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
        // An owned node that also has owned children is marked with ".".
        if set
            .iter()
            .any(|o| o.len() > path.len() && o.starts_with(path))
        {
            cur.insert(".".into(), Value::Object(Map::new()));
        }
    }
    Value::Object(root)
}

fn parse_fields_v1(v: &Value, path: FieldPath, out: &mut FieldSet) {
    let Some(m) = v.as_object() else { return };
    let children: Vec<_> = m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
    if (children.is_empty() || m.contains_key(".")) && !path.is_empty() {
        out.insert(path.clone());
    }
    for (k, sub) in children {
        let mut p = path.clone();
        p.push(k[2..].to_string());
        parse_fields_v1(sub, p, out);
    }
}

pub fn read_entries(object: &Value) -> Vec<Entry> {
    let Some(list) = object["metadata"]["managedFields"].as_array() else {
        return vec![];
    };
    list.iter()
        .map(|e| {
            let mut fields = FieldSet::new();
            parse_fields_v1(&e["fieldsV1"], vec![], &mut fields);
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                subresource: s("subresource"),
                time: s("time"),
                fields,
            }
        })
        .collect()
}

pub fn write_entries(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if list.is_empty() {
        if let Some(m) = object["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        object["metadata"]["managedFields"] = Value::Array(list);
    }
}

pub fn now() -> String {
    // RFC 3339 in whole seconds with `Z`, as the real server writes times.
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn upsert<'a>(
    entries: &'a mut Vec<Entry>,
    manager: &str,
    operation: &str,
    api_version: &str,
    sub: &str,
) -> &'a mut Entry {
    let pos = entries
        .iter()
        .position(|e| e.manager == manager && e.operation == operation && e.subresource == sub);
    let i = match pos {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.into(),
                operation: operation.into(),
                api_version: api_version.into(),
                subresource: sub.into(),
                time: String::new(),
                fields: FieldSet::new(),
            });
            entries.len() - 1
        }
    };
    let e = &mut entries[i];
    e.time = now();
    e.api_version = api_version.into();
    e
}

/// Records an `Update` by `manager` that turned `old` into `new` (sets `new`'s managedFields).
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    scope: Scope,
) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_leaves = owned_leaves(new, scope);
    let old_leaves = old.map(|o| owned_leaves(o, scope)).unwrap_or_default();
    let changed: FieldSet = new_leaves
        .iter()
        .filter(|p| {
            let before = old.and_then(|o| get_path(o, p));
            if is_leaf(new, p) {
                before != get_path(new, p)
            } else {
                before.is_none_or(|b| !b.is_object())
            }
        })
        .cloned()
        .collect();
    let removed: Vec<FieldPath> = old_leaves.difference(&new_leaves).cloned().collect();
    // Removing a leaf only when it really disappeared (not when it became a parent).
    let removed: Vec<FieldPath> = removed
        .into_iter()
        .filter(|p| get_path(new, p).is_none())
        .collect();
    for e in entries.iter_mut() {
        e.fields.retain(|p| {
            !changed.iter().any(|c| p.starts_with(c) && is_leaf(new, c))
                && !removed.iter().any(|r| p.starts_with(r))
        });
    }
    if !changed.is_empty() {
        let e = upsert(
            &mut entries,
            manager,
            "Update",
            api_version,
            scope.subresource(),
        );
        e.fields.extend(changed);
    }
    write_entries(new, &entries);
}

/// Server-side apply of `config` by `manager` onto `current` (absent: create).
/// Returns the new object, with its managedFields, to be stored by the normal write path.
pub fn apply(
    current: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    scope: Scope,
) -> ApiResult<Value> {
    let mut entries = current.map(read_entries).unwrap_or_default();
    let sub = scope.subresource();
    let mut object = current.cloned().unwrap_or_else(|| json!({}));
    let config_leaves = owned_leaves(config, scope);
    // Conflicts with other managers.
    let mut conflicts: Vec<(String, String)> = vec![];
    for e in entries.iter_mut() {
        if e.manager == manager && e.operation == "Apply" && e.subresource == sub {
            continue;
        }
        let mut lost = vec![];
        for owned in e.fields.iter().filter(|o| is_leaf(&object, o)) {
            for p in config_leaves
                .iter()
                .filter(|p| is_leaf(config, p) && related(p, owned))
            {
                let shorter = if p.len() <= owned.len() { p } else { owned };
                if get_path(&object, shorter) != get_path(config, shorter) {
                    if force {
                        lost.push(owned.clone());
                    } else {
                        conflicts.push((e.manager.clone(), format!(".{}", p.join("."))));
                    }
                }
            }
        }
        for l in lost {
            e.fields.remove(&l);
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort();
        conflicts.dedup();
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
            .collect();
        let message = if lines.len() == 1 {
            format!("Apply failed with 1 conflict: {}", lines[0])
        } else {
            format!(
                "Apply failed with {} conflicts: {}",
                lines.len(),
                lines.join("\n")
            )
        };
        return Err(ApiError::new(409, "Conflict", message).with_details(json!({
            "causes": conflicts.iter().map(|(m, f)| json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{m}\""),
                "field": f,
            })).collect::<Vec<_>>()
        })));
    }
    // Fields this manager applied before and no longer sets.
    let previous: FieldSet = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply" && e.subresource == sub)
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for p in previous.difference(&config_leaves) {
        if config_leaves
            .iter()
            .any(|c| c.starts_with(p) || p.starts_with(c))
        {
            continue;
        }
        let others_own = entries
            .iter()
            .filter(|e| !(e.manager == manager && e.operation == "Apply" && e.subresource == sub))
            .any(|e| e.fields.iter().any(|o| o.starts_with(p)));
        if !others_own {
            remove_path(&mut object, p);
        }
    }
    let mut scoped_config = config.clone();
    if let (Scope::Status, Some(m)) = (scope, scoped_config.as_object_mut()) {
        m.retain(|k, _| matches!(k.as_str(), "status" | "apiVersion" | "kind" | "metadata"));
    }
    deep_merge(&mut object, &scoped_config);
    let e = upsert(&mut entries, manager, "Apply", api_version, sub);
    e.fields = config_leaves;
    write_entries(&mut object, &entries);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main {
        status_subresource: true,
    };

    #[test]
    fn apply_conflicts_and_force() {
        let a = apply(
            None,
            &json!({"spec": {"x": 1, "y": 2}}),
            "a",
            false,
            "v1",
            MAIN,
        )
        .unwrap();
        assert_eq!(a["spec"], json!({"x": 1, "y": 2}));
        let err = apply(Some(&a), &json!({"spec": {"x": 5}}), "b", false, "v1", MAIN).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("conflict with \"a\": .spec.x"),
            "{}",
            err.message
        );
        // Same value: shared ownership, no conflict.
        let shared = apply(Some(&a), &json!({"spec": {"x": 1}}), "b", false, "v1", MAIN).unwrap();
        assert_eq!(read_entries(&shared).len(), 2);
        let forced = apply(Some(&a), &json!({"spec": {"x": 5}}), "b", true, "v1", MAIN).unwrap();
        assert_eq!(forced["spec"]["x"], 5);
        // a no longer owns x; re-applying without y removes y.
        let again = apply(
            Some(&forced),
            &json!({"spec": {"x": 5}}),
            "a",
            false,
            "v1",
            MAIN,
        )
        .unwrap();
        assert_eq!(again["spec"], json!({"x": 5}));
    }

    #[test]
    fn fields_v1_round_trip() {
        let mut set = FieldSet::new();
        set.insert(vec!["spec".into(), "a".into()]);
        set.insert(vec!["metadata".into(), "labels".into(), "k".into()]);
        let v = fields_v1(&set);
        let mut back = FieldSet::new();
        parse_fields_v1(&v, vec![], &mut back);
        assert_eq!(set, back);
    }
}
