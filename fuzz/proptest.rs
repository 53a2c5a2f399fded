//! Fuzzing on stable Rust: arbitrary bytes, and structured mutations of the bundled examples
//! (`examples/template.csv`, `examples/records.yaml` and its JSON form), through the template
//! reader and planner and through the records-file reader (the checks are in `checks.rs`,
//! shared with the `cargo fuzz` targets).
//!
//! `cargo test --test fuzz` runs a few thousand cases, as CI does. To run longer, set the
//! number of cases per property, and build optimised:
//! `USER_IMPORT_FUZZ_CASES=200000 cargo test --release --test fuzz`.

mod checks;

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use user_import_operator::cli::records_file::{RecordsFile, RecordsFormat};

/// Cases per property: `USER_IMPORT_FUZZ_CASES`, or enough for CI to cover the common paths.
fn config() -> Config {
    let cases = std::env::var("USER_IMPORT_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000);
    Config {
        cases,
        // Keep failing seeds beside this file, so that a rerun tries them first.
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// One change to an input.
#[derive(Clone, Debug)]
enum Mutation {
    /// Insert bytes at a position.
    Insert(prop::sample::Index, Vec<u8>),
    /// Overwrite one byte.
    Replace(prop::sample::Index, u8),
    /// Remove up to `len` bytes from a position.
    Delete(prop::sample::Index, usize),
    /// Repeat a line (a duplicate row, user or key).
    DuplicateLine(prop::sample::Index),
    /// Remove a line.
    DeleteLine(prop::sample::Index),
    /// Exchange two lines.
    SwapLines(prop::sample::Index, prop::sample::Index),
    /// Cut the input short.
    Truncate(prop::sample::Index),
}

/// Mutations whose inserted and replacing bytes come mostly from `words`: the structure of the
/// format, so that most mutants stay close enough to it to reach past the first parse.
/// At most `most` mutations are made: a few keep a mutant readable, many break it early.
fn mutations(words: &'static [&'static [u8]], most: usize) -> impl Strategy<Value = Vec<Mutation>> {
    let index = any::<prop::sample::Index>;
    let inserted = prop_oneof![
        6 => prop::sample::select(words).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ];
    let byte = prop_oneof![
        6 => prop::sample::select(words)
            .prop_filter_map("one byte", |word| (word.len() == 1).then(|| word[0])),
        1 => any::<u8>(),
    ];
    let mutation = prop_oneof![
        (index(), inserted).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (index(), byte).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        (index(), 1..40usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        index().prop_map(Mutation::DuplicateLine),
        index().prop_map(Mutation::DeleteLine),
        (index(), index()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        index().prop_map(Mutation::Truncate),
    ];
    prop::collection::vec(mutation, 1..=most)
}

/// `seed` with the mutations applied in order.
fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for mutation in mutations {
        let at = |index: &prop::sample::Index, len: usize| index.index(len + 1);
        match mutation {
            Mutation::Insert(index, inserted) => {
                let position = at(index, bytes.len());
                bytes.splice(position..position, inserted.iter().copied());
            }
            Mutation::Replace(index, byte) if !bytes.is_empty() => {
                let position = index.index(bytes.len());
                bytes[position] = *byte;
            }
            Mutation::Replace(..) => {}
            Mutation::Delete(index, len) => {
                let position = at(index, bytes.len());
                let end = (position + len).min(bytes.len());
                bytes.drain(position..end);
            }
            Mutation::Truncate(index) => bytes.truncate(at(index, bytes.len())),
            Mutation::DuplicateLine(index) => {
                let lines = lines(&bytes);
                let line = lines[index.index(lines.len())].clone();
                bytes = join(lines.iter().chain(std::iter::once(&line)));
            }
            Mutation::DeleteLine(index) => {
                let mut lines = lines(&bytes);
                lines.remove(index.index(lines.len()));
                bytes = join(lines.iter());
            }
            Mutation::SwapLines(a, b) => {
                let mut lines = lines(&bytes);
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
                bytes = join(lines.iter());
            }
        }
    }
    bytes
}

/// The lines of `bytes`, each with its line end (at least one, possibly empty, line).
fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = bytes
        .split_inclusive(|byte| *byte == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    if lines.is_empty() {
        lines.push(Vec::new());
    }
    lines
}

fn join<'a>(lines: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
    lines.flatten().copied().collect()
}

/// The pieces a template is made of, and values that sit on the rules' edges.
const CSV_WORDS: &[&[u8]] = &[
    b",",
    b";",
    b"\t",
    b"\"",
    b"\"\"",
    b"\r",
    b"\n",
    b"\r\n",
    b" ",
    b"=",
    b"@",
    b".",
    b"-",
    b"\xEF\xBB\xBF",
    b"\xE9",
    b"\xFF",
    "é".as_bytes(),
    "😀".as_bytes(),
    b"Email",
    b"Coupa User ID",
    b"Coupa Username",
    b"First Name",
    b"E-mail",
    b"Active",
    b"Deleted",
    b"1001",
    b"123456789012345678901",
    b"a@acme..test",
    b"jdoe@acme.test",
    b"jdoe",
    b",,,,,,,,,,,,,\n",
];

/// The pieces a records file is made of, in YAML and JSON.
const RECORDS_WORDS: &[&[u8]] = &[
    b":",
    b": ",
    b"-",
    b"- ",
    b" ",
    b"  ",
    b"\t",
    b"\n",
    b"\r\n",
    b"'",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"#",
    b"~",
    b"null",
    b"&a ",
    b"*a",
    b"!!binary ",
    b"---\n",
    b"...\n",
    b"items:\n",
    b"kind: List\n",
    b"kind: ConfigMap",
    b"name: acme-1002\n",
    b"name: ",
    b"metadata:\n",
    b"spec:\n",
    b"coupaUserId: 1001",
    b"ssoSynced: yes",
    b"status: Bogus",
    b"creationTimestamp: x",
    b"\"name\":\"acme-1002\"",
    b"\xEF\xBB\xBF",
    "é".as_bytes(),
];

/// The example records in `format`: the JSON list and the YAML documents are the other forms
/// `--records` takes.
fn example_records(format: RecordsFormat) -> &'static [u8] {
    static FORMS: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    let forms = FORMS.get_or_init(|| {
        let file = RecordsFile::parse(checks::EXAMPLE_RECORDS).expect("the example records read");
        let render = |format| {
            let file = RecordsFile {
                format,
                ..file.clone()
            };
            file.render().expect("the example records render")
        };
        [
            checks::EXAMPLE_RECORDS.to_vec(),
            render(RecordsFormat::JsonList),
            render(RecordsFormat::YamlDocuments),
        ]
    });
    match format {
        RecordsFormat::YamlList => &forms[0],
        RecordsFormat::JsonList => &forms[1],
        RecordsFormat::YamlDocuments => &forms[2],
    }
}

/// Any string a field may hold, with the values YAML reads as something else than a string
/// (`yes`, `~`, `1e3`, `0x1F`, `2026-11-24`) and text that needs quoting.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "yes",
            "No",
            "~",
            "null",
            "1e3",
            "0x1F",
            "0o17",
            "1001",
            "-0",
            ".inf",
            "2026-11-24",
            "",
            " ",
            "'",
            "\"",
            "- a",
            "a: b",
            "#x",
            "&a",
            "*a",
            "!t",
            "%",
            "@",
            "`",
            "|",
            ">",
        ])
        .prop_map(String::from),
        "\\PC{0,12}",
        any::<String>(),
    ]
}

/// A records file made of objects with arbitrary field values (names from a small pool, so
/// that two objects often share one, or have none), in any of the three forms.
fn records_file() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::option::of(prop::sample::select(vec!["acme-1", "acme-2", "x", ""]));
    let user = (
        name,
        prop::option::of(field_value()),
        prop::option::of(field_value()),
        prop::option::of(field_value()),
        prop::option::of(field_value()),
        prop::option::of(prop::sample::select(vec!["Active", "inactive", "Bogus"])),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["TenantUser", "ConfigMap"])),
    )
        .prop_map(|(name, username, email, cu, id, status, sso, kind)| {
            let mut spec = serde_json::Map::new();
            for (key, value) in [
                ("username", username),
                ("email", email),
                ("coupaUsername", cu),
                ("coupaUserId", id),
                ("status", status.map(String::from)),
            ] {
                if let Some(value) = value {
                    spec.insert(key.into(), value.into());
                }
            }
            spec.insert("ssoSynced".into(), sso.into());
            let mut object = serde_json::json!({"apiVersion": "riskassess.io/v1alpha1",
                "metadata": {"labels": {"riskassess.io/tenant": "acme"}}, "spec": spec});
            if let Some(name) = name {
                object["metadata"]["name"] = name.into();
            }
            if let Some(kind) = kind {
                object["kind"] = kind.into();
            }
            object
        });
    (prop::collection::vec(user, 0..6), 0..3usize).prop_map(|(users, form)| {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": users});
        match form {
            0 => serde_json::to_vec_pretty(&list).expect("JSON"),
            1 => serde_norway::to_string(&list).expect("YAML").into_bytes(),
            _ => users
                .iter()
                .map(|user| format!("---\n{}", serde_norway::to_string(user).expect("YAML")))
                .collect::<String>()
                .into_bytes(),
        }
    })
}

#[test]
fn the_seeds_pass_the_checks() {
    checks::template(checks::EXAMPLE_TEMPLATE);
    checks::records(checks::EXAMPLE_RECORDS);
    checks::records(example_records(RecordsFormat::JsonList));
    checks::records(example_records(RecordsFormat::YamlDocuments));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn template_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2_000)) {
        checks::template(&bytes);
    }

    #[test]
    fn template_mutated_example(mutations in mutations(CSV_WORDS, 8)) {
        checks::template(&mutate(checks::EXAMPLE_TEMPLATE, &mutations));
    }

    #[test]
    fn records_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2_000)) {
        checks::records(&bytes);
    }

    #[test]
    fn records_with_any_values(bytes in records_file()) {
        checks::records(&bytes);
    }

    #[test]
    fn records_mutated_example(
        mutations in mutations(RECORDS_WORDS, 3),
        format in prop::sample::select(vec![
            RecordsFormat::YamlList,
            RecordsFormat::JsonList,
            RecordsFormat::YamlDocuments,
        ]),
    ) {
        checks::records(&mutate(example_records(format), &mutations));
    }
}
