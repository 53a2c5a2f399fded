//! Templates that arrive packed: gzip-compressed bytes (a ConfigMap's `binaryData`, a Secret, a
//! `.csv.gz` file, a download), and one file inside a `.tar.gz` archive (a Flux artifact).
//!
//! Pure: functions over [`Read`] and bytes, no files, no network. Everything is read as a
//! stream, and every limit holds while reading: a gzip bomb stops at the template size limit
//! of its *decompressed* bytes, and an archive stops at [`ArchiveLimits::max_archive_bytes`],
//! without ever holding more than the limit in memory.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use super::template::{TemplateError, TemplateLimits, read_capped};

/// The first two bytes of every gzip stream (RFC 1952): how a compressed template is told from
/// a plain one, whatever its key or file is called.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when `bytes` start like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// The template's bytes as the reader reads them (a CSV, or a CSV compressed with gzip): `bytes`
/// when they are not gzip (no copy), else their decompressed content, read as a stream and
/// stopped one byte past `limits.max_bytes` ([`TemplateError::TooLargeDecompressed`]).
#[cfg(test)]
pub(crate) fn unpack(bytes: Vec<u8>, limits: &TemplateLimits) -> Result<Vec<u8>, TemplateError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    gunzip_capped(&bytes[..], limits)
}

/// Reads a template from `reader`, decompressing it when it starts with the gzip magic bytes.
/// The size limit applies to what the template reader gets (the decompressed bytes), and holds
/// while reading, as [`read_capped`] does for a plain file.
pub fn read_unpacked(
    mut reader: impl Read,
    limits: &TemplateLimits,
) -> Result<Vec<u8>, TemplateError> {
    let mut head = [0u8; 2];
    let mut filled = 0;
    // Two bytes tell; a short read (a pipe) may deliver them one at a time.
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(TemplateError::Unreadable(error.to_string())),
        }
    }
    let whole = io::Cursor::new(head[..filled].to_vec()).chain(reader);
    if is_gzip(&head[..filled]) {
        gunzip_capped(whole, limits)
    } else {
        read_capped(whole, limits)
    }
}

/// The decompressed content of a gzip stream, at most `limits.max_bytes` of it.
fn gunzip_capped(reader: impl Read, limits: &TemplateLimits) -> Result<Vec<u8>, TemplateError> {
    let limit = limits.max_bytes;
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    MultiGzDecoder::new(reader)
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|error| TemplateError::Unreadable(format!("the gzip data is damaged: {error}")))?;
    if bytes.len() > limit {
        return Err(TemplateError::TooLargeDecompressed { limit });
    }
    Ok(bytes)
}

/// How much of an archive is read at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Bytes of the archive read at most, compressed and decompressed alike: an artifact of a
    /// large repository is read through to the template, and no further than this.
    pub max_archive_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_archive_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// Why a file could not be taken out of an archive.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// The path would leave the archive (`..`, an absolute path) or names nothing.
    #[error("the path {path:?} {reason}")]
    InvalidPath {
        /// The path as asked for.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// No entry of the archive has this path.
    #[error("the archive has no file {path:?}")]
    NotFound {
        /// The path as asked for.
        path: String,
    },
    /// The entry is a directory, a link or another kind of non-file.
    #[error("{path:?} in the archive is a {kind}, not a file")]
    NotAFile {
        /// The path as asked for.
        path: String,
        /// What the entry is instead.
        kind: &'static str,
    },
    /// The archive went on past [`ArchiveLimits::max_archive_bytes`].
    #[error("the archive is larger than the limit of {limit} bytes (reading stopped there)")]
    TooLarge {
        /// The limit that was passed, in bytes.
        limit: u64,
    },
    /// The archive is not a gzip-compressed tar stream, or is damaged.
    #[error("cannot read the archive: {0}")]
    Unreadable(String),
    /// The file was found and is no acceptable template (over the size limit, say). The
    /// template's error is the message, not a source: it is the whole story.
    #[error("{0}")]
    Template(TemplateError),
}

/// `path` as a path inside an archive: relative, `/`-separated, without `.` parts; refused when
/// it is absolute, empty, or has a `..` part (a path that leaves the archive, even one that
/// would come back in, is never followed).
pub fn normalize_path(path: &str) -> Result<String, ArchiveError> {
    let invalid = |reason| ArchiveError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(invalid(
            "is absolute: it must be relative to the archive's root",
        ));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(invalid("has a backslash or a NUL: use '/' between folders"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid("leaves the archive ('..')")),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(invalid("names no file"));
    }
    Ok(parts.join("/"))
}

/// Takes the file at `path` (see [`normalize_path`]) out of a gzip-compressed tar stream, as a
/// stream: the entries before it are skipped as they are decompressed, never kept; the file
/// itself is read within `limits` (and decompressed too when it is gzip, as [`read_unpacked`]
/// does). Reading stops at the file: what follows in `reader` is left there, so that a caller
/// that checks the archive's digest can read it through.
///
/// Only a regular file is taken: a link in an archive may point anywhere, and is refused.
pub fn extract_file(
    reader: &mut impl Read,
    path: &str,
    limits: &TemplateLimits,
    archive: &ArchiveLimits,
) -> Result<Vec<u8>, ArchiveError> {
    let wanted = normalize_path(path)?;
    let compressed = Capped::new(reader, archive.max_archive_bytes);
    let decompressed = Capped::new(MultiGzDecoder::new(compressed), archive.max_archive_bytes);
    let mut tar = tar::Archive::new(decompressed);
    let outcome = find_entry(&mut tar, &wanted, limits);
    // The limit is reported as such, whichever layer (tar, gzip) met it first.
    let decompressed = tar.into_inner();
    let over = decompressed.exceeded || decompressed.inner.get_ref().exceeded;
    if over {
        return Err(ArchiveError::TooLarge {
            limit: archive.max_archive_bytes,
        });
    }
    outcome
}

fn find_entry<R: Read>(
    tar: &mut tar::Archive<R>,
    wanted: &str,
    limits: &TemplateLimits,
) -> Result<Vec<u8>, ArchiveError> {
    let unreadable = |error: io::Error| ArchiveError::Unreadable(error.to_string());
    for entry in tar.entries().map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // An entry whose own name leaves the archive matches no valid path: skipped.
        let Ok(name) = normalize_path(&name) else {
            continue;
        };
        if name != wanted {
            continue;
        }
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => None,
            tar::EntryType::Directory => Some("directory"),
            tar::EntryType::Symlink => Some("symbolic link (links are not followed)"),
            tar::EntryType::Link => Some("hard link (links are not followed)"),
            _ => Some("special file"),
        };
        if let Some(kind) = kind {
            return Err(ArchiveError::NotAFile {
                path: wanted.to_string(),
                kind,
            });
        }
        return read_unpacked(entry, limits).map_err(ArchiveError::Template);
    }
    Err(ArchiveError::NotFound {
        path: wanted.to_string(),
    })
}

/// A reader that fails once more than `cap` bytes went through it, and remembers why: unlike
/// [`Read::take`], whose silent end would look like a truncated archive.
struct Capped<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Capped {
            inner,
            left: cap,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => {
                self.exceeded = true;
                Err(io::Error::other("over the archive size limit"))
            }
        }
    }
}

/// A digest algorithm of a `<algorithm>:<hex>` digest, as Flux writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha384 => "sha384",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }
}

/// An expected digest, `sha256:<hex>` (or `sha384:`, `sha512:`), lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedDigest {
    /// The algorithm named before the colon.
    pub algorithm: DigestAlgorithm,
    /// The whole digest as written, lower-case: `sha256:<hex>`.
    pub digest: String,
}

impl ExpectedDigest {
    /// Parses `<algorithm>:<hex>`; the message says what is wrong.
    pub fn parse(text: &str) -> Result<ExpectedDigest, String> {
        let lower = text.trim().to_ascii_lowercase();
        let Some((algorithm, hex)) = lower.split_once(':') else {
            return Err(format!("the digest {text:?} is not <algorithm>:<hex>"));
        };
        let (algorithm, length) = match algorithm {
            "sha256" => (DigestAlgorithm::Sha256, 64),
            "sha384" => (DigestAlgorithm::Sha384, 96),
            "sha512" => (DigestAlgorithm::Sha512, 128),
            other => {
                return Err(format!(
                    "the digest algorithm {other:?} is not supported (sha256, sha384, sha512)"
                ));
            }
        };
        if hex.len() != length || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "the digest {text:?} is not {} followed by {length} hex digits",
                algorithm.name()
            ));
        }
        Ok(ExpectedDigest {
            algorithm,
            digest: lower,
        })
    }
}

/// A reader that digests every byte read through it, so that a download is checked while it is
/// streamed, never kept whole to be checked afterwards.
pub struct Digesting<R> {
    inner: R,
    hasher: Hasher,
    /// Bytes read so far.
    pub bytes: u64,
}

enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl<R> Digesting<R> {
    /// Wraps `inner`; every byte read through it is hashed with `algorithm`.
    pub fn new(inner: R, algorithm: DigestAlgorithm) -> Self {
        let hasher = match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            DigestAlgorithm::Sha384 => Hasher::Sha384(Sha384::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        };
        Digesting {
            inner,
            hasher,
            bytes: 0,
        }
    }

    /// `<algorithm>:<lower-case hex>` of the bytes read so far.
    pub fn digest(&self) -> String {
        match &self.hasher {
            Hasher::Sha256(h) => format!("sha256:{:x}", h.clone().finalize()),
            Hasher::Sha384(h) => format!("sha384:{:x}", h.clone().finalize()),
            Hasher::Sha512(h) => format!("sha512:{:x}", h.clone().finalize()),
        }
    }

    /// The reader inside.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(read),
            Hasher::Sha384(h) => h.update(read),
            Hasher::Sha512(h) => h.update(read),
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    const CSV: &[u8] =
        b"First Name,Last Name,Email,Coupa Username,Coupa User ID\nAnn,Lee,a@x.t,alee,1\n";

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn limits(max_bytes: usize) -> TemplateLimits {
        TemplateLimits {
            max_bytes,
            ..TemplateLimits::default()
        }
    }

    /// A .tar.gz of `(path, bytes)` regular files, plus a symlink `link.csv` → `/etc/passwd`.
    fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (path, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *bytes).unwrap();
        }
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "link.csv", "/etc/passwd")
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn plain_bytes_pass_unchanged_and_gzip_is_decompressed() {
        assert_eq!(unpack(CSV.to_vec(), &limits(1000)).unwrap(), CSV);
        assert_eq!(unpack(gzip(CSV), &limits(1000)).unwrap(), CSV);
        assert_eq!(read_unpacked(&gzip(CSV)[..], &limits(1000)).unwrap(), CSV);
        assert_eq!(read_unpacked(CSV, &limits(1000)).unwrap(), CSV);
        assert_eq!(read_unpacked(&b""[..], &limits(1000)).unwrap(), b"");
        assert_eq!(read_unpacked(&b"x"[..], &limits(1000)).unwrap(), b"x");
    }

    #[test]
    fn magic_bytes_arriving_one_at_a_time_are_recognised() {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let Some((&first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = first;
                self.0 = rest;
                Ok(1)
            }
        }
        let packed = gzip(CSV);
        assert_eq!(read_unpacked(OneByte(&packed), &limits(1000)).unwrap(), CSV);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit_of_the_decompressed_size() {
        // 64 MiB of zeros compress to about 64 KiB.
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1024 * 1024);
        let error = unpack(bomb.clone(), &limits(10_000)).unwrap_err();
        assert_eq!(error, TemplateError::TooLargeDecompressed { limit: 10_000 });
        assert!(error.to_string().contains("10000 bytes"), "{error}");
        let error = read_unpacked(&bomb[..], &limits(10_000)).unwrap_err();
        assert_eq!(error, TemplateError::TooLargeDecompressed { limit: 10_000 });
        // Exactly at the limit is accepted.
        assert_eq!(unpack(gzip(CSV), &limits(CSV.len())).unwrap(), CSV);
    }

    #[test]
    fn damaged_gzip_is_unreadable() {
        let mut packed = gzip(CSV);
        packed.truncate(packed.len() / 2);
        let error = unpack(packed, &limits(1000)).unwrap_err();
        assert!(matches!(error, TemplateError::Unreadable(_)), "{error:?}");
    }

    #[test]
    fn paths_are_normalised_and_may_not_leave_the_archive() {
        assert_eq!(normalize_path("users.csv").unwrap(), "users.csv");
        assert_eq!(normalize_path("./a/./b.csv").unwrap(), "a/b.csv");
        assert_eq!(normalize_path("a//b.csv").unwrap(), "a/b.csv");
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "a/../b",
            "/etc/passwd",
            "",
            ".",
            "./",
            "a\\b",
            "\\x",
        ] {
            assert!(
                matches!(normalize_path(bad), Err(ArchiveError::InvalidPath { .. })),
                "{bad:?}"
            );
        }
        assert!(
            normalize_path("../x")
                .unwrap_err()
                .to_string()
                .contains("leaves the archive")
        );
    }

    #[test]
    fn a_file_is_taken_out_of_a_tarball() {
        let archive = tarball(&[("README.md", b"hello"), ("imports/users.csv", CSV)]);
        let mut reader = &archive[..];
        let bytes = extract_file(
            &mut reader,
            "./imports/users.csv",
            &limits(1000),
            &ArchiveLimits::default(),
        )
        .unwrap();
        assert_eq!(bytes, CSV);
        // A gzip file inside the archive is decompressed too.
        let packed = gzip(CSV);
        let archive = tarball(&[("users.csv.gz", &packed)]);
        let bytes = extract_file(
            &mut &archive[..],
            "users.csv.gz",
            &limits(1000),
            &ArchiveLimits::default(),
        )
        .unwrap();
        assert_eq!(bytes, CSV);
    }

    #[test]
    fn missing_files_links_and_leaving_paths_are_refused() {
        let archive = tarball(&[("imports/users.csv", CSV)]);
        let extract = |path: &str| {
            extract_file(
                &mut &archive[..],
                path,
                &limits(1000),
                &ArchiveLimits::default(),
            )
        };
        assert_eq!(
            extract("users.csv"),
            Err(ArchiveError::NotFound {
                path: "users.csv".into()
            })
        );
        assert!(matches!(
            extract("link.csv"),
            Err(ArchiveError::NotAFile { .. })
        ));
        assert!(matches!(
            extract("imports/../../etc/passwd"),
            Err(ArchiveError::InvalidPath { .. })
        ));
        assert!(matches!(
            extract("/imports/users.csv"),
            Err(ArchiveError::InvalidPath { .. })
        ));
    }

    #[test]
    fn limits_hold_while_reading_an_archive() {
        let big = vec![b'x'; 100_000];
        let archive = tarball(&[("big.bin", &big), ("users.csv", CSV)]);
        // The archive's own limit: the big entry before the template is over it.
        let error = extract_file(
            &mut &archive[..],
            "users.csv",
            &limits(1000),
            &ArchiveLimits {
                max_archive_bytes: 50_000,
            },
        )
        .unwrap_err();
        assert_eq!(error, ArchiveError::TooLarge { limit: 50_000 });
        // The template's limit, on the entry itself.
        let error = extract_file(
            &mut &archive[..],
            "big.bin",
            &limits(1000),
            &ArchiveLimits::default(),
        )
        .unwrap_err();
        assert_eq!(
            error,
            ArchiveError::Template(TemplateError::TooLargeInput { limit: 1000 })
        );
    }

    #[test]
    fn what_follows_the_file_is_left_for_the_digest() {
        let archive = tarball(&[("users.csv", CSV), ("after.bin", &[7u8; 5000])]);
        let expected = format!("sha256:{:x}", Sha256::digest(&archive));
        let mut reader = Digesting::new(&archive[..], DigestAlgorithm::Sha256);
        extract_file(
            &mut reader,
            "users.csv",
            &limits(1000),
            &ArchiveLimits::default(),
        )
        .unwrap();
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(reader.digest(), expected);
        assert_eq!(reader.bytes, archive.len() as u64);
    }

    #[test]
    fn digests_are_parsed_strictly() {
        let hex = "a".repeat(64);
        let parsed = ExpectedDigest::parse(&format!("SHA256:{}", hex.to_uppercase())).unwrap();
        assert_eq!(parsed.digest, format!("sha256:{hex}"));
        assert_eq!(parsed.algorithm, DigestAlgorithm::Sha256);
        assert!(ExpectedDigest::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        assert!(ExpectedDigest::parse("sha256:abc").is_err());
        assert!(ExpectedDigest::parse(&hex).is_err());
        let blake = ExpectedDigest::parse(&format!("blake3:{hex}")).unwrap_err();
        assert!(blake.contains("not supported"), "{blake}");
    }
}
