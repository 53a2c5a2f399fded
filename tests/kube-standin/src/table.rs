//! `meta.k8s.io/v1` Table answers for clients that ask for them (`kubectl get` without `-o`):
//! columns Name and Created At (custom printer columns are not evaluated).

use serde_json::{Value, json};

use crate::resources::ResourceType;

pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn row(o: &Value) -> Value {
    json!({
        "cells": [o["metadata"]["name"], o["metadata"]["creationTimestamp"]],
        "object": o,
    })
}

pub fn maybe_table(accept: &str, _rt: &ResourceType, v: Value) -> Value {
    if !wants_table(accept) {
        return v;
    }
    let (rows, metadata) = match v.get("items").and_then(Value::as_array) {
        Some(items) => (
            items.iter().map(row).collect::<Vec<_>>(),
            v["metadata"].clone(),
        ),
        None => (
            vec![row(&v)],
            json!({"resourceVersion": v["metadata"]["resourceVersion"]}),
        ),
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name of the object", "priority": 0},
            {"name": "Created At", "type": "date", "format": "", "description": "Creation timestamp", "priority": 0},
        ],
        "rows": rows,
    })
}
