//! `?watch=1`: newline-delimited JSON WatchEvents, resumable from a resourceVersion, with
//! bookmarks, `timeoutSeconds`, `sendInitialEvents` and 410 Gone for a compacted version.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::errors::{ApiError, ApiResult};
use crate::ops::{ListFilter, Params, Target, present};
use crate::selectors::FieldSelector;
use crate::state::AppState;
use crate::store::{Change, EventType};

fn event(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("json");
    line.push(b'\n');
    Bytes::from(line)
}

struct Watcher {
    target: Target,
    /// The client asked for Table objects (kubectl get -w).
    accept: String,
    filter: ListFilter,
    name: Option<FieldSelector>,
}

impl Watcher {
    fn matches(&self, o: &Value) -> bool {
        self.filter.matches(o) && self.name.as_ref().is_none_or(|n| n.matches(o))
    }

    /// The event this watch sees for a change, if any (selector transitions included).
    fn translate(&self, c: &Change) -> Option<(&'static str, Value)> {
        let rt = &self.target.rt;
        if c.key.group != rt.group || c.key.resource != rt.plural {
            return None;
        }
        if rt.namespaced
            && let Some(ns) = &self.target.namespace
            && *ns != c.key.namespace
        {
            return None;
        }
        let now = self.matches(&c.object);
        let before = c.previous.as_ref().is_some_and(|p| self.matches(p));
        let kind = match c.kind {
            EventType::Added if now => EventType::Added,
            EventType::Modified if now && before => EventType::Modified,
            EventType::Modified if now => EventType::Added,
            EventType::Modified if before => EventType::Deleted,
            EventType::Deleted if before || now => EventType::Deleted,
            _ => return None,
        };
        Some((kind.as_str(), self.shape(present(rt, c.object.clone()))))
    }

    fn shape(&self, o: Value) -> Value {
        crate::table::maybe_table(&self.accept, &self.target.rt, o)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"kind": self.target.rt.kind, "apiVersion": self.target.rt.api_version(), "metadata": metadata})
    }
}

pub fn watch(
    state: Arc<AppState>,
    target: Target,
    params: &Params,
    accept: &str,
) -> ApiResult<Response> {
    let filter = ListFilter::from_params(params)?;
    let name = match &target.name {
        Some(n) => Some(FieldSelector::parse(&format!("metadata.name={n}"))?),
        None => None,
    };
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let send_initial = params.get("sendInitialEvents").map(|v| v == "true");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let rv_param = params.get("resourceVersion").cloned().unwrap_or_default();
    if send_initial == Some(true) && !bookmarks {
        return Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", &[(
            "allowWatchBookmarks".into(),
            "Required value: allowWatchBookmarks must be set to true when sendInitialEvents is set to true".into(),
        )]));
    }
    let w = Watcher {
        target,
        accept: accept.to_string(),
        filter,
        name,
    };

    let mut first: Vec<Bytes> = vec![];
    let (rx, start_rv) = {
        let store = state.store();
        let current = store.current_rv();
        let synthetic = send_initial.unwrap_or(rv_param.is_empty() || rv_param == "0");
        if synthetic {
            let ns = if w.target.rt.namespaced {
                w.target.namespace.as_deref()
            } else {
                None
            };
            for (_, o) in store.list(&w.target.rt.group, &w.target.rt.plural, ns) {
                if w.matches(o) {
                    first.push(event("ADDED", &w.shape(present(&w.target.rt, o.clone()))));
                }
            }
            if send_initial == Some(true) {
                first.push(event("BOOKMARK", &w.bookmark(current, true)));
            }
        } else {
            let since: u64 = rv_param.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
            })?;
            match store.changes_since(since) {
                Some(changes) => {
                    for c in changes {
                        if let Some((kind, o)) = w.translate(&c) {
                            first.push(event(kind, &o));
                        }
                    }
                }
                None => {
                    let gone = ApiError::gone(format!(
                        "too old resource version: {since} ({})",
                        store.compacted_rv() + 1
                    ));
                    first.push(event("ERROR", &gone.to_status()));
                    let body = Body::from_stream(futures::stream::iter(
                        first.into_iter().map(Ok::<_, Infallible>),
                    ));
                    return Ok(stream_response(body));
                }
            }
        }
        (store.subscribe(), current)
    };

    let (tx, out) = mpsc::channel::<Bytes>(256);
    let mut epoch = state.watch_epoch.subscribe();
    let interval = state.bookmark_interval;
    tokio::spawn(async move {
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        run(
            w, rx, tx, &mut epoch, start_rv, bookmarks, interval, timeout,
        )
        .await;
    });
    let stream = futures::stream::unfold(out, |mut out| async move {
        out.recv().await.map(|b| (Ok::<_, Infallible>(b), out))
    });
    Ok(stream_response(Body::from_stream(stream)))
}

#[allow(clippy::too_many_arguments)]
async fn run(
    w: Watcher,
    mut rx: broadcast::Receiver<Arc<Change>>,
    tx: mpsc::Sender<Bytes>,
    epoch: &mut tokio::sync::watch::Receiver<u64>,
    mut progress: u64,
    bookmarks: bool,
    interval: Duration,
    timeout: Option<Duration>,
) {
    let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(3600 * 24 * 365)));
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = epoch.changed() => return,
            _ = tx.closed() => return,
            _ = ticker.tick(), if bookmarks => {
                if tx.send(event("BOOKMARK", &w.bookmark(progress, false))).await.is_err() {
                    return;
                }
            }
            msg = rx.recv() => match msg {
                Ok(c) => {
                    if c.rv <= progress {
                        continue;
                    }
                    progress = c.rv;
                    if let Some((kind, o)) = w.translate(&c)
                        && tx.send(event(kind, &o)).await.is_err()
                    {
                        return;
                    }
                }
                // Too slow a reader: end the watch; the client resumes from its last version.
                Err(_) => return,
            }
        }
    }
}

fn stream_response(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("response")
}
