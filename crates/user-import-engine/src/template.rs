//! Reading the User Import Template (docs/template.md): bytes in, header map and rows out.
//!
//! Pure: no I/O. The caller reads the bytes (a file, a ConfigMap key) and passes them here;
//! [`read_capped`] reads them from any reader within the size limit.

use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;

use csv::StringRecord;
use sha2::{Digest, Sha256};

use super::fields::{Field, trim};

/// Limits past which a template is rejected whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Bytes of the template (decompressed, when compressed).
    pub max_bytes: usize,
    /// User rows, blank lines not counted.
    pub max_rows: usize,
    /// Characters of one cell.
    pub max_cell_chars: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            max_bytes: 50 * 1024 * 1024,
            max_rows: 200_000,
            max_cell_chars: 1_024,
        }
    }
}

/// How the bytes were decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    Windows1252,
}

impl Encoding {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Windows1252 => "windows-1252",
        }
    }
}

/// A template that was read and whose header is acceptable.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// Original header texts, in column order (trimmed).
    pub headers: Vec<String>,
    /// For each column, the field it maps to (None: an ignored column).
    pub columns: Vec<Option<Field>>,
    /// User rows in file order; blank lines are not here.
    pub rows: Vec<TemplateRow>,
    /// The cells of every row, in one buffer.
    pub(crate) cells: Cells,
    pub(crate) encoding: Encoding,
    /// `b','`, `b';'` or `b'\t'`.
    pub delimiter: u8,
    /// `sha256:<lower-case hex>` of the raw bytes.
    pub digest: String,
}

/// One user row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateRow {
    /// Spreadsheet row number: the header is 1, the first user row 2; blank lines keep theirs.
    pub number: usize,
    /// Where the row's cells are among the template's [`Cells`] ([`Template::row_cells`]).
    cells: Range<usize>,
}

/// The cells of every row of a template, as they stand in the file (untrimmed), one after the
/// other in one buffer: cell `i`, counted over the whole template, is `text[ends[i]..ends[i + 1]]`.
///
/// A row has at most one cell per header: a short row has fewer (the missing ones are blank).
/// One buffer for the whole template, not one per row (as a CSV record is): a large template's
/// rows cost no allocation each, and a plan reads their cells from one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cells {
    text: String,
    ends: Vec<usize>,
}

impl Default for Cells {
    fn default() -> Self {
        Cells {
            text: String::new(),
            ends: vec![0],
        }
    }
}

impl Cells {
    /// Adds a row of `cells`; gives where they are.
    fn push_row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Range<usize> {
        let first = self.ends.len() - 1;
        for cell in cells {
            self.text.push_str(cell);
            self.ends.push(self.text.len());
        }
        first..self.ends.len() - 1
    }

    /// A row made of `cells`.
    pub(crate) fn row<'a>(
        &mut self,
        number: usize,
        cells: impl IntoIterator<Item = &'a str>,
    ) -> TemplateRow {
        TemplateRow {
            number,
            cells: self.push_row(cells),
        }
    }

    /// Cell `index` of `row`, if the row has it.
    fn get(&self, row: &TemplateRow, index: usize) -> Option<&str> {
        let at = row.cells.start + index;
        (at < row.cells.end).then(|| self.cell(at))
    }

    /// Cell `at`, counted over the whole template.
    fn cell(&self, at: usize) -> &str {
        &self.text[self.ends[at]..self.ends[at + 1]]
    }
}

/// Why a template was rejected whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The header lacks mandatory columns; every one is listed (by its usual header text).
    #[error("the template lacks mandatory column(s): {}", .0.join(", "))]
    MissingColumns(Vec<&'static str>),
    /// Two headers map to the same field.
    #[error(
        "columns \"{}\" and \"{}\" both map to the field {}",
        quoted_header(.first),
        quoted_header(.second),
        .field.name()
    )]
    DuplicateColumn {
        /// The field both map to.
        field: Field,
        /// The first header, as written.
        first: String,
        /// The second header, as written.
        second: String,
    },
    /// The file is larger than `max_bytes`.
    #[error("the template is {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The file's size.
        bytes: usize,
        /// `max_bytes`.
        limit: usize,
    },
    /// The input went on past `max_bytes`, and was not read any further (see [`read_capped`]).
    #[error("the template is larger than the limit of {limit} bytes (reading stopped there)")]
    TooLargeInput {
        /// `max_bytes`.
        limit: usize,
    },
    /// Compressed input whose decompressed content went on past `max_bytes` (a gzip bomb, or
    /// merely a large file): decompression stopped there.
    #[error(
        "the decompressed template is larger than the limit of {limit} bytes (decompression stopped there)"
    )]
    TooLargeDecompressed {
        /// `max_bytes`.
        limit: usize,
    },
    /// The input could not be read (an I/O error while reading it).
    #[error("cannot read the template: {0}")]
    Unreadable(String),
    /// The file has more user rows than `max_rows`.
    #[error("the template has more than the limit of {limit} rows")]
    TooManyRows {
        /// `max_rows`.
        limit: usize,
    },
    /// A cell is longer than `max_cell_chars`.
    #[error(
        "row {row}, column \"{}\": the cell is longer than the limit of {limit} characters",
        quoted_header(.column)
    )]
    CellTooLong {
        /// The row's number in the file (the header is row 1).
        row: usize,
        /// The column's header.
        column: String,
        /// `max_cell_chars`.
        limit: usize,
    },
    /// The file has no header row.
    #[error("the template is empty: it has no header row")]
    Empty,
    /// The CSV cannot be read (for example a row with more cells than the header).
    #[error("row {row}: {reason}")]
    Malformed {
        /// The row's number in the file (the header is row 1).
        row: usize,
        /// What the CSV reader said.
        reason: String,
    },
}

/// The most characters of a header that an error message quotes: a file that is no template
/// (a JSON answer, an HTML page) gets no more of itself into a status or an event than this.
pub const QUOTED_HEADER_CHARS: usize = 64;

/// A header as error messages quote it: at most [`QUOTED_HEADER_CHARS`] characters, with `…`
/// when it was longer, control characters (line breaks) as `\u{fffd}`.
fn quoted_header(header: &str) -> String {
    let mut chars = header.chars();
    let mut quoted: String = chars
        .by_ref()
        .take(QUOTED_HEADER_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if chars.next().is_some() {
        quoted.push('…');
    }
    quoted
}

impl Template {
    /// The trimmed cell of `field` in `row`, or "" when the template has no such column.
    pub(crate) fn cell(&self, row: &TemplateRow, field: Field) -> &str {
        self.column_of(field)
            .and_then(|index| self.cells.get(row, index))
            .map(trim)
            .unwrap_or("")
    }

    /// The cells of `row` as they stand in the file (untrimmed), at most one per header.
    pub fn row_cells(&self, row: &TemplateRow) -> impl ExactSizeIterator<Item = &str> {
        row.cells.clone().map(|at| self.cells.cell(at))
    }

    /// Cell `index` of `row` as it stands in the file, if the row has it.
    pub(crate) fn row_cell(&self, row: &TemplateRow, index: usize) -> Option<&str> {
        self.cells.get(row, index)
    }

    /// The column index that carries `field`.
    pub(crate) fn column_of(&self, field: Field) -> Option<usize> {
        self.columns
            .iter()
            .position(|column| *column == Some(field))
    }

    /// Headers of the columns that map to no field, in column order.
    pub(crate) fn ignored_columns(&self) -> Vec<String> {
        self.headers
            .iter()
            .zip(&self.columns)
            .filter(|(_, field)| field.is_none())
            .map(|(header, _)| header.clone())
            .collect()
    }
}

/// The column of each field of a template, looked up once. [`Template::cell`] searches the
/// header on every call, which adds up over the dozens of cells a plan reads in each row of a
/// large template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldColumns<'t> {
    columns: [Option<usize>; Field::ALL.len()],
    cells: &'t Cells,
}

impl<'t> FieldColumns<'t> {
    /// The columns of `template`'s fields.
    pub fn new(template: &'t Template) -> FieldColumns<'t> {
        FieldColumns {
            columns: Field::ALL.map(|field| template.column_of(field)),
            cells: &template.cells,
        }
    }

    /// The trimmed cell of `field` in `row` (a row of this template), or "" when the template
    /// has no such column: the same as [`Template::cell`].
    pub fn cell(&self, row: &TemplateRow, field: Field) -> &'t str {
        self.columns[field as usize]
            .and_then(|index| self.cells.get(row, index))
            .map(trim)
            .unwrap_or("")
    }

    /// Whether the template has a column for `field`.
    pub fn has(&self, field: Field) -> bool {
        self.columns[field as usize].is_some()
    }
}

/// The most columns a header may have: a generous bound that keeps error messages and the
/// error report of a hostile file within reason.
pub(crate) const MAX_COLUMNS: usize = 1_024;

/// The UTF-8 byte-order mark, which Excel writes at the start of "CSV UTF-8" files.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `sha256:<lower-case hex>` of a template's bytes: what the status and the report call its
/// digest, and what tells one template from another.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Reads the bytes of a template from `reader`, never more than one byte past
/// `limits.max_bytes`: an endless or oversized input (a pipe, `/dev/zero`, a huge file) stops
/// there and is [`TemplateError::TooLargeInput`], without ever holding more than the limit in
/// memory. An I/O error is [`TemplateError::Unreadable`].
pub fn read_capped(reader: impl Read, limits: &TemplateLimits) -> Result<Vec<u8>, TemplateError> {
    let limit = limits.max_bytes;
    let mut bytes = Vec::new();
    // One byte more than the limit tells "exactly at the limit" from "over it".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|error| TemplateError::Unreadable(error.to_string()))?;
    if bytes.len() > limit {
        return Err(TemplateError::TooLargeInput { limit });
    }
    Ok(bytes)
}

/// Reads a template. See the module docs and docs/template.md for every rule.
pub fn read_template(bytes: &[u8], limits: &TemplateLimits) -> Result<Template, TemplateError> {
    // The size limit comes first: nothing else should spend work on an oversized file.
    if bytes.len() > limits.max_bytes {
        return Err(TemplateError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let (text, encoding) = decode(bytes);
    let delimiter = detect_delimiter(text.as_bytes());
    let mut records = Records::new(text.as_bytes(), delimiter);

    let header_row = records.next_row()?.ok_or(TemplateError::Empty)?;
    let (headers, columns) = read_header(records.record(), header_row, limits)?;

    let mut rows = Vec::new();
    let mut cells = Cells::default();
    // The cells' text is never longer than the file's.
    cells.text.reserve(text.len());
    while let Some(number) = records.next_row()? {
        // Stop at the first row past the limit, before it (or anything after it) is stored.
        if rows.len() == limits.max_rows {
            return Err(TemplateError::TooManyRows {
                limit: limits.max_rows,
            });
        }
        rows.push(read_row(
            records.record(),
            number,
            &headers,
            limits,
            &mut cells,
        )?);
    }
    // Digested last: a rejected template needs no digest.
    let digest = digest(bytes);
    Ok(Template {
        headers,
        columns,
        rows,
        cells,
        encoding,
        delimiter,
        digest,
    })
}

/// Decodes the bytes: UTF-8 (its BOM dropped) when valid, else Windows-1252, which is what
/// Excel on Windows writes for "CSV (Comma delimited)".
fn decode(bytes: &[u8]) -> (Cow<'_, str>, Encoding) {
    // The BOM is dropped before the UTF-8 check so that a damaged UTF-8 file does not get a
    // mojibake "ï»¿" glued to its first header when it falls back to Windows-1252.
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), Encoding::Utf8),
        Err(_) => {
            let text = encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0;
            (text, Encoding::Windows1252)
        }
    }
}

/// Where a quote-aware scan of CSV bytes stands; the same states csv-core uses for quoting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    /// At the start of a field, where a `"` opens a quoted field.
    FieldStart,
    /// In an unquoted field, where a `"` is an ordinary character.
    Unquoted,
    /// In a quoted field, where delimiters and line breaks are ordinary characters.
    Quoted,
    /// Just after a `"` in a quoted field: `""` is a quote, anything else closes the quotes.
    QuoteInQuoted,
}

impl QuoteState {
    /// The state after `byte`, where `is_separator` tells the delimiter(s) in use.
    fn step(self, byte: u8, is_separator: impl Fn(u8) -> bool) -> QuoteState {
        let ends_field = is_separator(byte) || byte == b'\n' || byte == b'\r';
        match self {
            QuoteState::FieldStart | QuoteState::Unquoted if ends_field => QuoteState::FieldStart,
            QuoteState::FieldStart if byte == b'"' => QuoteState::Quoted,
            QuoteState::FieldStart | QuoteState::Unquoted => QuoteState::Unquoted,
            QuoteState::Quoted if byte == b'"' => QuoteState::QuoteInQuoted,
            QuoteState::Quoted => QuoteState::Quoted,
            QuoteState::QuoteInQuoted if byte == b'"' => QuoteState::Quoted,
            QuoteState::QuoteInQuoted if ends_field => QuoteState::FieldStart,
            QuoteState::QuoteInQuoted => QuoteState::Unquoted,
        }
    }
}

/// The delimiter the header row uses: the most frequent of `,` `;` and tab outside quotes in
/// the first line that has any content (the header: blank lines before it are skipped), with
/// `,` on ties and when there is none.
fn detect_delimiter(text: &[u8]) -> u8 {
    const CANDIDATES: [u8; 3] = [b',', b';', b'\t'];
    let is_candidate = |byte: u8| CANDIDATES.contains(&byte);
    let mut counts = [0usize; 3];
    let mut has_content = false;
    let mut state = QuoteState::FieldStart;
    for &byte in text {
        let outside_quotes = matches!(state, QuoteState::FieldStart | QuoteState::Unquoted)
            || (state == QuoteState::QuoteInQuoted && byte != b'"');
        if outside_quotes && (byte == b'\n' || byte == b'\r') {
            if has_content {
                break;
            }
            counts = [0; 3];
        } else if let Some(index) = CANDIDATES.iter().position(|c| *c == byte) {
            counts[index] += usize::from(outside_quotes);
        } else if byte != b'"' && !byte.is_ascii_whitespace() {
            has_content = true;
        }
        state = state.step(byte, is_candidate);
    }
    if !has_content {
        return b',';
    }
    // `max_by_key` keeps the last maximum; walking the candidates in reverse makes `,` win ties.
    let (index, count) = counts
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|(_, count)| **count)
        .unwrap_or((0, &0));
    if *count == 0 { b',' } else { CANDIDATES[index] }
}

/// True when a record's bytes end inside a quoted field: a `"` that was never closed, which
/// makes csv-core read everything after it, to the end of the file, as one cell.
fn ends_inside_quotes(record: &[u8], delimiter: u8) -> bool {
    let last = record.iter().fold(QuoteState::FieldStart, |state, &byte| {
        state.step(byte, |b| b == delimiter)
    });
    last == QuoteState::Quoted
}

/// The number of line ends in `gap`, a run of `\r` and `\n`: CRLF, LF and CR count one each.
fn count_line_ends(gap: &[u8]) -> usize {
    let crlf = gap.windows(2).filter(|pair| pair == b"\r\n").count();
    gap.len() - crlf
}

/// The CSV records of the text, with their spreadsheet row numbers.
///
/// csv-core silently drops empty lines, and the position it gives a record is where it began
/// looking for it (before those dropped lines). So each record's row number is worked out from
/// the bytes between the end of the previous record and the start of this one: those bytes are
/// only line ends, one per blank line.
struct Records<'a> {
    text: &'a [u8],
    delimiter: u8,
    reader: csv::Reader<&'a [u8]>,
    record: StringRecord,
    /// The row number of the last record read (0 before the first).
    last_row: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a [u8], delimiter: u8) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(text);
        Records {
            text,
            delimiter,
            reader,
            record: StringRecord::new(),
            last_row: 0,
        }
    }

    /// The record the last `next_row` returned a number for.
    fn record(&self) -> &StringRecord {
        &self.record
    }

    /// Reads the next record that has a non-blank cell and returns its row number, or None at
    /// the end. Records whose cells are all blank are skipped but keep their row number.
    fn next_row(&mut self) -> Result<Option<usize>, TemplateError> {
        loop {
            let start = self.reader.position().byte();
            // The csv crate reports no quoting errors (it is lenient) and the text is valid
            // UTF-8, so this is not expected; it still becomes a clean error, never a panic.
            let next_row = self.last_row + 1;
            let more = self.reader.read_record(&mut self.record).map_err(|error| {
                TemplateError::Malformed {
                    row: next_row,
                    reason: format!("the CSV cannot be read: {error}"),
                }
            })?;
            if !more {
                return Ok(None);
            }
            let end = self.reader.position().byte();
            let row = self.number_record(to_index(start), to_index(end))?;
            if self.record.iter().any(|cell| !trim(cell).is_empty()) {
                return Ok(Some(row));
            }
        }
    }

    /// Gives the record just read, which spans `start..end` with the blank lines before it, its
    /// row number, and rejects it if it holds an unclosed quote.
    fn number_record(&mut self, start: usize, end: usize) -> Result<usize, TemplateError> {
        let span = self
            .text
            .get(start..end.min(self.text.len()))
            .unwrap_or(&[]);
        let gap_len = span
            .iter()
            .position(|byte| *byte != b'\r' && *byte != b'\n')
            .unwrap_or(span.len());
        let (mut gap, content) = span.split_at(gap_len);
        // A CRLF record end is reported after its `\r`; its `\n` then opens the gap but is
        // no blank line.
        if start > 0 && self.text.get(start - 1) == Some(&b'\r') {
            gap = gap.strip_prefix(b"\n").unwrap_or(gap);
        }
        let row = self.last_row + count_line_ends(gap) + 1;
        self.last_row = row;
        // Only the last record can hold an unclosed quote: it swallows the rest of the file.
        if end >= self.text.len() && ends_inside_quotes(content, self.delimiter) {
            return Err(TemplateError::Malformed {
                row,
                reason: "a quoted cell is never closed: a '\"' opens it and no '\"' ends it"
                    .to_string(),
            });
        }
        Ok(row)
    }
}

/// A csv byte offset as an index; offsets past `usize` cannot occur for an in-memory slice.
fn to_index(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

/// Rejects a cell longer than the limit, counted in characters as a spreadsheet counts them.
fn check_cell_length(
    cell: &str,
    row: usize,
    header: &str,
    limits: &TemplateLimits,
) -> Result<(), TemplateError> {
    // A cell of at most `max_cell_chars` bytes cannot have more characters: skip the count.
    if cell.len() > limits.max_cell_chars && cell.chars().count() > limits.max_cell_chars {
        return Err(TemplateError::CellTooLong {
            row,
            column: header.to_string(),
            limit: limits.max_cell_chars,
        });
    }
    Ok(())
}

/// Reads the header row: trimmed texts, the field of each column, and the header checks.
fn read_header(
    record: &StringRecord,
    row: usize,
    limits: &TemplateLimits,
) -> Result<(Vec<String>, Vec<Option<Field>>), TemplateError> {
    if record.len() > MAX_COLUMNS {
        return Err(TemplateError::Malformed {
            row,
            reason: format!(
                "the header has {} columns, more than the {MAX_COLUMNS} a template may have",
                record.len()
            ),
        });
    }
    let mut headers = Vec::with_capacity(record.len());
    for cell in record {
        let header = cell.trim();
        check_cell_length(cell, row, header, limits)?;
        headers.push(header.to_string());
    }
    let columns: Vec<Option<Field>> = headers
        .iter()
        .map(|header| Field::from_header(header))
        .collect();
    check_missing(&columns)?;
    check_duplicates(&headers, &columns)?;
    Ok((headers, columns))
}

/// Rejects a header without every mandatory column, naming all that are missing.
fn check_missing(columns: &[Option<Field>]) -> Result<(), TemplateError> {
    let missing: Vec<&'static str> = Field::MANDATORY
        .into_iter()
        .filter(|field| !columns.contains(&Some(*field)))
        .map(Field::header)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::MissingColumns(missing))
    }
}

/// Rejects two columns that map to the same field: which one to take would be a guess.
fn check_duplicates(headers: &[String], columns: &[Option<Field>]) -> Result<(), TemplateError> {
    // At most one entry per field, so this list stays short whatever the header's width.
    let mut seen: Vec<(Field, usize)> = Vec::new();
    for (index, column) in columns.iter().enumerate() {
        let Some(field) = *column else { continue };
        if let Some((_, first)) = seen.iter().find(|(known, _)| *known == field) {
            return Err(TemplateError::DuplicateColumn {
                field,
                first: headers[*first].clone(),
                second: headers[index].clone(),
            });
        }
        seen.push((field, index));
    }
    Ok(())
}

/// Rejects a record with a value past the header's last column. Blank cells there (a trailing
/// delimiter, say) are fine and dropped, but a value belongs to no column: reject, not lose it.
fn check_extra_cells(record: &StringRecord, row: usize, width: usize) -> Result<(), TemplateError> {
    let is_value = |index: &usize| {
        record
            .get(*index)
            .is_some_and(|cell| !trim(cell).is_empty())
    };
    match (width..record.len()).rev().find(is_value) {
        Some(last) => Err(TemplateError::Malformed {
            row,
            reason: format!(
                "the row has a value in cell {}, but the header has only {width} columns",
                last + 1
            ),
        }),
        None => Ok(()),
    }
}

/// Makes a user row of a record: its untrimmed cells, added to `cells`, blank cells past the
/// header dropped.
fn read_row(
    record: &StringRecord,
    row: usize,
    headers: &[String],
    limits: &TemplateLimits,
    cells: &mut Cells,
) -> Result<TemplateRow, TemplateError> {
    let width = headers.len();
    if record.len() > width {
        check_extra_cells(record, row, width)?;
    }
    for (cell, header) in record.iter().zip(headers) {
        check_cell_length(cell, row, header, limits)?;
    }
    Ok(cells.row(row, record.iter().take(width)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "First Name,Last Name,Email,Coupa Username,Coupa User ID";
    const MANDATORY_COLUMNS: [Option<Field>; 5] = [
        Some(Field::FirstName),
        Some(Field::LastName),
        Some(Field::Email),
        Some(Field::CoupaUsername),
        Some(Field::CoupaUserId),
    ];

    fn read(text: &str) -> Result<Template, TemplateError> {
        read_template(text.as_bytes(), &TemplateLimits::default())
    }

    fn read_ok(text: &str) -> Template {
        read(text).unwrap_or_else(|error| panic!("{text:?} was rejected: {error}"))
    }

    fn numbers(template: &Template) -> Vec<usize> {
        template.rows.iter().map(|row| row.number).collect()
    }

    /// The cells of row `index` as they stand in the file.
    fn row_cells(template: &Template, index: usize) -> Vec<&str> {
        template.row_cells(&template.rows[index]).collect()
    }

    fn owned(template: &Template, row: &TemplateRow) -> Vec<String> {
        template.row_cells(row).map(String::from).collect()
    }

    fn cells(template: &Template) -> Vec<Vec<&str>> {
        template
            .rows
            .iter()
            .map(|row| {
                let mut cells: Vec<&str> = template.row_cells(row).collect();
                cells.resize(template.headers.len(), "");
                cells
            })
            .collect()
    }

    fn with_limits(
        text: &str,
        change: impl FnOnce(&mut TemplateLimits),
    ) -> Result<Template, TemplateError> {
        let mut limits = TemplateLimits::default();
        change(&mut limits);
        read_template(text.as_bytes(), &limits)
    }

    #[test]
    fn reads_a_plain_template() {
        let template = read_ok(&format!("{HEADER}\nAnn,Lee,ann@acme.test,alee,1001\n"));
        assert_eq!(
            template.headers,
            [
                "First Name",
                "Last Name",
                "Email",
                "Coupa Username",
                "Coupa User ID"
            ]
        );
        assert_eq!(template.columns, MANDATORY_COLUMNS);
        assert_eq!(numbers(&template), [2]);
        assert_eq!(
            cells(&template),
            [["Ann", "Lee", "ann@acme.test", "alee", "1001"]]
        );
        assert_eq!(template.encoding, Encoding::Utf8);
        assert_eq!(template.delimiter, b',');
        // sha256sum of the same bytes.
        assert_eq!(
            template.digest,
            "sha256:387f9b7afe6336d966c1cfee02b8de2d11266a727b1856ba1940563085c08487"
        );
    }

    #[test]
    fn strips_the_byte_order_mark_but_digests_the_raw_bytes() {
        let plain = read_ok(&format!("{HEADER}\nAnn,Lee,a@b.c,alee,1001\n"));
        let with_bom = read_ok(&format!("\u{FEFF}{HEADER}\nAnn,Lee,a@b.c,alee,1001\n"));
        assert_eq!(with_bom.headers, plain.headers);
        assert_eq!(with_bom.columns, MANDATORY_COLUMNS);
        assert_eq!(with_bom.rows, plain.rows);
        assert_eq!(with_bom.encoding, Encoding::Utf8);
        assert_ne!(with_bom.digest, plain.digest);
    }

    #[test]
    fn reads_invalid_utf8_as_windows_1252() {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        bytes.extend_from_slice(b"Caf\xe9,L\x92Or \x80,a@b.c,alee,1001\n");
        let template = read_template(&bytes, &TemplateLimits::default()).unwrap();
        assert_eq!(template.encoding, Encoding::Windows1252);
        assert_eq!(
            cells(&template),
            [["Café", "L\u{2019}Or €", "a@b.c", "alee", "1001"]]
        );
    }

    #[test]
    fn windows_1252_file_with_a_bom_loses_the_bom() {
        let mut bytes = UTF8_BOM.to_vec();
        bytes.extend_from_slice(format!("{HEADER}\n").as_bytes());
        bytes.extend_from_slice(b"Caf\xe9,Lee,a@b.c,alee,1001\n");
        let template = read_template(&bytes, &TemplateLimits::default()).unwrap();
        assert_eq!(template.encoding, Encoding::Windows1252);
        assert_eq!(template.headers[0], "First Name");
        assert_eq!(row_cells(&template, 0)[0], "Café");
    }

    #[test]
    fn detects_semicolon_from_the_header() {
        let text = "\u{FEFF}First Name;Last Name;Email;Coupa Username;Coupa User ID\r\n\
                    Ann;Lee, Jr;a@b.c;alee;1001\r\n";
        let template = read_ok(text);
        assert_eq!(template.delimiter, b';');
        assert_eq!(template.columns, MANDATORY_COLUMNS);
        assert_eq!(
            cells(&template),
            [["Ann", "Lee, Jr", "a@b.c", "alee", "1001"]]
        );
    }

    #[test]
    fn detects_tab_from_the_header() {
        let text = "First Name\tLast Name\tEmail\tCoupa Username\tCoupa User ID\n\
                    Ann\tLee; Jr, II\ta@b.c\talee\t1001\n";
        let template = read_ok(text);
        assert_eq!(template.delimiter, b'\t');
        assert_eq!(
            cells(&template),
            [["Ann", "Lee; Jr, II", "a@b.c", "alee", "1001"]]
        );
    }

    #[test]
    fn delimiter_detection_counts_outside_quotes_and_prefers_comma() {
        assert_eq!(detect_delimiter(b"a;b,c"), b',', "a tie goes to the comma");
        assert_eq!(
            detect_delimiter(b"a;b\tc"),
            b';',
            "a tie of ; and tab goes to ;"
        );
        assert_eq!(
            detect_delimiter(b"\"a;b;c\",d"),
            b',',
            "quoted ; do not count"
        );
        assert_eq!(
            detect_delimiter(b"\"a\"\";b;c\";d"),
            b';',
            "\"\" keeps the quotes open"
        );
        assert_eq!(
            detect_delimiter(b"\"x\ny;z;w\",a\nb;c;d;e"),
            b',',
            "one record only"
        );
        assert_eq!(
            detect_delimiter(b"\r\n,,,\n;a;b\n,,,,,,\n"),
            b';',
            "the first line with content"
        );
        assert_eq!(detect_delimiter(b"abc"), b',');
        assert_eq!(detect_delimiter(b""), b',');
    }

    #[test]
    fn quoted_cells_hold_delimiters_quotes_and_line_breaks() {
        let text = format!(
            "{HEADER}\n\"Ann, Jr\",\"Lee \"\"the\"\" 2nd\",a@b.c,\"line1\nline2\r\nline3\",1001\n\
             Bob,O\"Neil,b@b.c,blee,1002\n"
        );
        let template = read_ok(&text);
        assert_eq!(numbers(&template), [2, 3]);
        assert_eq!(
            cells(&template),
            [
                [
                    "Ann, Jr",
                    "Lee \"the\" 2nd",
                    "a@b.c",
                    "line1\nline2\r\nline3",
                    "1001"
                ],
                ["Bob", "O\"Neil", "b@b.c", "blee", "1002"],
            ]
        );
    }

    #[test]
    fn reads_crlf_line_ends() {
        let text = format!("{HEADER}\r\nAnn,Lee,a@b.c,alee,1001\r\nBob,Ray,b@b.c,bray,1002\r\n");
        let template = read_ok(&text);
        assert_eq!(template.headers[4], "Coupa User ID");
        assert_eq!(numbers(&template), [2, 3]);
        assert_eq!(row_cells(&template, 1)[4], "1002");
    }

    #[test]
    fn keeps_cells_untrimmed_and_headers_trimmed() {
        let text = " First Name ,Last Name,\tEmail,Coupa Username,Coupa User ID \n  Ann ,Lee,a@b.c , alee,1001\n";
        let template = read_ok(text);
        assert_eq!(template.headers[0], "First Name");
        assert_eq!(template.headers[2], "Email");
        assert_eq!(template.headers[4], "Coupa User ID");
        assert_eq!(
            row_cells(&template, 0),
            vec!["  Ann ", "Lee", "a@b.c ", " alee", "1001"]
        );
        let row = &template.rows[0];
        assert_eq!(template.cell(row, Field::FirstName), "Ann");
        assert_eq!(template.cell(row, Field::CoupaUsername), "alee");
        assert_eq!(template.cell(row, Field::City), "");
    }

    #[test]
    fn blank_lines_and_blank_rows_keep_their_row_numbers() {
        let text = format!(
            "{HEADER}\n\nA,a,a@a.a,a,1\n\n\nB,b,b@b.b,b,2\n   \nC,c,c@c.c,c,3\n,,,,\n , ,\t,\nD,d,d@d.d,d,4"
        );
        let template = read_ok(&text);
        assert_eq!(numbers(&template), [3, 6, 8, 11]);
        assert_eq!(row_cells(&template, 3)[0], "D");
    }

    #[test]
    fn blank_lines_with_crlf_and_cr_line_ends() {
        let crlf = format!("{HEADER}\r\n\r\nA,a,a@a.a,a,1\r\n\r\n\r\nB,b,b@b.b,b,2\r\n\r\n");
        assert_eq!(numbers(&read_ok(&crlf)), [3, 6]);
        let cr = format!("{HEADER}\rA,a,a@a.a,a,1\r\rB,b,b@b.b,b,2\r");
        assert_eq!(numbers(&read_ok(&cr)), [2, 4]);
        let mixed = format!("{HEADER}\n\r\n\rA,a,a@a.a,a,1\r\n\nB,b,b@b.b,b,2");
        assert_eq!(numbers(&read_ok(&mixed)), [4, 6]);
    }

    #[test]
    fn a_multi_line_cell_is_one_row() {
        let lf = format!("{HEADER}\nA,\"x\ny\nz\",a@a.a,a,1\n\nB,b,b@b.b,b,2\nC,c,c@c.c,c,3\n");
        let template = read_ok(&lf);
        assert_eq!(numbers(&template), [2, 4, 5]);
        assert_eq!(row_cells(&template, 0)[1], "x\ny\nz");
        let crlf = format!("{HEADER}\r\nA,\"x\r\ny\r\n\r\n\",a@a.a,a,1\r\n\r\nB,b,b@b.b,b,2\r\n");
        let template = read_ok(&crlf);
        assert_eq!(numbers(&template), [2, 4]);
        assert_eq!(row_cells(&template, 0)[1], "x\r\ny\r\n\r\n");
    }

    #[test]
    fn blank_lines_before_the_header_count_as_rows() {
        // As a spreadsheet shows the file: the header is then on row 3 and the user on row 4.
        let template = read_ok(&format!("\n\r\n{HEADER}\nA,a,a@a.a,a,1\n"));
        assert_eq!(template.columns, MANDATORY_COLUMNS);
        assert_eq!(numbers(&template), [4]);
        let template = read_ok(&format!(",,,,\n{HEADER}\nA,a,a@a.a,a,1\n"));
        assert_eq!(numbers(&template), [3]);
    }

    #[test]
    fn short_rows_are_padded_and_blank_extra_cells_dropped() {
        let text = format!("{HEADER},Department\nAnn,Lee\nBob,Ray,b@b.c,bray,1002,Ops,, ,\t\n");
        let template = read_ok(&text);
        assert_eq!(
            cells(&template),
            [
                ["Ann", "Lee", "", "", "", ""],
                ["Bob", "Ray", "b@b.c", "bray", "1002", "Ops"],
            ]
        );
    }

    #[test]
    fn a_value_beyond_the_header_is_malformed() {
        let text = format!("{HEADER}\nAnn,Lee,a@b.c,alee,1001\n\nBob,Ray,b@b.c,bray,1002,,x,\n");
        assert_eq!(
            read(&text),
            Err(TemplateError::Malformed {
                row: 4,
                reason: "the row has a value in cell 7, but the header has only 5 columns".into(),
            })
        );
    }

    #[test]
    fn matches_header_aliases_with_odd_spacing_and_case() {
        let text = "coupa_user-id, E-Mail ,FIRSTNAME,last.name,SSO/Username,zip code\n1,a@b.c,Ann,Lee,alee,9\n";
        let template = read_ok(text);
        assert_eq!(
            template.columns,
            [
                Some(Field::CoupaUserId),
                Some(Field::Email),
                Some(Field::FirstName),
                Some(Field::LastName),
                Some(Field::CoupaUsername),
                Some(Field::PostalCode),
            ]
        );
        assert_eq!(template.headers[1], "E-Mail");
        assert_eq!(template.cell(&template.rows[0], Field::Email), "a@b.c");
    }

    #[test]
    fn keeps_ignored_columns_with_their_header_text_in_order() {
        let text = "Department,First Name,,Last Name,Cost Center,Email,Coupa Username,Coupa User ID\n\
                    Ops,Ann,note,Lee,42,a@b.c,alee,1001\n";
        let template = read_ok(text);
        assert_eq!(
            template.ignored_columns(),
            ["Department", "", "Cost Center"]
        );
        assert_eq!(template.columns[0], None);
        assert_eq!(template.columns[2], None);
        assert_eq!(template.columns[4], None);
        assert_eq!(
            cells(&template),
            [["Ops", "Ann", "note", "Lee", "42", "a@b.c", "alee", "1001"]]
        );
        assert_eq!(template.column_of(Field::Email), Some(5));
    }

    #[test]
    fn rejects_two_headers_for_one_field() {
        let text = format!("{HEADER},Department, email address \n");
        assert_eq!(
            read(&text),
            Err(TemplateError::DuplicateColumn {
                field: Field::Email,
                first: "Email".into(),
                second: "email address".into(),
            })
        );
    }

    #[test]
    fn names_every_missing_mandatory_column_in_order() {
        assert_eq!(
            read("Coupa UserId,Department,Last Name\n1,x,Lee\n"),
            Err(TemplateError::MissingColumns(vec![
                "First Name",
                "Email",
                "Coupa Username"
            ]))
        );
    }

    #[test]
    fn missing_columns_are_reported_before_duplicates() {
        assert_eq!(
            read("First Name,Firstname\n"),
            Err(TemplateError::MissingColumns(vec![
                "Last Name",
                "Email",
                "Coupa Username",
                "Coupa User ID"
            ]))
        );
    }

    #[test]
    fn rejects_a_file_over_the_byte_limit_before_decoding() {
        let text = format!("{HEADER}\nAnn,Lee,a@b.c,alee,1001\n");
        let len = text.len();
        assert_eq!(
            with_limits(&text, |limits| limits.max_bytes = len - 1),
            Err(TemplateError::TooLarge {
                bytes: len,
                limit: len - 1
            })
        );
        assert!(with_limits(&text, |limits| limits.max_bytes = len).is_ok());
        let not_a_template = [0xff_u8; 10];
        let limits = TemplateLimits {
            max_bytes: 9,
            ..TemplateLimits::default()
        };
        assert_eq!(
            read_template(&not_a_template, &limits),
            Err(TemplateError::TooLarge {
                bytes: 10,
                limit: 9
            })
        );
    }

    #[test]
    fn an_endless_input_stops_one_byte_past_the_limit() {
        let limits = TemplateLimits {
            max_bytes: 1000,
            ..TemplateLimits::default()
        };
        // `repeat` never ends: only the limit stops the reading.
        assert_eq!(
            read_capped(std::io::repeat(b'a'), &limits),
            Err(TemplateError::TooLargeInput { limit: 1000 })
        );
        let message = TemplateError::TooLargeInput { limit: 1000 }.to_string();
        assert!(message.contains("limit of 1000 bytes"), "{message}");
        let exact = vec![b'x'; 1000];
        assert_eq!(read_capped(&exact[..], &limits), Ok(exact.clone()));
        let over = vec![b'x'; 1001];
        assert_eq!(
            read_capped(&over[..], &limits),
            Err(TemplateError::TooLargeInput { limit: 1000 })
        );
        let huge = TemplateLimits {
            max_bytes: usize::MAX,
            ..limits
        };
        assert_eq!(read_capped(&exact[..], &huge), Ok(exact));
    }

    #[test]
    fn a_read_error_is_unreadable() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        assert_eq!(
            read_capped(Failing, &TemplateLimits::default()),
            Err(TemplateError::Unreadable("disk on fire".into()))
        );
    }

    #[test]
    fn rejects_more_rows_than_the_limit_and_stops_there() {
        let two = format!("{HEADER}\nA,a,a@a.a,a,1\n\n,,,,\nB,b,b@b.b,b,2\n\n");
        let template = with_limits(&two, |limits| limits.max_rows = 2).unwrap();
        assert_eq!(numbers(&template), [2, 5], "blank lines are not rows");
        // The third row is over the limit; the malformed row after it is never read.
        let more = format!("{two}C,c,c@c.c,c,3\nD,d,d@d.d,d,4,extra\n");
        assert_eq!(
            with_limits(&more, |limits| limits.max_rows = 2),
            Err(TemplateError::TooManyRows { limit: 2 })
        );
    }

    #[test]
    fn rejects_a_cell_longer_than_the_limit_in_characters() {
        // The longest header, "Coupa Username", has 14 characters: the limit the rows get.
        let accents = "é".repeat(14);
        let fits = format!("{HEADER}\n{accents},Lee,a@b.c,alee,1001\n");
        let template = with_limits(&fits, |limits| limits.max_cell_chars = 14).unwrap();
        assert_eq!(
            row_cells(&template, 0)[0],
            accents,
            "14 characters in 28 bytes fit"
        );
        let long = format!("{HEADER}\nAnn,Lee,a@b.c,alee,1001\n\nAnn,Lee,a@b.c,{accents}s,1002\n");
        assert_eq!(
            with_limits(&long, |limits| limits.max_cell_chars = 14),
            Err(TemplateError::CellTooLong {
                row: 4,
                column: "Coupa Username".into(),
                limit: 14,
            })
        );
    }

    #[test]
    fn rejects_a_header_cell_longer_than_the_limit() {
        // "Coupa Username" (14 characters) is the first header over 12.
        assert_eq!(
            with_limits(&format!("{HEADER}\n"), |limits| limits.max_cell_chars = 12),
            Err(TemplateError::CellTooLong {
                row: 1,
                column: "Coupa Username".into(),
                limit: 12,
            })
        );
    }

    #[test]
    fn a_body_that_is_no_template_is_quoted_by_its_missing_columns_only() {
        // What an API server's /version answers, say: nothing of it reaches the message.
        let json = "{\n  \"major\": \"1\",\n  \"gitVersion\": \"v1.34.1\",\n  \"platform\": \"linux/amd64\"\n}\n";
        let message = read(json).unwrap_err().to_string();
        assert_eq!(
            message,
            "the template lacks mandatory column(s): First Name, Last Name, Email, Coupa Username, \
             Coupa User ID"
        );
        assert!(
            !message.contains("major") && !message.contains('{'),
            "{message}"
        );
    }

    #[test]
    fn quoted_headers_are_cut_to_64_characters() {
        let long = format!("secret{}", "x".repeat(2_000));
        let error = with_limits(&format!("{long},{HEADER}\n"), |limits| {
            limits.max_cell_chars = 100
        })
        .unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("row 1, column \"secret"), "{message}");
        assert!(message.contains("xxx…\": the cell is longer"), "{message}");
        assert!(message.chars().count() < 64 + 80, "{message}");
        let error = TemplateError::DuplicateColumn {
            field: Field::Email,
            first: "Email".into(),
            second: format!("Email\n{}", "y".repeat(100)),
        };
        let message = error.to_string();
        assert!(
            message.starts_with("columns \"Email\" and \"Email\u{fffd}yyy"),
            "{message}"
        );
        assert!(message.contains("y…\" both map"), "{message}");
    }

    #[test]
    fn rejects_a_header_wider_than_max_columns() {
        let text = format!("{HEADER}{}\n", ",x".repeat(MAX_COLUMNS));
        assert_eq!(
            read(&text),
            Err(TemplateError::Malformed {
                row: 1,
                reason: format!(
                    "the header has {} columns, more than the 1024 a template may have",
                    MAX_COLUMNS + 5
                ),
            })
        );
    }

    #[test]
    fn an_empty_file_is_empty() {
        for text in [
            "",
            "\u{FEFF}",
            "\u{FEFF}\r\n",
            "  \n\r\n\t\n",
            ",,,\n\n , ,\n",
        ] {
            assert_eq!(read(text), Err(TemplateError::Empty), "{text:?}");
        }
    }

    #[test]
    fn a_header_alone_has_no_rows() {
        for text in [
            HEADER.to_string(),
            format!("{HEADER}\n"),
            format!("{HEADER}\r\n\r\n,,,,\n"),
        ] {
            let template = read_ok(&text);
            assert_eq!(template.columns, MANDATORY_COLUMNS);
            assert!(template.rows.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn an_unclosed_quote_is_malformed_at_its_row() {
        let text = format!(
            "{HEADER}\nAnn,Lee,a@b.c,alee,1001\n\nBob,\"Ray,b@b.c,bray,1002\nCid,c,c@c.c,c,3\n"
        );
        let reason = "a quoted cell is never closed: a '\"' opens it and no '\"' ends it";
        assert_eq!(
            read(&text),
            Err(TemplateError::Malformed {
                row: 4,
                reason: reason.into()
            })
        );
        let header = "\"First Name,Last Name,Email,Coupa Username,Coupa User ID\nAnn,Lee";
        assert_eq!(
            read(header),
            Err(TemplateError::Malformed {
                row: 1,
                reason: reason.into()
            })
        );
    }

    #[test]
    fn a_closed_quote_at_the_end_is_fine() {
        let text = format!("{HEADER}\nAnn,Lee,a@b.c,alee,\"1001\"");
        assert_eq!(
            cells(&read_ok(&text)),
            [["Ann", "Lee", "a@b.c", "alee", "1001"]]
        );
        let escaped = format!("{HEADER}\nAnn,Lee,a@b.c,alee,\"10\"\"01\"\"\"");
        assert_eq!(row_cells(&read_ok(&escaped), 0)[4], "10\"01\"");
    }

    /// Bytes that make CSV structure, mixed with any byte, to reach the reader's corners.
    fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            any::<u8>(),
            prop::sample::select(b",;\t\"\r\n a\xc3\xa9".to_vec()),
        ];
        prop::collection::vec(byte, 0..400)
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(
            tail in csv_bytes(),
            with_header in any::<bool>(),
            small in any::<bool>(),
        ) {
            // With a valid header in front, the bytes reach the row reading too.
            let mut bytes = if with_header {
                format!("{HEADER}\n").into_bytes()
            } else {
                Vec::new()
            };
            bytes.extend_from_slice(&tail);
            let limits = if small {
                TemplateLimits { max_bytes: 300, max_rows: 3, max_cell_chars: 8 }
            } else {
                TemplateLimits::default()
            };
            if let Ok(template) = read_template(&bytes, &limits) {
                prop_assert_eq!(template.headers.len(), template.columns.len());
                let mut previous = 1;
                for row in &template.rows {
                    prop_assert!(template.row_cells(row).len() <= template.headers.len());
                    prop_assert!(row.number > previous, "row numbers increase");
                    previous = row.number;
                }
            }
        }

        #[test]
        fn written_cells_read_back_unchanged(
            rows in prop::collection::vec(
                prop::collection::vec("[ a-zA-Z0-9,;\"\t\r\néü€😀]{0,12}", 6),
                0..20,
            )
        ) {
            // Every row gets a visible first cell, so that no row is blank and skipped.
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|mut row| { row[0] = format!(" x{}", row[0]); row })
                .collect();
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(HEADER.split(',').chain(["Note"])).unwrap();
            for row in &rows {
                writer.write_record(row).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let template = read_template(&bytes, &TemplateLimits::default()).unwrap();
            prop_assert_eq!(template.delimiter, b',');
            prop_assert_eq!(numbers(&template), (2..rows.len() + 2).collect::<Vec<_>>());
            let read: Vec<Vec<String>> = template.rows.iter().map(|row| owned(&template, row)).collect();
            prop_assert_eq!(read, rows);
        }

        #[test]
        fn row_numbers_count_blank_lines_not_line_breaks(
            rows in prop::collection::vec(
                (
                    prop::collection::vec(
                        prop::sample::select(vec!["", " ", ",,", " ,\t, "]),
                        0..3,
                    ),
                    prop::collection::vec("[a-z \r\n,\"]{0,6}", 5),
                ),
                0..12,
            ),
            crlf in any::<bool>(),
        ) {
            let (line_end, terminator) = if crlf {
                ("\r\n", csv::Terminator::CRLF)
            } else {
                ("\n", csv::Terminator::Any(b'\n'))
            };
            let mut text = format!("{HEADER}{line_end}");
            let mut expected = Vec::new();
            let mut row_number = 1;
            for (blank_lines, mut cells) in rows {
                for blank in &blank_lines {
                    text.push_str(blank);
                    text.push_str(line_end);
                }
                // A visible first cell keeps the row from being blank.
                cells[0] = format!("x{}", cells[0]);
                let mut writer = csv::WriterBuilder::new()
                    .terminator(terminator)
                    .from_writer(Vec::new());
                writer.write_record(&cells).unwrap();
                text.push_str(&String::from_utf8(writer.into_inner().unwrap()).unwrap());
                row_number += blank_lines.len() + 1;
                expected.push((row_number, cells));
            }
            let template = read_ok(&text);
            let read: Vec<(usize, Vec<String>)> =
                template.rows.iter().map(|row| (row.number, owned(&template, row))).collect();
            prop_assert_eq!(read, expected);
        }
    }
}
