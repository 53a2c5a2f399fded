//! Request counters, fault injection and an artificial response delay.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::errors::ApiError;

/// Selects requests: every field left `None` matches anything.
/// `resource` is the plural (`tenantusers`), or `plural/subresource` (`userimports/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub verb: Option<String>,
    pub resource: Option<String>,
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
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.into());
        self
    }
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    fn matches(&self, r: &RequestInfo) -> bool {
        self.verb.as_ref().is_none_or(|v| *v == r.verb)
            && self.resource.as_ref().is_none_or(|x| *x == r.resource)
            && self
                .name
                .as_ref()
                .is_none_or(|n| Some(n) == r.name.as_ref())
    }
}

/// What an injected fault answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 409 `Conflict` (as for a stale resourceVersion).
    Conflict,
    /// 500 `InternalError`.
    InternalError,
    /// 504 `Timeout` (the server gave up waiting).
    Timeout,
    /// Any code and reason.
    Status { code: u16, reason: String },
}

impl Fault {
    pub(crate) fn to_error(&self, r: &RequestInfo) -> ApiError {
        let name = r.name.clone().unwrap_or_default();
        match self {
            Fault::Conflict => ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": injected conflict (kube-standin)",
                    r.resource
                ),
            ),
            Fault::InternalError => {
                ApiError::internal("Internal error occurred: injected fault (kube-standin)")
            }
            Fault::Timeout => ApiError::new(
                504,
                "Timeout",
                "Timeout: request did not complete within the allowed duration (injected by kube-standin)",
            ),
            Fault::Status { code, reason } => ApiError::new(
                *code,
                reason.clone(),
                format!("injected fault {code} {reason} (kube-standin)"),
            ),
        }
    }
}

/// What the server knows of a request when counting and injecting faults.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub verb: String,
    pub resource: String,
    pub name: Option<String>,
}

/// A snapshot of request counts per (verb, resource).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    counts: BTreeMap<(String, String), u64>,
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
            .map(|v| self.count(v, resource))
            .sum()
    }
    /// Requests of this verb on any resource.
    pub fn verb_total(&self, verb: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((v, _), _)| v == verb)
            .map(|(_, n)| n)
            .sum()
    }
    /// All counted requests.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
    /// Every (verb, resource, count).
    pub fn entries(&self) -> Vec<(String, String, u64)> {
        self.counts
            .iter()
            .map(|((v, r), n)| (v.clone(), r.clone(), *n))
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    rules: Vec<(Matcher, usize, Fault)>,
    delay: Option<(Matcher, Duration)>,
    counters: Counters,
}

#[derive(Default)]
pub struct Faults {
    inner: Mutex<Inner>,
}

impl Faults {
    pub fn fail_next(&self, n: usize, matcher: Matcher, fault: Fault) {
        self.inner
            .lock()
            .expect("faults")
            .rules
            .push((matcher, n, fault));
    }

    pub fn clear(&self) {
        let mut g = self.inner.lock().expect("faults");
        g.rules.clear();
        g.delay = None;
    }

    pub fn set_delay(&self, delay: Option<(Matcher, Duration)>) {
        self.inner.lock().expect("faults").delay = delay;
    }

    pub fn counters(&self) -> Counters {
        self.inner.lock().expect("faults").counters.clone()
    }

    pub fn reset_counters(&self) {
        self.inner.lock().expect("faults").counters = Counters::default();
    }

    /// Counts the request; returns the delay to wait and the fault to answer, if any.
    pub fn on_request(&self, r: &RequestInfo) -> (Option<Duration>, Option<ApiError>) {
        let mut g = self.inner.lock().expect("faults");
        *g.counters
            .counts
            .entry((r.verb.clone(), r.resource.clone()))
            .or_default() += 1;
        let delay = g
            .delay
            .as_ref()
            .filter(|(m, _)| m.matches(r))
            .map(|(_, d)| *d);
        let mut fault = None;
        if let Some(rule) = g.rules.iter_mut().find(|(m, n, _)| *n > 0 && m.matches(r)) {
            rule.1 -= 1;
            fault = Some(rule.2.to_error(r));
        }
        g.rules.retain(|(_, n, _)| *n > 0);
        (delay, fault)
    }
}
