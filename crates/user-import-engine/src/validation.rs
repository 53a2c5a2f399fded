//! Row validation (docs/validation.md): every reason except `Mismatch`, which needs the tenant's
//! users and lives in `matching`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::fields::Field;
use super::matching::fold_key;
use super::template::{FieldColumns, Template};
use user_import_resources::{ProblemReason, UserStatus};

/// The problems found in one row: reasons in precedence order, and every field concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowProblems {
    /// The reasons, in precedence order.
    pub reasons: BTreeSet<ProblemReason>,
    /// Every field a reason concerns.
    pub fields: BTreeSet<Field>,
    /// One sentence per reason, in the order found.
    pub messages: Vec<String>,
}

impl RowProblems {
    pub(crate) fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    pub(crate) fn add(&mut self, reason: ProblemReason, fields: &[Field], message: String) {
        self.reasons.insert(reason);
        self.fields.extend(fields.iter().copied());
        self.messages.push(message);
    }
}

/// The most digits a Coupa User ID may have.
///
/// Coupa's user ids are integers that its API hands out as 64-bit numbers; the largest
/// unsigned 64-bit integer, 18446744073709551615, has 20 digits. So 20 digits (leading zeros
/// included) hold every id Coupa can give, and anything longer is a typing or export error.
/// The bound also keeps a record name, `<tenant>-<coupaUserId>`, far below the 253 characters
/// of an object name for any ordinary tenant name.
pub(crate) const MAX_COUPA_USER_ID_DIGITS: usize = 20;

/// Validates every row of the template; the result has one entry per template row.
pub fn validate_rows(template: &Template) -> Vec<RowProblems> {
    let columns = FieldColumns::new(template);
    let mut problems: Vec<RowProblems> = template
        .rows
        .iter()
        .map(|row| validate_cells(&|field| columns.cell(row, field)))
        .collect();
    mark_duplicates(template, &columns, &mut problems);
    problems
}

/// The checks that look at one row alone. `cell` gives a field's trimmed value.
pub(crate) fn validate_cells<'a>(cell: &dyn Fn(Field) -> &'a str) -> RowProblems {
    let mut problems = RowProblems::default();
    let blank: Vec<Field> = Field::MANDATORY
        .into_iter()
        .filter(|field| cell(*field).is_empty())
        .collect();
    if !blank.is_empty() {
        let names: Vec<&str> = blank.iter().map(|field| field.header()).collect();
        let message = format!("blank mandatory cell(s): {}", names.join(", "));
        problems.add(ProblemReason::MissingMandatoryField, &blank, message);
    }
    let email = cell(Field::Email);
    if !email.is_empty() && !is_valid_email(email) {
        let message = format!("Email \"{email}\" is not an address of the form local@domain.tld");
        problems.add(ProblemReason::InvalidEmail, &[Field::Email], message);
    }
    let id = cell(Field::CoupaUserId);
    if !id.is_empty() && !id.bytes().all(|byte| byte.is_ascii_digit()) {
        let message = format!("Coupa User ID \"{id}\" is not all digits");
        problems.add(
            ProblemReason::InvalidCoupaUserId,
            &[Field::CoupaUserId],
            message,
        );
    } else if id.len() > MAX_COUPA_USER_ID_DIGITS {
        // All digits here, so bytes are characters. The value is cut in the message: a
        // status lists up to a hundred messages.
        let message = format!(
            "Coupa User ID \"{}…\" has {} digits, more than the {MAX_COUPA_USER_ID_DIGITS} a Coupa user id can have",
            &id[..MAX_COUPA_USER_ID_DIGITS],
            id.len(),
        );
        problems.add(
            ProblemReason::InvalidCoupaUserId,
            &[Field::CoupaUserId],
            message,
        );
    }
    let status = cell(Field::Status);
    if !status.is_empty() && UserStatus::parse(status).is_none() {
        let message = format!("Status \"{status}\" is not Active, Inactive or Deleted");
        problems.add(ProblemReason::InvalidStatus, &[Field::Status], message);
    }
    problems
}

/// `local@domain`: exactly one `@`, a non-empty local part, and a domain of two or more
/// dot-separated labels, none of them empty (so no leading, trailing or doubled dot). No space
/// (of any kind) and no control character may stand anywhere in it.
///
/// Deliberately simpler than RFC 5321: it catches the typing and export errors a template has
/// (a missing `@`, a stray space, `acme..test`) without refusing any address a mail relay
/// would deliver to.
pub(crate) fn is_valid_email(email: &str) -> bool {
    // In ASCII, the spaces and control characters are the bytes up to ' ', and DEL.
    let has_space_or_control = if email.is_ascii() {
        email.bytes().any(|byte| byte <= b' ' || byte == 0x7f)
    } else {
        email.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if has_space_or_control {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let mut labels = domain.split('.');
    !local.is_empty()
        && !domain.contains('@')
        && labels.clone().count() >= 2
        && labels.all(|label| !label.is_empty())
}

/// `DuplicateInTemplate`: rows sharing a Coupa User ID, or sharing an email or Coupa Username
/// under different Coupa User IDs. Every row of such a group is a problem: none wins.
/// Blank cells never count as equal, and a blank Coupa User ID is no "different" id.
fn mark_duplicates(template: &Template, columns: &FieldColumns, problems: &mut [RowProblems]) {
    let ids: Vec<&str> = column(template, columns, Field::CoupaUserId);
    let id_keys = ids.iter().enumerate().filter(|(_, id)| !id.is_empty());
    for group in shared(id_keys.map(|(index, id)| (index, fold_key(id)))) {
        mark_group(template, problems, &group, Field::CoupaUserId);
    }
    for field in [Field::Email, Field::CoupaUsername] {
        let values = column(template, columns, field);
        let keys = values
            .iter()
            .enumerate()
            .filter(|(index, value)| !value.is_empty() && !ids[*index].is_empty());
        for group in shared(keys.map(|(index, value)| (index, fold_key(value)))) {
            let first_id = fold_key(ids[group[0]]);
            if group.iter().any(|&index| fold_key(ids[index]) != first_id) {
                mark_group(template, problems, &group, field);
            }
        }
    }
}

/// The groups of two or more rows that share a key, each in row order. Only such groups
/// allocate: a template of distinct keys costs one map entry per row.
///
/// The table holds only a number per key, the key's place in a list filled in order: on a
/// large template a look-up then reads a small table, and a key's text only when its hash
/// matches (a shared key, nearly always), instead of missing the cache twice per row.
pub(super) fn shared<'a>(keys: impl Iterator<Item = (usize, Cow<'a, str>)>) -> Vec<Vec<usize>> {
    // Sized for every key at once (the most there can be): growing the table as it fills
    // would move its entries again and again.
    let most = keys.size_hint().1.unwrap_or(0);
    let hasher = foldhash::fast::RandomState::default();
    // Each distinct key: its text, its first index, and its group once a second row has it.
    let mut seen: Vec<(Cow<'a, str>, usize, Option<usize>)> = Vec::with_capacity(most);
    let mut table: HashTable<u32> = HashTable::with_capacity(most);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, key) in keys {
        let hash = hasher.hash_one(&*key);
        let found = table.find(hash, |&at| seen[at as usize].0 == key).copied();
        match found.map(|at| &mut seen[at as usize]) {
            None => {
                // A template of 4 billion rows cannot be held in memory anyway.
                let at = u32::try_from(seen.len()).expect("under 4 billion keys");
                table.insert_unique(hash, at, |&at| hasher.hash_one(&*seen[at as usize].0));
                seen.push((key, index, None));
            }
            Some((_, _, Some(slot))) => groups[*slot].push(index),
            Some((_, first, slot)) => {
                *slot = Some(groups.len());
                groups.push(vec![*first, index]);
            }
        }
    }
    groups
}

fn column<'a>(template: &'a Template, columns: &FieldColumns<'a>, field: Field) -> Vec<&'a str> {
    template
        .rows
        .iter()
        .map(|row| columns.cell(row, field))
        .collect()
}

fn mark_group(template: &Template, problems: &mut [RowProblems], group: &[usize], field: Field) {
    let rows = row_list(group.iter().map(|&index| template.rows[index].number));
    for &index in group {
        let value = template.cell(&template.rows[index], field);
        let message = format!(
            "{} \"{value}\" is shared by rows {rows} of the template: none of them is applied",
            field.header(),
        );
        problems[index].add(ProblemReason::DuplicateInTemplate, &[field], message);
    }
}

/// Row numbers for a message: all of a small group, the first few of a large one, so that a
/// message stays short and the work stays linear however many rows share a value.
pub(crate) fn row_list(numbers: impl ExactSizeIterator<Item = usize>) -> String {
    const SHOWN: usize = 5;
    let total = numbers.len();
    let shown: Vec<String> = numbers.take(SHOWN).map(|n| n.to_string()).collect();
    match total.checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{} and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}
