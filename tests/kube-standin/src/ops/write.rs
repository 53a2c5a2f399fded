//! create, update (PUT), patch and server-side apply, sharing one write path.

use serde_json::{Value, json};

use super::checks::{check_namespace, random_suffix, run_schema, validate_name};
use super::delete::{ORPHAN, finalize};
use super::{Ownership, Params, Target, check_type, dry_run, parse_object, present, timestamp};
use crate::apply::{self, Scope};
use crate::errors::{ApiError, ApiResult};
use crate::patch::{self, PatchType};
use crate::resources::ResourceType;
use crate::state::AppState;
use crate::store::Store;

pub fn create(
    state: &AppState,
    t: &Target,
    body: &[u8],
    content_type: &str,
    params: &Params,
    manager: &str,
) -> ApiResult<Value> {
    if t.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "create is not allowed on a subresource",
        ));
    }
    let object = parse_object(body, content_type)?;
    let mut store = state.store();
    create_locked(
        state,
        &mut store,
        t,
        object,
        params,
        Ownership::Update(manager.to_string()),
    )
}

pub(super) fn create_locked(
    state: &AppState,
    store: &mut Store,
    t: &Target,
    mut object: Value,
    params: &Params,
    ownership: Ownership,
) -> ApiResult<Value> {
    let rt = &t.rt;
    check_type(rt, &object)?;
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    let name = match object["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
    {
        Some(n) => n.to_string(),
        None => match object["metadata"]["generateName"]
            .as_str()
            .filter(|n| !n.is_empty())
        {
            Some(prefix) => format!("{prefix}{}", random_suffix()),
            None => {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    "",
                    &[(
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
        },
    };
    if let Some(path_name) = &t.name
        && *path_name != name
    {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    validate_name(rt, &name)?;
    object["metadata"]["name"] = json!(name);
    check_namespace(store, t, &mut object)?;
    let key = t.key(&name);
    if store.get(&key).is_some() {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
    }
    {
        let m = object["metadata"].as_object_mut().expect("metadata");
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(k);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(timestamp()));
        if rt.generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    if rt.status_subresource
        && let Some(m) = object.as_object_mut()
    {
        m.remove("status");
    }
    run_schema(rt, &mut object, params)?;
    match &ownership {
        Ownership::Update(manager) => {
            if let Some(m) = object["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
            apply::record_update(
                None,
                &mut object,
                manager,
                &rt.api_version(),
                Scope::Main {
                    status_subresource: rt.status_subresource,
                },
            )
        }
        Ownership::Applied => {}
    }
    special_on_create(state, rt, &mut object);
    if dry_run(params) {
        return Ok(object);
    }
    Ok(store.put(key, object))
}

/// Built-in behaviour on create: namespaces are Active, CRDs are Established and served.
pub(super) fn special_on_create(state: &AppState, rt: &ResourceType, object: &mut Value) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            object["status"] = json!({"phase": "Active"});
            object["metadata"]["labels"]["kubernetes.io/metadata.name"] =
                object["metadata"]["name"].clone();
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            object["status"] = json!({
                "acceptedNames": object["spec"]["names"].clone(),
                "storedVersions": object["spec"]["versions"].as_array().map(|vs| vs.iter().filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": timestamp()},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": timestamp()},
                ],
            });
            if let Ok(crd) = serde_json::from_value(object.clone()) {
                state.registry_mut().add_crd(&crd);
            }
        }
        _ => {}
    }
}

/// The parts of an object whose change bumps `metadata.generation`.
pub(super) fn spec_part(rt: &ResourceType, o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.status_subresource {
            m.remove("status");
        }
    }
    o
}

/// Compared to decide whether a write is a no-op.
pub(super) fn comparable(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    o
}

/// The common write path of update, patch and apply on an existing object.
pub(super) fn commit_update(
    state: &AppState,
    store: &mut Store,
    t: &Target,
    old: &Value,
    candidate: Value,
    params: &Params,
    ownership: Ownership,
) -> ApiResult<Value> {
    let rt = &t.rt;
    let scope = t.scope()?;
    let name = old["metadata"]["name"].as_str().unwrap_or("").to_string();
    check_type(rt, &candidate)?;
    if let Some(rv) = candidate["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        && Some(rv) != old["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::stale(&rt.group, &rt.plural, &name));
    }
    if let Some(n) = candidate["metadata"]["name"].as_str()
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let mut new = match scope {
        Scope::Status => {
            let mut n = old.clone();
            match candidate.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    n.as_object_mut().expect("object").remove("status");
                }
            }
            if let Some(mf) = candidate["metadata"].get("managedFields") {
                n["metadata"]["managedFields"] = mf.clone();
            }
            n
        }
        Scope::Main { status_subresource } => {
            let mut n = candidate;
            if !n["metadata"].is_object() {
                n["metadata"] = json!({});
            }
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
            ] {
                match old["metadata"].get(k) {
                    Some(v) => n["metadata"][k] = v.clone(),
                    None => {
                        n["metadata"].as_object_mut().expect("metadata").remove(k);
                    }
                }
            }
            if status_subresource {
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        n.as_object_mut().expect("object").remove("status");
                    }
                }
            }
            n
        }
    };
    new["apiVersion"] = json!(rt.api_version());
    new["kind"] = json!(rt.kind);
    if !old["metadata"]["deletionTimestamp"].is_null() {
        let old_f = old["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let new_f = new["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if new_f.iter().any(|f| !old_f.contains(f)) {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                &name,
                &[(
                    "metadata.finalizers".into(),
                    "Forbidden: no new finalizers can be added if the object is being deleted"
                        .into(),
                )],
            ));
        }
    }
    run_schema(rt, &mut new, params)?;
    if let Ownership::Update(manager) = &ownership {
        if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("managedFields");
            if let Some(mf) = old["metadata"].get("managedFields") {
                m.insert("managedFields".into(), mf.clone());
            }
        }
        let before = old.clone();
        apply::record_update(Some(&before), &mut new, manager, &rt.api_version(), scope);
    }
    if rt.generation && spec_part(rt, old) != spec_part(rt, &new) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    if comparable(old) == comparable(&new) {
        return Ok(present(rt, old.clone()));
    }
    if dry_run(params) {
        return Ok(new);
    }
    let key = t.key(&name);
    let terminating = !new["metadata"]["deletionTimestamp"].is_null();
    let (only_orphan, orphan) = {
        let finalizers: Vec<&str> = new["metadata"]["finalizers"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        (
            finalizers.iter().all(|f| *f == ORPHAN),
            finalizers.contains(&ORPHAN),
        )
    };
    // "orphan" is the garbage collector's own finalizer: it is done at once here.
    if terminating && only_orphan {
        store.overwrite_quietly(&key, new);
        return Ok(finalize(state, store, &key, orphan).unwrap_or(Value::Null));
    }
    Ok(store.put(key, new))
}

pub fn update(
    state: &AppState,
    t: &Target,
    body: &[u8],
    content_type: &str,
    params: &Params,
    manager: &str,
) -> ApiResult<Value> {
    let name = t.name()?.to_string();
    let candidate = parse_object(body, content_type)?;
    // Custom resources do not allow unconditional updates (as the real server's CR strategy).
    if t.rt.custom
        && candidate["metadata"]["resourceVersion"]
            .as_str()
            .is_none_or(str::is_empty)
    {
        return Err(ApiError::invalid(
            &t.rt.kind,
            &t.rt.group,
            &name,
            &[(
                "metadata.resourceVersion".into(),
                "Invalid value: 0x0: must be specified for an update".into(),
            )],
        ));
    }
    let mut store = state.store();
    let old = store
        .get(&t.key(&name))
        .cloned()
        .ok_or_else(|| t.not_found(&name))?;
    commit_update(
        state,
        &mut store,
        t,
        &old,
        candidate,
        params,
        Ownership::Update(manager.to_string()),
    )
}

/// Returns `(created, object)`.
pub fn patch(
    state: &AppState,
    t: &Target,
    body: &[u8],
    content_type: &str,
    params: &Params,
    manager: Option<&str>,
    default_manager: &str,
) -> ApiResult<(bool, Value)> {
    let name = t.name()?.to_string();
    let kind = PatchType::from_content_type(content_type)?;
    let mut store = state.store();
    let current = store.get(&t.key(&name)).cloned();
    if kind == PatchType::Apply {
        let manager = manager.ok_or_else(|| {
            ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
        })?;
        let force = params.get("force").is_some_and(|f| f == "true");
        let config = parse_object(body, "application/apply-patch+yaml")?;
        if config["apiVersion"].as_str().is_none_or(str::is_empty)
            || config["kind"].as_str().is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(
                "invalid object type: apiVersion and kind must be set in an apply patch",
            ));
        }
        check_type(&t.rt, &config)?;
        if let Some(n) = config["metadata"]["name"].as_str()
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let scope = t.scope()?;
        let mut merged = apply::apply(
            current.as_ref(),
            &config,
            manager,
            force,
            &t.rt.api_version(),
            scope,
        )?;
        return match current {
            None => {
                if t.subresource.is_some() {
                    return Err(t.not_found(&name));
                }
                merged["metadata"]["name"] = json!(name);
                create_locked(state, &mut store, t, merged, params, Ownership::Applied)
                    .map(|o| (true, o))
            }
            Some(old) => {
                if let Some(m) = merged["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                if let Some(rv) = config["metadata"]["resourceVersion"].as_str() {
                    merged["metadata"]["resourceVersion"] = json!(rv);
                }
                commit_update(
                    state,
                    &mut store,
                    t,
                    &old,
                    merged,
                    params,
                    Ownership::Applied,
                )
                .map(|o| (false, o))
            }
        };
    }
    let old = current.ok_or_else(|| t.not_found(&name))?;
    let mut base = old.clone();
    if let Some(m) = base["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let mut patched = patch::apply_patch(kind, &base, body, t.rt.custom)?;
    // A resourceVersion in the patch is a precondition; none means "whatever is current".
    if patched["metadata"]["resourceVersion"].is_null()
        && let Some(m) = patched["metadata"].as_object_mut()
    {
        m.remove("resourceVersion");
    }
    let manager = manager.unwrap_or(default_manager).to_string();
    commit_update(
        state,
        &mut store,
        t,
        &old,
        patched,
        params,
        Ownership::Update(manager),
    )
    .map(|o| (false, o))
}

/// Creates a namespace directly (used for the initial namespaces).
pub fn ensure_namespace(state: &AppState, name: &str) -> ApiResult<()> {
    let rt = state
        .registry()
        .find("", "v1", "namespaces")
        .cloned()
        .expect("namespaces are built in");
    let t = Target {
        rt,
        namespace: None,
        name: None,
        subresource: None,
    };
    let mut store = state.store();
    if store.get(&t.key(name)).is_some() {
        return Ok(());
    }
    create_locked(
        state,
        &mut store,
        &t,
        json!({"metadata": {"name": name}}),
        &Params::new(),
        Ownership::Update("kube-standin".into()),
    )
    .map(|_| ())
}
