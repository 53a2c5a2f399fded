//! `plan`'s fast read of the usual records file: a JSON `List` of TenantUsers, as
//! `kubectl get tenantusers -o json` prints it.
//!
//! serde's read of a large file spends most of its time making a string of every text. This
//! scanner reads the text once, by hand, and keeps each text as a span of the file
//! ([`PlanUsers`]). It reads only what it can read exactly as the full read does: a JSON
//! object with an `items` array of TenantUser objects, each with a name and a spec. On
//! anything else (YAML, a syntax error, a value of another type, a repeated key, an invalid
//! object, two objects of one name, a key written with escapes) it gives up, and the full read
//! decides and gives its own error. So it never accepts a file that the full read refuses, and
//! what it accepts it reads the same: unit tests and the fuzz check `records` compare the two.

use super::plan_users::{MAX_TEXT_BYTES, PlanUser, PlanUsers, Span};
use super::records_file::{SharedLabel, first_shared_name};
use crate::core::fields::Field;
use crate::resources::TENANT_LABEL;

/// What a scan read: the users, and the tenant label they all carry, if they do.
pub(crate) struct Scanned {
    pub(crate) users: PlanUsers,
    pub(crate) tenant_label: Option<String>,
}

/// Scans `text` from `start` (past a byte-order mark and white space) as a JSON List of
/// TenantUsers; gives the text back when the full read is to decide.
pub(crate) fn scan(text: String, start: usize) -> Result<Scanned, String> {
    match scan_text(&text, start) {
        Some((users, decoded, tenant_label)) => Ok(Scanned {
            users: PlanUsers::from_parts(text, decoded, users),
            tenant_label,
        }),
        None => Err(text),
    }
}

fn scan_text(text: &str, start: usize) -> Option<(Vec<PlanUser>, String, Option<String>)> {
    if text.len() > MAX_TEXT_BYTES / 2 {
        return None;
    }
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: start,
        depth: 0,
        decoded: String::new(),
    };
    let (users, label) = scanner.document()?;
    let Scanner { decoded, .. } = scanner;
    let tenant_label = label
        .shared()
        .map(|span| resolve(text, &decoded, span).to_string());
    let name_at = |at: usize| resolve(text, &decoded, users[at].name);
    // Two users of one name: the full read refuses the file, naming both.
    if first_shared_name(users.len(), name_at).is_some() {
        return None;
    }
    Some((users, decoded, tenant_label))
}

/// The text of `span` while scanning: in the file, or in the texts decoded so far.
fn resolve<'a>(text: &'a str, decoded: &'a str, span: Span) -> &'a str {
    PlanUsers::resolve(text, decoded, span).unwrap_or("")
}

/// The spec keys, each with its field; `ssoSynced` is read apart.
fn spec_field(key: &str) -> Option<Field> {
    Some(match key {
        "username" => Field::Username,
        "firstName" => Field::FirstName,
        "middleName" => Field::MiddleName,
        "lastName" => Field::LastName,
        "email" => Field::Email,
        "status" => Field::Status,
        "coupaUsername" => Field::CoupaUsername,
        "coupaUserId" => Field::CoupaUserId,
        "prefix" => Field::Prefix,
        "title" => Field::Title,
        "culture" => Field::Culture,
        "businessPhone" => Field::BusinessPhone,
        "businessExt" => Field::BusinessExt,
        "mobile" => Field::Mobile,
        "home" => Field::Home,
        "fax" => Field::Fax,
        "mailingAddress" => Field::MailingAddress,
        "city" => Field::City,
        "stateProvince" => Field::StateProvince,
        "postalCode" => Field::PostalCode,
        "country" => Field::Country,
        _ => return None,
    })
}

/// The deepest nesting a skipped value may have; serde_json refuses deeper than 128.
const MAX_DEPTH: u32 = 100;

struct Scanner<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    /// How deep the skipped value being read is nested.
    depth: u32,
    /// The texts with escapes, decoded: their spans start at `text.len()`.
    decoded: String,
}

/// Every method gives None where the scan gives up; `?` carries it up.
impl<'t> Scanner<'t> {
    /// The whole document: an object with `items`, then nothing but white space.
    fn document(&mut self) -> Option<(Vec<PlanUser>, SharedLabel<Span>)> {
        let (mut users, mut label) = (None, SharedLabel::NoObject);
        let (mut kind, mut metadata, mut spec) = (false, false, false);
        self.object(|scanner, key| {
            match key {
                "items" => {
                    once(&mut users)?;
                    // Estimated from the text's size, to spare the list's regrowth; room
                    // never filled is never touched, and costs no memory.
                    let mut items = Vec::with_capacity(scanner.bytes.len() / 512);
                    scanner.array(|scanner| {
                        let (user, tenant) = scanner.item()?;
                        let same = |first: &Span, other: &Span| {
                            scanner.resolve(*first) == scanner.resolve(*other)
                        };
                        label.add_with(tenant, same);
                        items.push(user);
                        Some(())
                    })?;
                    users = Some(items);
                }
                // The List's own kind, metadata and spec are read (and checked) by the full
                // read too, though not kept.
                "kind" => {
                    flag(&mut kind)?;
                    scanner.null_or(Self::string)?;
                }
                "metadata" => {
                    flag(&mut metadata)?;
                    scanner.metadata()?;
                }
                "spec" => {
                    flag(&mut spec)?;
                    scanner.null_or(|scanner| scanner.spec().map(drop))?;
                }
                _ => scanner.skip()?,
            }
            Some(())
        })?;
        self.white_space();
        (self.pos == self.bytes.len()).then_some(())?;
        Some((users?, label))
    }

    /// One object of `items`: a TenantUser with a name and a spec. Gives the user and its
    /// tenant label's span.
    fn item(&mut self) -> Option<(PlanUser, Option<Span>)> {
        let (mut kind, mut metadata, mut spec) = (false, None, None);
        self.object(|scanner, key| {
            match key {
                "kind" => {
                    flag(&mut kind)?;
                    let kind = scanner.null_or(Self::string)?;
                    // Another kind is refused by the full read, which names it.
                    kind.is_none_or(|kind| scanner.resolve(kind) == "TenantUser")
                        .then_some(())?;
                }
                "metadata" => {
                    once(&mut metadata)?;
                    metadata = Some(scanner.metadata()?);
                }
                "spec" => {
                    once(&mut spec)?;
                    spec = Some(scanner.spec()?);
                }
                _ => scanner.skip()?,
            }
            Some(())
        })?;
        let (name, tenant) = metadata?;
        let (texts, sso_synced) = spec?;
        // An object without a name, or with an empty one, is refused by the full read.
        (!self.resolve(name?).is_empty()).then_some(())?;
        let user = PlanUser {
            name: name?,
            texts,
            sso_synced,
        };
        Some((user, tenant))
    }

    /// An object's metadata: its name and its tenant label. As in the full read, a repeated
    /// key takes its last value, and every label's value must be a string.
    fn metadata(&mut self) -> Option<(Option<Span>, Option<Span>)> {
        let (mut name, mut tenant) = (None, None);
        self.object(|scanner, key| {
            match key {
                "name" => name = scanner.null_or(Self::string)?,
                "labels" => {
                    tenant = scanner
                        .null_or(|scanner| {
                            let mut tenant = None;
                            scanner.object(|scanner, key| {
                                let value = scanner.string()?;
                                if key == TENANT_LABEL {
                                    tenant = Some(value);
                                }
                                Some(())
                            })?;
                            Some(tenant)
                        })?
                        .flatten();
                }
                _ => scanner.skip()?,
            }
            Some(())
        })?;
        Some((name, tenant))
    }

    /// A spec: its fields' texts (each key once, Status one of its three names) and whether
    /// it is SSO-synced. Other keys are skipped, as the full read ignores them.
    fn spec(&mut self) -> Option<([Span; Field::ALL.len()], bool)> {
        let mut texts = [Span::ABSENT; Field::ALL.len()];
        let (mut seen, mut sso_synced) = (0u32, None);
        self.object(|scanner, key| {
            if key == "ssoSynced" {
                once(&mut sso_synced)?;
                sso_synced = Some(scanner.boolean()?);
                return Some(());
            }
            let Some(field) = spec_field(key) else {
                return scanner.skip();
            };
            let bit = 1 << field as u32;
            (seen & bit == 0).then_some(())?;
            seen |= bit;
            if let Some(span) = scanner.null_or(Self::string)? {
                if field == Field::Status {
                    let status = scanner.resolve(span);
                    matches!(status, "Active" | "Inactive" | "Deleted").then_some(())?;
                }
                texts[field as usize] = span;
            }
            Some(())
        })?;
        Some((texts, sso_synced.unwrap_or(false)))
    }

    fn resolve(&self, span: Span) -> &str {
        resolve(self.text, &self.decoded, span)
    }

    /// JSON's white space.
    #[inline]
    fn white_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after white space, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.white_space();
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `byte`, after white space.
    #[inline]
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Consumes the literal `word` (`true`, `false`, `null`) at the current byte.
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    /// `null` (None), or a value read by `read`.
    #[inline]
    fn null_or<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// A string: the span of its text in the file, or of its decoded text when it has
    /// escapes.
    fn string(&mut self) -> Option<Span> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = start + self.plain_run(start);
        match *self.bytes.get(end)? {
            b'"' => {
                self.pos = end + 1;
                Some(Span::new(start, end - start))
            }
            b'\\' => self.escaped_string(start),
            _ => None, // a control character, refused in a string
        }
    }

    /// How many bytes from `start` hold neither a quote, a backslash nor a control character.
    #[inline]
    fn plain_run(&self, start: usize) -> usize {
        self.bytes[start..]
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
            .unwrap_or(self.bytes.len() - start)
    }

    /// The rest of a string from `start` (its first byte after the quote), which has escapes:
    /// decoded, as serde_json decodes it.
    fn escaped_string(&mut self, start: usize) -> Option<Span> {
        let mut text = String::new();
        let mut pos = start;
        loop {
            let run = self.plain_run(pos);
            text.push_str(&self.text[pos..pos + run]);
            pos += run;
            match *self.bytes.get(pos)? {
                b'"' => break,
                b'\\' => {
                    let (character, length) = self.escape(pos + 1)?;
                    text.push(character);
                    pos += 1 + length;
                }
                _ => return None,
            }
        }
        self.pos = pos + 1;
        let span = Span::new(self.text.len() + self.decoded.len(), text.len());
        self.decoded.push_str(&text);
        Some(span)
    }

    /// The character of the escape whose letter is at `at`, and the escape's length from
    /// there. A lone surrogate gives up: serde_json refuses it in a string.
    fn escape(&self, at: usize) -> Option<(char, usize)> {
        let character = match *self.bytes.get(at)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex(at + 1)?;
                if !(0xD800..0xDC00).contains(&high) {
                    return Some((char::from_u32(high)?, 5));
                }
                // A high surrogate: a low one must follow, as `\uDC00` to `\uDFFF`.
                (self.bytes.get(at + 5..at + 7)? == b"\\u").then_some(())?;
                let low = self.hex(at + 7)?;
                (0xDC00..0xE000).contains(&low).then_some(())?;
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return Some((char::from_u32(code)?, 11));
            }
            _ => return None,
        };
        Some((character, 1))
    }

    /// The four hex digits at `at`.
    fn hex(&self, at: usize) -> Option<u32> {
        let digits = self.text.get(at..at + 4)?;
        digits
            .bytes()
            .all(|byte| byte.is_ascii_hexdigit())
            .then(|| u32::from_str_radix(digits, 16).ok())
            .flatten()
    }

    /// An object, calling `entry` with each key, positioned at its value.
    fn object(&mut self, entry: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        self.object_with(Self::key, entry)
    }

    /// An object whose keys `read_key` reads.
    fn object_with(
        &mut self,
        read_key: impl Fn(&mut Self) -> Option<&'t str>,
        mut entry: impl FnMut(&mut Self, &str) -> Option<()>,
    ) -> Option<()> {
        self.delimited(b'{', b'}', |scanner| {
            let key = read_key(scanner)?;
            scanner.expect(b':')?;
            entry(scanner, key)
        })
    }

    /// `open`, then items read by `item` and separated by commas, then `close`.
    fn delimited(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.expect(open)?;
        if self.peek()? == close {
            self.pos += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                byte if byte == close => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A key without escapes (a key with escapes gives up: it would have to be decoded to
    /// be compared).
    fn key(&mut self) -> Option<&'t str> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = start + self.plain_run(start);
        (*self.bytes.get(end)? == b'"').then_some(())?;
        self.pos = end + 1;
        Some(&self.text[start..end])
    }

    /// An array, calling `element` at each element.
    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.delimited(b'[', b']', element)
    }

    /// Any value, checked as strictly as serde_json checks a value it ignores, not kept.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            // Keys of a skipped object are checked, not read: kubectl writes keys with
            // escapes in `managedFields` (`"k:{\"type\":\"Ready\"}"`).
            b'{' => self.nested(|scanner| {
                let any_key = |scanner: &mut Self| scanner.skip_string().map(|()| "");
                scanner.object_with(any_key, |scanner, _| scanner.skip())
            }),
            b'[' => self.nested(|scanner| scanner.array(Self::skip)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn nested(&mut self, read: impl FnOnce(&mut Self) -> Option<()>) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())?;
        read(self)?;
        self.depth -= 1;
        Some(())
    }

    /// A string, its escapes checked (a `\u` needs four hex digits) but not decoded.
    fn skip_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            self.pos += self.plain_run(self.pos);
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    self.pos += match *self.bytes.get(self.pos + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' => self.hex(self.pos + 2).map(|_| 6)?,
                        _ => return None,
                    };
                }
                _ => return None,
            }
        }
    }

    /// A number as JSON writes it: `-`, then `0` or digits not starting with 0, then an
    /// optional fraction and exponent, each with at least one digit.
    fn number(&mut self) -> Option<()> {
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        match self.bytes.get(self.pos)? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    /// Consumes digits; gives how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }
}

/// Marks a key as read; None (give up) when it was read before: the full read refuses a
/// repeated key there.
fn flag(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

/// None (give up) when `value` was read before, for the same reason.
fn once<T>(value: &mut Option<T>) -> Option<()> {
    value.is_none().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::records_file::PlanRecords;

    /// A List of `items`, with the top-level keys `kubectl get -o json` prints.
    fn list(items: &[String]) -> String {
        format!(
            r#"{{"apiVersion": "v1", "items": [{}], "kind": "List", "metadata": {{"resourceVersion": ""}}}}"#,
            items.join(",\n")
        )
    }

    /// A TenantUser as kubectl prints it, with `spec` as given.
    fn item(name: &str, spec: &str) -> String {
        format!(
            r#"{{"apiVersion": "riskassess.io/v1alpha1", "kind": "TenantUser",
                "metadata": {{"name": "{name}", "namespace": "acme", "generation": 1,
                    "creationTimestamp": "2026-11-02T10:00:00Z", "uid": "5f0c", "resourceVersion": "4711",
                    "labels": {{"riskassess.io/tenant": "acme", "app.kubernetes.io/part-of": "x"}},
                    "annotations": {{"kubectl.kubernetes.io/last-applied-configuration": "{{\"spec\":{{\"email\":\"a@acme.test\"}}}}\n"}},
                    "managedFields": [{{"manager": "kubectl", "time": null, "fieldsV1": {{"f:spec": {{".": {{}}}}, "f:status": {{"k:{{\"type\":\"Ready\"}}": {{}}}}}}, "n": [1, -2.5e3, 0, true, false]}}]}},
                "spec": {spec},
                "status": {{"observedGeneration": 1}}}}"#
        )
    }

    const SPEC: &str = r#"{"username": "ann", "email": "ann@acme.test", "coupaUsername": "ann", "coupaUserId": "1", "status": "Active", "ssoSynced": true, "city": null}"#;

    /// Whether the scanner reads `text` itself (rather than leaving it to serde).
    fn scans(text: &str) -> bool {
        scan(text.to_string(), 0).is_ok()
    }

    /// `plan`'s read of `text` and serde's alone give the same users and label, or the same
    /// error.
    fn assert_same_read(text: &str) {
        let bytes = text.as_bytes();
        match (
            PlanRecords::parse(bytes),
            PlanRecords::parse_without_scanner(bytes),
        ) {
            (Ok(scanned), Ok(read)) => {
                assert_eq!(
                    scanned.users.to_existing(),
                    read.users.to_existing(),
                    "{text}"
                );
                assert_eq!(scanned.tenant_label(), read.tenant_label(), "{text}");
            }
            (Err(scanned), Err(read)) => {
                assert_eq!(format!("{scanned:#}"), format!("{read:#}"), "{text}");
            }
            (scanned, read) => panic!("{text}\nscanned: {scanned:?}\nread: {read:?}"),
        }
    }

    #[test]
    fn the_scanner_reads_a_list_as_kubectl_prints_it_as_serde_does() {
        let text = list(&[item("acme-1", SPEC), item("acme-2", "{}")]);
        assert!(scans(&text));
        assert_same_read(&text);
        let records = PlanRecords::parse(text.as_bytes()).unwrap();
        let users = records.users.to_existing();
        assert_eq!(users.len(), 2);
        assert_eq!(
            users[0].spec.status,
            Some(crate::resources::UserStatus::Active)
        );
        assert!(users[0].spec.sso_synced && !users[1].spec.sso_synced);
        assert_eq!(users[0].spec.city, None);
        assert_eq!(records.tenant_label(), Some("acme"));
        for empty in [r#"{"items": []}"#, "{\"items\":[]}\n\n"] {
            assert!(scans(empty), "{empty}");
            assert_same_read(empty);
        }
    }

    /// The bundled example records, as `kubectl get -o json` would print them, are scanned.
    #[test]
    fn the_scanner_reads_the_example_records_as_json() {
        let yaml = include_str!("../../examples/records.yaml");
        let records: serde_json::Value = serde_norway::from_str(yaml).unwrap();
        let text = serde_json::to_string_pretty(&records).unwrap();
        assert!(scans(&text));
        assert_same_read(&text);
        assert!(PlanRecords::parse(text.as_bytes()).unwrap().users.len() > 5);
    }

    #[test]
    fn the_scanner_decodes_escapes_as_serde_does() {
        for value in [
            r#"\u00e9lodie"#,
            r#"tab\there \"quoted\" \\ \/ \b\f\n\r"#,
            r#"\ud83d\ude00 smile"#,
            r#"\u0000"#,
            "plain é 漢字",
        ] {
            let spec = format!(r#"{{"firstName": "{value}", "email": "x{value}@acme.test"}}"#);
            let text = list(&[item("acme-1", &spec), item("acme-\\u0032", "{}")]);
            assert!(scans(&text), "{value}");
            assert_same_read(&text);
        }
        let records = PlanRecords::parse(list(&[item("a", r#"{"city": "\u00c9vry"}"#)]).as_bytes());
        assert_eq!(
            records.unwrap().users.to_existing()[0].spec.city.as_deref(),
            Some("Évry")
        );
    }

    /// Each of these the scanner leaves to serde, which reads it or refuses it in its words.
    #[test]
    fn the_scanner_leaves_to_serde_what_it_does_not_read_exactly() {
        let one = |spec: &str| list(&[item("acme-1", spec)]);
        let cases = [
            // Values serde refuses.
            one(r#"{"status": "active"}"#),
            one(r#"{"status": 1}"#),
            one(r#"{"ssoSynced": null}"#),
            one(r#"{"ssoSynced": "true"}"#),
            one(r#"{"email": 5}"#),
            one(r#"{"email": "a", "email": "b"}"#),
            one(r#"{"firstName": "\ud800"}"#),
            one(r#"{"firstName": "\udc00x"}"#),
            one(r#"{"firstName": "\x"}"#),
            one("{\"firstName\": \"a\u{1}b\"}"),
            one(r#"{"other": [1, 01]}"#),
            one(r#"{"other": 1.}"#),
            one(r#"{"other": -}"#),
            one(r#"{"other": tru}"#),
            one(r#"{"other": "\u12"}"#),
            one(&format!(
                r#"{{"other": {}1{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            )),
            // Objects serde refuses.
            one("null"),
            list(&[item("acme-1", SPEC), item("acme-1", SPEC)]),
            list(&[item("", SPEC)]),
            list(&[r#"{"kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {}}"#.into()]),
            list(&[r#"{"metadata": {"name": "x"}}"#.into()]),
            list(&[r#"{"spec": {}}"#.into()]),
            list(&[r#"{"metadata": null, "spec": {}}"#.into()]),
            list(&[r#"{"metadata": {"name": "x", "labels": {"a": 1}}, "spec": {}}"#.into()]),
            list(&[r#"{"metadata": {"name": "x"}, "spec": {}, "spec": {}}"#.into()]),
            format!("{} x", list(&[])),
            r#"{"items": [], "items": []}"#.into(),
            r#"{"items": [], "metadata": null}"#.into(),
            r#"{"items": [], "kind": 5}"#.into(),
            r#"{"items": [}"#.into(),
            // What serde reads and the scanner does not: a struct written as an array, a key
            // with escapes, a single object, no items.
            list(&[r#"[null, {"name": "x"}, {}]"#.into()]),
            one(r#"{"\u0065mail": "a@acme.test"}"#),
            r#"{"kind": "TenantUser", "metadata": {"name": "x"}, "spec": {}}"#.into(),
            r#"{"items": null}"#.into(),
            r#"{"kind": "List"}"#.into(),
        ];
        for text in &cases {
            assert!(!scans(text), "scanned: {text}");
            assert_same_read(text);
        }
        let refused = cases
            .iter()
            .filter(|text| PlanRecords::parse(text.as_bytes()).is_err())
            .count();
        assert!(refused >= 25, "{refused} refused");
    }

    #[test]
    fn the_tenant_label_is_the_one_every_user_carries() {
        let labelled = |name: &str, label: &str| {
            format!(
                r#"{{"metadata": {{"name": "{name}", "labels": {{"riskassess.io/tenant": "{label}"}}}}, "spec": {{}}}}"#
            )
        };
        let unlabelled = r#"{"metadata": {"name": "c", "labels": null}, "spec": {}}"#;
        for (items, label) in [
            (
                vec![labelled("a", "acme"), labelled("b", "acme")],
                Some("acme"),
            ),
            (vec![labelled("a", "acme"), labelled("b", "other")], None),
            (vec![labelled("a", "acme"), unlabelled.into()], None),
            (vec![unlabelled.into(), labelled("a", "acme")], None),
        ] {
            let text = list(&items);
            assert!(scans(&text), "{text}");
            assert_same_read(&text);
            let records = PlanRecords::parse(text.as_bytes()).unwrap();
            assert_eq!(records.tenant_label(), label, "{text}");
        }
    }
}
