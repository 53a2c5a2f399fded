//! delete and deletecollection: finalizers, garbage collection, namespace cascade.

use serde_json::{Value, json};

use super::{ListFilter, Params, Target, dry_run, present, timestamp};
use crate::errors::{ApiError, ApiResult};
use crate::resources::ResourceType;
use crate::state::AppState;
use crate::store::{ObjKey, Store};

/// DELETE of one object: sets deletionTimestamp while finalizers remain, else removes it.
pub fn delete(state: &AppState, t: &Target, body: &[u8], params: &Params) -> ApiResult<Value> {
    let name = t.name()?.to_string();
    if t.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "delete is not allowed on a subresource",
        ));
    }
    let options: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).unwrap_or_else(|_| json!({}))
    };
    let mut store = state.store();
    delete_locked(
        state,
        &mut store,
        &t.rt,
        &t.key(&name),
        &options,
        dry_run(params),
    )
}

pub(super) fn delete_locked(
    state: &AppState,
    store: &mut Store,
    rt: &ResourceType,
    key: &ObjKey,
    options: &Value,
    dry: bool,
) -> ApiResult<Value> {
    let old = store
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &key.name))?;
    let pre = &options["preconditions"];
    if let Some(uid) = pre["uid"].as_str()
        && Some(uid) != old["metadata"]["uid"].as_str()
    {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            &key.name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                old["metadata"]["uid"].as_str().unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = pre["resourceVersion"].as_str()
        && Some(rv) != old["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            &key.name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                old["metadata"]["resourceVersion"].as_str().unwrap_or("")
            ),
        ));
    }
    if dry {
        return Ok(present(rt, old));
    }
    let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
    let orphan = options["propagationPolicy"] == "Orphan" || options["orphanDependents"] == true;
    let has_finalizers = old["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if has_finalizers || is_namespace {
        if !old["metadata"]["deletionTimestamp"].is_null() {
            return Ok(present(rt, old));
        }
        let mut new = old.clone();
        new["metadata"]["deletionTimestamp"] = json!(timestamp());
        new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if rt.generation {
            new["metadata"]["generation"] =
                json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
        }
        if is_namespace {
            new["status"] = json!({"phase": "Terminating"});
        }
        if orphan && has_finalizers {
            new["metadata"]["finalizers"]
                .as_array_mut()
                .expect("finalizers")
                .push(json!(ORPHAN));
        }
        let stored = store.put(key.clone(), new);
        if is_namespace {
            for k in store.keys_in_namespace(&key.name) {
                if let Some(krt) = state.type_of(&k) {
                    let _ = delete_locked(state, store, &krt, &k, &json!({}), false);
                }
            }
            if !has_finalizers && store.keys_in_namespace(&key.name).is_empty() {
                return Ok(finalize(state, store, key, false).unwrap_or(stored));
            }
        }
        return Ok(present(rt, stored));
    }
    finalize(state, store, key, orphan)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &key.name))
}

pub(super) const ORPHAN: &str = "orphan";

/// Really removes an object, then deletes its dependents (ownerReferences; with `orphan`, only
/// drops their reference to it) and, for the last object of a terminating namespace, the
/// namespace itself.
pub(super) fn finalize(
    state: &AppState,
    store: &mut Store,
    key: &ObjKey,
    orphan: bool,
) -> Option<Value> {
    let removed = store.remove(key)?;
    if key.group == "apiextensions.k8s.io"
        && key.resource == "customresourcedefinitions"
        && let Ok(crd) = serde_json::from_value(removed.clone())
    {
        state.registry_mut().remove_crd(&crd);
    }
    let uid = removed["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let dependents: Vec<ObjKey> = store
        .all()
        .filter(|(_, o)| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid.as_str())))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for d in dependents {
        if orphan {
            if let Some(mut o) = store.get(&d).cloned() {
                if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"].as_str() != Some(uid.as_str()));
                }
                store.put(d, o);
            }
        } else if let Some(drt) = state.type_of(&d) {
            let _ = delete_locked(state, store, &drt, &d, &json!({}), false);
        }
    }
    if !key.namespace.is_empty() {
        let ns_key = ObjKey {
            group: String::new(),
            resource: "namespaces".into(),
            namespace: String::new(),
            name: key.namespace.clone(),
        };
        let terminating = store.get(&ns_key).is_some_and(|n| {
            !n["metadata"]["deletionTimestamp"].is_null()
                && n["metadata"]["finalizers"]
                    .as_array()
                    .is_none_or(|f| f.is_empty())
        });
        if terminating && store.keys_in_namespace(&key.namespace).is_empty() {
            store.remove(&ns_key);
        }
    }
    state
        .type_of(key)
        .map(|rt| present(&rt, removed.clone()))
        .or(Some(removed))
}

/// DELETE on a collection: deletes every matching object; answers the list of them.
pub fn delete_collection(state: &AppState, t: &Target, params: &Params) -> ApiResult<Value> {
    let filter = ListFilter::from_params(params)?;
    let mut store = state.store();
    let ns = if t.rt.namespaced {
        t.namespace.as_deref()
    } else {
        None
    };
    let keys: Vec<ObjKey> = store
        .list(&t.rt.group, &t.rt.plural, ns)
        .filter(|(_, o)| filter.matches(o))
        .map(|(k, _)| k.clone())
        .collect();
    let mut items = vec![];
    for k in keys {
        if let Ok(o) = delete_locked(state, &mut store, &t.rt, &k, &json!({}), dry_run(params)) {
            items.push(o);
        }
    }
    Ok(json!({
        "apiVersion": t.rt.api_version(),
        "kind": format!("{}List", t.rt.kind),
        "metadata": {"resourceVersion": store.current_rv().to_string()},
        "items": items,
    }))
}
