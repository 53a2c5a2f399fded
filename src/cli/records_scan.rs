//! `plan`'s fast read of the usual records file: a JSON `List` of TenantUsers, as
//! `kubectl get tenantusers -o json` prints it.
//!
//! serde's read of a large file spends most of its time making a string of every text. This
//! scanner reads the file once, by hand, a block at a time, and keeps of each user only the
//! texts the plan reads, one after another in one buffer ([`PlanUsers`]). It reads only what
//! it can read exactly as the full read does: a JSON object with an `items` array of
//! TenantUser objects, each with a name and a spec. On anything else (YAML, a syntax error, a
//! value of another type, a repeated key, an invalid object, two objects of one name, a key
//! written with escapes, bytes that are not UTF-8) it gives up, and the full read decides and
//! gives its own error. So it never accepts a file that the full read refuses, and what it
//! accepts it reads the same: unit tests and the fuzz check `records` compare the two.
//!
//! The file is read in blocks, not whole: a whole 37 MB file cost a third of the scan in
//! fresh memory for the kernel to fill, where a block is read into memory that is already
//! there and still in the core's cache when it is scanned.

use std::io::{self, Read};

use super::plan_users::{MAX_TEXT_BYTES, PlanUser, PlanUsers, Span, Texts};
use super::records_file::SharedLabel;
use user_import_engine::fields::Field;
use user_import_resources::TENANT_LABEL;

/// How much of the file is read at a time.
pub(crate) const BLOCK: usize = 256 * 1024;

/// The most users the list of users is sized for before it is read.
const MAX_USERS_ESTIMATE: usize = 1 << 20;

/// What a scan read: the users, and the tenant label they all carry, if they do.
pub(crate) struct Scanned {
    pub(crate) users: PlanUsers,
    pub(crate) tenant_label: Option<String>,
}

/// Scans a records file read from `source` as a JSON List of TenantUsers. `Ok(None)` when the
/// full read is to decide; `source` may then have been read in part or to its end.
/// `size_hint` is the file's size, if known, to size the list of users.
///
/// Two users of one name, which the full read refuses, are not looked for here: see
/// [`PlanRecords`](super::records_file::PlanRecords), which looks for them.
pub(crate) fn scan(source: impl Read, size_hint: usize) -> io::Result<Option<Scanned>> {
    scan_in_blocks(source, size_hint, BLOCK)
}

/// [`scan`], reading `block` bytes at a time: tests and the fuzz check scan in tiny blocks,
/// so that units and characters are cut by the blocks' ends everywhere.
pub(crate) fn scan_in_blocks(
    source: impl Read,
    size_hint: usize,
    block: usize,
) -> io::Result<Option<Scanned>> {
    let mut stream = Stream {
        source,
        block: block.max(1),
        window: String::new(),
        pos: 0,
        raw: Vec::new(),
        partial: Vec::new(),
        end: false,
        error: None,
        kept: Texts::default(),
    };
    let scanned = stream.document(size_hint);
    if let Some(error) = stream.error {
        return Err(error);
    }
    let Some((users, label)) = scanned else {
        return Ok(None);
    };
    let texts = stream.kept;
    let tenant_label = label
        .shared()
        .map(|span| texts.get(span).unwrap_or("").to_string());
    Ok(Some(Scanned {
        users: PlanUsers::from_parts(texts, users),
        tenant_label,
    }))
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

/// The keys of the List that are read; any other is skipped.
enum ListKey {
    Items,
    Kind,
    Metadata,
    Spec,
    Other,
}

/// The file as it is read: the window, the part read and not yet scanned, which a
/// [`Scanner`] reads one unit at a time (a key of the List, an item, a comma), and the texts
/// kept so far.
///
/// A unit is scanned over the window as it stands. One that fails, or that ends at the
/// window's end (where more of the file could still change it: a number, white space), is
/// scanned again after more of the file is read, until the file's end: only then does a
/// failure give up. Each read adds at least as much as the window holds, so that a long unit
/// is scanned again only a few times. A failure cannot tell a unit cut by the window from one
/// that is wrong, so a file the scanner gives up on is read to its end first (and then again,
/// whole, by the full read): that costs time only on files the scanner does not read.
struct Stream<R> {
    source: R,
    /// How much of the file is read at a time ([`BLOCK`]).
    block: usize,
    /// The file's text from where the scan has come to, and what has been read after it.
    window: String,
    /// Where the next unit starts in `window`.
    pos: usize,
    /// A block as read, before it is checked as UTF-8.
    raw: Vec<u8>,
    /// The bytes of a character that a block cut in two, kept for the next block.
    partial: Vec<u8>,
    /// Whether the file has been read to its end.
    end: bool,
    /// A failed read, which ends the scan.
    error: Option<io::Error>,
    kept: Texts,
}

/// Every method gives None where the scan gives up; `?` carries it up.
impl<R: Read> Stream<R> {
    /// The whole document: an object with `items`, then nothing but white space.
    fn document(&mut self, size_hint: usize) -> Option<(Vec<PlanUser>, SharedLabel<Span>)> {
        self.start()?;
        let (mut users, mut label) = (None, SharedLabel::NoObject);
        let (mut kind, mut metadata, mut spec) = (false, false, false);
        self.delimited(b'{', b'}', |stream| {
            let key = stream.unit(|scanner| {
                let key = match scanner.key()? {
                    "items" => ListKey::Items,
                    "kind" => ListKey::Kind,
                    "metadata" => ListKey::Metadata,
                    "spec" => ListKey::Spec,
                    _ => ListKey::Other,
                };
                scanner.expect(b':')?;
                Some(key)
            })?;
            match key {
                ListKey::Items => {
                    once(&mut users)?;
                    users = Some(stream.items(size_hint, &mut label)?);
                }
                // The List's own kind, metadata and spec are read (and checked) by the full
                // read too, though not kept.
                ListKey::Kind => {
                    flag(&mut kind)?;
                    stream.unit(|scanner| scanner.null_or(Scanner::string).map(drop))?;
                }
                ListKey::Metadata => {
                    flag(&mut metadata)?;
                    stream.unit(|scanner| scanner.metadata().map(drop))?;
                }
                ListKey::Spec => {
                    flag(&mut spec)?;
                    stream.unit(|scanner| scanner.null_or(|scanner| scanner.spec().map(drop)))?;
                }
                ListKey::Other => stream.unit(|scanner| scanner.skip())?,
            }
            Some(())
        })?;
        self.rest_is_white_space()?;
        Some((users?, label))
    }

    /// The items: each user, its texts kept, and its tenant label added to `label`.
    fn items(&mut self, size_hint: usize, label: &mut SharedLabel<Span>) -> Option<Vec<PlanUser>> {
        // Estimated from the file's size, to spare the list's regrowth; room never filled is
        // never touched, and costs no memory.
        let mut items = Vec::with_capacity((size_hint / 512).min(MAX_USERS_ESTIMATE));
        self.delimited(b'[', b']', |stream| {
            // The texts are kept as soon as the item is read, while they are at hand (an
            // attempt that fails keeps nothing: see `unit`).
            let (user, tenant) = stream.unit(|scanner| {
                let (user, tenant) = scanner.item()?;
                scanner.keep_user(&user, tenant)
            })?;
            let kept = &stream.kept;
            label.add_with(tenant, |first, other| kept.get(*first) == kept.get(*other));
            items.push(user);
            Some(())
        })?;
        Some(items)
    }

    /// Past a byte-order mark and white space, the document must start with `{`: anything
    /// else (YAML) is the full read's.
    fn start(&mut self) -> Option<()> {
        while self.window.len() < 3 && !self.end {
            self.fill().then_some(())?;
        }
        if self.window.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        (self.unit(|scanner| scanner.peek())? == b'{').then_some(())
    }

    /// `open`, then members read by `member` and separated by commas, then `close`: the
    /// List's keys, or its items.
    fn delimited(
        &mut self,
        open: u8,
        close: u8,
        mut member: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.unit(|scanner| scanner.expect(open))?;
        if self.unit(|scanner| scanner.closes(close))? {
            return Some(());
        }
        loop {
            member(self)?;
            if self.unit(|scanner| scanner.comma_or(close))? {
                return Some(());
            }
        }
    }

    /// Nothing but white space to the file's end.
    fn rest_is_white_space(&mut self) -> Option<()> {
        loop {
            let mut scanner = Scanner::new(&self.window, self.pos, &mut self.kept);
            scanner.white_space();
            if scanner.pos < self.window.len() {
                return None;
            }
            self.pos = scanner.pos;
            if self.end {
                return Some(());
            }
            self.fill().then_some(())?;
        }
    }

    /// Scans one unit with `scan`, from `pos`, reading more of the file while it is needed.
    fn unit<T>(&mut self, mut scan: impl FnMut(&mut Scanner) -> Option<T>) -> Option<T> {
        loop {
            let mark = self.kept.mark();
            let mut scanner = Scanner::new(&self.window, self.pos, &mut self.kept);
            let value = scan(&mut scanner);
            let pos = scanner.pos;
            if let Some(value) = value
                && (pos < self.window.len() || self.end)
            {
                self.pos = pos;
                return Some(value);
            }
            // With the whole rest of the file at hand, a failure stands.
            if self.end {
                return None;
            }
            // Whatever the attempt kept is kept again when the unit is scanned again.
            self.kept.truncate(mark);
            self.fill().then_some(())?;
        }
    }

    /// Reads more of the file into the window, or finds its end: false on a failed read, on
    /// bytes that are not UTF-8 (which the full read refuses), and where the scan gives up
    /// rather than go on: a window past 2 GiB (its spans are 32-bit), a unit that ended inside
    /// a character.
    ///
    /// The part of the window scanned already is dropped first. Nothing points into it: a
    /// unit keeps its texts when it ends, and the unit being scanned starts again at `pos`.
    /// What is left to move is the unit the window cut, so the window stays about a block.
    fn fill(&mut self) -> bool {
        // Units end after a byte of JSON's own (a quote, a bracket, white space), never inside
        // a character; were one to, the scan would give up rather than cut the character.
        if !self.window.is_char_boundary(self.pos) {
            return false;
        }
        self.window.drain(..self.pos);
        self.pos = 0;
        let want = self.block.max(self.window.len());
        // After a unit of many blocks, the buffers go back to about a block.
        if self.window.capacity() > 4 * want {
            self.window.shrink_to(2 * want);
        }
        self.raw.clear();
        if self.raw.capacity() > 4 * want {
            self.raw.shrink_to(2 * want);
        }
        self.raw.append(&mut self.partial);
        match (&mut self.source)
            .take(want as u64)
            .read_to_end(&mut self.raw)
        {
            Ok(read) => self.end = read < want,
            Err(error) => {
                self.error = Some(error);
                return false;
            }
        }
        // Spans of the window are 32-bit, as are those of the texts kept.
        if self.window.len() + self.raw.len() > MAX_TEXT_BYTES / 2 {
            return false;
        }
        match std::str::from_utf8(&self.raw) {
            Ok(text) => self.window.push_str(text),
            // A character cut in two by the block's end: the rest of it comes with the next.
            Err(error) if error.error_len().is_none() && !self.end => {
                let (text, partial) = self.raw.split_at(error.valid_up_to());
                self.window
                    .push_str(std::str::from_utf8(text).expect("checked as UTF-8"));
                self.partial.extend_from_slice(partial);
            }
            Err(_) => return false,
        }
        true
    }
}

/// The text of `span` while scanning a unit: in the window, or in the texts it decoded.
fn resolve<'a>(text: &'a str, decoded: &'a str, span: Span) -> &'a str {
    if span == Span::ABSENT {
        return "";
    }
    let range = span.range();
    match range.start.checked_sub(text.len()) {
        None => &text[range],
        Some(start) => &decoded[start..start + range.len()],
    }
}

/// The deepest nesting a skipped value may have; serde_json refuses deeper than 128.
const MAX_DEPTH: u32 = 100;

/// Reads one unit of the window.
struct Scanner<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    /// How deep the skipped value being read is nested.
    depth: u32,
    /// The texts with escapes, decoded: their spans start at `text.len()`.
    decoded: String,
    /// The texts kept of the users so far.
    kept: &'t mut Texts,
}

/// Every method gives None where the scan gives up; `?` carries it up.
impl<'t> Scanner<'t> {
    fn new(text: &'t str, pos: usize, kept: &'t mut Texts) -> Scanner<'t> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos,
            depth: 0,
            decoded: String::new(),
            kept,
        }
    }

    /// Keeps the user's texts, and its tenant label's: the spans it gives point into `kept`.
    /// None when `kept` is full.
    fn keep_user(
        &mut self,
        user: &PlanUser,
        tenant: Option<Span>,
    ) -> Option<(PlanUser, Option<Span>)> {
        let mut keep = |span: Span| match span {
            Span::ABSENT => Some(Span::ABSENT),
            span => self.kept.add(resolve(self.text, &self.decoded, span)),
        };
        let mut texts = [Span::ABSENT; Field::ALL.len()];
        for (kept, &span) in texts.iter_mut().zip(&user.texts) {
            *kept = keep(span)?;
        }
        let user = PlanUser {
            name: keep(user.name)?,
            texts,
            sso_synced: user.sso_synced,
        };
        let tenant = match tenant {
            Some(span) => Some(keep(span)?),
            None => None,
        };
        Some((user, tenant))
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

    /// Consumes `close` if it comes next (after white space): whether it did.
    fn closes(&mut self, close: u8) -> Option<bool> {
        let closes = self.peek()? == close;
        self.pos += usize::from(closes);
        Some(closes)
    }

    /// Consumes a comma (false) or `close` (true), after white space.
    fn comma_or(&mut self, close: u8) -> Option<bool> {
        let byte = self.peek()?;
        (byte == b',' || byte == close).then_some(())?;
        self.pos += 1;
        Some(byte == close)
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
        if self.closes(close)? {
            return Some(());
        }
        loop {
            item(self)?;
            if self.comma_or(close)? {
                return Some(());
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
    use crate::cli::records_file::{PlanRecords, first_shared_name};
    use user_import_engine::users::StoredUsers;

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

    /// Read `block` bytes at a time, `bytes` are read as when read at once.
    fn assert_same_in_blocks(bytes: &[u8], block: usize) {
        let whole = scan(bytes, bytes.len()).unwrap();
        let blocks = scan_in_blocks(bytes, 0, block).unwrap();
        let text = String::from_utf8_lossy(bytes);
        match (whole, blocks) {
            (Some(whole), Some(blocks)) => {
                assert_eq!(
                    whole.users.to_existing(),
                    blocks.users.to_existing(),
                    "{block}: {text}"
                );
                assert_eq!(whole.tenant_label, blocks.tenant_label, "{block}: {text}");
            }
            (None, None) => {}
            (whole, _) => panic!("{block}: {text}: scanned at once: {}", whole.is_some()),
        }
    }

    /// Whether the scanner reads `text` itself (rather than leaving it to serde).
    fn scans(text: &str) -> bool {
        let Some(scanned) = scan(text.as_bytes(), text.len()).unwrap() else {
            return false;
        };
        // Two users of one name are looked for after the scan, by `PlanRecords`.
        let users = &scanned.users;
        first_shared_name(users.len(), |at| users.name(at)).is_none()
    }

    /// `plan`'s read of `text` and serde's alone give the same users and label, or the same
    /// error.
    fn assert_same_read(text: &str) {
        let bytes = text.as_bytes();
        for block in 1..=9 {
            assert_same_in_blocks(bytes, block);
        }
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
            Some(user_import_resources::UserStatus::Active)
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
