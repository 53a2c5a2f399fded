//! get and list (selectors, pagination).

use serde_json::{Value, json};

use super::{Params, Target, present};
use crate::errors::{ApiError, ApiResult};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::AppState;
use crate::store::ObjKey;

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

pub(super) fn encode_continue(key: &ObjKey) -> String {
    format!("{}/{}", key.namespace, key.name)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn decode_continue(token: &str) -> ApiResult<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
