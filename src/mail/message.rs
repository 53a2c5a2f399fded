//! The error-report message itself (spec section 7): recipient, subject, text body,
//! the CSV attachment and a deterministic `Message-ID`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use super::MailError;
use crate::core::report::{ImportReport, ProblemReason};

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
    pub report: &'a ImportReport,
    /// The attachment's file name, e.g. `User Sync Error Report - Acme Corp - 2026-11-24.csv`.
    pub file_name: String,
    /// The error report CSV, attached byte for byte.
    pub csv: Vec<u8>,
}

/// Builds the report e-mail from `from` to `mail.to`.
///
/// Subject: the file name without `.csv`. Body: [`body_text`]. Attachment: `mail.csv` as
/// `text/csv` under `mail.file_name`, base64-encoded so that the BOM and CRLF line ends
/// arrive unchanged. `Message-ID`: [`message_id`].
pub fn build_message(mail: &ReportMail, from: &Mailbox) -> Result<Message, MailError> {
    let to = recipient(mail)?;
    let attachment = Attachment::new(mail.file_name.clone()).body(
        Body::new_with_encoding(mail.csv.clone(), ContentTransferEncoding::Base64)
            .map_err(|_| MailError::Message("the CSV cannot be base64-encoded".into()))?,
        ContentType::parse("text/csv; charset=utf-8").expect("a valid content type"),
    );
    let text = SinglePart::plain(body_text(mail));
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject(&mail.file_name))
        .message_id(Some(message_id(
            &mail.identity,
            &mail.report.template.digest,
        )))
        .date_now()
        .multipart(MultiPart::mixed().singlepart(text).singlepart(attachment))
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

/// "Problem rows by reason:" with one line per reason, in the order of spec section 3.
fn write_reasons(out: &mut String, report: &ImportReport) {
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

fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

fn subject(file_name: &str) -> &str {
    file_name.strip_suffix(".csv").unwrap_or(file_name)
}

fn recipient(mail: &ReportMail) -> Result<Mailbox, MailError> {
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
    Ok(Mailbox::new(mail.to_name.clone(), address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::{
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

    fn report(highlight: bool) -> ImportReport {
        ImportReport {
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

    fn mail(report: &ImportReport) -> ReportMail<'_> {
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
