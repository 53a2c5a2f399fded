//! A fault-injecting, request-counting proxy in front of a real kube-apiserver.
//!
//! It listens on plain HTTP on 127.0.0.1 and forwards every request to the API server over
//! HTTPS with the admin kubeconfig's client certificate (kube's own client does the TLS and the
//! authentication), streaming the responses back: a watch stays a watch. Each test has its own
//! proxy and a kubeconfig naming it (`server: http://127.0.0.1:PORT`, no credentials), so the
//! in-process controller, the real binaries and kubectl all go through it and the counts are the
//! test's alone.
//!
//! Requests are counted by (verb, resource) as kube-apiserver names them: `get`, `list` and
//! `watch` (a GET with `?watch=true`) of a resource, `create`, `update`, `patch`, `delete`,
//! `deletecollection`; the resource is the plural, with its subresource (`userimports/status`).
//! Discovery, `/version` and `/openapi` are not resources and are not counted. Requests that
//! ask for metadata only (an `Accept` of `PartialObjectMetadata[List]`) are counted apart as
//! well ([`Counters::metadata_only`]), and `get`s by object ([`Counters::gets_of`]).
//!
//! Faults are answered by the proxy itself, before the API server sees the request (as a
//! server that refuses a request has done nothing): 409 Conflict, 429 with `Retry-After`, 500,
//! 504, any status, or, on a watch, the `ERROR` event of a 410 `Expired` Status that
//! kube-apiserver sends when the watch's resourceVersion was compacted away.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::Response;
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use serde_json::json;

use crate::AbortOnDrop;

/// Selects requests: every field left `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    /// get, list, watch, create, update, patch, delete or deletecollection.
    pub verb: Option<String>,
    /// The plural (`tenantusers`), or `plural/subresource` (`userimports/status`).
    pub resource: Option<String>,
    /// The object's name.
    pub name: Option<String>,
}

impl Matcher {
    /// Matches every request.
    pub fn any() -> Self {
        Matcher::default()
    }

    /// Only this verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.into());
        self
    }

    /// Only this resource: `plural` or `plural/subresource`.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Only the object of this name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    fn matches(&self, request: &RequestInfo) -> bool {
        self.verb.as_ref().is_none_or(|v| *v == request.verb)
            && self
                .resource
                .as_ref()
                .is_none_or(|r| *r == request.resource)
            && self
                .name
                .as_ref()
                .is_none_or(|n| Some(n) == request.name.as_ref())
    }
}

/// What an injected fault answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 409 `Conflict`, as for a stale resourceVersion.
    Conflict,
    /// 429 `TooManyRequests` with `Retry-After: seconds`, as API Priority and Fairness answers.
    TooManyRequests {
        /// The `Retry-After` header's value, in seconds.
        retry_after: u32,
    },
    /// 500 `InternalError`.
    InternalError,
    /// 504 `Timeout`: the server gave up waiting.
    Timeout,
    /// 410 `Expired`. On a watch: a 200 whose one event is the `ERROR` of that Status, as
    /// kube-apiserver answers a watch from a compacted resourceVersion; the client must list
    /// again. On any other request: the Status with code 410.
    Gone,
    /// Any code and reason.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The Status's `reason`.
        reason: String,
    },
}

impl Fault {
    fn response(&self, request: &RequestInfo) -> Response {
        let name = request.name.clone().unwrap_or_default();
        let resource = &request.resource;
        let (code, reason, message) = match self {
            Fault::Conflict => (
                409,
                "Conflict".to_string(),
                format!(
                    "Operation cannot be fulfilled on {resource} \"{name}\": injected conflict (test proxy)"
                ),
            ),
            Fault::TooManyRequests { .. } => (
                429,
                "TooManyRequests".to_string(),
                "Too many requests, please try again later (injected by the test proxy)".into(),
            ),
            Fault::InternalError => (
                500,
                "InternalError".to_string(),
                "Internal error occurred: injected fault (test proxy)".into(),
            ),
            Fault::Timeout => (
                504,
                "Timeout".to_string(),
                "Timeout: request did not complete within the allowed duration (injected by the test proxy)"
                    .into(),
            ),
            Fault::Gone => (
                410,
                "Expired".to_string(),
                "too old resource version (injected by the test proxy)".into(),
            ),
            Fault::Status { code, reason } => (
                *code,
                reason.clone(),
                format!("injected fault {code} {reason} (test proxy)"),
            ),
        };
        let status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {"name": name, "kind": resource},
            "code": code,
        });
        if *self == Fault::Gone && request.verb == "watch" {
            let event = json!({"type": "ERROR", "object": status});
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!("{event}\n")))
                .expect("a response");
        }
        let mut response = Response::builder()
            .status(StatusCode::from_u16(code).expect("a status code"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Fault::TooManyRequests { retry_after } = self {
            response = response.header(header::RETRY_AFTER, retry_after.to_string());
        }
        response
            .body(Body::from(status.to_string()))
            .expect("a response")
    }
}

/// What the proxy knows of a request when counting it and choosing a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// As kube-apiserver names it: get, list, watch, create, update, patch, delete,
    /// deletecollection.
    pub verb: String,
    /// `plural` or `plural/subresource`.
    pub resource: String,
    /// The object's name, when the path has one.
    pub name: Option<String>,
}

impl RequestInfo {
    /// The request's verb and resource, as kube-apiserver's RequestInfoFactory reads them from
    /// the method, the path and `?watch=`; None for a path that is not a resource (discovery,
    /// `/version`, `/openapi/...`).
    pub fn of(method: &Method, path: &str, query: Option<&str>) -> Option<RequestInfo> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest = match parts.first() {
            Some(&"api") if parts.len() > 2 => &parts[2..],
            Some(&"apis") if parts.len() > 3 => &parts[3..],
            _ => return None,
        };
        // A namespaced path: /namespaces/NS/RESOURCE/...; but /namespaces/NAME/status and
        // /namespaces/NAME/finalize are subresources of a Namespace.
        let rest = match rest {
            ["namespaces", _, next, ..] if !matches!(*next, "status" | "finalize") => &rest[2..],
            _ => rest,
        };
        let resource = match rest.get(2) {
            Some(sub) => format!("{}/{sub}", rest[0]),
            None => rest[0].to_string(),
        };
        let name = rest.get(1).map(|name| name.to_string());
        let watch = query.is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair == "watch=true" || pair == "watch=1")
        });
        let verb = match *method {
            Method::GET | Method::HEAD if watch => "watch",
            Method::GET | Method::HEAD if name.is_some() => "get",
            Method::GET | Method::HEAD => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if name.is_some() => "delete",
            Method::DELETE => "deletecollection",
            _ => return None,
        };
        Some(RequestInfo {
            verb: verb.into(),
            resource,
            name,
        })
    }
}

/// A snapshot of request counts per (verb, resource).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    counts: BTreeMap<(String, String), u64>,
    /// Of those, the requests for metadata only (see [`Counters::metadata_only`]).
    metadata: BTreeMap<(String, String), u64>,
    /// `get`s per (resource, `namespace/name`).
    gets: BTreeMap<(String, String), u64>,
}

impl Counters {
    /// Requests with this verb on this resource (`plural` or `plural/status`).
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.counts
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// create + update + patch + delete + deletecollection on this resource.
    pub fn writes(&self, resource: &str) -> u64 {
        ["create", "update", "patch", "delete", "deletecollection"]
            .iter()
            .map(|verb| self.count(verb, resource))
            .sum()
    }

    /// Requests of this verb on any resource.
    pub fn verb_total(&self, verb: &str) -> u64 {
        let of_verb = self.counts.iter().filter(|((v, _), _)| v == verb);
        of_verb.map(|(_, n)| n).sum()
    }

    /// All counted requests.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Requests with this verb on this resource that asked for metadata only: an `Accept` of
    /// `PartialObjectMetadata` or `PartialObjectMetadataList` (`g=meta.k8s.io`), as kube's
    /// `Api<PartialObjectMeta<K>>` and client-go's metadata informers send. The API server
    /// then sends no object's content.
    pub fn metadata_only(&self, verb: &str, resource: &str) -> u64 {
        self.metadata
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// `get`s of each object of this resource, by `namespace/name` (`name` alone for a
    /// cluster-scoped one), whole objects and metadata alike.
    pub fn gets_of(&self, resource: &str) -> BTreeMap<String, u64> {
        let of_resource = self.gets.iter().filter(|((r, _), _)| r == resource);
        of_resource
            .map(|((_, name), n)| (name.clone(), *n))
            .collect()
    }

    /// Every (verb, resource, count).
    pub fn entries(&self) -> Vec<(String, String, u64)> {
        let entries = self.counts.iter();
        entries
            .map(|((v, r), n)| (v.clone(), r.clone(), *n))
            .collect()
    }
}

/// A fault waiting for its requests: `skip` matching requests pass, then `remaining` fail.
#[derive(Debug)]
struct Rule {
    matcher: Matcher,
    skip: usize,
    remaining: usize,
    fault: Fault,
}

#[derive(Default)]
struct Faults {
    rules: Vec<Rule>,
    delay: Option<(Matcher, Duration)>,
    counters: Counters,
}

struct Shared {
    upstream: kube::Client,
    faults: Mutex<Faults>,
    /// Bumped by [`Proxy::drop_watches`]: every watch response in flight ends.
    watch_epoch: tokio::sync::watch::Sender<u64>,
}

impl Faults {
    /// Counts the request; the delay to wait and the fault to answer, if any.
    fn on_request(&mut self, request: &RequestInfo) -> (Option<Duration>, Option<Fault>) {
        let faults = self;
        let key = (request.verb.clone(), request.resource.clone());
        *faults.counters.counts.entry(key).or_default() += 1;
        let delay = faults.delay.as_ref();
        let delay = delay.filter(|(m, _)| m.matches(request)).map(|(_, d)| *d);
        let mut fault = None;
        let mut rules = faults.rules.iter_mut();
        if let Some(rule) = rules.find(|rule| rule.matcher.matches(request)) {
            if rule.skip > 0 {
                rule.skip -= 1;
            } else {
                rule.remaining -= 1;
                fault = Some(rule.fault.clone());
            }
        }
        faults.rules.retain(|rule| rule.remaining > 0);
        (delay, fault)
    }
}

/// A running proxy; it stops serving when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _task: AbortOnDrop,
}

impl Proxy {
    /// Binds 127.0.0.1:0 and serves on the current runtime, forwarding to the API server of
    /// `config` (with no read timeout: a watch is a long response).
    pub async fn start(mut config: kube::Config) -> Proxy {
        config.read_timeout = None;
        config.write_timeout = None;
        let upstream = kube::Client::try_from(config).expect("a client of the API server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::default(),
            watch_epoch: tokio::sync::watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            addr,
            shared,
            _task: AbortOnDrop(task),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube config for the proxy: no credentials, default namespace `default`.
    pub fn kube_config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("the proxy's URL"));
        config.default_namespace = "default".into();
        config.read_timeout = Some(Duration::from_secs(300));
        config
    }

    /// A client that goes through the proxy.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.kube_config()).expect("a client of the proxy")
    }

    /// A kubeconfig naming the proxy, for kubectl and the real binaries.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test-proxy\n  cluster:\n    server: {}\n\
             users:\n- name: test-proxy\n  user: {{}}\ncontexts:\n- name: test-proxy\n  context:\n    \
             cluster: test-proxy\n    user: test-proxy\n    namespace: default\ncurrent-context: test-proxy\n",
            self.url()
        )
    }

    /// A snapshot of the request counters.
    pub fn counters(&self) -> Counters {
        self.lock().counters.clone()
    }

    /// Starts counting from zero.
    pub fn reset_counters(&self) {
        self.lock().counters = Counters::default();
    }

    /// The next `n` requests matching `matcher` fail with `fault` (they are still counted, and
    /// the API server never sees them).
    pub fn fail_next(&self, n: usize, matcher: Matcher, fault: Fault) {
        self.fail_after(0, n, matcher, fault);
    }

    /// The first `skip` requests matching `matcher` pass, then the next `n` fail with `fault`:
    /// a write that fails half-way through an import.
    pub fn fail_after(&self, skip: usize, n: usize, matcher: Matcher, fault: Fault) {
        if n > 0 {
            let rule = Rule {
                matcher,
                skip,
                remaining: n,
                fault,
            };
            self.lock().rules.push(rule);
        }
    }

    /// How many injected faults have not been answered yet.
    pub fn pending_faults(&self) -> usize {
        self.lock().rules.iter().map(|rule| rule.remaining).sum()
    }

    /// Delays every request (`None`: no delay).
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.lock().delay = delay.map(|d| (Matcher::any(), d));
    }

    /// Delays the requests that match, before they are forwarded.
    pub fn set_delay_for(&self, matcher: Matcher, delay: Duration) {
        self.lock().delay = Some((matcher, delay));
    }

    /// Removes pending faults and the delay.
    pub fn clear_faults(&self) {
        let mut faults = self.lock();
        faults.rules.clear();
        faults.delay = None;
    }

    /// Ends every watch response in flight, cleanly (the end of a chunked body), as an API
    /// server that restarts or times a watch out does: clients see the stream end and watch
    /// again.
    pub fn drop_watches(&self) {
        self.shared.watch_epoch.send_modify(|epoch| *epoch += 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.shared.faults.lock().expect("the proxy's faults")
    }
}

/// The namespace of a namespaced resource's path (`.../namespaces/NS/RESOURCE/...`).
fn namespace_of(path: &str) -> Option<&str> {
    let mut parts = path.trim_matches('/').split('/');
    parts.find(|part| *part == "namespaces")?;
    let namespace = parts.next()?;
    // `/api/v1/namespaces/NAME` is a Namespace itself, not an object in it.
    parts.next().map(|_| namespace)
}

/// Whether an `Accept` header asks for metadata only: its first choice is
/// `PartialObjectMetadata` or `PartialObjectMetadataList` of `meta.k8s.io`.
fn asks_for_metadata_only(accept: &str) -> bool {
    let first = accept.split(',').next().unwrap_or_default();
    let params: Vec<&str> = first.split(';').map(str::trim).collect();
    let kind = params.iter().any(|p| {
        matches!(
            *p,
            "as=PartialObjectMetadata" | "as=PartialObjectMetadataList"
        )
    });
    kind && params.contains(&"g=meta.k8s.io")
}

/// Headers of one connection, not of the message: never forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let uri = request.uri().clone();
    let info = RequestInfo::of(request.method(), uri.path(), uri.query());
    if let Some(info) = &info {
        let metadata_only = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(asks_for_metadata_only);
        // In a block: the guard is not held across the awaits below (the future stays Send).
        let (delay, fault) = {
            let mut faults = shared.faults.lock().expect("the proxy's faults");
            let key = (info.verb.clone(), info.resource.clone());
            if metadata_only {
                *faults.counters.metadata.entry(key).or_default() += 1;
            }
            if let (true, Some(name)) = (info.verb == "get", &info.name) {
                let name = match namespace_of(uri.path()) {
                    Some(namespace) => format!("{namespace}/{name}"),
                    None => name.clone(),
                };
                let key = (info.resource.clone(), name);
                *faults.counters.gets.entry(key).or_default() += 1;
            }
            faults.on_request(info)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(fault) = fault {
            return fault.response(info);
        }
    }
    let watch = info.is_some_and(|info| info.verb == "watch");
    match forward(&shared, request, watch).await {
        Ok(response) => response,
        Err(error) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(format!("test proxy: {error}")))
            .expect("a response"),
    }
}

async fn forward(shared: &Shared, request: Request, watch: bool) -> Result<Response, String> {
    let (parts, body) = request.into_parts();
    // Request bodies are objects and patches: read whole, then sent with their length.
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = axum::http::Request::builder()
        .method(parts.method)
        .uri(path);
    for (name, value) in &parts.headers {
        // The proxy's clients have no credentials; the upstream client adds the admin's.
        let skip = hop_by_hop(name)
            || name == header::HOST
            || name == header::AUTHORIZATION
            || name == header::CONTENT_LENGTH;
        if !skip {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = upstream
        .body(kube::client::Body::from(body))
        .map_err(|e| e.to_string())?;
    let response = shared
        .upstream
        .send(upstream)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            headers.append(name, value.clone());
        }
    }
    let body = if watch {
        let mut epoch = shared.watch_epoch.subscribe();
        let dropped = async move {
            let _ = epoch.changed().await;
        };
        Body::from_stream(body.into_data_stream().take_until(dropped))
    } else {
        Body::new(body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = parts.status;
    *response.headers_mut() = headers;
    if watch {
        // The body may end early now (drop_watches): no length to promise.
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        method: Method,
        path: &str,
        query: Option<&str>,
    ) -> Option<(String, String, Option<String>)> {
        RequestInfo::of(&method, path, query).map(|i| (i.verb, i.resource, i.name))
    }

    fn some(
        verb: &str,
        resource: &str,
        name: Option<&str>,
    ) -> Option<(String, String, Option<String>)> {
        Some((verb.into(), resource.into(), name.map(String::from)))
    }

    #[test]
    fn requests_are_named_as_kube_apiserver_names_them() {
        let ns = "/apis/riskassess.io/v1alpha1/namespaces/t";
        assert_eq!(
            info(
                Method::GET,
                &format!("{ns}/tenantusers"),
                Some("labelSelector=x")
            ),
            some("list", "tenantusers", None)
        );
        assert_eq!(
            info(
                Method::GET,
                &format!("{ns}/tenantusers"),
                Some("a=b&watch=true")
            ),
            some("watch", "tenantusers", None)
        );
        assert_eq!(
            info(Method::GET, &format!("{ns}/tenantusers/u"), None),
            some("get", "tenantusers", Some("u"))
        );
        assert_eq!(
            info(Method::PATCH, &format!("{ns}/userimports/i/status"), None),
            some("patch", "userimports/status", Some("i"))
        );
        assert_eq!(
            info(Method::DELETE, &format!("{ns}/userimports"), None),
            some("deletecollection", "userimports", None)
        );
        assert_eq!(
            info(Method::POST, "/api/v1/namespaces", None),
            some("create", "namespaces", None)
        );
        assert_eq!(
            info(Method::DELETE, "/api/v1/namespaces/t", None),
            some("delete", "namespaces", Some("t"))
        );
        assert_eq!(
            info(Method::PUT, "/api/v1/namespaces/t/finalize", None),
            some("update", "namespaces/finalize", Some("t"))
        );
        assert_eq!(
            info(Method::PUT, "/api/v1/namespaces/t/configmaps/c", None),
            some("update", "configmaps", Some("c"))
        );
        assert_eq!(info(Method::GET, "/version", None), None);
        assert_eq!(info(Method::GET, "/apis", None), None);
        assert_eq!(
            info(Method::GET, "/apis/riskassess.io/v1alpha1", None),
            None
        );
        assert_eq!(info(Method::GET, "/openapi/v2", None), None);
    }

    #[test]
    fn metadata_only_requests_are_told_by_their_accept_header() {
        let list = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        let watch = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        assert!(asks_for_metadata_only(list));
        assert!(asks_for_metadata_only(watch));
        assert!(asks_for_metadata_only(&format!("{list}, application/json")));
        assert!(!asks_for_metadata_only("application/json"));
        assert!(!asks_for_metadata_only(
            "application/json, application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        ));
        assert!(!asks_for_metadata_only(
            "application/json;as=Table;g=meta.k8s.io;v=v1"
        ));
    }

    #[test]
    fn a_rule_skips_then_fails_then_goes() {
        let mut faults = Faults::default();
        faults.rules.push(Rule {
            matcher: Matcher::any().verb("patch"),
            skip: 2,
            remaining: 1,
            fault: Fault::InternalError,
        });
        let patch = RequestInfo {
            verb: "patch".into(),
            resource: "tenantusers".into(),
            name: None,
        };
        let get = RequestInfo {
            verb: "get".into(),
            ..patch.clone()
        };
        let answered: Vec<bool> = [&patch, &get, &patch, &patch, &patch]
            .into_iter()
            .map(|r| faults.on_request(r).1.is_some())
            .collect();
        assert_eq!(answered, [false, false, false, true, false]);
        assert!(faults.rules.is_empty(), "the rule is used up");
        let counters = faults.counters.clone();
        assert_eq!(counters.count("patch", "tenantusers"), 4);
        assert_eq!(counters.count("get", "tenantusers"), 1);
        assert_eq!(counters.writes("tenantusers"), 4);
        assert_eq!(counters.total(), 5);
    }
}
