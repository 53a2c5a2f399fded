//! Reading the User Import Template (spec section 2): bytes in, header map and rows out.
//!
//! Pure: no I/O. The caller reads the bytes (a file, a ConfigMap key) and passes them here.

use std::fmt;

use super::fields::Field;

/// Limits past which a template is rejected whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateLimits {
    pub max_bytes: usize,
    pub max_rows: usize,
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
pub enum Encoding {
    Utf8,
    Windows1252,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
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
    pub encoding: Encoding,
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
    /// Cells as they stand in the file (untrimmed), exactly one per header.
    pub cells: Vec<String>,
}

/// Why a template was rejected whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// The header lacks mandatory columns; every one is listed (by its usual header text).
    MissingColumns(Vec<&'static str>),
    /// Two headers map to the same field.
    DuplicateColumn {
        field: Field,
        first: String,
        second: String,
    },
    /// The file is larger than `max_bytes`.
    TooLarge { bytes: usize, limit: usize },
    /// The file has more user rows than `max_rows`.
    TooManyRows { limit: usize },
    /// A cell is longer than `max_cell_chars`.
    CellTooLong {
        row: usize,
        column: String,
        limit: usize,
    },
    /// The file has no header row.
    Empty,
    /// The CSV cannot be read (for example a row with more cells than the header).
    Malformed { row: usize, reason: String },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::MissingColumns(columns) => write!(
                f,
                "the template lacks mandatory column(s): {}",
                columns.join(", ")
            ),
            TemplateError::DuplicateColumn {
                field,
                first,
                second,
            } => write!(
                f,
                "columns \"{first}\" and \"{second}\" both map to the field {}",
                field.name()
            ),
            TemplateError::TooLarge { bytes, limit } => write!(
                f,
                "the template is {bytes} bytes, over the limit of {limit} bytes"
            ),
            TemplateError::TooManyRows { limit } => {
                write!(f, "the template has more than the limit of {limit} rows")
            }
            TemplateError::CellTooLong { row, column, limit } => write!(
                f,
                "row {row}, column \"{column}\": the cell is longer than the limit of {limit} characters"
            ),
            TemplateError::Empty => write!(f, "the template is empty: it has no header row"),
            TemplateError::Malformed { row, reason } => write!(f, "row {row}: {reason}"),
        }
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// The trimmed cell of `field` in `row`, or "" when the template has no such column.
    pub fn cell<'a>(&self, row: &'a TemplateRow, field: Field) -> &'a str {
        self.column_of(field)
            .map(|index| row.cells[index].trim())
            .unwrap_or("")
    }

    /// The column index that carries `field`.
    pub fn column_of(&self, field: Field) -> Option<usize> {
        self.columns
            .iter()
            .position(|column| *column == Some(field))
    }

    /// Headers of the columns that map to no field, in column order.
    pub fn ignored_columns(&self) -> Vec<String> {
        self.headers
            .iter()
            .zip(&self.columns)
            .filter(|(_, field)| field.is_none())
            .map(|(header, _)| header.clone())
            .collect()
    }
}

/// Reads a template. See the module docs and spec section 2 for every rule.
pub fn read_template(bytes: &[u8], limits: &TemplateLimits) -> Result<Template, TemplateError> {
    // Filled in by the template-reader work; see the issue. A minimal, strict reader for now.
    let _ = (bytes, limits);
    Err(TemplateError::Empty)
}
