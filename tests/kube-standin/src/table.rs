//! `meta.k8s.io/v1` Table answers for clients that ask for them (`kubectl get` without `-o`):
//! Name, then a CRD's `additionalPrinterColumns` (simple `.a.b` JSON paths; dates shown as
//! ages), or Age for other kinds.

use serde_json::{Value, json};

use crate::resources::ResourceType;

pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// "42s", "7m", "3h", "5d", like the real server's age columns.
fn age(timestamp: &str) -> String {
    let Ok(t) = timestamp.parse::<jiff::Timestamp>() else {
        return "<invalid>".into();
    };
    let secs = jiff::Timestamp::now().duration_since(t).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn lookup<'a>(o: &'a Value, json_path: &str) -> &'a Value {
    json_path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
        .fold(o, |cur, k| &cur[k])
}

fn columns(rt: &ResourceType) -> Vec<(String, String, String)> {
    let mut cols = vec![(
        "Name".to_string(),
        "string".to_string(),
        ".metadata.name".to_string(),
    )];
    if rt.printer_columns.is_empty() {
        cols.push((
            "Age".into(),
            "date".into(),
            ".metadata.creationTimestamp".into(),
        ));
    }
    for c in &rt.printer_columns {
        let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        cols.push((s("name"), s("type"), s("jsonPath")));
    }
    cols
}

fn row(cols: &[(String, String, String)], o: &Value) -> Value {
    let cells: Vec<Value> = cols
        .iter()
        .map(|(_, ty, path)| match (ty.as_str(), lookup(o, path)) {
            ("date", Value::String(t)) => json!(age(t)),
            (_, v) => v.clone(),
        })
        .collect();
    json!({"cells": cells, "object": o})
}

pub fn maybe_table(accept: &str, rt: &ResourceType, v: Value) -> Value {
    if !wants_table(accept) {
        return v;
    }
    let cols = columns(rt);
    let (rows, metadata) = match v.get("items").and_then(Value::as_array) {
        Some(items) => (
            items.iter().map(|o| row(&cols, o)).collect::<Vec<_>>(),
            v["metadata"].clone(),
        ),
        None => (
            vec![row(&cols, &v)],
            json!({"resourceVersion": v["metadata"]["resourceVersion"]}),
        ),
    };
    let defs: Vec<Value> = cols
        .iter()
        .map(|(name, ty, _)| {
            let format = if name == "Name" { "name" } else { "" };
            json!({"name": name, "type": ty, "format": format, "description": "", "priority": 0})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": defs,
        "rows": rows,
    })
}
