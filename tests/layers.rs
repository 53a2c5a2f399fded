//! The layers of `src/` point one way. This test reads the source and fails when a module uses
//! what its layer must not:
//!
//! - `src/resources` (the CRDs and their status types) is the bottom layer: it uses no other
//!   module of the crate, so that the CRD schema changes only by a change made there;
//! - `src/core` (the pure import) uses no Kubernetes client, no async runtime, no file system
//!   or network, and none of the adapters (`controller`, `cli`, `mail`, `ops`, `plugin`);
//! - `src/mail` is an adapter the others call: it uses none of `controller`, `cli`, `ops` and
//!   `plugin`.
//!
//! It reads paths, not text: comments and string literals are skipped, grouped imports
//! (`use std::{fs, io}`) are expanded, and `super::` is resolved from the file's place in the
//! module tree, so `use super::super::controller` from `src/core/x/y.rs` is caught too.

use std::path::{Path, PathBuf};

/// The modules of `src/` that adapt the core to the outside world.
const ADAPTERS: [&str; 5] = [
    "crate::controller",
    "crate::cli",
    "crate::mail",
    "crate::ops",
    "crate::plugin",
];

/// Each layer (a folder of `src/`) with the path prefixes its files must not use.
fn rules() -> Vec<(&'static str, Vec<&'static str>)> {
    let outside_world = ["kube", "k8s_openapi", "tokio", "std::fs", "std::net"];
    vec![
        ("resources", [&["crate::core"][..], &ADAPTERS].concat()),
        ("core", [&outside_world[..], &ADAPTERS].concat()),
        (
            "mail",
            ADAPTERS
                .into_iter()
                .filter(|adapter| *adapter != "crate::mail")
                .collect(),
        ),
    ]
}

#[test]
fn every_layer_points_the_right_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (layer, forbidden) in rules() {
        let files = rust_files(&src.join(layer));
        assert!(!files.is_empty(), "no source found under src/{}", layer);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let module = module_path(&src, &file);
            let relative = file.strip_prefix(&src).unwrap().display().to_string();
            for found in violations_in(&text, &module, &forbidden) {
                violations.push(format!("src/{relative}: {found}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "a layer points the wrong way:\n  {}",
        violations.join("\n  ")
    );
}

/// The checker itself finds what it must, and nothing in comments or strings: without this, a
/// checker that found nothing would pass forever.
#[test]
fn the_checker_finds_wrong_imports_in_every_form() {
    let core = ["crate", "core", "planner"].map(String::from);
    let (_, forbidden) = rules()
        .into_iter()
        .find(|(layer, _)| *layer == "core")
        .unwrap();
    let found = |text: &str| violations_in(text, &core, &forbidden);
    for text in [
        "use kube::Client;",
        "use tokio;",
        "#[tokio::test] async fn f() {}",
        "fn f() { let _ = std::fs::read(\"x\"); }",
        "use std::{io, fs::File};",
        "use std::net as n;",
        "use ::std::fs;",
        "use crate::controller::Context;",
        "use crate::{resources::Tenant, mail::{self, MailArgs}};",
        "fn f() -> crate::plugin::Output { panic!() }",
        "use super::super::ops::RunArgs;",
        "use super::super::super::nowhere;",
    ] {
        assert!(!found(text).is_empty(), "not caught: {text}");
    }
    for text in [
        "use std::io::Read;",
        "use super::fields::Field;",
        "use crate::resources::{Counts, TenantUserSpec};",
        "// use kube::Client;",
        "/* tokio::spawn */ fn f() {}",
        "/// Calls `std::fs::read` nowhere.\nfn f() {}",
        "const S: &str = \"crate::controller and kube::Client\";",
        "const R: &str = r#\"use tokio; \"#;",
        "fn f<'a>(x: &'a str) -> char { let _ = x; 'k' }",
        "fn f(x: Kube) -> Tokio { x.kube.tokio }",
    ] {
        assert_eq!(found(text), Vec::<String>::new(), "wrongly caught: {text}");
    }
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module a file is: `src/core/planner.rs` is `crate::core::planner`, `src/core/mod.rs`
/// is `crate::core`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let mut module = vec!["crate".to_string()];
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    module.extend(
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if module.last().is_some_and(|m| m == "mod" || m == "lib") {
        module.pop();
    }
    module
}

/// What a path that climbs above the crate root with `super` resolves to.
const ABOVE_THE_CRATE: &str = "<above the crate root>";

/// Each path in `text` that starts with a forbidden prefix, as `path (forbidden prefix)`.
fn violations_in(text: &str, module: &[String], forbidden: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = paths(&tokens(text))
        .into_iter()
        .map(|path| resolve(path, module))
        .filter_map(|path| {
            let joined = path.join("::");
            forbidden
                .iter()
                .chain(&[ABOVE_THE_CRATE])
                .find(|prefix| joined == **prefix || joined.starts_with(&format!("{prefix}::")))
                .map(|prefix| format!("{joined} ({prefix})"))
        })
        .collect();
    found.dedup();
    found
}

/// `super` and `self` made absolute from the file's module. A `super` past the crate root
/// (which rustc would refuse anyway) becomes [`ABOVE_THE_CRATE`], reported under every rule.
fn resolve(path: Vec<String>, module: &[String]) -> Vec<String> {
    let mut base: Vec<String> = match path.first().map(String::as_str) {
        Some("self" | "super") => module.to_vec(),
        _ => return path,
    };
    let mut rest = path.into_iter().peekable();
    if rest.peek().is_some_and(|s| s == "self") {
        rest.next();
    }
    while rest.peek().is_some_and(|s| s == "super") {
        rest.next();
        base.pop();
    }
    if base.is_empty() {
        base = vec![ABOVE_THE_CRATE.to_string()];
    }
    base.extend(rest);
    base
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The identifiers, `::` and punctuation of Rust source, without comments and literals.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
        } else if let Some((hashes, quote)) = raw_or_byte_string_start(&chars, i) {
            i = match hashes {
                Some(hashes) => skip_raw_string(&chars, quote + 1, hashes),
                None => skip_string(&chars, quote + 1),
            };
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): a literal closes with a
            // quote after one character or an escape.
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            out.push(Token::Ident(ident.trim_start_matches("r#").to_string()));
        } else if c == ':' && next == Some(':') {
            out.push(Token::PathSep);
            i += 2;
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// At `r"`, `r#"`, `b"`, `br"`, `br#"`: the number of `#` (None for a non-raw byte string)
/// and the index of the opening quote. None anywhere else (an identifier, say).
fn raw_or_byte_string_start(chars: &[char], i: usize) -> Option<(Option<usize>, usize)> {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return None;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
        if chars.get(j) == Some(&'"') {
            return Some((None, j));
        }
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((Some(hashes), j))
}

/// The index after the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The index after `"###` closing a raw string with `hashes` hashes whose body starts at `i`.
fn skip_raw_string(chars: &[char], mut i: usize, hashes: usize) -> usize {
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// Every path: the trees of `use` items expanded (`use a::{b, c::d}` gives `a::b`, `a::c::d`),
/// and elsewhere each run of `ident::ident…` that is not the tail of a longer path or a field
/// or method (`x.kube`).
fn paths(tokens: &[Token]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == Token::Ident("use".into()) {
            let end = tokens[i..]
                .iter()
                .position(|t| *t == Token::Punct(';'))
                .map_or(tokens.len(), |p| i + p);
            let mut tree = &tokens[i + 1..end];
            // `use ::std::fs` names the same crate as `use std::fs`.
            if tree.first() == Some(&Token::PathSep) {
                tree = &tree[1..];
            }
            use_tree(tree, &mut Vec::new(), &mut out);
            i = end + 1;
            continue;
        }
        let starts_path = matches!(tokens[i], Token::Ident(_))
            && !matches!(
                i.checked_sub(1).map(|p| &tokens[p]),
                Some(Token::PathSep | Token::Punct('.'))
            );
        if starts_path {
            let mut path = Vec::new();
            while let Some(Token::Ident(name)) = tokens.get(i) {
                path.push(name.clone());
                if tokens.get(i + 1) == Some(&Token::PathSep)
                    && matches!(tokens.get(i + 2), Some(Token::Ident(_)))
                {
                    i += 2;
                } else {
                    i += 1;
                    break;
                }
            }
            out.push(path);
        } else {
            i += 1;
        }
    }
    out
}

/// Expands one use tree (the tokens between `use` and `;`, or one item of a `{…}` group) under
/// `prefix`.
fn use_tree(tree: &[Token], prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let depth = prefix.len();
    let mut i = 0;
    while i < tree.len() {
        match &tree[i] {
            Token::Ident(name) if name == "as" => break,
            Token::Ident(name) => prefix.push(name.clone()),
            Token::PathSep => {}
            Token::Punct('{') => {
                let close = matching_brace(tree, i);
                for item in split_top_level(&tree[i + 1..close]) {
                    use_tree(item, prefix, out);
                }
                prefix.truncate(depth);
                return;
            }
            Token::Punct(_) => {} // `*`
        }
        i += 1;
    }
    // `self` in a group names the group's own path.
    if prefix.last().is_some_and(|s| s == "self") && prefix.len() > 1 {
        prefix.pop();
    }
    out.push(prefix.clone());
    prefix.truncate(depth);
}

fn matching_brace(tree: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (i, token) in tree.iter().enumerate().skip(open) {
        match token {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tree.len()
}

/// The comma-separated items of a `{…}` group, nested groups kept whole.
fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => depth -= 1,
            Token::Punct(',') if depth == 0 => {
                items.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tokens[start..]);
    items.retain(|item| !item.is_empty());
    items
}
