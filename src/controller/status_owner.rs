//! The status's owner after an upgrade from an operator version that wrote the status by JSON
//! merge patch: such a status belongs to an `Update` entry of the operator's field manager
//! (subresource `status`) in `metadata.managedFields`, and a server-side apply that leaves one of
//! its fields out does not remove it. Before the first status write of an import whose object
//! has that entry, its fields are moved into the manager's `Apply` entry of the status (the
//! entry becomes `Apply`, or its fields are merged into an existing one), by one JSON patch of
//! `metadata.managedFields` guarded by the resource version, as client-go's `csaupgrade` does;
//! the apply then owns, and removes, every field it leaves out.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::tenant_users::FIELD_MANAGER;
use user_import_resources::UserImport;

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";
const STATUS: &str = "status";

/// The managedFields to write, and the resource version they were computed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Takeover {
    resource_version: String,
    managed_fields: Vec<ManagedFieldsEntry>,
}

impl Takeover {
    /// The takeover `metadata` needs, or None when no `Update` entry of the operator's manager
    /// holds status fields (the case of every import the apply has written from the start).
    pub(crate) fn of(metadata: &ObjectMeta) -> Option<Takeover> {
        let entries = metadata.managed_fields.as_deref()?;
        Some(Takeover {
            managed_fields: moved_to_apply(entries, FIELD_MANAGER)?,
            resource_version: metadata.resource_version.clone()?,
        })
    }
}

fn is(entry: &ManagedFieldsEntry, manager: &str, operation: &str) -> bool {
    entry.manager.as_deref() == Some(manager)
        && entry.operation.as_deref() == Some(operation)
        && entry.subresource.as_deref() == Some(STATUS)
}

/// `entries` with the fields of `manager`'s `Update` entries of the status subresource moved
/// into its `Apply` entry of the status subresource: merged into it when there is one, else the
/// first `Update` entry becomes it. None when `manager` has no such `Update` entry. Every other
/// entry is kept as it is, in its place.
pub(crate) fn moved_to_apply(
    entries: &[ManagedFieldsEntry],
    manager: &str,
) -> Option<Vec<ManagedFieldsEntry>> {
    let updates: Vec<&ManagedFieldsEntry> = entries
        .iter()
        .filter(|entry| is(entry, manager, UPDATE))
        .collect();
    let first = *updates.first()?;
    let mut fields = Value::Object(Default::default());
    for update in &updates {
        merge(&mut fields, fields_of(update));
    }
    let has_apply = entries.iter().any(|entry| is(entry, manager, APPLY));
    let mut moved = Vec::with_capacity(entries.len());
    for entry in entries {
        if is(entry, manager, APPLY) {
            let mut apply = entry.clone();
            merge(&mut fields, fields_of(entry));
            apply.fields_v1 = Some(FieldsV1(fields.clone()));
            moved.push(apply);
        } else if std::ptr::eq(entry, first) && !has_apply {
            moved.push(ManagedFieldsEntry {
                operation: Some(APPLY.to_string()),
                fields_type: Some("FieldsV1".to_string()),
                fields_v1: Some(FieldsV1(fields.clone())),
                ..entry.clone()
            });
        } else if !is(entry, manager, UPDATE) {
            moved.push(entry.clone());
        }
    }
    Some(moved)
}

fn fields_of(entry: &ManagedFieldsEntry) -> &Value {
    static EMPTY: Value = Value::Null;
    entry.fields_v1.as_ref().map_or(&EMPTY, |fields| &fields.0)
}

/// Adds the fields of the `fieldsV1` object `from` to `into`: a key in both is merged in turn.
fn merge(into: &mut Value, from: &Value) {
    let (Value::Object(into), Value::Object(from)) = (into, from) else {
        return;
    };
    for (key, value) in from {
        match into.get_mut(key) {
            Some(existing) => merge(existing, value),
            None => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Writes `takeover`: one JSON patch of the UserImport that replaces `metadata.managedFields`
/// if the resource version is still the one it was computed from. When the object changed
/// since (the patch's test fails, or a conflict), it is read again and the takeover computed
/// and tried once more; what still fails is logged and left to a later reconcile (the entry is
/// still there then), and the status is written all the same.
pub(crate) async fn write(api: &Api<UserImport>, name: &str, takeover: Takeover) {
    let mut takeover = takeover;
    for attempt in 1..=2 {
        let error = match patch(api, name, &takeover).await {
            Ok(()) => return,
            Err(error) => error,
        };
        let changed =
            matches!(&error, kube::Error::Api(status) if status.code == 409 || status.code == 422);
        if !changed || attempt == 2 {
            tracing::warn!(import = %name, %error, "could not take over the status fields of the merge-patch manager; a later reconcile tries again");
            return;
        }
        match api.get_status(name).await {
            Ok(fresh) => match Takeover::of(&fresh.metadata) {
                Some(again) => takeover = again,
                None => return,
            },
            Err(error) => {
                tracing::warn!(import = %name, %error, "could not read the UserImport again to take over its status fields");
                return;
            }
        }
    }
}

async fn patch(api: &Api<UserImport>, name: &str, takeover: &Takeover) -> kube::Result<()> {
    let operations = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": takeover.resource_version},
        {"op": "replace", "path": "/metadata/managedFields", "value": takeover.managed_fields},
    ]);
    let operations = serde_json::from_value(operations).map_err(kube::Error::SerdeError)?;
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::<()>::Json(operations))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        manager: &str,
        operation: &str,
        subresource: Option<&str>,
        fields: Value,
    ) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            api_version: Some("riskassess.io/v1alpha1".into()),
            fields_type: Some("FieldsV1".into()),
            fields_v1: Some(FieldsV1(fields)),
            manager: Some(manager.into()),
            operation: Some(operation.into()),
            subresource: subresource.map(Into::into),
            time: None,
        }
    }

    const M: &str = "user-import-operator";

    #[test]
    fn without_an_update_entry_of_the_manager_there_is_nothing_to_move() {
        let entries = vec![
            entry(
                M,
                "Apply",
                Some("status"),
                json!({"f:status": {"f:phase": {}}}),
            ),
            entry(M, "Update", None, json!({"f:metadata": {"f:labels": {}}})),
            entry(
                "kubectl",
                "Update",
                Some("status"),
                json!({"f:status": {"f:x": {}}}),
            ),
        ];
        assert_eq!(moved_to_apply(&entries, M), None);
        assert_eq!(moved_to_apply(&[], M), None);
        let metadata = ObjectMeta {
            managed_fields: Some(entries),
            resource_version: Some("7".into()),
            ..Default::default()
        };
        assert_eq!(Takeover::of(&metadata), None);
        assert_eq!(Takeover::of(&ObjectMeta::default()), None);
    }

    #[test]
    fn an_update_entry_alone_becomes_the_apply_entry() {
        let fields =
            json!({"f:status": {"f:counts": {".": {}, "f:new": {}}, "f:highlightMessage": {}}});
        let entries = vec![
            entry("kubectl", "Update", None, json!({"f:spec": {}})),
            entry(M, "Update", Some("status"), fields.clone()),
        ];
        let moved = moved_to_apply(&entries, M).unwrap();
        assert_eq!(moved.len(), 2);
        assert_eq!(moved[0], entries[0]);
        assert_eq!(moved[1], entry(M, "Apply", Some("status"), fields));
    }

    #[test]
    fn an_update_entry_is_merged_into_the_apply_entry() {
        let entries = vec![
            entry(
                M,
                "Apply",
                Some("status"),
                json!({"f:status": {"f:phase": {}, "f:counts": {"f:new": {}}}}),
            ),
            entry(
                "kubectl",
                "Update",
                Some("status"),
                json!({"f:status": {"f:other": {}}}),
            ),
            entry(
                M,
                "Update",
                Some("status"),
                json!({"f:status": {"f:counts": {"f:problem": {}}, "f:highlightMessage": {}}}),
            ),
            entry(M, "Apply", None, json!({"f:spec": {}})),
        ];
        let moved = moved_to_apply(&entries, M).unwrap();
        let merged = json!({"f:status": {
            "f:phase": {},
            "f:counts": {"f:new": {}, "f:problem": {}},
            "f:highlightMessage": {},
        }});
        assert_eq!(
            moved,
            vec![
                entry(M, "Apply", Some("status"), merged),
                entries[1].clone(),
                entries[3].clone(),
            ]
        );
    }

    #[test]
    fn the_takeover_carries_the_resource_version() {
        let metadata = ObjectMeta {
            managed_fields: Some(vec![entry(
                M,
                "Update",
                Some("status"),
                json!({"f:status": {}}),
            )]),
            resource_version: Some("42".into()),
            ..Default::default()
        };
        let takeover = Takeover::of(&metadata).unwrap();
        assert_eq!(takeover.resource_version, "42");
        assert_eq!(
            takeover.managed_fields[0].operation.as_deref(),
            Some("Apply")
        );
    }
}
