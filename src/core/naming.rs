//! Names derived from data: TenantUser object names and the error report's file name.

/// The object name of a user made by an import: `<tenant>-<coupaUserId>`, lower-cased and made
/// a valid DNS-1123 subdomain, so that a retried or restarted import finds the same object.
pub fn record_name(tenant: &str, coupa_user_id: &str) -> String {
    dns_name(&format!("{tenant}-{coupa_user_id}"))
}

/// Lower-cases `text` and replaces what a DNS-1123 subdomain cannot hold by `-`.
pub fn dns_name(text: &str) -> String {
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

/// `User Sync Error Report - <Tenant> - <YYYY-MM-DD>.csv`, with the characters that cannot
/// stand in a file name (on Windows, macOS or Linux) replaced by `_`.
pub fn error_report_file_name(tenant_display_name: &str, date: chrono::NaiveDate) -> String {
    let name = format!(
        "User Sync Error Report - {tenant_display_name} - {}.csv",
        date.format("%Y-%m-%d")
    );
    name.chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}
