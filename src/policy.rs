//! Operator-wide policies for where data may go (docs/security.md#where-data-may-go): the
//! domains error reports may be mailed to (`--allowed-recipient-domains`), and the hosts
//! templates may be downloaded from (`--allowed-template-hosts`).
//!
//! Both compare names as the URL standard writes them: lower case, internationalized names in
//! their ASCII (punycode) form, without a trailing dot. A recipient's domain matches an entry
//! only when it is the same domain: `acme.test` does not allow `eu.acme.test`
//! (docs/decisions.md). A template host matches an entry that names it, or a `*.suffix` entry
//! of which it is a subdomain.
//!
//! Whatever the list of hosts, a template is never downloaded from a loopback, link-local or
//! unspecified address, nor from the cluster's API server (its `kubernetes.default.svc` names,
//! the host and addresses the operator's client uses), unless an entry names that host
//! exactly (no wildcard). The addresses are checked after the name is resolved, every one of
//! them, and the connection goes to the addresses checked (see `controller::download`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::Host;

/// The flag that lists the domains reports may be mailed to.
pub const RECIPIENT_DOMAINS_FLAG: &str = "--allowed-recipient-domains";
/// The flag that lists the hosts templates may be downloaded from.
pub const TEMPLATE_HOSTS_FLAG: &str = "--allowed-template-hosts";

/// The most characters of a name quoted from elsewhere (a recipient's domain, a URL's host) in
/// a message.
const QUOTED_CHARS: usize = 64;
/// The most entries of a list named in a message.
const LISTED: usize = 5;

/// The cluster's API server's names inside the cluster: `kubernetes`, `kubernetes.default`,
/// `kubernetes.default.svc` and `kubernetes.default.svc.<cluster domain>`.
const API_SERVER_NAMES: [&str; 3] = ["kubernetes", "kubernetes.default", "kubernetes.default.svc"];

/// A domain name, as the URL standard writes it (lower case, punycode, no trailing dot).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Domain(String);

impl Domain {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A domain of `--allowed-recipient-domains`: `acme.test` (no `*.`, no `@`, no address).
impl FromStr for Domain {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("*.") {
            return Err(format!(
                "{text:?}: list each domain; a domain allows itself only, never its subdomains"
            ));
        }
        if text.contains('@') {
            return Err(format!(
                "{text:?}: give the domain (the part after @), not an address"
            ));
        }
        match domain_of(text) {
            Some(domain) => Ok(domain),
            None => Err(format!("{text:?} is not a domain name")),
        }
    }
}

/// `text` as a [`Domain`], if it is a domain name (not an IP address).
fn domain_of(text: &str) -> Option<Domain> {
    let text = text.strip_suffix('.').unwrap_or(text);
    if text.is_empty() || text.contains('*') {
        return None;
    }
    match Host::parse(text).ok()? {
        Host::Domain(domain) if !domain.is_empty() => Some(Domain(domain)),
        _ => None,
    }
}

/// The domains error reports may be mailed to. Empty: any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipientDomains {
    domains: Vec<Domain>,
}

/// Why a report is not mailed to an address: its domain is not allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the domain {domain:?} of the recipient is not in the operator's {RECIPIENT_DOMAINS_FLAG} ({allowed})"
)]
pub struct RecipientRefused {
    /// The recipient's domain, as written (at most 64 characters of it).
    pub domain: String,
    /// The allowed domains, for the message.
    allowed: String,
}

/// A comma-separated list, as `--allowed-recipient-domains` takes it: blank entries (an empty
/// variable, a trailing comma) are skipped.
impl FromStr for RecipientDomains {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(RecipientDomains::new(entries(text)?))
    }
}

/// The non-blank entries of a comma-separated list, each parsed.
fn entries<T: FromStr<Err = String>>(text: &str) -> Result<Vec<T>, String> {
    let entries = text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    entries.map(str::parse).collect()
}

impl RecipientDomains {
    /// The domains of the list; none allows any domain.
    pub fn new(domains: impl IntoIterator<Item = Domain>) -> Self {
        let mut domains: Vec<Domain> = domains.into_iter().collect();
        domains.sort();
        domains.dedup();
        RecipientDomains { domains }
    }

    /// True when no list is set: any domain is allowed.
    pub fn allows_any(&self) -> bool {
        self.domains.is_empty()
    }

    /// Whether a report may be mailed to `address`: its domain (after the last `@`) is one of
    /// the list, compared case-insensitively; an address whose domain is no domain name (an
    /// address literal such as `[192.0.2.1]`) is refused by any list.
    pub fn check(&self, address: &str) -> Result<(), RecipientRefused> {
        if self.allows_any() {
            return Ok(());
        }
        let written = address
            .trim()
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain);
        match domain_of(written) {
            Some(domain) if self.domains.contains(&domain) => Ok(()),
            _ => Err(RecipientRefused {
                domain: capped(written),
                allowed: listed(self.domains.iter()),
            }),
        }
    }
}

/// An entry of `--allowed-template-hosts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// A host named exactly: a name or an IP address. It is allowed whatever it resolves to.
    Exact(ExactHost),
    /// `*.example.com`: any subdomain of `example.com` (not `example.com` itself).
    Subdomains(Domain),
}

/// A host as a URL names it: a domain name or an IP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExactHost {
    /// A domain name.
    Name(Domain),
    /// An IP address.
    Ip(IpAddr),
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(ExactHost::Name(name)) => write!(f, "{name}"),
            HostPattern::Exact(ExactHost::Ip(ip)) => write!(f, "{ip}"),
            HostPattern::Subdomains(domain) => write!(f, "*.{domain}"),
        }
    }
}

/// An entry of `--allowed-template-hosts`: `files.acme.test`, `*.acme.test`, `10.0.0.5`,
/// `::1` or `[::1]`. No scheme, port or path.
impl FromStr for HostPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.contains('/') || text.contains('@') {
            return Err(format!(
                "{text:?}: give a host (files.acme.test, *.acme.test, an IP address), not a URL"
            ));
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            return match domain_of(suffix) {
                Some(domain) => Ok(HostPattern::Subdomains(domain)),
                None => Err(format!("{text:?}: *. must be followed by a domain name")),
            };
        }
        match exact_host(text) {
            Some(host) => Ok(HostPattern::Exact(host)),
            None => Err(format!(
                "{text:?} is not a host name or IP address (a port or a wildcard other than a \
                 leading *. is not allowed)"
            )),
        }
    }
}

/// `text` as a host: an IP address (IPv6 with or without brackets) or a domain name.
fn exact_host(text: &str) -> Option<ExactHost> {
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ExactHost::Ip(ip.to_canonical()));
    }
    if text.contains('*') || text.contains(':') {
        return None;
    }
    let text = text.strip_suffix('.').unwrap_or(text);
    match Host::parse(text).ok()? {
        Host::Domain(domain) if !domain.is_empty() => Some(ExactHost::Name(Domain(domain))),
        Host::Ipv4(ip) => Some(ExactHost::Ip(IpAddr::V4(ip))),
        Host::Ipv6(ip) => Some(ExactHost::Ip(IpAddr::V6(ip).to_canonical())),
        Host::Domain(_) => None,
    }
}

/// The hosts templates may be downloaded from (`spec.template.url`), and what is refused
/// unless named: loopback, link-local and unspecified addresses, and the cluster's API server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateHosts {
    patterns: Vec<HostPattern>,
    /// The API server's names beside `kubernetes.default.svc` and the like: the host of the
    /// URL the operator's client uses, when it is a name.
    api_server_names: Vec<Domain>,
    /// The addresses of the API server the operator's client uses.
    api_server_addresses: Vec<IpAddr>,
}

/// Why a template is not downloaded from a host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the host {host:?} {why}")]
pub struct HostRefused {
    /// The URL's host (at most 64 characters of it).
    pub host: String,
    why: String,
}

/// Whether a host passed [`TemplateHosts::check_host`] by being named exactly: its addresses
/// are then not checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    /// An entry names the host exactly.
    Exactly,
    /// Allowed by a wildcard entry, or by an empty list: its addresses are checked.
    NotExactly,
}

/// A comma-separated list, as `--allowed-template-hosts` takes it: blank entries are skipped.
impl FromStr for TemplateHosts {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(TemplateHosts::new(entries::<HostPattern>(text)?))
    }
}

impl TemplateHosts {
    /// The hosts of the list; none allows any host but those refused by default.
    pub fn new(patterns: impl IntoIterator<Item = HostPattern>) -> Self {
        TemplateHosts {
            patterns: patterns.into_iter().collect(),
            ..TemplateHosts::default()
        }
    }

    /// Adds the API server the operator's client uses: the host of its URL (a name or an
    /// address) and the addresses that name resolved to.
    pub fn with_api_server(
        mut self,
        host: &str,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Self {
        match exact_host(host) {
            Some(ExactHost::Name(name)) => self.api_server_names.push(name),
            Some(ExactHost::Ip(ip)) => self.api_server_addresses.push(ip),
            None => {}
        }
        self.api_server_addresses
            .extend(addresses.into_iter().map(|ip| ip.to_canonical()));
        self.api_server_addresses.sort();
        self.api_server_addresses.dedup();
        self
    }

    /// Checks a URL's host (as `url::Host::parse` or `hyper::Uri::host` gives it) against the
    /// list and the API server's names, before anything is resolved or requested.
    pub fn check_host(&self, host: &str) -> Result<Listed, HostRefused> {
        let Some(host) = exact_host(host) else {
            return Err(self.refused(host, "is not a host name or IP address".into()));
        };
        let shown = match &host {
            ExactHost::Name(name) => name.to_string(),
            ExactHost::Ip(ip) => ip.to_string(),
        };
        if self
            .patterns
            .iter()
            .any(|pattern| matches!(pattern, HostPattern::Exact(exact) if *exact == host))
        {
            return Ok(Listed::Exactly);
        }
        let by_wildcard = match &host {
            ExactHost::Name(name) => self.patterns.iter().any(|pattern| {
                matches!(pattern, HostPattern::Subdomains(suffix) if is_subdomain(name, suffix))
            }),
            ExactHost::Ip(_) => false,
        };
        if !self.patterns.is_empty() && !by_wildcard {
            let allowed = listed(self.patterns.iter());
            return Err(self.refused(
                &shown,
                format!("is not in the operator's {TEMPLATE_HOSTS_FLAG} ({allowed})"),
            ));
        }
        if let ExactHost::Name(name) = &host
            && self.is_api_server_name(name)
        {
            return Err(self.refused(
                &shown,
                format!(
                    "is the cluster's API server, refused unless the operator's \
                     {TEMPLATE_HOSTS_FLAG} names it"
                ),
            ));
        }
        if let ExactHost::Ip(ip) = host {
            self.check_address(&shown, ip, Listed::NotExactly)?;
        }
        Ok(Listed::NotExactly)
    }

    /// Checks an address `host` resolved to (or is), unless the host is listed exactly.
    pub fn check_address(&self, host: &str, ip: IpAddr, listed: Listed) -> Result<(), HostRefused> {
        if listed == Listed::Exactly {
            return Ok(());
        }
        let ip = ip.to_canonical();
        let kind = if self.api_server_addresses.contains(&ip) {
            "an address of the cluster's API server"
        } else if ip.is_loopback() {
            "a loopback address"
        } else if is_link_local(ip) {
            "a link-local address"
        } else if ip.is_unspecified() {
            "the unspecified address"
        } else {
            return Ok(());
        };
        let resolves = if exact_host(host) == Some(ExactHost::Ip(ip)) {
            "is".to_string()
        } else {
            format!("resolves to {ip},")
        };
        Err(self.refused(
            host,
            format!(
                "{resolves} {kind}, refused unless the operator's {TEMPLATE_HOSTS_FLAG} names \
                 the host"
            ),
        ))
    }

    fn is_api_server_name(&self, name: &Domain) -> bool {
        let name = name.as_str();
        API_SERVER_NAMES.contains(&name)
            || name.starts_with("kubernetes.default.svc.")
            || self
                .api_server_names
                .iter()
                .any(|known| known.as_str() == name)
    }

    fn refused(&self, host: &str, why: String) -> HostRefused {
        HostRefused {
            host: capped(host),
            why,
        }
    }
}

/// True when `name` is a subdomain of `suffix` (`a.b.example.com` of `example.com`), not
/// `suffix` itself.
fn is_subdomain(name: &Domain, suffix: &Domain) -> bool {
    name.as_str()
        .strip_suffix(suffix.as_str())
        .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

/// 169.254.0.0/16 and fe80::/10.
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_link_local(),
        IpAddr::V6(ip) => ip.is_unicast_link_local(),
    }
}

/// At most [`QUOTED_CHARS`] characters of `text`, with `…` when it was longer.
fn capped(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(QUOTED_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// The first few entries of a list, comma-separated, with `…` when there are more.
fn listed<T: fmt::Display>(entries: impl ExactSizeIterator<Item = T>) -> String {
    let total = entries.len();
    let mut text: Vec<String> = entries
        .take(LISTED)
        .map(|entry| entry.to_string())
        .collect();
    if total > LISTED {
        text.push(format!("… {} more", total - LISTED));
    }
    text.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(list: &[&str]) -> RecipientDomains {
        RecipientDomains::new(list.iter().map(|d| d.parse::<Domain>().unwrap()))
    }

    fn hosts(list: &[&str]) -> TemplateHosts {
        TemplateHosts::new(list.iter().map(|h| h.parse::<HostPattern>().unwrap()))
    }

    #[test]
    fn an_empty_domain_list_allows_any_recipient() {
        let any = RecipientDomains::default();
        assert!(any.allows_any());
        assert_eq!(any.check("someone@anywhere.test"), Ok(()));
    }

    #[test]
    fn recipient_domains_match_exactly_and_case_insensitively() {
        let allowed = domains(&["Acme.TEST", "example.com."]);
        assert_eq!(allowed.check("admin@acme.test"), Ok(()));
        assert_eq!(allowed.check("Admin@ACME.Test"), Ok(()));
        assert_eq!(allowed.check("admin@acme.test."), Ok(()));
        assert_eq!(allowed.check(" ops@example.com "), Ok(()));
        // Subdomains are other domains.
        let refused = allowed.check("admin@eu.acme.test").unwrap_err();
        assert_eq!(refused.domain, "eu.acme.test");
        // A domain that merely ends like an allowed one.
        assert!(allowed.check("admin@evilacme.test").is_err());
        assert!(allowed.check("admin@acme.test.evil.test").is_err());
        // Quoted local parts with @ in them: the domain is after the last @.
        assert!(allowed.check("\"a@acme.test\"@evil.test").is_err());
        assert_eq!(allowed.check("\"x@evil.test\"@acme.test"), Ok(()));
        // No domain, an address literal.
        assert!(allowed.check("admin").is_err());
        assert!(allowed.check("admin@[192.0.2.1]").is_err());
    }

    #[test]
    fn internationalized_domains_match_in_either_form() {
        let allowed = domains(&["bücher.example"]);
        assert_eq!(allowed.check("a@xn--bcher-kva.example"), Ok(()));
        assert_eq!(allowed.check("a@BÜCHER.example"), Ok(()));
    }

    #[test]
    fn the_refusal_names_the_domain_and_the_flag() {
        let message = domains(&["acme.test"])
            .check("admin@evil.test")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "the domain \"evil.test\" of the recipient is not in the operator's \
             --allowed-recipient-domains (acme.test)"
        );
        let long = format!("a@{}.test", "x".repeat(300));
        let message = domains(&["acme.test"])
            .check(&long)
            .unwrap_err()
            .to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn bad_domain_entries_are_refused() {
        for entry in [
            "*.acme.test",
            "admin@acme.test",
            "",
            "a b.test",
            "10.0.0.1",
            "[::1]",
        ] {
            assert!(entry.parse::<Domain>().is_err(), "{entry:?}");
        }
        let error = "*.acme.test".parse::<Domain>().unwrap_err();
        assert!(error.contains("never its subdomains"), "{error}");
    }

    #[test]
    fn lists_are_comma_separated_and_blank_entries_skipped() {
        assert_eq!(
            "".parse::<RecipientDomains>(),
            Ok(RecipientDomains::default())
        );
        assert_eq!(" , ".parse::<TemplateHosts>(), Ok(TemplateHosts::default()));
        assert_eq!(
            "acme.test, Example.com,".parse(),
            Ok(domains(&["example.com", "acme.test"]))
        );
        assert_eq!(
            "files.acme.test,*.cdn.test".parse(),
            Ok(hosts(&["files.acme.test", "*.cdn.test"]))
        );
        assert!("acme.test,*.acme.test".parse::<RecipientDomains>().is_err());
        assert!(
            "files.acme.test,https://x"
                .parse::<TemplateHosts>()
                .is_err()
        );
    }

    #[test]
    fn host_patterns_parse() {
        assert_eq!(
            "Files.Acme.Test"
                .parse::<HostPattern>()
                .unwrap()
                .to_string(),
            "files.acme.test"
        );
        assert_eq!(
            "*.acme.test".parse::<HostPattern>().unwrap().to_string(),
            "*.acme.test"
        );
        assert_eq!("[::1]".parse::<HostPattern>().unwrap().to_string(), "::1");
        assert_eq!("::1".parse::<HostPattern>().unwrap().to_string(), "::1");
        assert_eq!(
            "10.0.0.5".parse::<HostPattern>().unwrap().to_string(),
            "10.0.0.5"
        );
        for bad in [
            "https://files.acme.test",
            "files.acme.test/x",
            "files.acme.test:443",
            "*",
            "*.",
            "a.*.test",
            "user@host",
            "",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_match_exactly_or_as_subdomains_of_a_wildcard() {
        let allowed = hosts(&["files.acme.test", "*.cdn.test"]);
        assert_eq!(allowed.check_host("files.acme.test"), Ok(Listed::Exactly));
        assert_eq!(allowed.check_host("FILES.acme.test."), Ok(Listed::Exactly));
        assert_eq!(allowed.check_host("eu.cdn.test"), Ok(Listed::NotExactly));
        assert_eq!(allowed.check_host("a.b.cdn.test"), Ok(Listed::NotExactly));
        for refused in [
            "cdn.test",
            "evilcdn.test",
            "acme.test",
            "x.files.acme.test",
            "10.0.0.1",
        ] {
            let error = allowed.check_host(refused).unwrap_err().to_string();
            assert!(
                error.contains("is not in the operator's --allowed-template-hosts"),
                "{refused}: {error}"
            );
        }
    }

    #[test]
    fn an_empty_host_list_allows_any_host_but_the_refused_ones() {
        let any = TemplateHosts::default();
        assert_eq!(any.check_host("files.acme.test"), Ok(Listed::NotExactly));
        assert_eq!(any.check_host("10.1.2.3"), Ok(Listed::NotExactly));
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "0.0.0.0",
            "[::]",
            "169.254.169.254",
            "[fe80::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:169.254.169.254]",
        ] {
            assert!(any.check_host(refused).is_err(), "{refused}");
        }
        let message = any.check_host("169.254.169.254").unwrap_err().to_string();
        assert_eq!(
            message,
            "the host \"169.254.169.254\" is a link-local address, refused unless the \
             operator's --allowed-template-hosts names the host"
        );
    }

    #[test]
    fn resolved_addresses_are_checked_unless_the_host_is_named_exactly() {
        let any = TemplateHosts::default();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let public: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(
            any.check_address("files.acme.test", public, Listed::NotExactly),
            Ok(())
        );
        let message = any
            .check_address("files.acme.test", loopback, Listed::NotExactly)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "the host \"files.acme.test\" resolves to 127.0.0.1, a loopback address, refused \
             unless the operator's --allowed-template-hosts names the host"
        );
        // A wildcard allows the name, not a loopback address behind it.
        let wildcard = hosts(&["*.acme.test"]);
        let listed = wildcard.check_host("files.acme.test").unwrap();
        assert!(
            wildcard
                .check_address("files.acme.test", loopback, listed)
                .is_err()
        );
        // A host named exactly is allowed whatever it resolves to.
        let exact = hosts(&["localhost", "127.0.0.1"]);
        let listed = exact.check_host("localhost").unwrap();
        assert_eq!(exact.check_address("localhost", loopback, listed), Ok(()));
        assert_eq!(exact.check_host("127.0.0.1"), Ok(Listed::Exactly));
    }

    #[test]
    fn the_api_server_is_refused_by_name_and_by_address() {
        let any = TemplateHosts::default().with_api_server(
            "api.cluster.test",
            ["10.96.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap()],
        );
        for name in [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "Kubernetes.Default.Svc.",
            "api.cluster.test",
        ] {
            let message = any.check_host(name).unwrap_err().to_string();
            assert!(
                message.contains("is the cluster's API server"),
                "{name}: {message}"
            );
        }
        let message = any.check_host("10.96.0.1").unwrap_err().to_string();
        assert!(
            message.contains("is an address of the cluster's API server"),
            "{message}"
        );
        let behind_a_name = any.check_address(
            "files.acme.test",
            "192.0.2.7".parse().unwrap(),
            Listed::NotExactly,
        );
        assert!(
            behind_a_name
                .unwrap_err()
                .to_string()
                .contains("resolves to 192.0.2.7")
        );
        // The API server's URL given as an address.
        let by_ip = TemplateHosts::default().with_api_server("10.0.0.1", []);
        assert!(by_ip.check_host("10.0.0.1").is_err());
        // Named exactly, it is allowed.
        let named = hosts(&["kubernetes.default.svc"]);
        assert_eq!(
            named.check_host("kubernetes.default.svc"),
            Ok(Listed::Exactly)
        );
    }

    #[test]
    fn long_hosts_and_lists_are_cut_in_messages() {
        let many = hosts(&[
            "a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test",
        ]);
        let message = many
            .check_host(&format!("{}.test", "x".repeat(200)))
            .unwrap_err()
            .to_string();
        assert!(message.contains("… 2 more"), "{message}");
        assert!(message.len() < 250, "{message}");
    }
}
