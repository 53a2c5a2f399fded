//! Names derived from data: TenantUser object names and the error report's file name.

use jiff::civil::Date;

/// The object name of a user made by an import: `<tenant>-<coupaUserId>`, lower-cased and made
/// a valid DNS-1123 subdomain, so that a retried or restarted import finds the same object.
pub(crate) fn record_name(tenant: &str, coupa_user_id: &str) -> String {
    dns_name(&format!("{tenant}-{coupa_user_id}"))
}

/// Lower-cases `text` and replaces what a DNS-1123 subdomain cannot hold by `-`.
pub(crate) fn dns_name(text: &str) -> String {
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

/// The longest file name most file systems take (ext4, XFS, APFS, NTFS), in bytes.
pub(crate) const MAX_FILE_NAME_BYTES: usize = 255;

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
