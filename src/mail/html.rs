//! The HTML part of the report mail: the summary, New Data with the highlight sentence under
//! it, the Update rows whose fields were highlighted (those fields in yellow) and Problem Data.
//!
//! The page is made for mail clients, which strip or ignore most of what a web page may use:
//! every style is inline (no `<style>` element, no classes), and there are no scripts, images,
//! links or any other reference to anything outside the message. Every value from the import
//! (tenant, source, file name, every cell) goes through [`escape`], so it is shown as text and
//! can never become markup: a cell holding `<script>` shows those characters.

use std::fmt::Write as _;

use super::message::{ReportMail, rows, subject};
use crate::sections::{Cell, Column, Entries, Sections, Table};

/// Most rows listed in one table. The CSV attachment carries every problem row; a mail with
/// tens of thousands of table rows would be slow to open, or clipped, in most clients.
pub(crate) const MAX_TABLE_ROWS: usize = 200;

/// The highlight: black on yellow, as the product marks fields that an SSO-synced user keeps.
const HIGHLIGHT: &str = "background-color:#ffff00;color:#000000";

const BODY: &str = "margin:0;padding:16px;background-color:#ffffff;color:#1a1a1a;\
                    font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.4";
const H1: &str = "margin:0 0 12px 0;font-size:20px";
const H2: &str = "margin:24px 0 8px 0;font-size:16px;border-bottom:1px solid #c8c8c8";
const P: &str = "margin:0 0 8px 0";
const TABLE: &str = "border-collapse:collapse;margin:0 0 8px 0";
const TH: &str = "border:1px solid #c8c8c8;padding:4px 8px;text-align:left;vertical-align:top;\
                  background-color:#f0f0f0";
// pre-wrap: a cell is shown as it is, line breaks and runs of spaces included. Long values
// are not broken inside words: that would break ordinary ones too ("MissingMand atoryField").
const TD: &str = "border:1px solid #c8c8c8;padding:4px 8px;text-align:left;vertical-align:top;\
                  white-space:pre-wrap";
const KEY: &str = "padding:2px 16px 2px 0;text-align:left;vertical-align:top;font-weight:bold";
const VALUE: &str = "padding:2px 0;text-align:left;vertical-align:top";
const NOTE: &str = "margin:0 0 8px 0;color:#555555";

/// The columns the mail shows of Problem Data: the Risk Assess user by all three of its keys,
/// after the message. New and Update Data show every column of theirs.
const PROBLEM: &[Column] = &[
    Column::Row,
    Column::CoupaUserId,
    Column::Reason,
    Column::Fields,
    Column::Message,
    Column::RiskAssessUsername,
    Column::RiskAssessCoupaUsername,
    Column::RiskAssessEmail,
];

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references, so that it reads
/// as the same text in an element or in a quoted attribute value, and never as markup.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML body: a complete, self-contained document (UTF-8).
///
/// In order: a title and the summary (tenant, source, template digest, counts), New Data
/// (its count, and its rows when any has highlighted fields), the highlight sentence when
/// fields were highlighted, Update Data (its count and the rows with highlighted fields, those
/// fields on yellow), Problem Data (every problem row with its reason, fields, message and the
/// Risk Assess user it concerns) and a pointer to the attached CSV. Each table lists at most
/// [`MAX_TABLE_ROWS`] rows and says how many it leaves out.
pub(crate) fn body_html(mail: &ReportMail) -> String {
    let report = mail.report;
    let mut out = String::new();
    let title = escape(subject(&mail.file_name));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width\">\n<title>{title}</title>\n\
         </head>\n<body style=\"{BODY}\">\n<h1 style=\"{H1}\">User Sync Error Report</h1>\n"
    );
    summary(&mut out, mail);
    let sections = Sections::build(Entries {
        new: &report.new,
        update: &report.update,
        problem: &report.problem,
        counts: report.counts,
        highlight_message: report.highlight_message.as_deref(),
    });
    new_data(&mut out, &sections.new);
    if let Some(sentence) = sections.highlight_message {
        // Directly under New Data, as in the product, whatever section the yellow is in.
        let _ = writeln!(
            out,
            "<p style=\"{P};font-weight:bold\">{}</p>",
            escape(sentence)
        );
    }
    update_data(&mut out, &sections.update);
    problem_data(&mut out, &sections.problem);
    let _ = writeln!(
        out,
        "<p style=\"margin:24px 0 0 0\">The attached file \u{201c}{}\u{201d} lists every problem \
         row with its original data and the reason.</p>",
        escape(&mail.file_name)
    );
    out.push_str("</body>\n</html>\n");
    out
}

fn summary(out: &mut String, mail: &ReportMail) {
    let report = mail.report;
    let c = report.counts;
    let _ = writeln!(
        out,
        "<p style=\"{P}\">The user import for tenant \u{201c}{}\u{201d} could not apply {}.</p>",
        escape(&report.tenant),
        rows(c.problem)
    );
    let _ = writeln!(out, "<table style=\"{TABLE}\">");
    let numbers = [
        ("New", c.new),
        ("Update", c.update),
        ("Unchanged", c.unchanged),
        ("Problem", c.problem),
    ];
    let pairs = [
        ("Tenant", report.tenant.clone()),
        ("Source", mail.source.clone()),
        ("Template", report.template.digest.clone()),
    ]
    .into_iter()
    .chain(numbers.map(|(key, n)| (key, n.to_string())));
    for (key, value) in pairs {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\" style=\"{KEY}\">{key}</th><td style=\"{VALUE}\">{}</td></tr>",
            escape(&value)
        );
    }
    out.push_str("</table>\n");
}

/// New Data: the count, and the rows only when one of them has highlighted fields (a new
/// user has nothing stored to keep, so today none has: the section is then one line).
fn new_data(out: &mut String, new: &Table) {
    let n = new.count;
    section_heading(out, new, n);
    let creates = if n == 1 {
        "creates a user"
    } else {
        "create users"
    };
    let _ = writeln!(out, "<p style=\"{P}\">{} {creates}.</p>", rows(n));
    let highlighted = with_highlights(new);
    if highlighted.rows.is_empty() {
        return;
    }
    let shown = table(out, &highlighted);
    let total = highlighted.rows.len();
    shown_note(out, shown, total, "new rows with highlighted fields", "");
}

/// Update Data: the count, and the rows with highlighted fields (the others apply in full).
fn update_data(out: &mut String, update: &Table) {
    let n = update.count;
    section_heading(out, update, n);
    let highlighted = with_highlights(update);
    let updates = if n == 1 {
        "updates a user"
    } else {
        "update users"
    };
    if highlighted.rows.is_empty() {
        let _ = writeln!(out, "<p style=\"{P}\">{} {updates}.</p>", rows(n));
        return;
    }
    let _ = writeln!(
        out,
        "<p style=\"{P}\">{} {updates}. Of these, {} would change fields that the user\u{2019}s \
         SSO sync keeps: those fields, in yellow, are not updated; the rest of each row is.</p>",
        rows(n),
        rows(highlighted.rows.len())
    );
    let shown = table(out, &highlighted);
    let total = highlighted.rows.len();
    shown_note(out, shown, total, "update rows with highlighted fields", "");
}

/// Problem Data: every problem row (up to the table limit), in template order.
fn problem_data(out: &mut String, problem: &Table) {
    let n = problem.count;
    section_heading(out, problem, n);
    if problem.rows.is_empty() {
        let _ = writeln!(out, "<p style=\"{P}\">No row is a problem.</p>");
        return;
    }
    let shown = table(out, &problem.select(PROBLEM));
    // The count, not the list: a report whose list was cut (the status copy caps it) still
    // counts every row.
    let rest = "; the attached file lists them all";
    shown_note(out, shown, n.max(problem.rows.len()), "problem rows", rest);
}

fn section_heading(out: &mut String, table: &Table, n: usize) {
    let title = table.section.title();
    let _ = writeln!(out, "<h2 style=\"{H2}\">{title} ({n})</h2>");
}

/// The rows of `table` with a highlighted cell: the mail lists only those of New and Update
/// Data, the rows whose fields are not all applied.
fn with_highlights<'a>(table: &Table<'a>) -> Table<'a> {
    let highlighted = |row: &&Vec<_>| row.iter().any(|cell: &Cell| cell.highlighted);
    Table {
        section: table.section,
        count: table.count,
        headers: table.headers.clone(),
        rows: table.rows.iter().filter(highlighted).cloned().collect(),
    }
}

/// A table with a header row and one row per row of `table`, at most [`MAX_TABLE_ROWS`] of
/// them. Returns how many rows it shows.
fn table(out: &mut String, table: &Table) -> usize {
    let _ = writeln!(out, "<table style=\"{TABLE}\">");
    out.push_str("<tr>");
    for title in &table.headers {
        let _ = write!(out, "<th style=\"{TH}\">{}</th>", escape(title));
    }
    out.push_str("</tr>\n");
    let shown = table.rows.len().min(MAX_TABLE_ROWS);
    for row in &table.rows[..shown] {
        out.push_str("<tr>");
        for cell in row {
            let style = if cell.highlighted {
                format!("{TD};{HIGHLIGHT}")
            } else {
                TD.to_owned()
            };
            let _ = write!(out, "<td style=\"{style}\">{}</td>", escape(&cell.shown()));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    shown
}

/// Says how many of `total` rows a table leaves out, if any.
fn shown_note(out: &mut String, shown: usize, total: usize, what: &str, rest: &str) {
    if shown < total {
        let _ = writeln!(
            out,
            "<p style=\"{NOTE}\">The table shows {shown} of the {total} {what}{rest}.</p>"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use user_import_engine::results::{
        Counts, ErrorReportSummary, HIGHLIGHT_MESSAGE, ImportResults, NewEntry, ProblemEntry,
        ProblemReason, TemplateSummary, UpdateEntry, UserKeys,
    };

    #[test]
    fn escape_turns_markup_into_text() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape("<img src=x onerror=\"alert('x')\">"),
            "&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;"
        );
        assert_eq!(escape("Müller & Söhne"), "Müller &amp; Söhne");
        // An existing reference is data too: it shows as typed, not as the character.
        assert_eq!(escape("&lt;&amp;&#39;"), "&amp;lt;&amp;amp;&amp;#39;");
        assert_eq!(escape("plain text, 😀"), "plain text, 😀");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn escaped_text_holds_no_markup_character() {
        let all: String = (0u8..=127).map(char::from).collect();
        let escaped = escape(&all);
        assert!(!escaped.contains(['<', '>', '"', '\'']), "{escaped}");
        // Every `&` starts one of the five references.
        let rest = escaped
            .replace("&amp;", "")
            .replace("&lt;", "")
            .replace("&gt;", "")
            .replace("&quot;", "")
            .replace("&#39;", "");
        assert!(!rest.contains('&'), "{rest}");
    }

    const HOSTILE: [&str; 4] = [
        "<script>document.title='pwned'</script>",
        "<img src=x onerror=\"document.title='pwned'\">",
        "\"><a href=\"https://evil.test\">click</a>",
        "Tom & Jerry's",
    ];

    fn report() -> ImportResults {
        let [script, img, link, quotes] = HOSTILE.map(str::to_owned);
        ImportResults {
            tenant: script.clone(),
            template: TemplateSummary {
                rows: 4,
                encoding: "utf-8".into(),
                delimiter: ",".into(),
                digest: "sha256:abc".into(),
                ignored_columns: vec![],
            },
            counts: Counts {
                new: 1,
                update: 2,
                unchanged: 0,
                problem: 1,
            },
            new: vec![NewEntry {
                row: 2,
                coupa_user_id: "1001".into(),
                coupa_username: "new-user".into(),
                email: "new@acme.test".into(),
                username: "new-user".into(),
                highlighted_fields: vec![],
            }],
            update: vec![
                UpdateEntry {
                    row: 3,
                    coupa_user_id: img.clone(),
                    username: quotes.clone(),
                    changed_fields: vec!["city".into()],
                    highlighted_fields: vec!["lastName".into(), link.clone()],
                },
                UpdateEntry {
                    row: 4,
                    coupa_user_id: "1003".into(),
                    username: "plain-update".into(),
                    changed_fields: vec!["title".into()],
                    highlighted_fields: vec![],
                },
            ],
            problem: vec![ProblemEntry {
                row: 5,
                coupa_user_id: link.clone(),
                reason: ProblemReason::Mismatch,
                fields: vec!["email".into()],
                message: script.clone(),
                conflicts_with: Some(UserKeys {
                    username: img,
                    coupa_username: quotes,
                    email: link,
                }),
            }],
            highlight_message: Some(HIGHLIGHT_MESSAGE.into()),
            error_report: Some(ErrorReportSummary {
                file_name: "r.csv".into(),
                rows: 1,
            }),
        }
    }

    fn mail(report: &ImportResults) -> ReportMail<'_> {
        ReportMail {
            to: "admin@acme.test".into(),
            to_name: None,
            source: format!("UserImport team-a/{}", HOSTILE[1]),
            identity: "uid-1/3".into(),
            report,
            file_name: format!("User Sync Error Report - {} - 2026-11-24.csv", HOSTILE[0]),
            csv: vec![],
        }
    }

    #[test]
    fn every_value_from_the_import_is_escaped() {
        let r = report();
        let html = body_html(&mail(&r));
        for value in HOSTILE {
            assert!(!html.contains(value), "{value} unescaped in:\n{html}");
            assert!(html.contains(&escape(value)), "{value} missing in:\n{html}");
        }
        // The document's own markup (the values taken out): no script, image, link, event
        // handler, stylesheet or address.
        let own = HOSTILE
            .iter()
            .fold(html.clone(), |html, v| html.replace(&escape(v), ""));
        let lower = own.to_ascii_lowercase();
        for markup in [
            "<script", "<img", "<a ", "<link", "<style", "<iframe", "onerror=", "href=", "src=",
            "url(", "http:", "https:",
        ] {
            assert!(!lower.contains(markup), "{markup} in:\n{html}");
        }
    }

    #[test]
    fn the_sentence_stands_right_under_new_data_and_highlights_are_yellow() {
        let r = report();
        let html = body_html(&mail(&r));
        let new = html.find(">New Data (1)</h2>").expect("a New Data section");
        let sentence = html.find(HIGHLIGHT_MESSAGE).expect("the sentence");
        let update = html
            .find(">Update Data (2)</h2>")
            .expect("an Update section");
        let problem = html
            .find(">Problem Data (1)</h2>")
            .expect("a Problem section");
        assert!(new < sentence && sentence < update && update < problem);
        // Nothing but New Data's count line stands between its heading and the sentence.
        let between = &html[new..sentence];
        assert_eq!(between.matches("<p ").count(), 2, "{between}");
        assert!(!between.contains("<table"), "{between}");

        let highlighted = format!(
            "<td style=\"{TD};{HIGHLIGHT}\">{}</td>",
            escape(&format!("lastName, {}", HOSTILE[2]))
        );
        assert_eq!(html.matches(&highlighted).count(), 1, "{html}");
        assert_eq!(html.matches(HIGHLIGHT).count(), 1, "{html}");
        // Update rows without highlights are counted, not listed.
        assert!(!html.contains("plain-update"), "{html}");
    }

    #[test]
    fn without_highlights_there_is_no_sentence_and_no_yellow() {
        let mut r = report();
        for entry in &mut r.update {
            entry.highlighted_fields.clear();
        }
        r.highlight_message = None;
        let html = body_html(&mail(&r));
        assert!(html.contains(">New Data (1)</h2>"));
        assert!(html.contains("2 rows update users.</p>"), "{html}");
        assert!(!html.contains(HIGHLIGHT_MESSAGE));
        assert!(!html.contains(HIGHLIGHT));
    }

    #[test]
    fn new_rows_with_highlights_are_listed_above_the_sentence() {
        let mut r = report();
        r.new[0].highlighted_fields = vec!["email".into()];
        let html = body_html(&mail(&r));
        let row = html.find(">new@acme.test</td>").expect("the new row");
        let sentence = html.find(HIGHLIGHT_MESSAGE).expect("the sentence");
        assert!(row < sentence);
        assert!(html.contains(&format!("<td style=\"{TD};{HIGHLIGHT}\">email</td>")));
    }

    #[test]
    fn long_lists_are_cut_and_say_so() {
        let mut r = report();
        let entry = r.problem[0].clone();
        r.problem = vec![entry; MAX_TABLE_ROWS + 5];
        r.counts.problem = 1000;
        let html = body_html(&mail(&r));
        assert_eq!(html.matches(">Mismatch</td>").count(), MAX_TABLE_ROWS);
        assert!(
            html.contains(&format!(
                "The table shows {MAX_TABLE_ROWS} of the 1000 problem rows; the attached file \
                 lists them all."
            )),
            "{html}"
        );
    }
}
