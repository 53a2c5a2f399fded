//! Structural-schema handling of custom resources against the CRD's `openAPIV3Schema`:
//! pruning of unknown fields, defaulting, then validation (type, required, enum, pattern,
//! nullable, minimum/maximum, lengths), as the real API server does in that order.

use serde_json::{Map, Value};

/// What processing found: field errors `(field, message)` and the unknown fields it pruned.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<(String, String)>,
    pub pruned: Vec<String>,
}

/// Prunes, defaults and validates `object` in place.
pub fn process(schema: &Value, object: &mut Value) -> Report {
    let mut report = Report::default();
    let r = &mut report;
    let Some(root) = object.as_object_mut() else {
        r.errors.push((
            String::new(),
            "Invalid value: object must be a JSON object".into(),
        ));
        return report;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    // Root: apiVersion, kind and metadata are always kept and validated elsewhere.
    if !preserves_unknown(schema) {
        prune(root, "", r, |k| {
            matches!(k, "apiVersion" | "kind" | "metadata")
                || props.is_some_and(|p| p.contains_key(k))
        });
    }
    if let Some(props) = props {
        apply_defaults(props, root);
        for (k, sub) in props {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(v) = root.get_mut(k) {
                walk(sub, v, k, r);
            }
        }
    }
    check_required(schema, root, "", r);
    report
}

fn prune(obj: &mut Map<String, Value>, path: &str, r: &mut Report, keep: impl Fn(&str) -> bool) {
    let unknown: Vec<String> = obj.keys().filter(|k| !keep(k)).cloned().collect();
    for k in unknown {
        obj.remove(&k);
        r.pruned.push(join(path, &k));
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn apply_defaults(props: &Map<String, Value>, obj: &mut Map<String, Value>) {
    for (k, sub) in props {
        let Some(default) = sub.get("default") else {
            continue;
        };
        let nullable = sub.get("nullable").and_then(Value::as_bool) == Some(true);
        match obj.get(k) {
            None => {
                obj.insert(k.clone(), default.clone());
            }
            Some(Value::Null) if !nullable => {
                obj.insert(k.clone(), default.clone());
            }
            _ => {}
        }
    }
}

fn check_required(schema: &Value, obj: &Map<String, Value>, path: &str, r: &mut Report) {
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for field in req.iter().filter_map(Value::as_str) {
            if !obj.contains_key(field) {
                r.errors.push((join(path, field), "Required value".into()));
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(schema: &Value, value: &mut Value, path: &str, r: &mut Report) {
    let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    if value.is_null() {
        if !nullable && schema.get("type").is_some() {
            let want = schema["type"].as_str().unwrap_or("object");
            r.errors.push((
                path.into(),
                format!("Invalid value: \"null\": {path} in body must be of type {want}: \"null\""),
            ));
        }
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = actual == want || (want == "number" && actual == "integer");
        if !ok {
            r.errors.push((path.into(), format!("Invalid value: \"{actual}\": {path} in body must be of type {want}: \"{actual}\"")));
            return;
        }
    } else if int_or_string && !matches!(type_name(value), "integer" | "string") {
        r.errors.push((
            path.into(),
            format!(
                "Invalid value: \"{}\": {path} in body must be of type integer or string",
                type_name(value)
            ),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().filter(|a| !a.is_null()).map(show).collect();
        r.errors.push((
            path.into(),
            format!(
                "Unsupported value: {}: supported values: {}",
                show(value),
                list.join(", ")
            ),
        ));
    }
    match value {
        Value::String(s) => {
            if let Some(p) = schema.get("pattern").and_then(Value::as_str)
                && let Some(re) = crate::regexes::compiled(p)
                && !re.is_match(s)
            {
                r.errors.push((
                    path.into(),
                    format!("Invalid value: {s:?}: {path} in body should match '{p}'"),
                ));
            }
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                r.errors.push((
                    path.into(),
                    format!("Too long: may not be more than {max} bytes"),
                ));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                r.errors.push((
                    path.into(),
                    format!(
                        "Invalid value: {s:?}: {path} in body should be at least {min} chars long"
                    ),
                ));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                r.errors.push((path.into(), format!("Invalid value: {n}: {path} in body should be greater than or equal to {min}")));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                r.errors.push((
                    path.into(),
                    format!(
                        "Invalid value: {n}: {path} in body should be less than or equal to {max}"
                    ),
                ));
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), r);
                }
            }
        }
        Value::Object(obj) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if !preserves_unknown(schema)
                && additional.is_none()
                && !schema
                    .get("additionalProperties")
                    .is_some_and(|a| a == &Value::Bool(true))
            {
                prune(obj, path, r, |k| props.is_some_and(|p| p.contains_key(k)));
            }
            if let Some(props) = props {
                apply_defaults(props, obj);
                for (k, sub) in props {
                    if let Some(v) = obj.get_mut(k) {
                        walk(sub, v, &join(path, k), r);
                    }
                }
            }
            if let Some(add) = additional {
                for (k, v) in obj.iter_mut() {
                    if props.is_some_and(|p| p.contains_key(k)) {
                        continue;
                    }
                    walk(add, v, &format!("{path}[{k}]"), r);
                }
            }
            check_required(schema, obj, path, r);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"},
            "id": {"type": "string", "nullable": true, "pattern": "^[0-9]*$"},
            "mode": {"type": "string", "default": "Apply", "enum": ["Apply", "DryRun"]},
            "n": {"type": "integer", "minimum": 0.0}
        }}}})
    }

    #[test]
    fn defaults_prunes_and_accepts() {
        let mut o = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"name": "a", "junk": 1, "id": null}, "extra": 2});
        let report = process(&schema(), &mut o);
        assert!(report.errors.is_empty());
        assert_eq!(
            report.pruned,
            vec!["extra".to_string(), "spec.junk".to_string()]
        );
        assert_eq!(o["spec"], json!({"name": "a", "id": null, "mode": "Apply"}));
        assert!(o.get("extra").is_none());
    }

    #[test]
    fn reports_errors() {
        let mut o = json!({"spec": {"id": "12ab", "mode": "Nope", "n": -1}});
        let errs = process(&schema(), &mut o).errors;
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"spec.id"), "{errs:?}");
        assert!(fields.contains(&"spec.mode"), "{errs:?}");
        assert!(fields.contains(&"spec.n"), "{errs:?}");
        assert!(fields.contains(&"spec.name"), "{errs:?}");
        let mut o = json!({"spec": {"name": 5}});
        let errs = process(&schema(), &mut o).errors;
        assert_eq!(errs[0].0, "spec.name");
        assert!(errs[0].1.contains("must be of type string"));
    }
}
