//! The template's fields: their TenantUser names, accepted headers (docs/template.md), and which
//! are mandatory or non-editable (the vendor note).

use user_import_resources::{TenantUserSpec, UserStatus};

/// The `Option<String>` slot of a text field, borrowed shared (`&`) or mutably (`&mut`):
/// one list of fields for both accessors.
macro_rules! text_slot {
    ($field:expr, $user:ident, $($borrow:tt)+) => {
        match $field {
            Field::Username => $($borrow)+ $user.username,
            Field::FirstName => $($borrow)+ $user.first_name,
            Field::MiddleName => $($borrow)+ $user.middle_name,
            Field::LastName => $($borrow)+ $user.last_name,
            Field::Email => $($borrow)+ $user.email,
            Field::CoupaUsername => $($borrow)+ $user.coupa_username,
            Field::CoupaUserId => $($borrow)+ $user.coupa_user_id,
            Field::Prefix => $($borrow)+ $user.prefix,
            Field::Title => $($borrow)+ $user.title,
            Field::Culture => $($borrow)+ $user.culture,
            Field::BusinessPhone => $($borrow)+ $user.business_phone,
            Field::BusinessExt => $($borrow)+ $user.business_ext,
            Field::Mobile => $($borrow)+ $user.mobile,
            Field::Home => $($borrow)+ $user.home,
            Field::Fax => $($borrow)+ $user.fax,
            Field::MailingAddress => $($borrow)+ $user.mailing_address,
            Field::City => $($borrow)+ $user.city,
            Field::StateProvince => $($borrow)+ $user.state_province,
            Field::PostalCode => $($borrow)+ $user.postal_code,
            Field::Country => $($borrow)+ $user.country,
            Field::Status => unreachable!("status is stored as an enum, not text"),
        }
    };
}

/// A field of a user record that a template column can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // Each variant is the template column of the same name (`header`).
pub enum Field {
    Username,
    FirstName,
    MiddleName,
    LastName,
    Email,
    Status,
    CoupaUsername,
    CoupaUserId,
    Prefix,
    Title,
    Culture,
    BusinessPhone,
    BusinessExt,
    Mobile,
    Home,
    Fax,
    MailingAddress,
    City,
    StateProvince,
    PostalCode,
    Country,
}

impl Field {
    /// Every field, in TenantUser order.
    pub const ALL: [Field; 21] = [
        Field::Username,
        Field::FirstName,
        Field::MiddleName,
        Field::LastName,
        Field::Email,
        Field::Status,
        Field::CoupaUsername,
        Field::CoupaUserId,
        Field::Prefix,
        Field::Title,
        Field::Culture,
        Field::BusinessPhone,
        Field::BusinessExt,
        Field::Mobile,
        Field::Home,
        Field::Fax,
        Field::MailingAddress,
        Field::City,
        Field::StateProvince,
        Field::PostalCode,
        Field::Country,
    ];

    /// The fields a template must have a column for, and every row a value in.
    pub(crate) const MANDATORY: [Field; 5] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::CoupaUsername,
        Field::CoupaUserId,
    ];

    /// The TenantUser field name (camelCase), as used in status lists and JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Username => "username",
            Field::FirstName => "firstName",
            Field::MiddleName => "middleName",
            Field::LastName => "lastName",
            Field::Email => "email",
            Field::Status => "status",
            Field::CoupaUsername => "coupaUsername",
            Field::CoupaUserId => "coupaUserId",
            Field::Prefix => "prefix",
            Field::Title => "title",
            Field::Culture => "culture",
            Field::BusinessPhone => "businessPhone",
            Field::BusinessExt => "businessExt",
            Field::Mobile => "mobile",
            Field::Home => "home",
            Field::Fax => "fax",
            Field::MailingAddress => "mailingAddress",
            Field::City => "city",
            Field::StateProvince => "stateProvince",
            Field::PostalCode => "postalCode",
            Field::Country => "country",
        }
    }

    /// The header a template would normally use for this field (used in error messages).
    pub(crate) fn header(self) -> &'static str {
        self.aliases()[0]
    }

    /// Every header text accepted for this field (docs/template.md).
    pub(crate) fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Username => &["Username", "User Name", "Login"],
            Field::FirstName => &["First Name", "Firstname"],
            Field::MiddleName => &["Middle Name"],
            Field::LastName => &["Last Name", "Lastname"],
            Field::Email => &["Email", "Email Address", "E-mail"],
            Field::Status => &["Status"],
            Field::CoupaUsername => &[
                "Coupa Username",
                "Coupa User Name",
                "SSOUsername",
                "SSO Username",
            ],
            Field::CoupaUserId => &["Coupa User ID", "Coupa UserId"],
            Field::Prefix => &["Prefix"],
            Field::Title => &["Title", "Job Title"],
            Field::Culture => &["Culture", "Language"],
            Field::BusinessPhone => &["Business Phone", "Business", "Work Phone"],
            Field::BusinessExt => &["Business Ext", "Business Extension"],
            Field::Mobile => &["Mobile", "Mobile Phone"],
            Field::Home => &["Home", "Home Phone"],
            Field::Fax => &["Fax"],
            Field::MailingAddress => &["Mailing Address", "Address"],
            Field::City => &["City"],
            Field::StateProvince => &["State/Province", "State", "Province"],
            Field::PostalCode => &["Postal Code", "Zip", "Zip Code"],
            Field::Country => &["Country", "County"],
        }
    }

    /// The field a header names, matching ignoring case, spaces, `_`, `-`, `.` and `/`.
    pub(crate) fn from_header(header: &str) -> Option<Field> {
        let wanted = normalise_header(header);
        Field::ALL.into_iter().find(|field| {
            field
                .aliases()
                .iter()
                .any(|alias| normalise_header(alias) == wanted)
        })
    }

    /// Fields an import may not change on an SSO-synced user (the vendor note).
    pub(crate) fn is_non_editable(self) -> bool {
        matches!(
            self,
            Field::Username
                | Field::FirstName
                | Field::LastName
                | Field::Email
                | Field::Status
                | Field::CoupaUsername
                | Field::BusinessExt
                | Field::Mobile
                | Field::Home
                | Field::Fax
                | Field::MailingAddress
                | Field::City
                | Field::StateProvince
                | Field::PostalCode
                | Field::Country
        )
    }

    /// Whether stored and given values are compared ignoring case (docs/changes.md).
    pub(crate) fn ignores_case(self) -> bool {
        matches!(
            self,
            Field::Username | Field::Email | Field::CoupaUsername | Field::Status
        )
    }

    /// The stored value of this field, if any (blank counts as none).
    pub(crate) fn get(self, user: &TenantUserSpec) -> Option<&str> {
        self.text(user).filter(|text| !trim(text).is_empty())
    }

    /// The stored text of this field as stored (for Status, its name), blank or not.
    pub fn text(self, user: &TenantUserSpec) -> Option<&str> {
        match self {
            Field::Status => user.status.map(UserStatus::as_str),
            _ => self.text_slot(user).as_deref(),
        }
    }

    /// Stores a value in this field. `value` must already be valid for the field.
    pub fn set(self, user: &mut TenantUserSpec, value: &str) {
        match self {
            Field::Status => user.status = UserStatus::parse(value),
            _ => *self.text_slot_mut(user) = Some(value.to_string()),
        }
    }

    fn text_slot(self, user: &TenantUserSpec) -> &Option<String> {
        text_slot!(self, user, &)
    }

    fn text_slot_mut(self, user: &mut TenantUserSpec) -> &mut Option<String> {
        text_slot!(self, user, &mut)
    }
}

/// `text` without leading and trailing whitespace, as [`str::trim`] gives it, but at once when
/// the text starts and ends with a visible ASCII character, as nearly every cell and stored
/// value does: a plan trims each cell and value many times.
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        // No whitespace character, ASCII or not, starts with a visible ASCII byte, and such a
        // last byte is a whole character.
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Lower-cases a header and drops the characters that headers may differ by.
pub(crate) fn normalise_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.' | '/'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields_index_their_own_position_in_all() {
        // `FieldColumns` indexes an array by `field as usize`.
        for (position, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field as usize, position, "{field:?}");
        }
    }

    proptest! {
        #[test]
        fn trim_is_str_trim(text in "[ \t\r\n\u{a0}\u{3000}\u{2028}a-z@.é]{0,8}|\\PC{0,8}") {
            prop_assert_eq!(trim(&text), text.trim());
        }
    }
}
