//! The `--records` file: TenantUser objects as `kubectl get tenantusers -o yaml|json` prints
//! them (a `List` with `items`, or one or more YAML documents), read and rewritten in the same
//! form. A missing file means the tenant has no users yet.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use kube::api::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::core::matching::ExistingUser;
use crate::core::naming::MAX_FILE_NAME_BYTES;
use crate::core::planner::UserWrite;
use crate::resources::{TENANT_LABEL, TenantUser};

/// How the file was written, so it is rewritten the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsFormat {
    /// A JSON `List` (or array) of TenantUsers.
    JsonList,
    /// A YAML `List` of TenantUsers.
    YamlList,
    /// YAML documents separated by `---`, one TenantUser each.
    YamlDocuments,
}

/// The records of a file, in file order: what the planner reads, and each one's metadata.
#[derive(Clone, Debug)]
pub struct RecordsFile {
    /// How the file was written.
    pub format: RecordsFormat,
    /// Names and specs, as the planner takes them (no copy is made to plan).
    pub users: Vec<ExistingUser>,
    /// Each user's metadata, at the same position, kept to rewrite the file as it was.
    pub metadata: Vec<ObjectMeta>,
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
    pub(crate) fn read(path: &Path) -> Result<RecordsFile> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes).with_context(|| format!("{}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(RecordsFile::from_users(RecordsFormat::YamlList, Vec::new()))
            }
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Reads the text of a records file (JSON or YAML, as [`RecordsFile::read`] does), without
    /// touching the file system: what the fuzz tests feed arbitrary bytes to.
    pub fn parse(bytes: &[u8]) -> Result<RecordsFile> {
        parse(bytes)
    }

    fn from_users(format: RecordsFormat, users: Vec<TenantUser>) -> RecordsFile {
        let (metadata, users) = users
            .into_iter()
            .map(|user| {
                let name = user.metadata.name.clone().unwrap_or_default();
                (
                    user.metadata,
                    ExistingUser {
                        name,
                        spec: user.spec,
                    },
                )
            })
            .unzip();
        RecordsFile {
            format,
            users,
            metadata,
        }
    }

    /// The `riskassess.io/tenant` label the records share, if they all carry the same one:
    /// new records get it too, and are named after it.
    pub(crate) fn tenant_label(&self) -> Option<String> {
        let label = |meta: &ObjectMeta| meta.labels.as_ref()?.get(TENANT_LABEL).cloned();
        let mut labels = self.metadata.iter().map(label);
        let first = labels.next()??;
        labels
            .all(|other| other.as_ref() == Some(&first))
            .then_some(first)
    }

    /// Applies the plan's writes: changed specs replace stored ones, new users are appended.
    pub(crate) fn apply(&mut self, writes: &[UserWrite], tenant: &str) {
        let positions: std::collections::HashMap<String, usize> = self
            .users
            .iter()
            .enumerate()
            .map(|(position, user)| (user.name.clone(), position))
            .collect();
        for write in writes {
            match positions.get(&write.name) {
                Some(&position) if !write.create => {
                    self.users[position].spec = write.spec.clone();
                }
                _ => {
                    let user = new_record(write, tenant);
                    self.metadata.push(user.metadata);
                    self.users.push(ExistingUser {
                        name: write.name.clone(),
                        spec: user.spec,
                    });
                }
            }
        }
    }

    /// The file's text in its original form.
    pub fn render(&self) -> Result<Vec<u8>> {
        let users: Vec<TenantUser> = self
            .users
            .iter()
            .zip(&self.metadata)
            .map(|(user, metadata)| {
                let mut object = TenantUser::new("", user.spec.clone());
                object.metadata = metadata.clone();
                object
            })
            .collect();
        Ok(match self.format {
            RecordsFormat::JsonList => {
                let mut text = serde_json::to_vec_pretty(&as_list(&users))?;
                text.push(b'\n');
                text
            }
            RecordsFormat::YamlList => serde_norway::to_string(&as_list(&users))?.into_bytes(),
            RecordsFormat::YamlDocuments => {
                let mut text = String::new();
                for user in &users {
                    text.push_str("---\n");
                    text.push_str(&serde_norway::to_string(user)?);
                }
                text.into_bytes()
            }
        })
    }
}

fn as_list(users: &[TenantUser]) -> List<&TenantUser> {
    List {
        api_version: list_api_version(),
        kind: list_kind(),
        items: users.iter().collect(),
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

/// One document of the file: a `List` with `items`, or a single object. Typed all the way
/// down, so a large file is parsed without an intermediate tree of values.
#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    items: Option<Vec<Item>>,
    #[serde(flatten)]
    object: Item,
}

/// A TenantUser as kubectl prints it; `kind` is checked, status and the rest are not kept.
#[derive(Deserialize, Default)]
struct Item {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<crate::resources::TenantUserSpec>,
}

/// JSON when the text starts with `{`, else YAML (one List, or documents of users).
///
/// The file must be a valid list of TenantUsers: every object is a TenantUser with a spec and
/// a name, and no two share a name (they would be one record). An error names the document
/// and the item it is about, as a person counts them in the file.
fn parse(bytes: &[u8]) -> Result<RecordsFile> {
    let text = std::str::from_utf8(bytes).context("the records file is not UTF-8")?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        let document: Document = serde_json::from_str(trimmed)?;
        let users = users_of(document, None)?;
        check_names(&users)?;
        return Ok(RecordsFile::from_users(
            RecordsFormat::JsonList,
            users.into_iter().map(|(_, user)| user).collect(),
        ));
    }
    let mut users = Vec::new();
    let (mut documents, mut saw_list) = (0, false);
    for (position, document) in serde_norway::Deserializer::from_str(trimmed).enumerate() {
        let number = position + 1;
        let document = match Option::<Document>::deserialize(document) {
            Ok(Some(document)) => document,
            Ok(None) => continue, // an empty document, e.g. a leading `---`
            Err(error) if number > 1 => bail!("document {number}: {error}"),
            Err(error) => return Err(error.into()),
        };
        documents += 1;
        saw_list |= document.items.is_some();
        users.extend(users_of(document, Some(number))?);
    }
    check_names(&users)?;
    let format = if documents == 0 || (documents == 1 && saw_list) {
        RecordsFormat::YamlList
    } else {
        RecordsFormat::YamlDocuments
    };
    Ok(RecordsFile::from_users(
        format,
        users.into_iter().map(|(_, user)| user).collect(),
    ))
}

/// The TenantUsers of one document: the items of a `List`, or the object itself, each with
/// the words that place it in the file: "item 3" (of a JSON list, or of a YAML list in the
/// first document), "document 2" (a YAML document that is one object), "document 2, item 3".
/// `number` is the YAML document's number, counted from 1; None for JSON.
fn users_of(document: Document, number: Option<usize>) -> Result<Vec<(String, TenantUser)>> {
    let Some(items) = document.items else {
        let place = match number {
            Some(number) => format!("document {number}"),
            None => "the object".to_string(),
        };
        return Ok(vec![(place.clone(), to_user(&place, document.object)?)]);
    };
    items
        .into_iter()
        .enumerate()
        .map(|(position, item)| {
            let place = match number {
                Some(number) if number > 1 => format!("document {number}, item {}", position + 1),
                _ => format!("item {}", position + 1),
            };
            Ok((place.clone(), to_user(&place, item)?))
        })
        .collect()
}

fn to_user(place: &str, item: Item) -> Result<TenantUser> {
    let kind = item.kind.as_deref().unwrap_or("TenantUser");
    if kind != "TenantUser" {
        bail!("{place} is a {kind}, not a TenantUser");
    }
    let Some(spec) = item.spec else {
        bail!("{place} is not a valid TenantUser: it has no spec");
    };
    if item.metadata.name.as_deref().unwrap_or("").is_empty() {
        bail!("{place} is not a valid TenantUser: it has no metadata.name");
    }
    let mut user = TenantUser::new("", spec);
    user.metadata = item.metadata;
    Ok(user)
}

/// No two objects may share a name: they would be one record, and an import would write one
/// of them over the other.
fn check_names(users: &[(String, TenantUser)]) -> Result<()> {
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for (place, user) in users {
        let name = user.metadata.name.as_deref().unwrap_or("");
        if let Some(first) = seen.insert(name, place) {
            bail!("{first} and {place} are both named \"{name}\": one name, one record");
        }
    }
    Ok(())
}

/// A file written next to its destination, not yet renamed into place.
pub(crate) struct PreparedWrite {
    file: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl PreparedWrite {
    /// Renames the file into place.
    pub(crate) fn persist(self) -> Result<()> {
        self.file
            .persist(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(())
    }
}

/// Writes `bytes` to a temporary file in `path`'s folder, to be renamed into place later.
///
/// Whatever would make the rename fail is found here, before anything is renamed or mailed:
/// a folder that does not exist or cannot be written (the temporary file is made in it), a
/// file name or path too long for the file system, a destination that is a folder.
pub(crate) fn prepare_atomic_write(path: &Path, bytes: &[u8]) -> Result<PreparedWrite> {
    check_destination(path)?;
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

/// The longest path the usual systems take (Linux's PATH_MAX, with its terminating NUL).
const MAX_PATH_BYTES: usize = 4095;

/// Refuses a destination that a rename could not create: no file name, a name longer than
/// [`MAX_FILE_NAME_BYTES`], a path longer than the system takes, or an existing folder.
fn check_destination(path: &Path) -> Result<()> {
    let Some(name) = path.file_name() else {
        bail!("cannot write {}: it names no file", path.display());
    };
    if name.len() > MAX_FILE_NAME_BYTES {
        bail!(
            "cannot write {}: the file name is {} bytes, over the {MAX_FILE_NAME_BYTES} a file system takes",
            path.display(),
            name.len()
        );
    }
    if path.as_os_str().len() > MAX_PATH_BYTES {
        bail!(
            "cannot write {}: the path is {} bytes, over the {MAX_PATH_BYTES} the system takes",
            path.display(),
            path.as_os_str().len()
        );
    }
    if path.is_dir() {
        bail!("cannot write {}: it is a folder", path.display());
    }
    Ok(())
}
