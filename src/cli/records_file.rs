//! The `--records` file: TenantUser objects as `kubectl get tenantusers -o yaml|json` prints
//! them (a `List` with `items`, or one or more YAML documents), read and rewritten in the same
//! form. A missing file means the tenant has no users yet.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use kube::ResourceExt;
use kube::api::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::core::matching::ExistingUser;
use crate::core::planner::UserWrite;
use crate::resources::{TENANT_LABEL, TenantUser};

/// How the file was written, so it is rewritten the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsFormat {
    JsonList,
    YamlList,
    YamlDocuments,
}

/// The records of a file, in file order.
#[derive(Clone, Debug)]
pub struct RecordsFile {
    pub format: RecordsFormat,
    pub users: Vec<TenantUser>,
}

#[derive(Deserialize, Serialize)]
struct List<T> {
    #[serde(rename = "apiVersion", default = "list_api_version")]
    api_version: String,
    #[serde(default = "list_kind")]
    kind: String,
    #[serde(default)]
    items: Vec<T>,
}

fn list_api_version() -> String {
    "v1".into()
}

fn list_kind() -> String {
    "List".into()
}

impl RecordsFile {
    /// Reads `path`; a missing file is an empty YAML list.
    pub fn read(path: &Path) -> Result<RecordsFile> {
        match std::fs::read(path) {
            Ok(bytes) => parse(&bytes).with_context(|| format!("{}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(RecordsFile {
                format: RecordsFormat::YamlList,
                users: Vec::new(),
            }),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The records as the planner sees them.
    pub fn existing_users(&self) -> Vec<ExistingUser> {
        self.users
            .iter()
            .map(|user| ExistingUser {
                name: user.metadata.name.clone().unwrap_or_default(),
                spec: user.spec.clone(),
            })
            .collect()
    }

    /// The `riskassess.io/tenant` label the records share, if they all carry the same one:
    /// new records get it too, and are named after it.
    pub fn tenant_label(&self) -> Option<String> {
        let mut labels = self
            .users
            .iter()
            .map(|user| user.labels().get(TENANT_LABEL));
        let first = labels.next()??;
        labels
            .all(|label| label == Some(first))
            .then(|| first.clone())
    }

    /// Applies the plan's writes: changed specs replace stored ones, new users are appended.
    pub fn apply(&mut self, writes: &[UserWrite], tenant: &str) {
        for write in writes {
            let existing = self
                .users
                .iter_mut()
                .find(|user| user.metadata.name.as_deref() == Some(write.name.as_str()));
            match existing {
                Some(user) if !write.create => user.spec = write.spec.clone(),
                _ => self.users.push(new_record(write, tenant)),
            }
        }
    }

    /// The file's text in its original form.
    pub fn render(&self) -> Result<Vec<u8>> {
        Ok(match self.format {
            RecordsFormat::JsonList => {
                let mut text = serde_json::to_vec_pretty(&self.as_list())?;
                text.push(b'\n');
                text
            }
            RecordsFormat::YamlList => serde_norway::to_string(&self.as_list())?.into_bytes(),
            RecordsFormat::YamlDocuments => {
                let mut text = String::new();
                for user in &self.users {
                    text.push_str("---\n");
                    text.push_str(&serde_norway::to_string(user)?);
                }
                text.into_bytes()
            }
        })
    }

    fn as_list(&self) -> List<&TenantUser> {
        List {
            api_version: list_api_version(),
            kind: list_kind(),
            items: self.users.iter().collect(),
        }
    }
}

fn new_record(write: &UserWrite, tenant: &str) -> TenantUser {
    let mut user = TenantUser::new(&write.name, write.spec.clone());
    user.metadata = ObjectMeta {
        name: Some(write.name.clone()),
        labels: Some([(TENANT_LABEL.to_string(), tenant.to_string())].into()),
        ..ObjectMeta::default()
    };
    user
}

/// JSON when the text starts with `{` or `[`, else YAML (one List, or documents of users).
fn parse(bytes: &[u8]) -> Result<RecordsFile> {
    let text = std::str::from_utf8(bytes).context("the records file is not UTF-8")?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(trimmed)?;
        return Ok(RecordsFile {
            format: RecordsFormat::JsonList,
            users: users_of(value)?,
        });
    }
    let mut users = Vec::new();
    let (mut documents, mut saw_list) = (0, false);
    for document in serde_norway::Deserializer::from_str(trimmed) {
        let value = serde_json::Value::deserialize(document)?;
        if value.is_null() {
            continue; // an empty document, e.g. a leading `---`
        }
        documents += 1;
        saw_list |= value.get("items").is_some();
        users.extend(users_of(value)?);
    }
    let format = if documents == 0 || (documents == 1 && saw_list) {
        RecordsFormat::YamlList
    } else {
        RecordsFormat::YamlDocuments
    };
    Ok(RecordsFile { format, users })
}

/// The TenantUsers of one parsed document: a `List` (or a JSON array), or one object.
fn users_of(value: serde_json::Value) -> Result<Vec<TenantUser>> {
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(ref object) if object.contains_key("items") => {
            let list: List<serde_json::Value> = serde_json::from_value(value)?;
            list.items
        }
        object => vec![object],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(position, item)| to_user(position, item))
        .collect()
}

fn to_user(position: usize, item: serde_json::Value) -> Result<TenantUser> {
    let kind = item
        .get("kind")
        .and_then(|kind| kind.as_str())
        .unwrap_or("TenantUser");
    if kind != "TenantUser" {
        bail!("item {} is a {kind}, not a TenantUser", position + 1);
    }
    serde_json::from_value(item)
        .with_context(|| format!("item {} is not a valid TenantUser", position + 1))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    prepare_atomic_write(path, bytes)?.persist()
}

/// A file written next to its destination, not yet renamed into place.
pub struct PreparedWrite {
    file: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl PreparedWrite {
    /// Renames the file into place.
    pub fn persist(self) -> Result<()> {
        self.file
            .persist(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(())
    }
}

/// Writes `bytes` to a temporary file in `path`'s folder, to be renamed into place later.
pub fn prepare_atomic_write(path: &Path, bytes: &[u8]) -> Result<PreparedWrite> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot write in {}", folder.display()))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    Ok(PreparedWrite {
        file,
        path: path.to_path_buf(),
    })
}
