//! The mailer against a real SMTP server (mailin-embedded) on 127.0.0.1, and the outbox.
//!
//! Each test starts its own server on a fresh port; the server threads never stop (mailin has
//! no shutdown), which is harmless in a test process. Every test is bounded by [`bounded`].

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use mailin_embedded::response::{AUTH_OK, Action, INVALID_CREDENTIALS, NO_MAILBOX, OK};
use mailin_embedded::{AuthMechanism, Handler, Response, Server, SslConfig};
use user_import_engine::results::{HIGHLIGHT_MESSAGE, ImportResults};
use user_import_operator::mail::{
    MailError, MailSettings, Mailbox, ReportMail, RetryPolicy, build_message, message_id, send,
};
use user_import_test_support::TestPki;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mail");
const PASSWORD: &str = "s3cret-Pa55word";

// ---------------------------------------------------------------- the test server

/// One message as the server received it.
#[derive(Clone, Debug)]
struct Received {
    to: Vec<String>,
    data: Vec<u8>,
}

/// What the server does and what it saw, shared by all its connections.
#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    rcpt_calls: AtomicU32,
    /// RCPT answers 451 this many times before accepting.
    transient_failures: AtomicU32,
    /// RCPT always answers 550.
    reject: bool,
    /// Successful AUTH exchanges.
    logins: AtomicU32,
}

/// The longest line RFC 5322 allows, without its CRLF. Every test server refuses a message
/// with a longer line, as real relays do (Postfix, Exim: `500 Line too long`).
const MAX_LINE_OCTETS: usize = 998;

/// mailin clones the handler per connection: `to`/`data` and the line counts are per
/// connection.
#[derive(Clone)]
struct TestHandler {
    shared: Arc<Shared>,
    to: Vec<String>,
    data: Vec<u8>,
    /// Octets of the current DATA line so far, and of the longest one (CRLF not counted).
    line: usize,
    longest_line: usize,
}

impl Handler for TestHandler {
    fn rcpt(&mut self, _to: &str) -> Response {
        self.shared.rcpt_calls.fetch_add(1, Ordering::SeqCst);
        if self.shared.reject {
            return NO_MAILBOX;
        }
        let left = &self.shared.transient_failures;
        if left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Response::custom(451, "Try again later".into());
        }
        OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        self.line = 0;
        self.longest_line = 0;
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        // mailin passes one line per call today; count across calls so that does not matter.
        for &byte in buf {
            match byte {
                b'\n' => self.line = 0,
                b'\r' => {}
                _ => {
                    self.line += 1;
                    self.longest_line = self.longest_line.max(self.line);
                }
            }
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if self.longest_line > MAX_LINE_OCTETS {
            self.data.clear();
            // After an error reply to DATA, mailin stays in its DATA state and would take the
            // client's next command for message text; closing, as some relays do, avoids that.
            let mut refusal = Response::custom(500, "Line too long".into());
            refusal.action = Action::Close;
            return refusal;
        }
        let mail = Received {
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        };
        self.shared.received.lock().unwrap().push(mail);
        OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        self.check_login(user, password)
    }

    fn auth_login(&mut self, user: &str, password: &str) -> Response {
        self.check_login(user, password)
    }
}

impl TestHandler {
    fn check_login(&self, user: &str, password: &str) -> Response {
        if user == "reporter" && password == PASSWORD {
            self.shared.logins.fetch_add(1, Ordering::SeqCst);
            AUTH_OK
        } else {
            INVALID_CREDENTIALS
        }
    }
}

#[derive(Default)]
struct ServerOptions<'a> {
    tls: Option<&'a TestPki>,
    auth: Vec<AuthMechanism>,
}

/// Starts a server on `listener` in a thread of its own.
fn serve(listener: TcpListener, shared: Arc<Shared>, options: ServerOptions) {
    let handler = TestHandler {
        shared,
        to: vec![],
        data: vec![],
        line: 0,
        longest_line: 0,
    };
    let mut server = Server::new(handler);
    server.with_name("localhost").with_tcp_listener(listener);
    if let Some(pki) = options.tls {
        // mailin builds its rustls config with the process-wide provider; two are compiled in.
        let _ = rustls::crypto::ring::default_provider().install_default();
        server
            .with_ssl(SslConfig::Trusted {
                cert_path: pki.path("server.pem"),
                key_path: pki.path("server.key"),
                chain_path: pki.path("ca.pem"),
            })
            .unwrap();
    }
    for mechanism in options.auth {
        server.with_auth(mechanism);
    }
    std::thread::spawn(move || {
        // serve() only returns on a listener error; the error type is not Send.
        let _ = server.serve();
    });
}

/// A running server and its port.
fn start(shared: Shared, options: ServerOptions) -> (u16, Arc<Shared>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = Arc::new(shared);
    serve(listener, shared.clone(), options);
    (port, shared)
}

/// smtps: mailin has no implicit TLS, so a TLS-terminating proxy on its own port forwards
/// to the plain server on `backend`. Returns the proxy's port.
async fn start_tls_proxy(pki: &TestPki, backend: u16) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // a client that does not trust the CA hangs up here
                };
                let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", backend))
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------- inputs and helpers

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(40), f)
        .await
        .expect("test took longer than 40 s")
}

fn report() -> ImportResults {
    let json = std::fs::read_to_string(Path::new(FIXTURES).join("report.json")).unwrap();
    serde_json::from_str(&json).unwrap()
}

fn csv() -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join("error-report.csv")).unwrap()
}

fn report_mail(report: &ImportResults) -> ReportMail<'_> {
    ReportMail {
        to: "admin@acme.test".into(),
        to_name: Some("Ada Admin".into()),
        source: "team-a/acme-users".into(),
        identity: "0b6c4f0e-uid/3".into(),
        report,
        file_name: report.error_report.as_ref().unwrap().file_name.clone(),
        csv: csv(),
    }
}

fn from() -> Mailbox {
    "User Import <user-import-operator@localhost>"
        .parse()
        .unwrap()
}

fn message(report: &ImportResults) -> lettre::Message {
    build_message(&report_mail(report), &from()).unwrap()
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_elapsed: Duration::from_secs(20),
    }
}

fn settings(url: &str) -> MailSettings {
    let mut settings = MailSettings::from_url(url, from())
        .unwrap()
        .with_retry(fast_retry(5));
    let smtp = settings.smtp_mut().unwrap();
    smtp.connect_timeout = Duration::from_secs(5);
    smtp.send_timeout = Duration::from_secs(15);
    settings
}

fn received(shared: &Shared) -> Vec<Received> {
    shared.received.lock().unwrap().clone()
}

/// Parses a received message and checks what every report mail must carry.
fn assert_report_message(raw: &[u8], report: &ImportResults) {
    let msg = MessageParser::default()
        .parse(raw)
        .expect("a parseable message");
    let to = msg.to().and_then(|a| a.first()).expect("a To header");
    assert_eq!(to.address(), Some("admin@acme.test"));
    assert_eq!(to.name(), Some("Ada Admin"));
    assert_eq!(
        msg.subject(),
        Some("User Sync Error Report - Acme Corp - 2026-11-24")
    );
    let expected_id = message_id("0b6c4f0e-uid/3", &report.template.digest);
    assert_eq!(
        msg.message_id().map(|id| format!("<{id}>")),
        Some(expected_id)
    );

    let body = msg.body_text(0).expect("a text body");
    for needle in [
        "tenant \"Acme Corp\"",
        "team-a/acme-users",
        "New:       1",
        "Update:    2",
        "Unchanged: 1",
        "Problem:   2",
        "  InvalidEmail: 1 row",
        "  Mismatch: 1 row",
        HIGHLIGHT_MESSAGE,
    ] {
        assert!(body.contains(needle), "body lacks {needle:?}:\n{body}");
    }

    let attachments: Vec<_> = msg.attachments().collect();
    assert_eq!(attachments.len(), 1);
    let csv_part = attachments[0];
    assert_eq!(
        csv_part.attachment_name(),
        Some("User Sync Error Report - Acme Corp - 2026-11-24.csv")
    );
    let ctype = csv_part.content_type().expect("a content type");
    assert_eq!((ctype.ctype(), ctype.subtype()), ("text", Some("csv")));
    assert_eq!(
        csv_part.contents(),
        csv().as_slice(),
        "attachment bytes differ"
    );
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn report_arrives_with_recipient_subject_body_and_exact_csv() {
    bounded(async {
        let (port, shared) = start(Shared::default(), ServerOptions::default());
        let report = report();
        let delivery = send(
            &settings(&format!("smtp://127.0.0.1:{port}")),
            message(&report),
        )
        .await
        .unwrap();
        assert_eq!(delivery.attempts, 1);
        assert!(delivery.detail.starts_with("250"), "{delivery:?}");

        let mails = received(&shared);
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, vec!["admin@acme.test".to_owned()]);
        assert_report_message(&mails[0].data, &report);
    })
    .await
}

#[tokio::test]
async fn message_id_is_stable_for_identity_and_digest() {
    bounded(async {
        let (port, shared) = start(Shared::default(), ServerOptions::default());
        let settings = settings(&format!("smtp://127.0.0.1:{port}"));
        let first = report();
        let mut other = report();
        other.template.digest = "sha256:0000".into();
        for r in [&first, &first, &other] {
            send(&settings, message(r)).await.unwrap();
        }
        let ids: Vec<String> = received(&shared)
            .iter()
            .map(|m| {
                let msg = MessageParser::default().parse(&m.data).unwrap();
                msg.message_id().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], ids[1], "a resend keeps its Message-ID");
        assert_ne!(ids[0], ids[2], "another template, another Message-ID");
    })
    .await
}

#[tokio::test]
async fn starttls_required_trusts_the_given_ca() {
    bounded(async {
        let pki = TestPki::new();
        let options = ServerOptions {
            tls: Some(&pki),
            auth: vec![],
        };
        let (port, shared) = start(Shared::default(), options);
        let mut settings = settings(&format!("smtp://127.0.0.1:{port}?tls=required"));
        settings.smtp_mut().unwrap().ca_file = Some(pki.ca_file());
        let report = report();
        let delivery = send(&settings, message(&report)).await.unwrap();
        assert_eq!(delivery.attempts, 1);
        assert_report_message(&received(&shared)[0].data, &report);
    })
    .await
}

#[tokio::test]
async fn starttls_without_the_ca_fails_at_once() {
    bounded(async {
        let pki = TestPki::new();
        let options = ServerOptions {
            tls: Some(&pki),
            auth: vec![],
        };
        let (port, shared) = start(Shared::default(), options);
        let settings = settings(&format!("smtp://127.0.0.1:{port}?tls=required"));
        let err = send(&settings, message(&report())).await.unwrap_err();
        assert!(
            matches!(err, MailError::Failed { attempts: 1, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "delivery to SMTP server at 127.0.0.1:{port} failed: \
                 Connection error: invalid peer certificate: UnknownIssuer"
            )
        );
        assert!(received(&shared).is_empty());
    })
    .await
}

#[tokio::test]
async fn tls_required_refuses_a_server_without_starttls() {
    bounded(async {
        let (port, shared) = start(Shared::default(), ServerOptions::default());
        let settings = settings(&format!("smtp://127.0.0.1:{port}?tls=required"));
        let err = send(&settings, message(&report())).await.unwrap_err();
        assert!(
            matches!(err, MailError::Failed { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("STARTTLS is not supported"),
            "{err}"
        );
        assert!(received(&shared).is_empty());
    })
    .await
}

/// Starts a STARTTLS server that accepts `reporter`/[`PASSWORD`] with `mechanism`, and
/// returns settings for it with `user:password` in the URL.
fn auth_setup(
    pki: &TestPki,
    mechanism: AuthMechanism,
    password: &str,
) -> (MailSettings, Arc<Shared>) {
    let options = ServerOptions {
        tls: Some(pki),
        auth: vec![mechanism],
    };
    let (port, shared) = start(Shared::default(), options);
    let mut settings = settings(&format!(
        "smtp://reporter:{password}@127.0.0.1:{port}?tls=required"
    ));
    settings.smtp_mut().unwrap().ca_file = Some(pki.ca_file());
    (settings, shared)
}

#[tokio::test]
async fn auth_plain_with_the_password_in_the_url() {
    bounded(async {
        let pki = TestPki::new();
        let (settings, shared) = auth_setup(&pki, AuthMechanism::Plain, PASSWORD);
        send(&settings, message(&report())).await.unwrap();
        assert_eq!(shared.logins.load(Ordering::SeqCst), 1);
        assert_eq!(received(&shared).len(), 1);
    })
    .await
}

#[tokio::test]
async fn auth_login_with_a_password_file() {
    bounded(async {
        let pki = TestPki::new();
        let (mut settings, shared) = auth_setup(&pki, AuthMechanism::Login, "unused");
        let file = pki.dir().join("password");
        std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
        let smtp = settings.smtp_mut().unwrap();
        smtp.password = None;
        smtp.password_file = Some(file);
        send(&settings, message(&report())).await.unwrap();
        assert_eq!(shared.logins.load(Ordering::SeqCst), 1);
        assert_eq!(received(&shared).len(), 1);
    })
    .await
}

#[tokio::test]
async fn wrong_password_is_a_clear_error_that_never_shows_the_password() {
    bounded(async {
        let pki = TestPki::new();
        let wrong = "Wr0ng-Pa55word";
        let (settings, shared) = auth_setup(&pki, AuthMechanism::Plain, wrong);
        let err = send(&settings, message(&report())).await.unwrap_err();
        assert!(
            matches!(err, MailError::Rejected { attempts: 1, .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("refused the message: 535"), "{text}");
        for shown in [
            text,
            format!("{err:?}"),
            format!("{settings:?}"),
            settings.to_string(),
        ] {
            assert!(!shown.contains(wrong), "password leaked: {shown}");
        }
        assert!(received(&shared).is_empty());
    })
    .await
}

#[tokio::test]
async fn a_server_that_comes_up_late_gets_exactly_one_message() {
    bounded(async {
        let port = free_port();
        let shared = Arc::new(Shared::default());
        let late = shared.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
            serve(listener, late, ServerOptions::default());
        });
        let mut settings = settings(&format!("smtp://127.0.0.1:{port}"));
        settings.retry = fast_retry(12);
        let delivery = send(&settings, message(&report())).await.unwrap();
        assert!(delivery.attempts > 1, "{delivery:?}");
        assert_eq!(received(&shared).len(), 1);
    })
    .await
}

#[tokio::test]
async fn a_server_that_stays_down_exhausts_the_attempts() {
    bounded(async {
        let port = free_port();
        let mut settings = settings(&format!("smtp://127.0.0.1:{port}"));
        settings.retry = fast_retry(3);
        let err = send(&settings, message(&report())).await.unwrap_err();
        assert!(
            matches!(err, MailError::Unavailable { attempts: 3, .. }),
            "{err:?}"
        );
        assert_eq!(err.attempts(), 3);
        let text = err.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{port} unavailable after 3 attempts")),
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
        assert!(err.is_transient());
    })
    .await
}

#[tokio::test]
async fn a_4xx_reply_is_retried() {
    bounded(async {
        let shared = Shared {
            transient_failures: AtomicU32::new(2),
            ..Shared::default()
        };
        let (port, shared) = start(shared, ServerOptions::default());
        let delivery = send(
            &settings(&format!("smtp://127.0.0.1:{port}")),
            message(&report()),
        )
        .await
        .unwrap();
        assert_eq!(delivery.attempts, 3);
        assert_eq!(shared.rcpt_calls.load(Ordering::SeqCst), 3);
        assert_eq!(received(&shared).len(), 1);
    })
    .await
}

#[tokio::test]
async fn a_5xx_reply_is_not_retried() {
    bounded(async {
        let shared = Shared {
            reject: true,
            ..Shared::default()
        };
        let (port, shared) = start(shared, ServerOptions::default());
        let err = send(
            &settings(&format!("smtp://127.0.0.1:{port}")),
            message(&report()),
        )
        .await
        .unwrap_err();
        assert_eq!(shared.rcpt_calls.load(Ordering::SeqCst), 1);
        assert!(
            matches!(err, MailError::Rejected { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            format!("SMTP server at 127.0.0.1:{port} refused the message: 550 Mailbox unavailable")
        );
    })
    .await
}

#[tokio::test]
async fn outbox_writes_an_eml_file_with_the_exact_csv() {
    bounded(async {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox");
        let report = report();
        let settings = MailSettings::outbox(&dir, from());
        let delivery = send(&settings, message(&report)).await.unwrap();
        assert_eq!(delivery.attempts, 1);
        assert!(delivery.detail.ends_with(".eml"), "{delivery:?}");
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        let raw = std::fs::read(&delivery.detail).unwrap();
        assert_report_message(&raw, &report);
    })
    .await
}

#[tokio::test]
async fn non_ascii_file_names_and_subjects_survive() {
    bounded(async {
        let tmp = tempfile::tempdir().unwrap();
        let mut report = report();
        report.tenant = "Müller & Söhne".into();
        let mut mail = report_mail(&report);
        mail.file_name = "User Sync Error Report - Müller & Söhne - 2026-11-24.csv".into();
        let message = build_message(&mail, &from()).unwrap();
        let delivery = send(&MailSettings::outbox(tmp.path(), from()), message)
            .await
            .unwrap();
        let raw = std::fs::read(&delivery.detail).unwrap();
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            msg.subject(),
            Some("User Sync Error Report - Müller & Söhne - 2026-11-24")
        );
        let part = msg.attachments().next().unwrap();
        assert_eq!(part.attachment_name(), Some(mail.file_name.as_str()));
        assert_eq!(part.contents(), csv().as_slice());
    })
    .await
}

#[tokio::test]
async fn smtps_uses_implicit_tls_and_checks_the_certificate() {
    bounded(async {
        let pki = TestPki::new();
        let (backend, shared) = start(Shared::default(), ServerOptions::default());
        let port = start_tls_proxy(&pki, backend).await;
        let mut settings = settings(&format!("smtps://127.0.0.1:{port}"));

        let err = send(&settings, message(&report())).await.unwrap_err();
        assert!(
            matches!(err, MailError::Failed { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        assert!(received(&shared).is_empty());

        settings.smtp_mut().unwrap().ca_file = Some(pki.ca_file());
        let report = report();
        send(&settings, message(&report)).await.unwrap();
        assert_report_message(&received(&shared)[0].data, &report);
    })
    .await
}

#[tokio::test]
async fn opportunistic_tls_upgrades_when_offered_and_stays_plain_otherwise() {
    bounded(async {
        let (port, plain) = start(Shared::default(), ServerOptions::default());
        let settings_plain = settings(&format!("smtp://127.0.0.1:{port}?tls=opportunistic"));
        send(&settings_plain, message(&report())).await.unwrap();
        assert_eq!(received(&plain).len(), 1);

        // mailin offers AUTH only after STARTTLS: a login proves the upgrade happened.
        let pki = TestPki::new();
        let (port, secured) = start(
            Shared::default(),
            ServerOptions {
                tls: Some(&pki),
                auth: vec![AuthMechanism::Plain],
            },
        );
        let mut settings = settings(&format!(
            "smtp://reporter:{PASSWORD}@127.0.0.1:{port}?tls=opportunistic"
        ));
        settings.smtp_mut().unwrap().ca_file = Some(pki.ca_file());
        send(&settings, message(&report())).await.unwrap();
        assert_eq!(secured.logins.load(Ordering::SeqCst), 1);
        assert_eq!(received(&secured).len(), 1);
    })
    .await
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_retried() {
    bounded(async {
        // Connections complete in the kernel's backlog, but no greeting ever comes.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let mut settings = settings(&format!("smtp://127.0.0.1:{port}"));
        settings.retry = fast_retry(2);
        settings.smtp_mut().unwrap().send_timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let err = send(&settings, message(&report())).await.unwrap_err();
        assert!(
            matches!(err, MailError::Unavailable { attempts: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().ends_with("no answer within 300ms"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        drop(silent);
    })
    .await
}

#[tokio::test]
async fn the_test_relay_refuses_a_line_over_998_octets() {
    use lettre::message::header::{HeaderName, HeaderValue};
    bounded(async {
        let (port, shared) = start(Shared::default(), ServerOptions::default());
        let settings = settings(&format!("smtp://127.0.0.1:{port}"));
        let with_line = |octets: usize| {
            let name = HeaderName::new_from_ascii("X-Long".into()).unwrap();
            let value = "x".repeat(octets - "X-Long: ".len());
            lettre::Message::builder()
                .from(from())
                .to("admin@acme.test".parse().unwrap())
                .raw_header(HeaderValue::dangerous_new_pre_encoded(
                    name,
                    value.clone(),
                    value,
                ))
                .body(String::from("hello"))
                .unwrap()
        };
        send(&settings, with_line(MAX_LINE_OCTETS)).await.unwrap();
        let err = send(&settings, with_line(MAX_LINE_OCTETS + 1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, MailError::Rejected { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().ends_with("500 Line too long"), "{err}");
        assert_eq!(received(&shared).len(), 1);
    })
    .await
}

/// Sends one report with these header values through the line-limiting relay and returns
/// the message as received, parsed.
async fn deliver_with(to_name: &str, file_name: &str) -> Vec<u8> {
    let (port, shared) = start(Shared::default(), ServerOptions::default());
    let report = report();
    let mut mail = report_mail(&report);
    mail.to_name = Some(to_name.to_owned());
    mail.file_name = file_name.to_owned();
    let message = build_message(&mail, &from()).unwrap();
    let delivery = send(&settings(&format!("smtp://127.0.0.1:{port}")), message)
        .await
        .unwrap_or_else(|e| panic!("{} chars of name: {e}", to_name.chars().count()));
    assert_eq!(delivery.attempts, 1);
    let mails = received(&shared);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["admin@acme.test".to_owned()]);
    mails[0].data.clone()
}

/// Every line of `raw` (headers of the message and of its parts, and the encoded bodies) is
/// at most 78 characters, the length RFC 5322 recommends.
fn assert_short_lines(raw: &[u8]) {
    for line in std::str::from_utf8(raw).unwrap().split("\r\n") {
        assert!(line.len() <= 78, "a line of {}: {line}", line.len());
    }
}

#[tokio::test]
async fn long_header_values_are_folded_and_delivered_through_a_relay_that_limits_lines() {
    bounded(async {
        let names = [
            "B".repeat(2000),
            "Ada Lovelace ".repeat(154).trim_end().to_owned(),
            "Ådå".repeat(700),
            "\"Ada\" \\ (Admin)".repeat(130),
        ];
        let displays = [
            "A".repeat(1000),
            "Müller".repeat(170),
            "Acme Corp ".repeat(100).trim_end().to_owned(),
            "=?utf-8?b?".repeat(100),
        ];
        for (name, display) in names.iter().zip(&displays) {
            let subject = format!("User Sync Error Report - {display} - 2026-11-24");
            let file_name = format!("{subject}.csv");
            let raw = deliver_with(name, &file_name).await;
            assert_short_lines(&raw);
            let msg = MessageParser::default().parse(&raw).unwrap();
            assert_eq!(msg.subject(), Some(subject.as_str()));
            let to = msg.to().and_then(|a| a.first()).expect("a To header");
            assert_eq!(to.address(), Some("admin@acme.test"));
            assert_eq!(to.name(), Some(name.as_str()));
            let part = msg.attachments().next().expect("the CSV part");
            assert_eq!(part.attachment_name(), Some(file_name.as_str()));
            assert_eq!(part.contents(), csv().as_slice());
        }
    })
    .await
}

#[tokio::test]
async fn a_255_byte_file_name_of_multi_byte_characters_is_delivered_intact() {
    bounded(async {
        // 25 + 213 + 17 bytes: "Söhne😀" is 10 bytes, with 1-, 2- and 4-byte characters.
        let display = format!("{}ABC", "Söhne😀".repeat(21));
        let file_name = format!("User Sync Error Report - {display} - 2026-11-24.csv");
        assert_eq!(file_name.len(), 255);
        let raw = deliver_with("Zoë Ådmin", &file_name).await;
        assert_short_lines(&raw);
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(msg.subject(), file_name.strip_suffix(".csv"));
        let expected_id = message_id("0b6c4f0e-uid/3", &report().template.digest);
        assert_eq!(
            msg.message_id().map(|id| format!("<{id}>")),
            Some(expected_id)
        );
        let to = msg.to().and_then(|a| a.first()).expect("a To header");
        assert_eq!(to.name(), Some("Zoë Ådmin"));
        let part = msg.attachments().next().expect("the CSV part");
        assert_eq!(part.attachment_name(), Some(file_name.as_str()));
        assert_eq!(part.contents(), csv().as_slice());
    })
    .await
}
