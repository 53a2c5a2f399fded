//! Names derived from data: TenantUser object names and the error report's file name.

use jiff::civil::Date;

/// The object name of a user made by an import: `<tenant>-<coupaUserId>`, lower-cased and made
/// a valid DNS-1123 subdomain, so that a retried or restarted import finds the same object.
pub(crate) fn record_name(tenant: &str, coupa_user_id: &str) -> String {
    dns_name(&format!("{tenant}-{coupa_user_id}"))
}

/// Lower-cases `text` and replaces what a DNS-1123 subdomain cannot hold by `-`.
pub fn dns_name(text: &str) -> String {
    // A record name is made for every row of a template, and nearly all are valid already
    // (`<tenant>-<digits>`): those are taken as they are, without the walk below.
    if is_dns_name(text) {
        return text.to_string();
    }
    map_to_dns_name(text)
}

/// The mapping of [`dns_name`], character by character.
fn map_to_dns_name(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut name: String = trimmed.chars().take(253).collect();
    while name.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.pop();
    }
    if name.is_empty() {
        "user".to_string()
    } else {
        name
    }
}

/// True when `text` is what [`dns_name`] would make of it: at most 253 characters of `a-z`,
/// `0-9`, `.` and `-`, starting and ending with a letter or digit.
fn is_dns_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    let allowed = |byte: &u8| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-');
    let alphanumeric = |byte: Option<&u8>| byte.is_some_and(|byte| byte.is_ascii_alphanumeric());
    bytes.len() <= 253
        && alphanumeric(bytes.first())
        && alphanumeric(bytes.last())
        && bytes.iter().all(allowed)
}

/// The longest file name most file systems take (ext4, XFS, APFS, NTFS), in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// `User Sync Error Report - <Tenant> - <YYYY-MM-DD>.csv`, with the characters that cannot
/// stand in a file name (on Windows, macOS or Linux) replaced by `_`.
///
/// A display name too long for a file name of [`MAX_FILE_NAME_BYTES`] bytes is shortened at a
/// character boundary, so that the date and `.csv` stay: the report can always be written,
/// and still tells its tenant and date.
pub(crate) fn error_report_file_name(tenant_display_name: &str, date: Date) -> String {
    const PREFIX: &str = "User Sync Error Report - ";
    let suffix = format!(" - {}.csv", report_date(date));
    let room = MAX_FILE_NAME_BYTES.saturating_sub(PREFIX.len() + suffix.len());
    let mut name = String::from(PREFIX);
    for c in tenant_display_name.chars().map(file_name_char) {
        if name.len() + c.len_utf8() > PREFIX.len() + room {
            break;
        }
        name.push(c);
    }
    name.push_str(&suffix);
    name
}

/// The report date as the error report writes it, in its rows and its file name: `YYYY-MM-DD`.
pub(crate) fn report_date(date: Date) -> String {
    date.strftime("%Y-%m-%d").to_string()
}

/// `c`, or `_` when it cannot stand in a file name on one of the usual systems.
fn file_name_char(c: char) -> char {
    match c {
        '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
        c if c.is_control() => '_',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The shortcut of `dns_name` takes only texts the mapping leaves as they are.
        #[test]
        fn a_text_taken_as_it_is_is_its_own_dns_name(
            text in "[a-z0-9.\\-]{0,260}|[a-zA-Z0-9 ._-]{0,20}|\\PC{0,12}"
        ) {
            if is_dns_name(&text) {
                prop_assert_eq!(map_to_dns_name(&text), text.clone());
            }
            prop_assert_eq!(dns_name(&text), map_to_dns_name(&text));
        }
    }

    #[test]
    fn record_names() {
        assert_eq!(record_name("acme", "1001"), "acme-1001");
        assert_eq!(record_name("Acme Corp", "7"), "acme-corp-7");
        assert_eq!(record_name("-acme", ""), "acme");
        assert_eq!(dns_name("..."), "user");
        assert_eq!(dns_name(&"a".repeat(300)).len(), 253);
    }
}
