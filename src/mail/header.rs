//! Header values taken from a Tenant: cleaned, then encoded and folded here rather than by
//! lettre.
//!
//! Why not lettre's own `Message::to`/`subject`: lettre 0.11 panics when a mailbox name holds
//! a CR or LF (its `Display` fails inside `to_string`), and it folds only at spaces, so a long
//! word (a 1,000-character display name, a 2,000-character administrator name) becomes one
//! header line longer than the 998 octets RFC 5322 allows, which relays refuse. Its encoded
//! lines can also run a few characters past 78. The values below are therefore built as
//! finished header text and handed to lettre pre-encoded.
//!
//! The choice for line breaks and other control characters is to **replace** them, not to
//! refuse the value: a name or display name is text for people, and a report that arrives
//! with `Ada Bcc: x@example.test` as the recipient's name is better than no report. The
//! replacements are reported by [`header_fixes`] so that they can be shown in a status.
//! Addresses are never repaired: one with such a character is refused.

use std::borrow::Cow;
use std::fmt;

use lettre::message::Mailbox;
use lettre::message::header::{Header, HeaderName, HeaderValue};

use super::{MailError, ReportMail};

/// Longest header line written, without its CRLF: the length RFC 5322 recommends (its hard
/// limit is 998). Only an address, which cannot be folded, may be longer.
const MAX_LINE: usize = 78;

/// Bytes of text per RFC 2047 encoded-word: 39 bytes are 52 base64 characters, 64 with
/// `=?utf-8?b?` and `?=` (RFC 2047 allows 75), so one fits after `Subject: ` or a folding space.
const ENCODED_WORD_BYTES: usize = 39;

/// A change [`build_message`](super::build_message) makes to a header value, because the value
/// held characters that cannot stand in a header. Returned by [`header_fixes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderFix {
    /// Which value: `recipient name`, `sender name` or `file name` (the file name is also the
    /// Subject).
    pub(crate) field: &'static str,
    /// What was replaced, e.g. `line breaks replaced by spaces`.
    pub(crate) change: &'static str,
}

impl fmt::Display for HeaderFix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.change)
    }
}

/// The changes [`build_message`](super::build_message) makes to the header values of `mail`
/// and to the name of `from`, in the order recipient name, sender name, file name; empty when
/// every value is used as given. A caller may show them (e.g. in a status) so that the bad
/// value gets fixed at its source; `build_message` logs them as warnings as well.
pub(crate) fn header_fixes(mail: &ReportMail, from: &Mailbox) -> Vec<HeaderFix> {
    let mut fixes = Vec::new();
    let text_fix = |field, value: &str| {
        found(value).map(|line_break| HeaderFix {
            field,
            change: if line_break {
                "line breaks replaced by spaces"
            } else {
                "control characters replaced by spaces"
            },
        })
    };
    fixes.extend(
        mail.to_name
            .as_deref()
            .and_then(|name| text_fix("recipient name", name)),
    );
    fixes.extend(
        from.name
            .as_deref()
            .and_then(|name| text_fix("sender name", name)),
    );
    fixes.extend(found(&mail.file_name).map(|line_break| HeaderFix {
        field: "file name",
        change: if line_break {
            "line breaks replaced by _"
        } else {
            "control characters replaced by _"
        },
    }));
    fixes
}

/// Characters that must not reach a header or a file name: every control character (C0, DEL,
/// C1: CR, LF, tab, NUL, NEL, ...) and the Unicode line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// `None` when `value` is safe as it is, else whether a line break is among what is unsafe.
fn found(value: &str) -> Option<bool> {
    let mut unsafe_chars = value.chars().filter(|&c| is_unsafe(c)).peekable();
    unsafe_chars.peek()?;
    Some(unsafe_chars.any(is_line_break))
}

/// A name for a mailbox: every run of unsafe characters becomes one space (so `Ada\r\nBcc`
/// reads `Ada Bcc`), the ends are trimmed, and a name left empty is no name.
pub(crate) fn clean_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        let bad = is_unsafe(c);
        if bad && !in_run {
            out.push(' ');
        } else if !bad {
            out.push(c);
        }
        in_run = bad;
    }
    let trimmed = out.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A file name: each unsafe character becomes `_`, as for the other characters that cannot
/// stand in a file name.
pub(crate) fn clean_file_name(name: &str) -> Cow<'_, str> {
    if name.chars().any(is_unsafe) {
        Cow::Owned(
            name.chars()
                .map(|c| if is_unsafe(c) { '_' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(name)
    }
}

/// Refuses an address with an unsafe character, which lettre's check lets through (its
/// local-part and domain rules accept any non-ASCII character, NEL and U+2028 included), and
/// one holding `=?`, which readers decode as an RFC 2047 encoded-word even in an address
/// (mail-parser reads `<=?utf-8?b?QmNj?=@acme.test>` as `@acme.test`).
pub(crate) fn check_address(role: &'static str, address: &str) -> Result<(), MailError> {
    let reason = match found(address) {
        Some(true) => "it contains a line break",
        Some(false) => "it contains a control character",
        None if address.contains("=?") => "it contains \"=?\", which mail readers decode",
        None => return Ok(()),
    };
    Err(MailError::InvalidAddress {
        role,
        address: address.to_owned(),
        reason: reason.into(),
    })
}

/// An unstructured header (`Subject`) holding `text`. Words of printable ASCII that fit a
/// line are written as they are, folded at spaces; other runs of words (non-ASCII, longer
/// than a line, or looking like an encoded-word) become RFC 2047 encoded-words, so every line
/// stays within 78 characters and the value decodes to `text` exactly. Any `text` is safe: an
/// unsafe character is not printable ASCII, so it is only ever written base64-encoded (the
/// caller cleans `text` all the same, for the reader's sake).
pub(crate) fn unstructured(name: &'static str, text: &str) -> HeaderValue {
    let mut out = Folded::new(name);
    // Parsers drop spaces at either end of a header unless they are inside an encoded-word.
    if text.starts_with(' ') || text.ends_with(' ') {
        out.encoded("", text);
    } else {
        write_words(&mut out, text);
    }
    out.finish(name, text.to_owned())
}

/// A mailbox header (`From`, `To`): `name <address>` or the bare address. A short name of
/// printable ASCII is written as an atom or a quoted string, as lettre does; any other name
/// (so any with an unsafe character, though the caller cleans names with [`clean_name`]) as
/// RFC 2047 encoded-words on as many lines as it needs.
pub(crate) fn mailbox(name: &'static str, mailbox: &Mailbox) -> HeaderValue {
    let mut out = Folded::new(name);
    let address = mailbox.email.to_string();
    match mailbox.name.as_deref().filter(|n| !n.is_empty()) {
        None => out.word("", &address),
        Some(display) => {
            let quoted = quoted(display);
            if display
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                && out.fits("", display)
            {
                out.word("", display);
            } else if let Some(quoted) = quoted.filter(|q| out.fits("", q)) {
                out.word("", &quoted);
            } else {
                out.encoded("", display);
            }
            out.word(" ", &format!("<{address}>"));
        }
    }
    // lettre parses this text back for `headers().get::<From>()`, and its `build` fails
    // without a From it can read: the value unfolded, or the bare address should its parser
    // not read that.
    let mut raw = out.text.replace("\r\n", "");
    if raw.parse::<Mailbox>().is_err() {
        raw = address;
    }
    out.finish(name, raw)
}

/// `Content-Disposition: attachment` naming `file_name` (cleaned by the caller with
/// [`clean_file_name`]; an unsafe character would be percent-encoded). lettre's own writes a quoted name with `\` escapes that can run past
/// 78 characters, and leaves encoded-word look-alikes (`=?…?=`) in a quoted value, which
/// common readers then decode to another name. Here a name of printable ASCII without `"`,
/// `\` or `=?` is quoted (split into RFC 2231 sections `filename*0="…"` when long); any other
/// is written as RFC 2231 `filename*0*=utf-8''…` sections, percent-encoded, whole characters
/// per line.
#[derive(Clone, Debug)]
pub(crate) struct AttachmentDisposition(HeaderValue);

impl AttachmentDisposition {
    pub(crate) fn new(file_name: &str) -> Self {
        const NAME: &str = "Content-Disposition";
        let mut out = Folded::new(NAME);
        out.word("", "attachment;");
        let quotable = file_name.bytes().all(|b| (b' '..=b'~').contains(&b))
            && !file_name.contains(['"', '\\'])
            && !file_name.contains("=?");
        let single = format!("filename=\"{file_name}\"");
        if quotable && out.fits(" ", &single) {
            out.word(" ", &single);
        } else {
            let mut rest = file_name;
            let mut section = 0;
            while !rest.is_empty() || section == 0 {
                let head = match (quotable, section) {
                    (true, _) => format!("filename*{section}=\""),
                    (false, 0) => "filename*0*=utf-8''".to_owned(),
                    (false, _) => format!("filename*{section}*="),
                };
                // Room on a line of its own: a space, the head, the value, `";` at most.
                let room = MAX_LINE - 1 - head.len() - 2;
                let mut value = head;
                let mut used = 0;
                for c in rest.chars() {
                    let before = value.len();
                    if quotable {
                        value.push(c);
                    } else {
                        percent_encode(c, &mut value);
                    }
                    // At least one character per section, so the loop always ends.
                    if used > 0 && value.len() - before + used > room {
                        value.truncate(before);
                        break;
                    }
                    used += value.len() - before;
                    rest = &rest[c.len_utf8()..];
                }
                if quotable {
                    value.push('"');
                }
                if !rest.is_empty() {
                    value.push(';');
                }
                out.word(" ", &value);
                section += 1;
            }
        }
        let raw = format!("attachment; filename=\"{file_name}\"");
        AttachmentDisposition(out.finish(NAME, raw))
    }
}

impl Header for AttachmentDisposition {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Disposition")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        // Only lettre's header lookups parse, and none looks this header up.
        Err("an attachment disposition is only ever written".into())
    }

    fn display(&self) -> HeaderValue {
        self.0.clone()
    }
}

/// RFC 2231 `ext-value` text: letters, digits and `-._~` as they are, every other byte `%XX`.
fn percent_encode(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
        out.push(c);
    } else {
        let mut buf = [0; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// `"…"` with `\` and `"` escaped, for printable ASCII without encoded-word look-alikes
/// (some readers decode those even inside quotes).
fn quoted(display: &str) -> Option<String> {
    if !display.bytes().all(|b| (b' '..=b'~').contains(&b)) || display.contains("=?") {
        return None;
    }
    let mut out = String::with_capacity(display.len() + 2);
    out.push('"');
    for c in display.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// Writes `text` (no spaces at either end) word by word: plain where a word can stand as it
/// is, encoded-words for each run of words that cannot.
fn write_words(out: &mut Folded, text: &str) {
    // (start of the spaces before the word, start of the word, end of the word)
    let mut words: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let space = i;
        while text[i..].starts_with(' ') {
            i += 1;
        }
        let start = i;
        i = text[i..].find(' ').map_or(text.len(), |n| i + n);
        words.push((space, start, i));
    }
    let plain: Vec<bool> = words
        .iter()
        .map(|&(space, start, end)| {
            let word = &text[start..end];
            // Readers (mail-parser among them) read a fold, and the white space next to an
            // encoded-word, as one space whatever its length: longer runs go inside
            // encoded-words.
            start - space <= 1
                && word.bytes().all(|b| b.is_ascii_graphic())
                && !word.contains("=?")
                && out.fits_alone(&text[space..start], word)
        })
        .collect();
    let mut k = 0;
    while k < words.len() {
        let (space, start, end) = words[k];
        if plain[k] {
            out.word(&text[space..start], &text[start..end]);
            k += 1;
            continue;
        }
        let mut last = k;
        while last + 1 < words.len() && !plain[last + 1] {
            last += 1;
        }
        // One space stays outside as the separator (and folding point) from the word before;
        // the other spaces of the run are encoded, since a decoder drops the white space
        // between two encoded-words. A plain word after the run has exactly one space.
        let (separator, from) = if k == 0 {
            ("", start)
        } else {
            (" ", space + 1)
        };
        out.encoded(separator, &text[from..words[last].2]);
        k = last + 1;
    }
}

/// Header text being written, with the length of its current line.
struct Folded {
    text: String,
    /// Characters on the current line, counting `Name: ` on the first.
    line: usize,
}

impl Folded {
    fn new(name: &str) -> Self {
        Folded {
            text: String::new(),
            line: name.len() + ": ".len(),
        }
    }

    /// Whether `space` + `word` fit on the current line.
    fn fits(&self, space: &str, word: &str) -> bool {
        self.line + space.len() + word.len() <= MAX_LINE
    }

    /// Whether `space` + `word` fit where they would be written: on this line when nothing
    /// was written yet (there is no space to fold at), else at worst on a line of their own.
    fn fits_alone(&self, space: &str, word: &str) -> bool {
        if space.is_empty() {
            self.fits(space, word)
        } else {
            space.len() + word.len() <= MAX_LINE
        }
    }

    /// Writes `space` + `word`, first folding (CRLF before `space`) when they would make the
    /// line too long and there is a space to fold at.
    fn word(&mut self, space: &str, word: &str) {
        if !space.is_empty() && !self.text.is_empty() && !self.fits(space, word) {
            self.text.push_str("\r\n");
            self.line = 0;
        }
        self.text.push_str(space);
        self.text.push_str(word);
        self.line += space.len() + word.len();
    }

    /// Writes `text` as encoded-words, the first after `space`, the others after one space
    /// each (which a decoder drops, so they join to `text`).
    fn encoded(&mut self, space: &str, text: &str) {
        let mut separator = space;
        let mut rest = text;
        while !rest.is_empty() {
            let mut end = rest.len().min(ENCODED_WORD_BYTES);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            self.word(separator, &encoded_word(&rest[..end]));
            separator = " ";
            rest = &rest[end..];
        }
    }

    fn finish(self, name: &'static str, raw: String) -> HeaderValue {
        HeaderValue::dangerous_new_pre_encoded(HeaderName::new_from_ascii_str(name), raw, self.text)
    }
}

/// `=?utf-8?b?…?=`: RFC 2047 with base64, which needs no rules about which characters may
/// appear where (Q-encoding has different ones in a phrase and in unstructured text).
fn encoded_word(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("=?utf-8?b?");
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out.push_str("?=");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &HeaderValue) -> String {
        // HeaderValue does not expose its encoded text; a one-header message shows it.
        let mut headers = lettre::message::header::Headers::new();
        headers.insert_raw(value.clone());
        headers.to_string()
    }

    #[test]
    fn base64_matches_the_rfc_4648_examples() {
        for (text, b64) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encoded_word(text), format!("=?utf-8?b?{b64}?="));
        }
    }

    #[test]
    fn names_lose_line_breaks_and_control_characters() {
        assert_eq!(
            clean_name("Ada\r\nBcc: x@example.test").as_deref(),
            Some("Ada Bcc: x@example.test")
        );
        assert_eq!(clean_name("A\u{2028}\u{85}\tB").as_deref(), Some("A B"));
        assert_eq!(clean_name(" \r\n ").as_deref(), None);
        assert_eq!(clean_name("Ada  Admin").as_deref(), Some("Ada  Admin"));
        assert_eq!(clean_file_name("a\r\nb.csv"), "a__b.csv");
        assert!(matches!(clean_file_name("a b.csv"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_look_as_before() {
        let subject = unstructured("Subject", "User Sync Error Report - Acme Corp - 2026-11-24");
        assert_eq!(
            encoded(&subject),
            "Subject: User Sync Error Report - Acme Corp - 2026-11-24\r\n"
        );
        let to = mailbox("To", &"Ada Admin <admin@acme.test>".parse().unwrap());
        assert_eq!(encoded(&to), "To: \"Ada Admin\" <admin@acme.test>\r\n");
        let to = mailbox("To", &"Ada <admin@acme.test>".parse().unwrap());
        assert_eq!(encoded(&to), "To: Ada <admin@acme.test>\r\n");
        let to = mailbox("To", &"admin@acme.test".parse().unwrap());
        assert_eq!(encoded(&to), "To: admin@acme.test\r\n");
    }

    #[test]
    fn a_long_word_becomes_encoded_words_on_short_lines() {
        let text = format!("Report - {} - 2026-11-24", "A".repeat(1000));
        let value = encoded(&unstructured("Subject", &text));
        assert!(
            value.starts_with("Subject: Report -\r\n =?utf-8?b?"),
            "{value}"
        );
        assert!(value.ends_with("?= - 2026-11-24\r\n"), "{value}");
        for line in value.trim_end().split("\r\n") {
            assert!(line.len() <= MAX_LINE, "{line}");
        }
    }

    #[test]
    fn fixes_name_the_field_and_the_change() {
        let report = user_import_engine::results::ImportResults {
            tenant: String::new(),
            template: user_import_engine::results::TemplateSummary {
                rows: 0,
                encoding: String::new(),
                delimiter: String::new(),
                digest: String::new(),
                ignored_columns: vec![],
            },
            counts: Default::default(),
            new: vec![],
            update: vec![],
            problem: vec![],
            highlight_message: None,
            error_report: None,
        };
        let mut mail = ReportMail {
            to: "a@acme.test".into(),
            to_name: Some("Ada\nBcc: x".into()),
            source: String::new(),
            identity: String::new(),
            report: &report,
            file_name: "r\t.csv".into(),
            csv: vec![],
        };
        let from = Mailbox::new(Some("Ops".into()), "op@localhost".parse().unwrap());
        let fixes: Vec<String> = header_fixes(&mail, &from)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            fixes,
            [
                "recipient name: line breaks replaced by spaces",
                "file name: control characters replaced by _"
            ]
        );
        mail.to_name = Some("Ada".into());
        mail.file_name = "r.csv".into();
        assert!(header_fixes(&mail, &from).is_empty());
    }
}
