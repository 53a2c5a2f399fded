//! The verbs on stored objects: get, list, create, update, patch, apply, delete.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::apply::{self, Scope};
use crate::errors::{ApiError, ApiResult};
use crate::patch::{self, PatchType};
use crate::resources::ResourceType;
use crate::schema;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::AppState;
use crate::store::{ObjKey, Store};

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

fn dry_run(params: &Params) -> bool {
    params.get("dryRun").is_some_and(|v| v == "All")
}

/// Presents a stored object as the requested version.
pub fn present(rt: &ResourceType, mut object: Value) -> Value {
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    object
}

pub fn get(state: &AppState, t: &Target) -> ApiResult<Value> {
    let name = t.name()?;
    t.scope()?;
    let store = state.store();
    store
        .get(&t.key(name))
        .cloned()
        .map(|o| present(&t.rt, o))
        .ok_or_else(|| t.not_found(name))
}

pub struct ListFilter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl ListFilter {
    pub fn from_params(params: &Params) -> ApiResult<Self> {
        Ok(ListFilter {
            labels: LabelSelector::parse(
                params
                    .get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or(""),
            )?,
            fields: FieldSelector::parse(
                params
                    .get("fieldSelector")
                    .map(String::as_str)
                    .unwrap_or(""),
            )?,
        })
    }
    pub fn matches(&self, o: &Value) -> bool {
        self.labels.matches(o) && self.fields.matches(o)
    }
}

fn encode_continue(key: &ObjKey) -> String {
    format!("{}/{}", key.namespace, key.name)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect();
    let s = String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())?;
    let (ns, name) = s.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

pub fn list(state: &AppState, t: &Target, params: &Params) -> ApiResult<Value> {
    let filter = ListFilter::from_params(params)?;
    let limit: usize = match params.get("limit") {
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    let after = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let store = state.store();
    let ns = if t.rt.namespaced {
        t.namespace.as_deref()
    } else {
        None
    };
    let matching: Vec<(&ObjKey, &Value)> = store
        .list(&t.rt.group, &t.rt.plural, ns)
        .filter(|(k, _)| {
            after
                .as_ref()
                .is_none_or(|(ans, aname)| (&k.namespace, &k.name) > (ans, aname))
        })
        .filter(|(_, o)| filter.matches(o))
        .collect();
    let mut metadata = json!({ "resourceVersion": store.current_rv().to_string() });
    let take = if limit > 0 {
        limit.min(matching.len())
    } else {
        matching.len()
    };
    if take < matching.len() {
        metadata["continue"] = json!(encode_continue(matching[take - 1].0));
        metadata["remainingItemCount"] = json!(matching.len() - take);
    }
    let items: Vec<Value> = matching[..take]
        .iter()
        .map(|(_, o)| present(&t.rt, (*o).clone()))
        .collect();
    Ok(json!({
        "apiVersion": t.rt.api_version(),
        "kind": format!("{}List", t.rt.kind),
        "metadata": metadata,
        "items": items,
    }))
}

fn dns_subdomain(name: &str) -> bool {
    let re = crate::regexes::compiled(
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    )
    .expect("regex");
    name.len() <= 253 && re.is_match(name)
}

fn dns_label(name: &str) -> bool {
    let re = crate::regexes::compiled(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("regex");
    name.len() <= 63 && re.is_match(name)
}

fn validate_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
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

fn parse_body(body: &[u8], content_type: &str) -> ApiResult<Value> {
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

fn check_type(rt: &ResourceType, object: &Value) -> ApiResult<()> {
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

fn check_namespace(store: &Store, t: &Target, object: &mut Value) -> ApiResult<String> {
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

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let id = uuid::Uuid::new_v4();
    id.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Custom-resource schema processing; 422 on errors.
fn run_schema(rt: &ResourceType, object: &mut Value, params: &Params) -> ApiResult<()> {
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

fn timestamp() -> String {
    apply::now()
}

/// Who manages a write.
pub enum Ownership {
    /// An `Update` operation by this manager.
    Update(String),
    /// managedFields were already computed by server-side apply.
    Applied,
}

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

fn create_locked(
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
fn special_on_create(state: &AppState, rt: &ResourceType, object: &mut Value) {
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
fn spec_part(rt: &ResourceType, o: &Value) -> Value {
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
fn comparable(o: &Value) -> Value {
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
fn commit_update(
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

fn delete_locked(
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

const ORPHAN: &str = "orphan";

/// Really removes an object, then deletes its dependents (ownerReferences; with `orphan`, only
/// drops their reference to it) and, for the last object of a terminating namespace, the
/// namespace itself.
fn finalize(state: &AppState, store: &mut Store, key: &ObjKey, orphan: bool) -> Option<Value> {
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

    #[test]
    fn continue_tokens_round_trip() {
        let key = ObjKey {
            group: "g".into(),
            resource: "r".into(),
            namespace: "ns".into(),
            name: "a.b".into(),
        };
        assert_eq!(
            decode_continue(&encode_continue(&key)).unwrap(),
            ("ns".to_string(), "a.b".to_string())
        );
        assert_eq!(decode_continue("zz").unwrap_err().code, 400);
    }
}
