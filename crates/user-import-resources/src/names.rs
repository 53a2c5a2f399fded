//! The rule for a Kubernetes object name, for every name a spec refers to.
//!
//! A name from a spec becomes a segment of a request path (`…/tenants/{name}`): one such as
//! `../../team-b/tenants/acme` would reach another namespace's object if the server resolved
//! the dots. The CRD schema refuses such names at apply time ([`OBJECT_NAME_PATTERN`]), and the
//! controller checks them again ([`is_object_name`]) for objects stored before the schema had
//! the rule.

/// A DNS-1123 subdomain, what the API server requires of ConfigMap, Secret and custom resource
/// names: lower-case letters, digits, `-` and `.`, each dot-separated part starting and ending
/// with a letter or digit.
pub const OBJECT_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// The longest object name the API server accepts.
pub const OBJECT_NAME_MAX_LENGTH: usize = 253;

/// True when `name` matches [`OBJECT_NAME_PATTERN`] and is at most [`OBJECT_NAME_MAX_LENGTH`]
/// characters long. Written out by hand: the same rule as the pattern, without a regex engine.
pub fn is_object_name(name: &str) -> bool {
    let alphanumeric = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.len() <= OBJECT_NAME_MAX_LENGTH
        && name.split('.').all(|part| {
            let bytes = part.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(&first), Some(&last)) => {
                    alphanumeric(first)
                        && alphanumeric(last)
                        && bytes.iter().all(|&c| alphanumeric(c) || c == b'-')
                }
                // An empty name, or an empty part (`a..b`, `.a`, `a.`).
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_dns_subdomains() {
        for good in [
            "acme",
            "a",
            "acme-user-import",
            "acme.v2",
            "0-1.b",
            &"a".repeat(253),
        ] {
            assert!(is_object_name(good), "{good:?}");
        }
        for bad in [
            "",
            "../../team-b/tenants/acme",
            "..",
            ".",
            "a..b",
            ".a",
            "a.",
            "-a",
            "a-",
            "Acme",
            "a_b",
            "a b",
            "a/b",
            "a%2Fb",
            "acme\n",
            "é",
            &"a".repeat(254),
        ] {
            assert!(!is_object_name(bad), "{bad:?}");
        }
    }
}
