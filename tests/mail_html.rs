//! The HTML part of the report mail, in a real browser.
//!
//! A report is sent through a real SMTP server (mailin-embedded on 127.0.0.1); the HTML part
//! is taken from the message as the server received it, written to a file and opened in
//! headless Chromium ([`browser`]), which says what a reader would see: the computed
//! background of the highlighted cells, where the highlight sentence stands, whether anything
//! in a cell ran as markup or script, and what the page requested. A screenshot of each page
//! is kept in `target/test-artifacts/`.
//!
//! Chromium is Debian's package, installed by `.ci/run`; without it these tests fail.

mod browser;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders as _, PartType};
use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server};
use serde_json::Value;
use user_import_engine::results::{
    HIGHLIGHT_MESSAGE, ImportResults, ProblemEntry, ProblemReason, UserKeys,
};
use user_import_engine::template::TemplateLimits;
use user_import_operator::cli::{OutputFormat, PlanArgs, prepare};
use user_import_operator::mail::{MailSettings, Mailbox, ReportMail, build_message, send};

use browser::{Browser, CHROMIUM};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// The computed value of `background-color: #ffff00`.
const YELLOW: &str = "rgb(255, 255, 0)";

/// One Chromium at a time: the machine has two cores.
static BROWSER: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------- the SMTP capture

/// Keeps every message the server accepts.
#[derive(Clone, Default)]
struct Capture {
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    data: Vec<u8>,
}

impl Handler for Capture {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let data = std::mem::take(&mut self.data);
        self.received.lock().unwrap().push(data);
        OK
    }
}

/// Sends `mail` through a fresh SMTP server on 127.0.0.1 and returns the message as the
/// server received it.
fn send_through_smtp(mail: &ReportMail) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let capture = Capture::default();
    let received = capture.received.clone();
    let mut server = Server::new(capture);
    server.with_name("localhost").with_tcp_listener(listener);
    // The server thread never ends (mailin has no shutdown), which is harmless in a test.
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    let from: Mailbox = "User Import <user-import-operator@localhost>"
        .parse()
        .unwrap();
    let settings =
        MailSettings::from_url(&format!("smtp://127.0.0.1:{port}"), from.clone()).unwrap();
    let message = build_message(mail, &from).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), send(&settings, message))
            .await
            .expect("the send took over a minute")
            .expect("the server accepts the report")
    });
    let mut received = received.lock().unwrap();
    assert_eq!(received.len(), 1, "one message");
    received.pop().unwrap()
}

/// The MIME tree of a parsed message, as `type/subtype(child,child)`.
fn tree(msg: &mail_parser::Message, id: u32) -> String {
    let part = msg.part(id).expect("a part");
    let ctype = part.content_type().expect("a content type");
    let name = format!("{}/{}", ctype.ctype(), ctype.subtype().unwrap_or(""));
    match &part.body {
        PartType::Multipart(children) => {
            let children: Vec<String> = children.iter().map(|&c| tree(msg, c)).collect();
            format!("{name}({})", children.join(","))
        }
        _ => name,
    }
}

/// The HTML part of a received report message, after checking the message's shape: the text
/// and the HTML as alternatives, then the CSV, unchanged.
fn html_part(raw: &[u8], mail: &ReportMail) -> String {
    let msg = MessageParser::default().parse(raw).expect("a message");
    assert_eq!(
        tree(&msg, 0),
        "multipart/mixed(multipart/alternative(text/plain,text/html),text/csv)"
    );
    let attachments: Vec<_> = msg.attachments().collect();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].contents(), mail.csv.as_slice());
    // The real HTML part: mail-parser would make one up from the text if there were none.
    msg.parts
        .iter()
        .find_map(|part| match &part.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        })
        .expect("a text/html part")
}

// ---------------------------------------------------------------- reports

/// The bundled example (examples/), planned by the CLI's code: the report of the README.
fn example() -> (ImportResults, String, Vec<u8>) {
    let args = PlanArgs {
        template: Path::new(MANIFEST).join("examples/template.csv"),
        records: Path::new(MANIFEST).join("examples/records.yaml"),
        tenant: "Acme Corp".into(),
        sso_sync: true,
        date: Some("2026-11-25".parse().unwrap()),
        output: OutputFormat::Json,
        error_report: None,
        max_template_bytes: TemplateLimits::default().max_bytes,
        max_rows: TemplateLimits::default().max_rows,
        max_cell_chars: TemplateLimits::default().max_cell_chars,
    };
    let planned = prepare(&args).unwrap_or_else(|e| panic!("{e}"));
    let error_report = planned.error_report.expect("the example has problem rows");
    (planned.report, error_report.file_name, error_report.csv)
}

fn report_mail<'a>(report: &'a ImportResults, file_name: String, csv: Vec<u8>) -> ReportMail<'a> {
    ReportMail {
        to: "admin@acme.test".into(),
        to_name: Some("Ada Admin".into()),
        source: "UserImport acme/acme-2026-11".into(),
        identity: "0b6c4f0e-uid/1".into(),
        report,
        file_name,
        csv,
    }
}

// ---------------------------------------------------------------- the browser

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the check script reads from a rendered page.
///
/// `blocks` are the children of `<body>` in document order (headings, paragraphs, tables),
/// each with its tag, text, vertical extent and, for a table, its cells with their computed
/// background colour.
const FACTS: &str = r#"(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return { top: r.top, bottom: r.bottom }; };
  const all = [...document.querySelectorAll('*')];
  return {
    title: document.title,
    scripts: document.scripts.length,
    images: document.images.length,
    links: document.links.length,
    frames: document.querySelectorAll('iframe, object, embed').length,
    handlers: all.filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
    pwned: typeof window.pwned !== 'undefined',
    blocks: [...document.body.children].map((e) => ({
      tag: e.tagName.toLowerCase(),
      text: e.textContent.trim(),
      ...box(e),
      rows: e.tagName === 'TABLE'
        ? [...e.rows].map((r) => [...r.cells].map((c) => ({
            text: c.textContent,
            background: getComputedStyle(c).backgroundColor,
          })))
        : [],
    })),
  };
})()"#;

/// Renders `html` in Chromium and returns the facts of [`FACTS`]; keeps the page and its
/// screenshot under `name` in the test artefacts.
fn render(html: &str, name: &str) -> (Value, Vec<String>) {
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = artifacts();
    let page_path = dir.join(format!("{name}.html"));
    std::fs::write(&page_path, html).unwrap();
    let log = dir.join(format!("{name}.chromium.log"));
    let mut browser = Browser::launch(Path::new(CHROMIUM), &log).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("file://{}", page_path.display());
    let mut page = browser.open(&url);
    let facts = page.evaluate(FACTS);
    let png = page.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    let requests = page.requests.clone();
    assert_eq!(requests.first(), Some(&url), "{requests:?}");
    (facts, requests)
}

/// A block of the page, by position.
struct Block<'a>(&'a Value);

impl Block<'_> {
    fn tag(&self) -> &str {
        self.0["tag"].as_str().unwrap()
    }
    fn text(&self) -> &str {
        self.0["text"].as_str().unwrap()
    }
    fn top(&self) -> f64 {
        self.0["top"].as_f64().unwrap()
    }
    fn bottom(&self) -> f64 {
        self.0["bottom"].as_f64().unwrap()
    }
    /// Rows of cells, each `(text, background)`.
    fn rows(&self) -> Vec<Vec<(String, String)>> {
        let rows = self.0["rows"].as_array().unwrap();
        rows.iter()
            .map(|row| {
                let cells = row.as_array().unwrap();
                cells
                    .iter()
                    .map(|c| {
                        let text = c["text"].as_str().unwrap().to_owned();
                        (text, c["background"].as_str().unwrap().to_owned())
                    })
                    .collect()
            })
            .collect()
    }
}

fn blocks(facts: &Value) -> Vec<Block<'_>> {
    facts["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(Block)
        .collect()
}

/// The index of the `<h2>` whose text starts with `title`.
fn heading(blocks: &[Block], title: &str) -> usize {
    blocks
        .iter()
        .position(|b| b.tag() == "h2" && b.text().starts_with(title))
        .unwrap_or_else(|| panic!("no {title} heading"))
}

/// The tables of the section that starts at heading `start`, up to the next heading.
fn section_tables<'a>(blocks: &'a [Block<'a>], start: usize) -> Vec<&'a Block<'a>> {
    blocks[start + 1..]
        .iter()
        .take_while(|b| b.tag() != "h2")
        .filter(|b| b.tag() == "table")
        .collect()
}

/// Nothing ran, loaded or linked: no script element, image, link, frame or event handler
/// in the DOM, no global set by a script, and no request but the page itself.
fn assert_inert(facts: &Value, requests: &[String]) {
    for key in ["scripts", "images", "links", "frames", "handlers"] {
        assert_eq!(facts[key], 0, "{key} in the page: {facts:#}");
    }
    assert_eq!(facts["pwned"], false, "a script ran");
    assert_eq!(requests.len(), 1, "the page requested more: {requests:?}");
}

// ---------------------------------------------------------------- tests

#[test]
fn the_example_report_renders_with_yellow_highlights_and_the_sentence_under_new_data() {
    let (report, file_name, csv) = example();
    let mail = report_mail(&report, file_name, csv);
    let html = html_part(&send_through_smtp(&mail), &mail);
    let (facts, requests) = render(&html, "report-mail");
    assert_inert(&facts, &requests);
    assert_eq!(
        facts["title"],
        "User Sync Error Report - Acme Corp - 2026-11-25"
    );
    let blocks = blocks(&facts);

    // The summary: tenant, source, counts.
    let summary: Vec<Vec<String>> = blocks
        .iter()
        .find(|b| b.tag() == "table")
        .expect("a summary table")
        .rows()
        .into_iter()
        .map(|row| row.into_iter().map(|(text, _)| text).collect())
        .collect();
    for (key, value) in [
        ("Tenant", "Acme Corp"),
        ("Source", "UserImport acme/acme-2026-11"),
        ("New", "5"),
        ("Update", "5"),
        ("Unchanged", "1"),
        ("Problem", "10"),
    ] {
        assert!(
            summary.contains(&vec![key.to_owned(), value.to_owned()]),
            "{key}: {value} not in {summary:?}"
        );
    }

    // The sentence stands right under New Data: in the DOM, after New Data's heading and
    // content and before the next section; on screen, below all of New Data and above
    // Update Data.
    let new = heading(&blocks, "New Data (5)");
    let update = heading(&blocks, "Update Data (5)");
    let problem = heading(&blocks, "Problem Data (10)");
    let sentences: Vec<usize> = (0..blocks.len())
        .filter(|&i| blocks[i].text() == HIGHLIGHT_MESSAGE)
        .collect();
    assert_eq!(sentences.len(), 1, "one sentence, word for word");
    let sentence = sentences[0];
    assert!(
        new < sentence && sentence < update,
        "{new} {sentence} {update}"
    );
    assert!(
        blocks[new + 1..sentence].iter().all(|b| b.tag() != "h2"),
        "only New Data stands between its heading and the sentence"
    );
    let new_bottom = blocks[new..sentence]
        .iter()
        .map(Block::bottom)
        .fold(f64::MIN, f64::max);
    assert!(blocks[sentence].top() >= new_bottom, "below New Data");
    assert!(
        blocks[sentence].bottom() <= blocks[update].top(),
        "above Update Data"
    );

    // The Update rows whose fields were highlighted, and only those, with exactly the
    // highlighted fields' cell on yellow.
    let tables = section_tables(&blocks, update);
    assert_eq!(tables.len(), 1);
    let rows = tables[0].rows();
    let header: Vec<&str> = rows[0].iter().map(|(text, _)| text.as_str()).collect();
    let column = header
        .iter()
        .position(|&h| h == "Not updated (SSO)")
        .expect("a column of the fields not updated");
    let highlighted: Vec<_> = report
        .update
        .iter()
        .filter(|e| !e.highlighted_fields.is_empty())
        .collect();
    assert_eq!(highlighted.len(), 2, "the example highlights two rows");
    assert_eq!(rows.len(), 1 + highlighted.len());
    for (entry, row) in highlighted.iter().zip(&rows[1..]) {
        assert_eq!(row[0].0, entry.row.to_string());
        assert_eq!(row[column].0, entry.highlighted_fields.join(", "));
        for (i, (text, background)) in row.iter().enumerate() {
            if i == column {
                assert_eq!(background, YELLOW, "the highlighted cell {text:?}");
            } else {
                assert_ne!(background, YELLOW, "the plain cell {text:?}");
            }
        }
    }
    // No other cell of the page is yellow.
    let yellow = blocks
        .iter()
        .flat_map(Block::rows)
        .flatten()
        .filter(|(_, background)| background == YELLOW)
        .count();
    assert_eq!(yellow, highlighted.len());

    // Problem Data: every problem row, with its reason, message and Risk Assess user.
    let tables = section_tables(&blocks, problem);
    assert_eq!(tables.len(), 1);
    let rows = tables[0].rows();
    assert_eq!(rows.len(), 1 + report.problem.len());
    for (entry, row) in report.problem.iter().zip(&rows[1..]) {
        let texts: Vec<&str> = row.iter().map(|(text, _)| text.as_str()).collect();
        let user = entry.conflicts_with.clone().unwrap_or_default();
        assert_eq!(
            texts,
            [
                entry.row.to_string().as_str(),
                &entry.coupa_user_id,
                entry.reason.as_str(),
                &entry.fields.join(", "),
                &entry.message,
                &user.username,
                &user.coupa_username,
                &user.email,
            ]
        );
    }
}

/// A script or an element in a cell, each of which sets `window.pwned` and the title if it
/// ever runs.
const SCRIPT: &str = "<script>window.pwned = 1; document.title = 'pwned'</script>";
const IMG: &str = "<img src=x onerror=\"window.pwned = 1; document.title = 'pwned'\">";
const SVG: &str = "<svg onload=\"window.pwned = 1\"></svg>";
const LINK: &str = "\"><a href=\"https://evil.test/\">click</a><b>&amp; 'quotes'</b>";

#[test]
fn markup_in_any_value_renders_as_text_and_nothing_runs() {
    let (mut report, _, csv) = example();
    report.tenant = format!("Acme {SCRIPT}");
    report.problem.push(ProblemEntry {
        row: 99,
        coupa_user_id: SCRIPT.into(),
        reason: ProblemReason::Mismatch,
        fields: vec!["email".into()],
        message: IMG.into(),
        conflicts_with: Some(UserKeys {
            username: SVG.into(),
            coupa_username: LINK.into(),
            email: IMG.into(),
        }),
    });
    report.counts.problem += 1;
    let update = report
        .update
        .iter_mut()
        .find(|e| !e.highlighted_fields.is_empty())
        .unwrap();
    update.username = IMG.into();
    update.highlighted_fields.push(SCRIPT.into());
    let file_name = format!("User Sync Error Report - Acme {SCRIPT} - 2026-11-25.csv");
    let mut mail = report_mail(&report, file_name, csv);
    mail.source = format!("UserImport acme/{LINK}");
    let html = html_part(&send_through_smtp(&mail), &mail);
    let (facts, requests) = render(&html, "report-mail-markup");
    assert_inert(&facts, &requests);
    assert_eq!(
        facts["title"],
        format!("User Sync Error Report - Acme {SCRIPT} - 2026-11-25"),
        "the title shows the tenant's name as text"
    );

    let blocks = blocks(&facts);
    let cells: Vec<(String, String)> = blocks.iter().flat_map(Block::rows).flatten().collect();
    let count = |text: &str| cells.iter().filter(|(t, _)| t == text).count();
    assert_eq!(count(&format!("Acme {SCRIPT}")), 1, "the tenant");
    assert_eq!(count(&format!("UserImport acme/{LINK}")), 1, "the source");
    assert_eq!(count(SCRIPT), 1, "the problem's Coupa User ID");
    assert_eq!(count(IMG), 3, "message, email, update username");
    assert_eq!(count(SVG), 1);
    assert_eq!(count(LINK), 1);
    let highlighted = cells
        .iter()
        .find(|(text, _)| text.ends_with(&format!(", {SCRIPT}")))
        .expect("the highlighted fields");
    assert_eq!(highlighted.1, YELLOW);
}

#[test]
fn without_chromium_the_browser_tests_fail_and_say_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = Browser::launch(&dir.path().join("chromium"), &dir.path().join("log"))
        .err()
        .expect("no browser, no launch");
    assert!(error.contains("apt-get install"), "{error}");
    assert!(error.contains(".ci/run"), "{error}");
}
