//! The `--records` file: TenantUser objects as `kubectl get tenantusers -o yaml|json` prints
//! them (a `List` with `items`, or one or more YAML documents), read and rewritten in the same
//! form. A missing file means the tenant has no users yet.
//!
//! `import` reads each object whole ([`RecordsFile`]), to rewrite the file; `plan` reads only
//! the names, specs and tenant label ([`PlanRecords`]), a JSON List with a scanner of its own
//! (`records_scan`) when it can. Both check the file the same way: the scanner leaves whatever
//! it does not read exactly as the serde read does to that read (one parse, kept two ways).

use std::borrow::Cow;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use hashbrown::HashTable;
use kube::api::ObjectMeta;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::plan_users::PlanUsers;
use super::records_scan;
use user_import_engine::fields::Field;
use user_import_engine::matching::ExistingUser;
use user_import_engine::naming::MAX_FILE_NAME_BYTES;
use user_import_engine::planner::UserWrite;
use user_import_engine::users::StoredUsers;
use user_import_resources::{TENANT_LABEL, TenantUser, TenantUserSpec, UserStatus};

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
    /// Reads `path`, every object whole, to rewrite it later; a missing file is an empty YAML
    /// list.
    pub(crate) fn read(path: &Path) -> Result<RecordsFile> {
        read_parsed::<ObjectMeta, Vec<ExistingUser>>(path).map(RecordsFile::from_parsed)
    }

    /// Reads the text of a records file (JSON or YAML, as [`RecordsFile::read`] does), without
    /// touching the file system: what the fuzz tests feed arbitrary bytes to.
    pub fn parse(bytes: &[u8]) -> Result<RecordsFile> {
        Ok(RecordsFile::from_parsed(parse::<
            ObjectMeta,
            Vec<ExistingUser>,
        >(bytes)?))
    }

    fn from_parsed(parsed: Parsed<ObjectMeta, Vec<ExistingUser>>) -> RecordsFile {
        RecordsFile {
            format: parsed.format,
            users: parsed.users,
            metadata: parsed.kept,
        }
    }

    /// The `riskassess.io/tenant` label the records share, if they all carry the same one:
    /// new records get it too, and are named after it.
    pub fn tenant_label(&self) -> Option<String> {
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
                    self.users[position].spec = write.spec();
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
    let mut user = TenantUser::new(&write.name, write.spec());
    user.metadata = ObjectMeta {
        name: Some(write.name.clone()),
        labels: Some([(TENANT_LABEL.to_string(), tenant.to_string())].into()),
        ..ObjectMeta::default()
    };
    user
}

/// A records file read for planning: its users, and the tenant label they share.
pub(crate) trait TenantRecords: Sized {
    /// The users as this read keeps them.
    type Users: StoredUsers + ?Sized;
    /// Reads `path`; a missing file means no users.
    fn read(path: &Path) -> Result<Self>;
    /// The users, in file order.
    fn users(&self) -> &Self::Users;
    /// The `riskassess.io/tenant` label the records share, if they all carry the same one.
    fn tenant_label(&self) -> Option<String>;
    /// Refuses the file read from `path` when two of its users share a name: `shared`, the
    /// first two, as the index of the users finds them
    /// ([`UserIndex::shared_name`](user_import_engine::matching::UserIndex::shared_name)). A read
    /// that refuses such a file itself has nothing to refuse here.
    fn refuse_shared_name(&self, path: &Path, shared: Option<(usize, usize)>) -> Result<()>;
}

impl TenantRecords for RecordsFile {
    type Users = [ExistingUser];

    fn read(path: &Path) -> Result<Self> {
        RecordsFile::read(path)
    }

    fn users(&self) -> &[ExistingUser] {
        &self.users
    }

    fn tenant_label(&self) -> Option<String> {
        RecordsFile::tenant_label(self)
    }

    fn refuse_shared_name(&self, _: &Path, shared: Option<(usize, usize)>) -> Result<()> {
        debug_assert_eq!(shared, None, "the read refuses two users of one name");
        Ok(())
    }
}

/// The users of a records file and the tenant label they share: all that `plan` needs.
///
/// Read like a [`RecordsFile`] (same checks, same errors) but without keeping each object's
/// metadata, of which only the name and the tenant label are read, and with the users' texts
/// kept one after another in one buffer ([`PlanUsers`]). A JSON List is read by a scanner of its
/// own, which leaves whatever it does not read exactly as serde does to the same read as
/// `import`'s. Unlike a full read, it does not check the types of the metadata's other fields,
/// which `plan` never uses.
#[derive(Clone, Debug)]
pub struct PlanRecords {
    /// Names and specs, in file order.
    pub users: PlanUsers,
    tenant_label: Option<String>,
}

impl PlanRecords {
    /// Reads the text of a records file as `plan` does, without touching the file system: a
    /// file that [`RecordsFile::parse`] reads gives the same users and tenant label (up to the
    /// 4 GiB of text that `plan` keeps), and a file refused here is refused there too.
    pub fn parse(bytes: &[u8]) -> Result<PlanRecords> {
        PlanRecords::parse_in_blocks(bytes, records_scan::BLOCK)
    }

    /// [`PlanRecords::parse`], the scanner reading `block` bytes at a time: the fuzz check
    /// compares it with reading in the usual blocks.
    #[doc(hidden)]
    pub fn parse_in_blocks(bytes: &[u8], block: usize) -> Result<PlanRecords> {
        let scanned = records_scan::scan_in_blocks(bytes, bytes.len(), block)?;
        match scanned.map(PlanRecords::scanned) {
            // Two users of one name: the full read refuses the file, naming both.
            Some(records) if records.first_shared_name().is_none() => Ok(records),
            _ => PlanRecords::parse_without_scanner(bytes),
        }
    }

    /// [`PlanRecords::parse`] without the scanner: the read the scanner leaves its cases to.
    /// Tests compare the two.
    #[doc(hidden)]
    pub fn parse_without_scanner(bytes: &[u8]) -> Result<PlanRecords> {
        let records = PlanRecords::from_parsed(parse::<PlanMeta, PlanUsers>(bytes)?);
        // What `plan` leaves to the index of the users, a read of the text alone checks here.
        records.refuse_shared_name_in(records.first_shared_name())?;
        Ok(records)
    }

    /// The tenant label all the users carry, if they do.
    pub fn tenant_label(&self) -> Option<&str> {
        self.tenant_label.as_deref()
    }

    /// The first two users, in file order, that share a name, if any.
    fn first_shared_name(&self) -> Option<(usize, usize)> {
        first_shared_name(self.users.len(), |at| self.users.name(at))
    }

    /// No users: the records file of a tenant that has none yet.
    fn empty() -> PlanRecords {
        PlanRecords {
            users: PlanUsers::default(),
            tenant_label: None,
        }
    }

    fn scanned(scanned: records_scan::Scanned) -> PlanRecords {
        PlanRecords {
            users: scanned.users,
            tenant_label: scanned.tenant_label,
        }
    }

    fn from_parsed(parsed: Parsed<PlanMeta, PlanUsers>) -> PlanRecords {
        PlanRecords {
            users: parsed.users,
            tenant_label: parsed.kept.shared(),
        }
    }

    /// Refuses two users of one name, `shared`, in the full read's words. Only a JSON List
    /// (scanned, or parsed: [`Users::INDEX_FINDS_SHARED_NAMES`]) is left unchecked by the
    /// read, and the full read names its objects by their place among the items.
    fn refuse_shared_name_in(&self, shared: Option<(usize, usize)>) -> Result<()> {
        let Some((first, second)) = shared else {
            return Ok(());
        };
        let item = |at: usize| Place {
            document: None,
            item: Some(u32::try_from(at + 1).unwrap_or(u32::MAX)),
        };
        bail!(shared_name_message(
            item(first),
            item(second),
            self.users.name(first)
        ))
    }
}

impl TenantRecords for PlanRecords {
    type Users = PlanUsers;

    /// A file is scanned as it is read; when the scanner leaves it to the full read, the same
    /// open file is read again from its start, whole (not the path again: the file may have
    /// been replaced or removed meanwhile). Two users of one name in a JSON List are left to the
    /// index of the users, which finds them anyway ([`TenantRecords::refuse_shared_name`]):
    /// looked for here too, they took a tenth of the read of a large file. What is not a file
    /// (a pipe, `/dev/stdin`) can be read only once, so it is read whole first, and scanned
    /// from memory.
    fn read(path: &Path) -> Result<Self> {
        let cannot_read = || format!("cannot read {}", path.display());
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(PlanRecords::empty());
            }
            Err(error) => return Err(error).with_context(cannot_read),
        };
        let metadata = file.metadata().with_context(cannot_read)?;
        let read_whole = || {
            let mut bytes = Vec::new();
            (&file).read_to_end(&mut bytes).map(|_| bytes)
        };
        let piped = if metadata.is_file() {
            None
        } else {
            Some(read_whole().with_context(cannot_read)?)
        };
        let scanned = match &piped {
            Some(bytes) => records_scan::scan(bytes.as_slice(), bytes.len()),
            None => records_scan::scan(&file, usize::try_from(metadata.len()).unwrap_or(0)),
        };
        if let Some(scanned) = scanned.with_context(cannot_read)? {
            return Ok(PlanRecords::scanned(scanned));
        }
        let bytes = match piped {
            Some(bytes) => bytes,
            None => (&file)
                .seek(std::io::SeekFrom::Start(0))
                .and_then(|_| read_whole())
                .with_context(cannot_read)?,
        };
        parse::<PlanMeta, PlanUsers>(&bytes)
            .map(PlanRecords::from_parsed)
            .with_context(|| format!("{}", path.display()))
    }

    fn refuse_shared_name(&self, path: &Path, shared: Option<(usize, usize)>) -> Result<()> {
        self.refuse_shared_name_in(shared)
            .with_context(|| format!("{}", path.display()))
    }

    fn users(&self) -> &PlanUsers {
        &self.users
    }

    fn tenant_label(&self) -> Option<String> {
        self.tenant_label.clone()
    }
}

/// The text from where its document starts: past a byte-order mark and white space.
fn document_start(text: &str) -> &str {
    text.trim_start_matches('\u{feff}').trim_start()
}

/// Reads and parses `path`; a missing file is an empty YAML list. The file's bytes are
/// dropped once parsed: what is kept of them was copied out.
fn read_parsed<M: Metadata, U: Users>(path: &Path) -> Result<Parsed<M, U>> {
    match read_bytes(path)? {
        Some(bytes) => parse(&bytes).with_context(|| format!("{}", path.display())),
        None => Ok(Parsed {
            format: RecordsFormat::YamlList,
            users: U::default(),
            kept: M::Kept::default(),
        }),
    }
}

/// The bytes of the records file at `path`; None when there is no such file (the tenant has
/// no users yet).
fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// An object's metadata as a read keeps it: all of it ([`ObjectMeta`], to rewrite the file)
/// or only its name and tenant label ([`PlanMeta`]).
trait Metadata: for<'de> Deserialize<'de> + Default {
    /// What is kept of every object's metadata.
    type Kept: Default;
    /// The object's name ("" when it has none).
    fn name(&self) -> &str;
    /// Keeps what is kept of this metadata, and gives the object's name.
    fn keep(self, kept: &mut Self::Kept) -> String;
}

impl Metadata for ObjectMeta {
    type Kept = Vec<ObjectMeta>;

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn keep(self, kept: &mut Vec<ObjectMeta>) -> String {
        let name = self.name.clone().unwrap_or_default();
        kept.push(self);
        name
    }
}

/// The part of an object's metadata that planning needs: its name and its tenant label. Read
/// without allocating for the other fields and labels, which are skipped.
#[derive(Default)]
struct PlanMeta {
    name: Option<String>,
    tenant_label: Option<String>,
}

impl Metadata for PlanMeta {
    type Kept = SharedLabel;

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn keep(self, kept: &mut SharedLabel) -> String {
        kept.add(self.tenant_label);
        self.name.unwrap_or_default()
    }
}

/// The tenant label of the objects read so far, while they all carry the same one: as text,
/// or as a span of the users' kept texts (`records_scan`).
#[derive(Default)]
pub(super) enum SharedLabel<T = String> {
    #[default]
    NoObject,
    Same(T),
    NotShared,
}

impl SharedLabel {
    fn add(&mut self, label: Option<String>) {
        self.add_with(label, |first, label| first == label);
    }
}

impl<T> SharedLabel<T> {
    /// Adds an object's label (None: it has none); `same` tells whether two labels are one.
    pub(super) fn add_with(&mut self, label: Option<T>, same: impl Fn(&T, &T) -> bool) {
        *self = match (std::mem::take(self), label) {
            (SharedLabel::NoObject, Some(label)) => SharedLabel::Same(label),
            (SharedLabel::Same(first), Some(label)) if same(&first, &label) => {
                SharedLabel::Same(first)
            }
            _ => SharedLabel::NotShared,
        };
    }

    /// The label every object carries; None when there is no object, or one without it.
    pub(super) fn shared(self) -> Option<T> {
        match self {
            SharedLabel::Same(label) => Some(label),
            SharedLabel::NoObject | SharedLabel::NotShared => None,
        }
    }
}

impl<'de> Deserialize<'de> for PlanMeta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetaVisitor;

        impl<'de> Visitor<'de> for MetaVisitor {
            type Value = PlanMeta;

            // The words of ObjectMeta's own visitor, so that errors read the same.
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("ObjectMeta")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PlanMeta, A::Error> {
                let mut meta = PlanMeta::default();
                // Like ObjectMeta, a repeated key takes the last value.
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Name => meta.name = map.next_value()?,
                        Key::Labels => {
                            meta.tenant_label = map
                                .next_value::<Option<TenantLabel>>()?
                                .and_then(|labels| labels.0);
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(meta)
            }
        }

        deserializer.deserialize_struct("ObjectMeta", &["name", "labels"], MetaVisitor)
    }
}

/// The `riskassess.io/tenant` value of a `labels` map. Every value must be a string, as in a
/// full read; the others are checked without being kept.
struct TenantLabel(Option<String>);

impl<'de> Deserialize<'de> for TenantLabel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;

        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = TenantLabel;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TenantLabel, A::Error> {
                let mut label = None;
                while let Some(IsTenantLabel(is_tenant)) = map.next_key()? {
                    if is_tenant {
                        label = Some(map.next_value()?);
                    } else {
                        map.next_value::<IsTenantLabel>()?;
                    }
                }
                Ok(TenantLabel(label))
            }
        }

        deserializer.deserialize_map(LabelsVisitor)
    }
}

/// A string, read without being kept: whether it is the tenant label's key.
struct IsTenantLabel(bool);

impl<'de> Deserialize<'de> for IsTenantLabel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl Visitor<'_> for TextVisitor {
            type Value = IsTenantLabel;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<IsTenantLabel, E> {
                Ok(IsTenantLabel(text == TENANT_LABEL))
            }
        }

        deserializer.deserialize_string(TextVisitor)
    }
}

/// An object's `kind`, kept as text only when it is not TenantUser (to name it in the error).
enum Kind {
    TenantUser,
    Other(String),
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;

        impl Visitor<'_> for KindVisitor {
            type Value = Kind;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Kind, E> {
                Ok(match text {
                    "TenantUser" => Kind::TenantUser,
                    other => Kind::Other(other.to_string()),
                })
            }
        }

        deserializer.deserialize_string(KindVisitor)
    }
}

/// The keys of a document or of an object's metadata that a read looks at.
enum Key {
    Items,
    Kind,
    Metadata,
    Spec,
    Name,
    Labels,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let of_name = |text: &str| match text {
            "items" => Key::Items,
            "kind" => Key::Kind,
            "metadata" => Key::Metadata,
            "spec" => Key::Spec,
            "name" => Key::Name,
            "labels" => Key::Labels,
            _ => Key::Other,
        };
        read_key(deserializer, of_name, Key::Other)
    }
}

/// A key of a map, `of_name` of its text. A YAML map may have keys that are no strings: they
/// are none of ours (`other`).
fn read_key<'de, D: Deserializer<'de>, K>(
    deserializer: D,
    of_name: impl FnOnce(&str) -> K,
    other: K,
) -> Result<K, D::Error> {
    struct KeyVisitor<F, K> {
        of_name: F,
        other: K,
    }

    impl<F: FnOnce(&str) -> K, K> Visitor<'_> for KeyVisitor<F, K> {
        type Value = K;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field identifier")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<K, E> {
            Ok((self.of_name)(text))
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<K, E> {
            Ok(self.other)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<K, E> {
            Ok(self.other)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<K, E> {
            Ok(self.other)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<K, E> {
            Ok(self.other)
        }

        fn visit_unit<E: de::Error>(self) -> Result<K, E> {
            Ok(self.other)
        }
    }

    deserializer.deserialize_identifier(KeyVisitor { of_name, other })
}

/// One object of a `List`'s items, typed all the way down so that a large file is parsed
/// without an intermediate tree of values. `kind` is checked; status and the rest are skipped.
#[derive(Deserialize)]
#[serde(bound(deserialize = "M: Metadata"))]
struct Item<'a, M> {
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    metadata: M,
    #[serde(default, borrow)]
    spec: Option<SpecRead<'a>>,
}

/// The keys of a spec, each with its field; `ssoSynced` is read apart.
const SPEC_KEYS: [(&str, Field); Field::ALL.len()] = [
    ("username", Field::Username),
    ("firstName", Field::FirstName),
    ("middleName", Field::MiddleName),
    ("lastName", Field::LastName),
    ("email", Field::Email),
    ("status", Field::Status),
    ("coupaUsername", Field::CoupaUsername),
    ("coupaUserId", Field::CoupaUserId),
    ("prefix", Field::Prefix),
    ("title", Field::Title),
    ("culture", Field::Culture),
    ("businessPhone", Field::BusinessPhone),
    ("businessExt", Field::BusinessExt),
    ("mobile", Field::Mobile),
    ("home", Field::Home),
    ("fax", Field::Fax),
    ("mailingAddress", Field::MailingAddress),
    ("city", Field::City),
    ("stateProvince", Field::StateProvince),
    ("postalCode", Field::PostalCode),
    ("country", Field::Country),
];

/// The keys of [`SPEC_KEYS`], as serde takes a struct's fields.
const SPEC_KEY_NAMES: [&str; Field::ALL.len()] = {
    let mut names = [""; Field::ALL.len()];
    let mut at = 0;
    while at < names.len() {
        names[at] = SPEC_KEYS[at].0;
        at += 1;
    }
    names
};

/// A TenantUser's spec as a read finds it: each field's text, borrowed from the file's text
/// when it is there as it is (no escapes), and the first field whose value is no string.
///
/// It reads what [`TenantUserSpec`]'s own `Deserialize` reads, with the same errors, except
/// that a text field must hold a string (or null): YAML gives a plain `1` or `true` to a string
/// field as its text, where the API server refuses the object, as the full read must. Such a
/// field is noted, not an error of the parse, so that the file is refused naming the object and
/// the field ([`Sink::offer`]), in JSON and YAML alike.
struct SpecRead<'a> {
    /// By [`Field`] (`field as usize`); Status as its name.
    texts: [Option<Cow<'a, str>>; Field::ALL.len()],
    sso_synced: bool,
    /// The first field whose value is no string: its key, and what the value is instead.
    not_text: Option<(&'static str, String)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for SpecRead<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for SpecVisitor<'a> {
            type Value = SpecRead<'a>;

            // The words of TenantUserSpec's own visitor, so that errors read the same.
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct TenantUserSpec")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpecRead<'a>, A::Error> {
                let mut spec = SpecRead {
                    texts: Default::default(),
                    sso_synced: false,
                    not_text: None,
                };
                // Like the derived read, a repeated key is an error.
                let (mut seen, mut sso_seen) = (0u32, false);
                while let Some(key) = map.next_key::<SpecKey>()? {
                    let (name, field) = match key {
                        SpecKey::Field(name, field) => (name, field),
                        SpecKey::SsoSynced if sso_seen => {
                            return Err(de::Error::duplicate_field("ssoSynced"));
                        }
                        SpecKey::SsoSynced => {
                            sso_seen = true;
                            spec.sso_synced = map.next_value()?;
                            continue;
                        }
                        SpecKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    let bit = 1 << field as u32;
                    if seen & bit != 0 {
                        return Err(de::Error::duplicate_field(name));
                    }
                    seen |= bit;
                    let text = if field == Field::Status {
                        // An unknown status is serde's error, as in the derived read.
                        map.next_value::<Option<UserStatus>>()?
                            .map(|status| Cow::Borrowed(status.as_str()))
                    } else {
                        match map.next_value::<Option<Text<'a>>>()? {
                            Some(Text::Text(text)) => Some(text),
                            Some(Text::Not(what)) => {
                                spec.not_text.get_or_insert((name, what));
                                None
                            }
                            None => None,
                        }
                    };
                    spec.texts[field as usize] = text;
                }
                Ok(spec)
            }
        }

        let visitor = SpecVisitor(std::marker::PhantomData);
        deserializer.deserialize_struct("TenantUserSpec", &SPEC_KEY_NAMES, visitor)
    }
}

/// A key of a spec.
enum SpecKey {
    Field(&'static str, Field),
    SsoSynced,
    Other,
}

impl<'de> Deserialize<'de> for SpecKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let of_name = |text: &str| match text {
            "ssoSynced" => SpecKey::SsoSynced,
            text => SPEC_KEYS
                .iter()
                .find(|(key, _)| *key == text)
                .map_or(SpecKey::Other, |&(key, field)| SpecKey::Field(key, field)),
        };
        read_key(deserializer, of_name, SpecKey::Other)
    }
}

/// A text field's value: a string, or what the value is instead (read whole, not kept).
enum Text<'a> {
    Text(Cow<'a, str>),
    Not(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    /// Read as whatever the value is, not as a string: YAML would give a plain scalar's text
    /// to a string read whatever it is (`1`, `true`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

        /// What the value is, in serde's words ("integer `1`").
        fn not<'a>(what: de::Unexpected<'_>) -> Text<'a> {
            Text::Not(what.to_string())
        }

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'a>, E> {
                Ok(Text::Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'a>, E> {
                Ok(Text::Text(Cow::Owned(text.to_string())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'a>, E> {
                Ok(Text::Text(Cow::Owned(text)))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Text<'a>, E> {
                Ok(not(de::Unexpected::Bool(value)))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Text<'a>, E> {
                Ok(not(de::Unexpected::Signed(value)))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Text<'a>, E> {
                Ok(not(de::Unexpected::Unsigned(value)))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Text<'a>, E> {
                Ok(not(de::Unexpected::Float(value)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Text<'a>, E> {
                Ok(not(de::Unexpected::Unit))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(not(de::Unexpected::Seq))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(not(de::Unexpected::Map))
            }
        }

        deserializer.deserialize_any(TextVisitor(std::marker::PhantomData))
    }
}

/// Where an object stands in the file, in the words a person counts it by: "item 3" (of a
/// JSON list, or of a YAML list in the first document), "document 2" (a YAML document that is
/// one object), "document 2, item 3", or "the object" (a JSON file that is one object).
#[derive(Clone, Copy)]
struct Place {
    /// The YAML document's number, counted from 1; None for JSON.
    document: Option<u32>,
    /// The position in the list's items, counted from 1; None for a document that is one object.
    item: Option<u32>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.document, self.item) {
            (None, None) => f.write_str("the object"),
            (Some(document), None) => write!(f, "document {document}"),
            (Some(document), Some(item)) if document > 1 => {
                write!(f, "document {document}, item {item}")
            }
            (_, Some(item)) => write!(f, "item {item}"),
        }
    }
}

/// The valid TenantUsers of the file, kept as they are read: no list of whole objects is built
/// first and converted after.
struct Parsed<M: Metadata, U> {
    format: RecordsFormat,
    users: U,
    kept: M::Kept,
}

/// The users as a read keeps them: whole records ([`ExistingUser`]), or their texts in one
/// buffer ([`PlanUsers`]).
trait Users: Default {
    /// Whether the parse of a JSON List leaves two users of one name to the index of the
    /// users ([`TenantRecords::refuse_shared_name`]).
    const INDEX_FINDS_SHARED_NAMES: bool;
    /// Keeps a user; an error (the file's texts are too large to keep) refuses the file.
    fn push(&mut self, name: String, spec: SpecRead<'_>) -> Result<()>;
    /// How many users are kept.
    fn count(&self) -> usize;
    /// The name of the user at `at`.
    fn name_at(&self, at: usize) -> &str;
}

impl Users for Vec<ExistingUser> {
    const INDEX_FINDS_SHARED_NAMES: bool = false;

    fn push(&mut self, name: String, read: SpecRead<'_>) -> Result<()> {
        let mut spec = TenantUserSpec {
            sso_synced: read.sso_synced,
            ..TenantUserSpec::default()
        };
        for (field, text) in Field::ALL.into_iter().zip(read.texts) {
            if let Some(text) = text {
                field.set(&mut spec, &text);
            }
        }
        Vec::push(self, ExistingUser { name, spec });
        Ok(())
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn name_at(&self, at: usize) -> &str {
        &self[at].name
    }
}

impl Users for PlanUsers {
    const INDEX_FINDS_SHARED_NAMES: bool = true;

    fn push(&mut self, name: String, spec: SpecRead<'_>) -> Result<()> {
        let text = |field: Field| spec.texts[field as usize].as_deref();
        PlanUsers::push(self, &name, text, spec.sso_synced).map_err(|_| {
            anyhow::anyhow!("the records file holds more than the 4 GiB of text that plan reads")
        })
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn name_at(&self, at: usize) -> &str {
        StoredUsers::name(self, at)
    }
}

/// Where the objects go while a file is read.
struct Sink<M: Metadata, U> {
    users: U,
    kept: M::Kept,
    /// Each user's place, to name both in an error about a shared name.
    places: Vec<Place>,
    /// The first object of the current document that is no valid TenantUser: reported once
    /// the document was read whole, so that a syntax error in it is reported first, as before.
    problem: Option<String>,
}

impl<M: Metadata, U: Users> Sink<M, U> {
    fn new() -> Self {
        Sink {
            users: U::default(),
            kept: M::Kept::default(),
            places: Vec::new(),
            problem: None,
        }
    }

    /// Keeps `item` when it is a valid TenantUser, else notes the first problem.
    fn offer(&mut self, place: Place, item: Item<M>) {
        if self.problem.is_some() {
            return;
        }
        if let Some(Kind::Other(kind)) = &item.kind {
            self.problem = Some(format!("{place} is a {kind}, not a TenantUser"));
            return;
        }
        let Some(spec) = item.spec else {
            self.problem = Some(format!("{place} is not a valid TenantUser: it has no spec"));
            return;
        };
        if item.metadata.name().is_empty() {
            self.problem = Some(format!(
                "{place} is not a valid TenantUser: it has no metadata.name"
            ));
            return;
        }
        // The API server refuses such an object: its schema has a string there.
        if let Some((key, what)) = &spec.not_text {
            self.problem = Some(format!(
                "{place} is not a valid TenantUser: spec.{key}: invalid type: {what}, expected a string"
            ));
            return;
        }
        let name = item.metadata.keep(&mut self.kept);
        if let Err(error) = self.users.push(name, spec) {
            self.problem = Some(error.to_string());
            return;
        }
        self.places.push(place);
    }

    /// Ends a document that was read whole: its first invalid object is the error.
    fn end_document(&mut self) -> Result<()> {
        match self.problem.take() {
            Some(problem) => bail!(problem),
            None => Ok(()),
        }
    }

    /// No two objects may share a name: they would be one record, and an import would write
    /// one of them over the other. Checked unless `check_names` is false (the index of the
    /// users looks for them).
    fn finish(self, format: RecordsFormat, check_names: bool) -> Result<Parsed<M, U>> {
        let name_at = |at: usize| self.users.name_at(at);
        let shared = match check_names {
            true => first_shared_name(self.users.count(), name_at),
            false => None,
        };
        if let Some((first, second)) = shared {
            let (place, other) = (self.places[first], self.places[second]);
            bail!(shared_name_message(place, other, name_at(first)));
        }
        Ok(Parsed {
            format,
            users: self.users,
            kept: self.kept,
        })
    }
}

/// Why a file with two objects of one name is refused.
fn shared_name_message(place: Place, other: Place, name: &str) -> String {
    format!("{place} and {other} are both named \"{name}\": one name, one record")
}

/// The first two of `count` objects, in file order, that share a name (`name_at` gives each
/// one's), if any.
///
/// The table holds only positions: a large tenant's check reads a small table, and a name a
/// second time only when its hash matches, not the scattered names at every step.
pub(super) fn first_shared_name<'a>(
    count: usize,
    name_at: impl Fn(usize) -> &'a str,
) -> Option<(usize, usize)> {
    let hasher = foldhash::fast::RandomState::default();
    let name_of = |at: &u32| name_at(*at as usize);
    let mut seen: HashTable<u32> = HashTable::with_capacity(count);
    for position in 0..count {
        let name = name_at(position);
        let hash = hasher.hash_one(name);
        if let Some(&first) = seen.find(hash, |at| name_of(at) == name) {
            return Some((first as usize, position));
        }
        // A file of 4 billion objects cannot be held in memory anyway.
        let position = u32::try_from(position).expect("under 4 billion objects");
        seen.insert_unique(hash, position, |at| hasher.hash_one(name_of(at)));
    }
    None
}

/// Reads one document into the sink: a `List` with `items`, or a single object. Gives whether
/// it was a `List`.
struct DocumentSeed<'s, M: Metadata, U> {
    sink: &'s mut Sink<M, U>,
    /// The YAML document's number, counted from 1; None for JSON.
    number: Option<u32>,
}

impl<'de, M: Metadata, U: Users> DeserializeSeed<'de> for DocumentSeed<'_, M, U> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, M: Metadata, U: Users> Visitor<'de> for DocumentSeed<'_, M, U> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut is_list = None;
        let mut kind: Option<Option<Kind>> = None;
        let mut metadata: Option<M> = None;
        let mut spec: Option<Option<SpecRead<'de>>> = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Items if is_list.is_some() => {
                    return Err(de::Error::duplicate_field("items"));
                }
                Key::Items => {
                    let items = ItemsSeed {
                        sink: &mut *self.sink,
                        document: self.number,
                    };
                    is_list = Some(map.next_value_seed(items)?);
                }
                Key::Kind if kind.is_some() => return Err(de::Error::duplicate_field("kind")),
                Key::Kind => kind = Some(map.next_value()?),
                Key::Metadata if metadata.is_some() => {
                    return Err(de::Error::duplicate_field("metadata"));
                }
                Key::Metadata => metadata = Some(map.next_value()?),
                Key::Spec if spec.is_some() => return Err(de::Error::duplicate_field("spec")),
                Key::Spec => spec = Some(map.next_value()?),
                Key::Name | Key::Labels | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let is_list = is_list.unwrap_or(false);
        if !is_list {
            let item = Item {
                kind: kind.flatten(),
                metadata: metadata.unwrap_or_default(),
                spec: spec.flatten(),
            };
            let place = Place {
                document: self.number,
                item: None,
            };
            self.sink.offer(place, item);
        }
        Ok(is_list)
    }
}

/// A document's `items`: null (no list) or a sequence of objects, each offered to the sink as
/// it is read. Gives whether there was a list.
struct ItemsSeed<'s, M: Metadata, U> {
    sink: &'s mut Sink<M, U>,
    document: Option<u32>,
}

impl<'de, M: Metadata, U: Users> DeserializeSeed<'de> for ItemsSeed<'_, M, U> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, M: Metadata, U: Users> Visitor<'de> for ItemsSeed<'_, M, U> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut position = 0;
        while let Some(item) = seq.next_element::<Item<'de, M>>()? {
            position += 1;
            let place = Place {
                document: self.document,
                item: Some(position),
            };
            self.sink.offer(place, item);
        }
        Ok(true)
    }
}

/// A YAML document that may be empty (None), e.g. after a leading `---`.
struct OptionalDocument<'s, M: Metadata, U>(DocumentSeed<'s, M, U>);

impl<'de, M: Metadata, U: Users> DeserializeSeed<'de> for OptionalDocument<'_, M, U> {
    type Value = Option<bool>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, M: Metadata, U: Users> Visitor<'de> for OptionalDocument<'_, M, U> {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<bool>, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// JSON when the text starts with `{`, else YAML (one List, or documents of users).
///
/// The file must be a valid list of TenantUsers: every object is a TenantUser with a spec and
/// a name, and no two share a name (they would be one record). An error names the document
/// and the item it is about, as a person counts them in the file.
fn parse<M: Metadata, U: Users>(bytes: &[u8]) -> Result<Parsed<M, U>> {
    let text = std::str::from_utf8(bytes).context("the records file is not UTF-8")?;
    let trimmed = document_start(text);
    let mut sink = Sink::<M, U>::new();
    if trimmed.starts_with('{') {
        let mut deserializer = serde_json::Deserializer::from_str(trimmed);
        let document = DocumentSeed {
            sink: &mut sink,
            number: None,
        };
        document.deserialize(&mut deserializer)?;
        deserializer.end()?;
        sink.end_document()?;
        return sink.finish(RecordsFormat::JsonList, !U::INDEX_FINDS_SHARED_NAMES);
    }
    let (mut documents, mut saw_list) = (0, false);
    for (position, document) in serde_norway::Deserializer::from_str(trimmed).enumerate() {
        let number = u32::try_from(position + 1).unwrap_or(u32::MAX);
        let seed = OptionalDocument(DocumentSeed {
            sink: &mut sink,
            number: Some(number),
        });
        let is_list = match seed.deserialize(document) {
            Ok(Some(is_list)) => is_list,
            Ok(None) => continue, // an empty document, e.g. a leading `---`
            Err(error) if number > 1 => bail!("document {number}: {error}"),
            Err(error) => return Err(error.into()),
        };
        sink.end_document()?;
        documents += 1;
        saw_list |= is_list;
    }
    let format = if documents == 0 || (documents == 1 && saw_list) {
        RecordsFormat::YamlList
    } else {
        RecordsFormat::YamlDocuments
    };
    sink.finish(format, true)
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A TenantUser with a tenant label and another label; no name when `name` is None.
    fn user(name: Option<&str>, label: &str, id: &str) -> Value {
        let mut object = json!({
            "apiVersion": "riskassess.io/v1alpha1",
            "kind": "TenantUser",
            "metadata": {"labels": {"riskassess.io/tenant": label, "app": "x"}},
            "spec": {"username": format!("u{id}"), "email": format!("u{id}@acme.test"),
                     "coupaUsername": format!("u{id}"), "coupaUserId": id},
        });
        if let Some(name) = name {
            object["metadata"]["name"] = name.into();
        }
        object
    }

    /// The objects as a JSON List, a YAML List and YAML documents.
    fn forms(objects: &[Value]) -> [String; 3] {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        let documents = objects
            .iter()
            .map(|object| format!("---\n{}", serde_norway::to_string(object).unwrap()))
            .collect();
        [
            serde_json::to_string_pretty(&list).unwrap(),
            serde_norway::to_string(&list).unwrap(),
            documents,
        ]
    }

    /// Records files good and bad, in the three forms: valid ones, shared and mixed labels, a
    /// shared name, an object without a name or with an empty one, no spec, another kind, a
    /// spec field of the wrong type, a syntax error, and text that is no records file at all.
    fn cases() -> Vec<String> {
        let good = |id: &str| user(Some(&format!("acme-{id}")), "acme", id);
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}});
        let mut no_spec = good("2");
        no_spec.as_object_mut().unwrap().remove("spec");
        let mut bad_spec = good("9");
        bad_spec["spec"]["coupaUserId"] = json!([9]);
        let sets = [
            vec![],
            vec![good("1")],
            vec![good("1"), good("2"), good("3")],
            vec![good("1"), user(Some("acme-2"), "other", "2")],
            vec![good("1"), good("2"), good("1")],
            vec![good("1"), user(None, "acme", "2")],
            vec![good("1"), user(Some(""), "acme", "2")],
            vec![good("1"), no_spec, good("3")],
            vec![good("1"), good("2"), config_map],
            vec![good("1"), bad_spec],
        ];
        let mut cases: Vec<String> = sets.iter().flat_map(|set| forms(set)).collect();
        let [_, list, documents] = forms(&[good("1"), good("2")]);
        cases.push(format!("{documents}---\nspec: [unclosed\n"));
        cases.push(format!("{documents}---\n{list}"));
        cases.extend(
            [
                "",
                "---\n",
                "{",
                "[]",
                "{\"items\": null}",
                "{\"items\": [], \"items\": []}",
                "\u{feff}{\"kind\": \"List\", \"items\": []}",
                "plain text",
            ]
            .map(String::from),
        );
        cases
    }

    /// The scan of `plan`'s read leaves two users of one name to the index, which finds them;
    /// the file is then refused in the full read's words.
    #[test]
    fn a_shared_name_the_index_finds_is_refused_in_the_full_reads_words() {
        let user = |name: &str| format!(r#"{{"metadata": {{"name": "{name}"}}, "spec": {{}}}}"#);
        let items = [user("a"), user("b"), user("c"), user("b"), user("a")];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        std::fs::write(&path, format!(r#"{{"items": [{}]}}"#, items.join(", "))).unwrap();
        let records = PlanRecords::read(&path).unwrap();
        let index = user_import_engine::matching::UserIndex::new(records.users());
        assert_eq!(index.shared_name(), Some((1, 3)));
        let refused = records
            .refuse_shared_name(&path, index.shared_name())
            .unwrap_err();
        let full = RecordsFile::read(&path).unwrap_err();
        assert_eq!(format!("{refused:#}"), format!("{full:#}"));
        assert!(
            format!("{refused:#}").contains("item 2 and item 4"),
            "{refused:#}"
        );
        assert!(records.refuse_shared_name(&path, None).is_ok());
    }

    /// `plan` reads only part of each object: it gives the users and the label a full read
    /// gives, and refuses what a full read refuses, with the same words.
    #[test]
    fn plan_reads_the_users_a_full_read_reads_and_refuses_what_it_refuses() {
        let mut refused = 0;
        for case in cases() {
            match (
                RecordsFile::parse(case.as_bytes()),
                PlanRecords::parse(case.as_bytes()),
            ) {
                (Ok(file), Ok(plan)) => {
                    assert_eq!(plan.users.to_existing(), file.users, "{case}");
                    assert_eq!(plan.tenant_label, file.tenant_label(), "{case}");
                }
                (Err(full), Err(plan)) => {
                    assert_eq!(format!("{plan:#}"), format!("{full:#}"), "{case}");
                    refused += 1;
                }
                (full, plan) => panic!(
                    "{case}\nfull read: {:?}\nplan: {:?}",
                    full.map(|file| file.users.len()),
                    plan.map(|plan| plan.users.len())
                ),
            }
        }
        assert!(refused >= 20, "{refused} refused");
    }
}
