//! HTTP routing: URL paths to discovery documents and resource verbs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::discovery;
use crate::errors::{ApiError, ApiResult};
use crate::faults::RequestInfo;
use crate::openapi;
use crate::ops::{self, Params, Target};
use crate::state::AppState;
use crate::table;
use crate::watch;

pub fn json_response(code: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("response")
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    match dispatch(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// A parsed resource URL.
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_resource_path(segs: &[&str]) -> Option<ResourcePath> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let s = |x: &&str| x.to_string();
    let (namespace, resource, name, subresource) = match rest {
        [] => return None,
        // /namespaces/{ns}/{resource}[/{name}[/{sub}]] unless it is the namespace itself.
        ["namespaces", ns, r, tail @ ..]
            if group.is_empty() && !matches!(*r, "status" | "finalize") || !group.is_empty() =>
        {
            match tail {
                [] => (Some(s(ns)), s(r), None, None),
                [n] => (Some(s(ns)), s(r), Some(s(n)), None),
                [n, sub] => (Some(s(ns)), s(r), Some(s(n)), Some(s(sub))),
                _ => return None,
            }
        }
        [r] => (None, s(r), None, None),
        [r, n] => (None, s(r), Some(s(n)), None),
        [r, n, sub] => (None, s(r), Some(s(n)), Some(s(sub))),
        _ => return None,
    };
    Some(ResourcePath {
        group,
        version,
        namespace,
        resource,
        name,
        subresource,
    })
}

fn parse_query(req: &Request) -> Params {
    req.uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect::<HashMap<_, _>>()
        })
        .unwrap_or_default()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The field manager of an `Update` without `fieldManager`: the user agent's program name.
fn default_manager(headers: &HeaderMap) -> String {
    let ua = header_str(headers, header::USER_AGENT);
    let first = ua.split('/').next().unwrap_or("").trim();
    if first.is_empty() {
        "unknown".into()
    } else {
        first.chars().take(128).collect()
    }
}

async fn dispatch(state: Arc<AppState>, req: Request) -> ApiResult<Response> {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v));
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    match segs.as_slice() {
        ["version"] => return ok(discovery::version()),
        ["openapi", "v3"] => return ok(openapi::index(&state.registry())),
        ["openapi", "v3", "api", v] => {
            return openapi::group_version(&state.registry(), "", v)
                .map(ok)
                .unwrap_or_else(|| Err(not_found()));
        }
        ["openapi", "v3", "apis", g, v] => {
            return openapi::group_version(&state.registry(), g, v)
                .map(ok)
                .unwrap_or_else(|| Err(not_found()));
        }
        ["healthz" | "readyz" | "livez"] => return Ok((StatusCode::OK, "ok").into_response()),
        ["api" | "apis"]
            if discovery::wants_aggregated(header_str(req.headers(), header::ACCEPT)) =>
        {
            let body = discovery::aggregated(&state.registry(), segs[0] == "api");
            let mut r = json_response(StatusCode::OK, &body);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(discovery::AGGREGATED),
            );
            return Ok(r);
        }
        ["api"] => return ok(discovery::api_versions(&state.addr.to_string())),
        ["apis"] => return ok(discovery::api_groups(&state.registry())),
        ["api", v] => {
            return discovery::resource_list(&state.registry(), "", v)
                .map(ok)
                .unwrap_or_else(|| Err(not_found()));
        }
        ["apis", g] => {
            return discovery::api_group(&state.registry(), g)
                .map(ok)
                .unwrap_or_else(|| Err(not_found()));
        }
        ["apis", g, v] => {
            return discovery::resource_list(&state.registry(), g, v)
                .map(ok)
                .unwrap_or_else(|| Err(not_found()));
        }
        _ => {}
    }
    let rp = parse_resource_path(&segs).ok_or_else(not_found)?;
    let rt = state
        .registry()
        .find(&rp.group, &rp.version, &rp.resource)
        .cloned()
        .ok_or_else(not_found)?;
    if rp.namespace.is_some() && !rt.namespaced {
        return Err(not_found());
    }
    let params = parse_query(&req);
    let is_watch = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (&method, rp.name.is_some()) {
        (&Method::GET, _) if is_watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource: {method}"
            )));
        }
    };
    let resource_label = match &rp.subresource {
        Some(sub) => format!("{}/{sub}", rt.plural),
        None => rt.plural.clone(),
    };
    let info = RequestInfo {
        verb: verb.into(),
        resource: resource_label,
        name: rp.name.clone(),
    };
    let (delay, fault) = state.faults.on_request(&info);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Some(e) = fault {
        return Err(e);
    }
    let target = Target {
        rt,
        namespace: rp.namespace,
        name: rp.name,
        subresource: rp.subresource,
    };
    let headers = req.headers().clone();
    let content_type = header_str(&headers, header::CONTENT_TYPE).to_string();
    let accept = header_str(&headers, header::ACCEPT).to_string();
    let body = to_bytes(req.into_body(), 64 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let manager = params.get("fieldManager").cloned();
    let st = &state;
    match verb {
        "watch" => watch::watch(state.clone(), target, &params, &accept),
        "get" => ok(table::maybe_table(
            &accept,
            &target.rt,
            ops::get(st, &target)?,
        )),
        "list" => ok(table::maybe_table(
            &accept,
            &target.rt,
            ops::list(st, &target, &params)?,
        )),
        "create" => {
            let m = manager.unwrap_or_else(|| default_manager(&headers));
            let o = ops::create(st, &target, &body, &content_type, &params, &m)?;
            Ok(json_response(StatusCode::CREATED, &o))
        }
        "update" => {
            let m = manager.unwrap_or_else(|| default_manager(&headers));
            ok(ops::update(st, &target, &body, &content_type, &params, &m)?)
        }
        "patch" => {
            let (created, o) = ops::patch(
                st,
                &target,
                &body,
                &content_type,
                &params,
                manager.as_deref(),
                &default_manager(&headers),
            )?;
            Ok(json_response(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &o,
            ))
        }
        "delete" => ok(ops::delete(st, &target, &body, &params)?),
        "deletecollection" => ok(ops::delete_collection(st, &target, &params)?),
        _ => Err(ApiError::internal(format!("unhandled verb {verb}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = parse_resource_path(&["api", "v1", "namespaces", "a", "configmaps", "b"]).unwrap();
        assert_eq!(
            (
                p.namespace.as_deref(),
                p.resource.as_str(),
                p.name.as_deref()
            ),
            (Some("a"), "configmaps", Some("b"))
        );
        let p = parse_resource_path(&["api", "v1", "namespaces", "a"]).unwrap();
        assert_eq!(
            (p.namespace, p.resource.as_str(), p.name.as_deref()),
            (None, "namespaces", Some("a"))
        );
        let p = parse_resource_path(&["api", "v1", "namespaces", "a", "status"]).unwrap();
        assert_eq!(
            (p.resource.as_str(), p.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let p = parse_resource_path(&["apis", "riskassess.io", "v1alpha1", "tenantusers"]).unwrap();
        assert_eq!((p.namespace, p.resource.as_str()), (None, "tenantusers"));
        let p = parse_resource_path(&[
            "apis",
            "g",
            "v1",
            "namespaces",
            "n",
            "userimports",
            "x",
            "status",
        ])
        .unwrap();
        assert_eq!(p.subresource.as_deref(), Some("status"));
    }
}
