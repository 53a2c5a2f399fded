//! The error-report message itself (docs/error-report.md): recipient, subject, a text and an HTML
//! body, the CSV attachment and a deterministic `Message-ID`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lettre::Message;
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use super::{MailError, header, html};
use user_import_engine::results::{ImportResults, ProblemReason};

/// Domain part of every `Message-ID` this operator makes.
const MESSAGE_ID_DOMAIN: &str = "user-import-operator";

/// Everything one error-report e-mail needs, as plain data.
#[derive(Clone, Debug)]
pub struct ReportMail<'a> {
    /// Recipient address (the tenant's default site administrator); validated by
    /// [`build_message`].
    pub to: String,
    /// Recipient display name, if known.
    pub to_name: Option<String>,
    /// Where the import came from: a template file path, or `namespace/name` of a UserImport.
    pub source: String,
    /// Stable identity of the import run (e.g. UserImport uid + generation, or the file
    /// path); with the template digest it makes the `Message-ID`, so a resend is recognisable.
    pub identity: String,
    /// The import's result: tenant, counts, problem reasons, highlight message, digest.
    pub report: &'a ImportResults,
    /// The attachment's file name, e.g. `User Sync Error Report - Acme Corp - 2026-11-24.csv`.
    pub file_name: String,
    /// The error report CSV, attached byte for byte.
    pub csv: Vec<u8>,
}

/// Builds the report e-mail from `from` to `mail.to`.
///
/// Subject: the file name without `.csv`. Body: `multipart/alternative` of [`body_text`] and
/// [`body_html`](super::html::body_html), so that a client shows the HTML and a text-only one the
/// text. Attachment: `mail.csv` as `text/csv` under `mail.file_name`, base64-encoded so that
/// the BOM and CRLF line ends arrive unchanged. `Message-ID`: [`message_id`].
///
/// No input makes this panic or write a header line of its own: the values that may come
/// from a Tenant are cleaned, then encoded and folded to lines of at most 78 characters.
/// Line breaks and other control characters are **replaced**, not refused: in the names
/// (`mail.to_name`, the name of `from`) each run of them becomes one space, in
/// `mail.file_name` (and so in the Subject) each one becomes `_`. [`header_fixes`] lists such
/// replacements, and they are logged as warnings. An address holding such a character (or
/// `=?`, which readers would decode) is refused with [`MailError::InvalidAddress`], as is any
/// address lettre does not accept.
///
/// [`header_fixes`]: super::header_fixes
pub fn build_message(mail: &ReportMail, from: &Mailbox) -> Result<Message, MailError> {
    for fix in header::header_fixes(mail, from) {
        tracing::warn!(source = %mail.source, %fix, "a header value of the report mail was changed");
    }
    let to = recipient(mail)?;
    header::check_address("sender", from.email.as_ref())?;
    let from = Mailbox::new(
        from.name.as_deref().and_then(header::clean_name),
        from.email.clone(),
    );
    let file_name = header::clean_file_name(&mail.file_name);
    let attachment = SinglePart::builder()
        .header(header::AttachmentDisposition::new(&file_name))
        .header(ContentType::parse("text/csv; charset=utf-8").expect("a valid content type"))
        .body(
            Body::new_with_encoding(mail.csv.clone(), ContentTransferEncoding::Base64)
                .map_err(|_| MailError::Message("the CSV cannot be base64-encoded".into()))?,
        );
    // Text first: clients show the last alternative they can display, the HTML.
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(body_text(mail)))
        .singlepart(SinglePart::html(html::body_html(mail)));
    // The envelope is given rather than derived from the To header, which lettre would parse
    // back from its text.
    let envelope = Envelope::new(Some(from.email.clone()), vec![to.email.clone()])
        .map_err(|e| MailError::Message(e.to_string()))?;
    Message::builder()
        .raw_header(header::mailbox("From", &from))
        .raw_header(header::mailbox("To", &to))
        .raw_header(header::unstructured("Subject", subject(&file_name)))
        .message_id(Some(message_id(
            &mail.identity,
            &mail.report.template.digest,
        )))
        .date_now()
        .envelope(envelope)
        .multipart(MultiPart::mixed().multipart(body).singlepart(attachment))
        .map_err(|e| MailError::Message(e.to_string()))
}

/// `<32 hex digits@user-import-operator>`: a SHA-256 of identity and template digest, so the
/// same import of the same template always yields the same id and another template another.
pub fn message_id(identity: &str, template_digest: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(identity.as_bytes());
    hash.update([0]); // separator: ("a", "bc") and ("ab", "c") must differ
    hash.update(template_digest.as_bytes());
    let hex: String = hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("<{hex}@{MESSAGE_ID_DOMAIN}>")
}

/// The plain-text body: tenant, source, counts, problem reasons with their row counts, the
/// highlight sentence when there is one, and a pointer to the attachment.
pub fn body_text(mail: &ReportMail) -> String {
    let report = mail.report;
    let c = report.counts;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "The user import for tenant \"{}\" could not apply {}.\n",
        report.tenant,
        rows(c.problem)
    );
    let _ = writeln!(out, "Source:    {}", mail.source);
    let _ = writeln!(out, "Template:  {}\n", report.template.digest);
    let _ = writeln!(out, "New:       {}", c.new);
    let _ = writeln!(out, "Update:    {}", c.update);
    let _ = writeln!(out, "Unchanged: {}", c.unchanged);
    let _ = writeln!(out, "Problem:   {}\n", c.problem);
    write_reasons(&mut out, report);
    if let Some(sentence) = &report.highlight_message {
        let _ = writeln!(out, "{sentence}\n");
    }
    let _ = writeln!(
        out,
        "The attached file \"{}\" lists every problem row with its original data and the reason.",
        mail.file_name
    );
    out
}

/// "Problem rows by reason:" with one line per reason, in the order of docs/validation.md.
fn write_reasons(out: &mut String, report: &ImportResults) {
    let mut by_reason: BTreeMap<ProblemReason, usize> = BTreeMap::new();
    for entry in &report.problem {
        *by_reason.entry(entry.reason).or_default() += 1;
    }
    if by_reason.is_empty() {
        return;
    }
    let _ = writeln!(out, "Problem rows by reason:");
    for (reason, n) in by_reason {
        let _ = writeln!(out, "  {}: {}", reason.as_str(), rows(n));
    }
    // The status copy of a report caps its lists; say so rather than under-count silently.
    if report.problem.len() < report.counts.problem {
        let _ = writeln!(
            out,
            "  (reasons of the first {} of {} problem rows)",
            report.problem.len(),
            report.counts.problem
        );
    }
    out.push('\n');
}

/// "1 row", "2 rows".
pub(super) fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

/// The Subject: the file name without `.csv`.
pub(super) fn subject(file_name: &str) -> &str {
    file_name.strip_suffix(".csv").unwrap_or(file_name)
}

/// The recipient, its address checked and its name cleaned.
fn recipient(mail: &ReportMail) -> Result<Mailbox, MailError> {
    // Trimmed first, as before: a value ending in a newline (a YAML block scalar) is fine.
    header::check_address("recipient", mail.to.trim())?;
    let address = mail
        .to
        .trim()
        .parse()
        .map_err(
            |e: lettre::address::AddressError| MailError::InvalidAddress {
                role: "recipient",
                address: mail.to.clone(),
                reason: e.to_string(),
            },
        )?;
    Ok(Mailbox::new(
        mail.to_name.as_deref().and_then(header::clean_name),
        address,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders as _;
    use proptest::prelude::*;
    use user_import_engine::results::{
        Counts, ErrorReportSummary, HIGHLIGHT_MESSAGE, ProblemEntry, TemplateSummary,
    };

    fn problem(row: usize, reason: ProblemReason) -> ProblemEntry {
        ProblemEntry {
            row,
            coupa_user_id: row.to_string(),
            reason,
            fields: vec![],
            message: String::new(),
            conflicts_with: None,
        }
    }

    fn report(highlight: bool) -> ImportResults {
        ImportResults {
            tenant: "Acme Corp".into(),
            template: TemplateSummary {
                rows: 7,
                encoding: "utf-8".into(),
                delimiter: ",".into(),
                digest: "sha256:abc".into(),
                ignored_columns: vec![],
            },
            counts: Counts {
                new: 2,
                update: 1,
                unchanged: 1,
                problem: 3,
            },
            new: vec![],
            update: vec![],
            problem: vec![
                problem(3, ProblemReason::Mismatch),
                problem(5, ProblemReason::InvalidEmail),
                problem(8, ProblemReason::Mismatch),
            ],
            highlight_message: highlight.then(|| HIGHLIGHT_MESSAGE.to_owned()),
            error_report: Some(ErrorReportSummary {
                file_name: "r.csv".into(),
                rows: 3,
            }),
        }
    }

    fn mail(report: &ImportResults) -> ReportMail<'_> {
        ReportMail {
            to: "admin@acme.test".into(),
            to_name: Some("Ada Admin".into()),
            source: "team-a/acme-users".into(),
            identity: "uid-1/3".into(),
            report,
            file_name: "User Sync Error Report - Acme Corp - 2026-11-24.csv".into(),
            csv: b"\xEF\xBB\xBFa,b\r\n".to_vec(),
        }
    }

    #[test]
    fn body_has_counts_source_and_reasons_in_precedence_order() {
        let r = report(false);
        let body = body_text(&mail(&r));
        assert!(
            body.contains("tenant \"Acme Corp\" could not apply 3 rows"),
            "{body}"
        );
        assert!(body.contains("Source:    team-a/acme-users"));
        assert!(body.contains("New:       2\nUpdate:    1\nUnchanged: 1\nProblem:   3\n"));
        let invalid = body
            .find("  InvalidEmail: 1 row\n")
            .expect("InvalidEmail line");
        let mismatch = body.find("  Mismatch: 2 rows\n").expect("Mismatch line");
        assert!(invalid < mismatch, "reasons follow spec order: {body}");
        assert!(!body.contains(HIGHLIGHT_MESSAGE));
        assert!(!body.contains("first"), "no truncation note: {body}");
    }

    #[test]
    fn body_carries_the_highlight_sentence_verbatim() {
        let r = report(true);
        assert!(body_text(&mail(&r)).contains(HIGHLIGHT_MESSAGE));
    }

    #[test]
    fn body_notes_a_truncated_problem_list() {
        let mut r = report(false);
        r.counts.problem = 250;
        let body = body_text(&mail(&r));
        assert!(
            body.contains("(reasons of the first 3 of 250 problem rows)"),
            "{body}"
        );
    }

    #[test]
    fn message_id_depends_on_identity_and_digest_only() {
        let a = message_id("uid-1/3", "sha256:abc");
        assert_eq!(a, message_id("uid-1/3", "sha256:abc"));
        assert_ne!(a, message_id("uid-1/3", "sha256:abd"));
        assert_ne!(a, message_id("uid-1/4", "sha256:abc"));
        assert_ne!(message_id("ab", "c"), message_id("a", "bc"));
        assert!(a.starts_with('<') && a.ends_with("@user-import-operator>"));
        assert_eq!(a.len(), 1 + 32 + 1 + MESSAGE_ID_DOMAIN.len() + 1);
    }

    #[test]
    fn subject_is_the_file_name_without_csv() {
        assert_eq!(subject("A - B - 2026-11-24.csv"), "A - B - 2026-11-24");
        assert_eq!(subject("no-extension"), "no-extension");
    }

    #[test]
    fn a_bad_recipient_is_a_clear_error() {
        let r = report(false);
        let mut m = mail(&r);
        m.to = "not an address".into();
        let from: Mailbox = "op@localhost".parse().unwrap();
        let err = build_message(&m, &from).unwrap_err();
        assert!(matches!(
            err,
            MailError::InvalidAddress {
                role: "recipient",
                ..
            }
        ));
        assert!(err.to_string().contains("\"not an address\""), "{err}");
    }

    /// The header names of the message's top level, in order, and the parsed message.
    fn parse(raw: &[u8]) -> (Vec<String>, mail_parser::Message<'_>) {
        let msg = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("a parseable message");
        let names = msg.headers().iter().map(|h| h.name().to_owned()).collect();
        (names, msg)
    }

    #[test]
    fn a_line_break_in_the_administrator_name_is_replaced_never_injected() {
        let r = report(false);
        let from: Mailbox = "op@localhost".parse().unwrap();
        for name in [
            "Ada\r\nBcc: x@example.test",
            "Ada\nBcc: x@example.test",
            "Ada\rBcc: x@example.test",
        ] {
            let mut m = mail(&r);
            m.to_name = Some(name.into());
            let raw = build_message(&m, &from).unwrap().formatted();
            let (names, msg) = parse(&raw);
            assert_eq!(
                names
                    .iter()
                    .filter(|n| n.eq_ignore_ascii_case("to"))
                    .count(),
                1,
                "{names:?}"
            );
            assert!(
                !names.iter().any(|n| n.eq_ignore_ascii_case("bcc")),
                "{names:?}"
            );
            let to = msg.to().and_then(|a| a.first()).expect("a To address");
            assert_eq!(to.address(), Some("admin@acme.test"));
            assert_eq!(to.name(), Some("Ada Bcc: x@example.test"));
        }
    }

    #[test]
    fn a_recipient_address_with_a_line_break_or_control_character_is_refused() {
        // lettre accepts all but the first: its address rules let any non-ASCII character
        // (NEL, U+2028) and a tab in a quoted local part through.
        let r = report(false);
        let from: Mailbox = "op@localhost".parse().unwrap();
        for (address, reason) in [
            ("admin@acme.test\r\nBcc: x@example.test", "line break"),
            ("a\u{85}b@acme.test", "line break"),
            ("a@acme\u{2028}x.test", "line break"),
            ("\"a\tb\"@acme.test", "control character"),
            ("=?utf-8?b?QmNj?=@acme.test", "=?"),
        ] {
            let mut m = mail(&r);
            m.to = address.into();
            let err = build_message(&m, &from).unwrap_err();
            assert!(
                matches!(
                    err,
                    MailError::InvalidAddress {
                        role: "recipient",
                        ..
                    }
                ),
                "{address:?}: {err:?}"
            );
            assert!(err.to_string().contains(reason), "{err}");
        }
    }

    /// The rule for names and subjects, restated: every run of control characters and
    /// line or paragraph separators becomes one space.
    fn expected_text(value: &str) -> String {
        let mut out = String::new();
        let mut in_run = false;
        for c in value.chars() {
            let bad = c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
            if bad && !in_run {
                out.push(' ');
            } else if !bad {
                out.push(c);
            }
            in_run = bad;
        }
        out
    }

    /// The rule for file names, restated: each such character becomes `_`.
    fn expected_file_name(value: &str) -> String {
        value
            .chars()
            .map(|c| {
                if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    }

    /// Strings a Tenant could hold, weighted towards what breaks headers: line breaks,
    /// header look-alikes, quotes, encoded-word look-alikes, long words, multi-byte text.
    fn hostile() -> impl Strategy<Value = String> {
        let fragment = prop_oneof![
            4 => any::<char>().prop_map(String::from),
            1 => Just("\r\n".to_owned()),
            1 => Just("\r".to_owned()),
            1 => Just("\n".to_owned()),
            2 => Just(" ".to_owned()),
            1 => Just("\t".to_owned()),
            1 => Just("\0".to_owned()),
            1 => Just("\u{85}\u{2028}\u{2029}".to_owned()),
            1 => Just("Bcc: x@example.test".to_owned()),
            1 => Just("\"".to_owned()),
            1 => Just("\\".to_owned()),
            1 => Just("<>,;:@()".to_owned()),
            1 => Just("=?utf-8?b?QmNjOiB4?=".to_owned()),
            1 => Just("Müller & Söhne 😀".to_owned()),
            1 => (1usize..400).prop_map(|n| "x".repeat(n)),
            1 => (1usize..200).prop_map(|n| "é".repeat(n)),
        ];
        prop::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat())
    }

    /// Builds the report with these Tenant values and checks the message: exactly its own
    /// headers, each decoding to the cleaned value, every line at most 78 characters.
    fn check_tenant_values(
        name: &str,
        file_name: String,
        from_name: &str,
    ) -> Result<(), TestCaseError> {
        let r = report(false);
        let mut m = mail(&r);
        m.to_name = Some(name.to_owned());
        m.file_name = file_name;
        let from = Mailbox::new(Some(from_name.to_owned()), "op@localhost".parse().unwrap());
        let raw = build_message(&m, &from).unwrap().formatted();
        let head_len = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&raw[..head_len]).unwrap();
        prop_assert!(head.is_ascii(), "{head}");
        // Every line: the headers of the message and of its parts, and the encoded bodies.
        for line in raw.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let len = line.trim_end_matches('\r').len();
            prop_assert!(len <= 78, "a line of {len}: {line:?}");
        }

        let (mut names, msg) = parse(&raw);
        names.sort_unstable();
        prop_assert_eq!(
            names,
            [
                "Content-Type",
                "Date",
                "From",
                "MIME-Version",
                "Message-ID",
                "Subject",
                "To"
            ]
        );
        let file_name = expected_file_name(&m.file_name);
        let subject = file_name.strip_suffix(".csv").unwrap_or(&file_name);
        // mail-parser reads an empty Subject or file name as none.
        prop_assert_eq!(msg.subject(), Some(subject).filter(|s| !s.is_empty()));
        let to = msg.to().and_then(|a| a.first()).expect("a To address");
        prop_assert_eq!(to.address(), Some("admin@acme.test"));
        let name = expected_text(name);
        prop_assert_eq!(to.name(), Some(name.trim()).filter(|n| !n.is_empty()));
        let from = msg.from().and_then(|a| a.first()).expect("a From address");
        prop_assert_eq!(from.address(), Some("op@localhost"));
        let from_name = expected_text(from_name);
        prop_assert_eq!(
            from.name(),
            Some(from_name.trim()).filter(|n| !n.is_empty())
        );
        let part = msg.attachments().next().expect("the CSV part");
        prop_assert_eq!(
            part.attachment_name(),
            Some(file_name.as_str()).filter(|s| !s.is_empty())
        );
        Ok(())
    }

    fn file_name_for(display: &str) -> String {
        format!("User Sync Error Report - {display} - 2026-11-24.csv")
    }

    /// Cases the property test below found while this was written, kept as examples.
    #[test]
    fn the_cases_the_property_test_found_stay_fixed() {
        let cases = [
            (
                "",
                file_name_for(""),
                "Bcc: x@example.test\r\nBcc: x@example.test",
            ),
            ("", file_name_for("=?utf-8?b?QmNjOiB4?= "), ""),
            ("", String::new(), ""),
            ("", file_name_for(""), "."),
            ("Ada  \r\n  Admin", file_name_for("Acme   Corp"), "Ops"),
        ];
        for (name, file_name, from_name) in cases {
            check_tenant_values(name, file_name, from_name).unwrap();
        }
    }

    /// Parts of an address: mostly what lettre accepts, mixed with what breaks headers.
    fn address_part() -> impl Strategy<Value = String> {
        let fragment = prop_oneof![
            6 => "[a-z0-9]{1,6}",
            1 => Just(".".to_owned()),
            1 => Just("\"".to_owned()),
            1 => Just(" ".to_owned()),
            1 => Just("\t".to_owned()),
            1 => Just("\r\n".to_owned()),
            1 => Just("\u{85}".to_owned()),
            1 => Just("\u{2028}".to_owned()),
            1 => Just("=?".to_owned()),
            1 => Just("ü".to_owned()),
            1 => Just("<>,@".to_owned()),
        ];
        prop::collection::vec(fragment, 1..8).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever a Tenant holds, the message builds and carries exactly its own headers.
        #[test]
        fn no_tenant_value_panics_or_injects_a_header(
            name in hostile(),
            display in hostile(),
            raw_file_name in hostile(),
            from_name in hostile(),
            use_raw_file_name in any::<bool>(),
        ) {
            let file_name = if use_raw_file_name {
                raw_file_name
            } else {
                file_name_for(&display)
            };
            check_tenant_values(&name, file_name, &from_name)?;
        }

        /// A recipient address is checked, never written as given: an invalid one is an
        /// `InvalidAddress` error, a valid one arrives as the only recipient.
        #[test]
        fn a_hostile_recipient_address_is_refused_or_sent_alone(
            local in address_part(),
            domain in prop_oneof![
                Just("acme.test".to_owned()),
                address_part().prop_map(|d| format!("{d}.test")),
                hostile(),
            ],
        ) {
            let r = report(false);
            let mut m = mail(&r);
            m.to = format!("{local}@{domain}");
            let from: Mailbox = "op@localhost".parse().unwrap();
            match build_message(&m, &from) {
                Err(MailError::InvalidAddress { role: "recipient", .. }) => {}
                Err(other) => prop_assert!(false, "unexpected error {other}"),
                Ok(message) => {
                    let raw = message.formatted();
                    let head_len = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                    let head = &raw[..head_len];
                    let control = |&b: &u8| b < 0x20 && b != b'\r' && b != b'\n';
                    prop_assert!(!head.iter().any(control));
                    let (names, msg) = parse(&raw);
                    let count = |name: &str| {
                        names.iter().filter(|n| n.eq_ignore_ascii_case(name)).count()
                    };
                    prop_assert_eq!((count("to"), count("cc"), count("bcc")), (1, 0, 0));
                    let envelope: Vec<String> =
                        message.envelope().to().iter().map(ToString::to_string).collect();
                    prop_assert_eq!(envelope, [m.to.trim()]);
                    let to = msg.to().and_then(|a| a.first()).expect("a To address");
                    // mail-parser cannot read a quoted local part holding specials such as
                    // `"<>,@"@acme.test` (valid, and one To all the same).
                    if !local.starts_with('"') {
                        prop_assert_eq!(to.address(), Some(m.to.trim()));
                    }
                }
            }
        }
    }

    /// The MIME tree of a parsed message, as `type/subtype(child,child)`.
    fn tree(msg: &mail_parser::Message, id: u32) -> String {
        let part = msg.part(id).expect("a part");
        let ctype = part.content_type().expect("a content type");
        let name = format!("{}/{}", ctype.ctype(), ctype.subtype().unwrap_or(""));
        match &part.body {
            mail_parser::PartType::Multipart(children) => {
                let children: Vec<String> = children.iter().map(|&c| tree(msg, c)).collect();
                format!("{name}({})", children.join(","))
            }
            _ => name,
        }
    }

    #[test]
    fn the_body_is_the_text_and_the_html_as_alternatives_before_the_csv() {
        let r = report(true);
        let m = mail(&r);
        let from: Mailbox = "op@localhost".parse().unwrap();
        let raw = build_message(&m, &from).unwrap().formatted();
        let (_, msg) = parse(&raw);
        assert_eq!(
            tree(&msg, 0),
            "multipart/mixed(multipart/alternative(text/plain,text/html),text/csv)"
        );
        // The text part is the one the message had before it had an HTML part, byte for byte:
        // same headers, same transfer encoding, same text.
        let text_part = SinglePart::plain(body_text(&m)).formatted();
        assert!(
            raw.windows(text_part.len()).any(|w| w == text_part),
            "the text part changed"
        );
        let html = msg.html_part(0).expect("an HTML part");
        let ctype = html.content_type().unwrap();
        assert_eq!(ctype.attribute("charset"), Some("utf-8"));
        assert_eq!(
            html.text_contents(),
            Some(super::html::body_html(&m).replace('\n', "\r\n").as_str())
        );
        let csv = msg.attachments().next().expect("the CSV");
        assert_eq!(csv.contents(), m.csv.as_slice());
        assert_eq!(msg.attachments().count(), 1);
    }

    #[test]
    fn the_message_has_headers_and_a_base64_csv_part() {
        let r = report(false);
        let from: Mailbox = "op@localhost".parse().unwrap();
        let raw = String::from_utf8(build_message(&mail(&r), &from).unwrap().formatted()).unwrap();
        assert!(raw.contains("Subject: User Sync Error Report - Acme Corp - 2026-11-24\r\n"));
        assert!(
            raw.contains("To: \"Ada Admin\" <admin@acme.test>\r\n"),
            "{raw}"
        );
        assert!(raw.contains(&format!(
            "Message-ID: {}\r\n",
            message_id("uid-1/3", "sha256:abc")
        )));
        assert!(raw.contains("Content-Type: text/csv; charset=utf-8\r\n"));
        assert!(raw.contains("Content-Transfer-Encoding: base64\r\n"));
    }
}
