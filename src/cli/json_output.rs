//! `--output json`: the report, in exactly the text of `serde_json::to_writer_pretty`, with a
//! large report's entries written on two cores.
//!
//! A report of 100,000 rows is about 14 MB of JSON, and serializing it took a tenth of `plan`'s
//! time on one core. Its entries are independent: the first half is written straight to the
//! output on this thread while the second half is written into a buffer on another, which is
//! then written after it. A test checks that every split gives serde_json's own text.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use user_import_engine::results::{ImportResults, NewEntry, ProblemEntry, UpdateEntry};

/// The fewest entries worth a thread of their own.
const ENTRIES_PER_THREAD: usize = 10_000;

/// Writes `report` as `serde_json::to_writer_pretty` does.
pub(crate) fn write_json(out: &mut impl Write, report: &ImportResults) -> io::Result<()> {
    let steps = steps(report);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    write_split(out, report, &steps, split(&steps, cores))
}

/// Where the steps are cut between the two threads: before the middle entry of a large
/// report, after the last step (one thread) of a small one or on one core.
fn split(steps: &[Step], cores: usize) -> usize {
    let entries = steps.iter().filter(|step| step.is_entry()).count();
    if cores < 2 || entries < 2 * ENTRIES_PER_THREAD {
        return steps.len();
    }
    let mut seen = 0;
    steps
        .iter()
        .position(|step| {
            seen += usize::from(step.is_entry());
            seen > entries / 2
        })
        .unwrap_or(steps.len())
}

/// Writes `steps[..split]` to `out` on this thread while another writes the rest into a buffer.
fn write_split(
    out: &mut impl Write,
    report: &ImportResults,
    steps: &[Step],
    split: usize,
) -> io::Result<()> {
    let (first, rest) = steps.split_at(split);
    if rest.is_empty() {
        return write_steps(out, report, first);
    }
    std::thread::scope(|scope| {
        let rest = scope.spawn(|| {
            let mut buffer = Vec::new();
            write_steps(&mut buffer, report, rest).map(|()| buffer)
        });
        write_steps(out, report, first)?;
        let rest = rest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        out.write_all(&rest)
    })
}

/// One step of the report's text, in order.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    /// `{` and the fields before the sections.
    Head,
    /// A section's key and `[`.
    Open(&'static str),
    /// An entry of a section, and whether it is the section's first.
    New(&'a NewEntry, bool),
    Update(&'a UpdateEntry, bool),
    Problem(&'a ProblemEntry, bool),
    /// A section's `]`, after entries or not.
    Close(bool),
    /// The fields after the sections, and `}`.
    Tail,
}

impl Step<'_> {
    fn is_entry(&self) -> bool {
        matches!(self, Step::New(..) | Step::Update(..) | Step::Problem(..))
    }
}

/// The report's steps: its fields in the order `ImportResults` declares them, which is the
/// order serde writes them in.
fn steps(report: &ImportResults) -> Vec<Step<'_>> {
    let mut steps = vec![Step::Head];
    section(&mut steps, "new", &report.new, Step::New);
    section(&mut steps, "update", &report.update, Step::Update);
    section(&mut steps, "problem", &report.problem, Step::Problem);
    steps.push(Step::Tail);
    steps
}

/// The steps of a section: its key, each entry (`step` of it, and whether it is the first),
/// and its end.
fn section<'a, T>(
    steps: &mut Vec<Step<'a>>,
    key: &'static str,
    entries: &'a [T],
    step: fn(&'a T, bool) -> Step<'a>,
) {
    steps.push(Step::Open(key));
    steps.extend(
        entries
            .iter()
            .enumerate()
            .map(|(at, entry)| step(entry, at == 0)),
    );
    steps.push(Step::Close(!entries.is_empty()));
}

fn write_steps(out: &mut impl Write, report: &ImportResults, steps: &[Step]) -> io::Result<()> {
    // Every field is named here, so that a field added to the report fails to compile until
    // it is written here too.
    let ImportResults {
        tenant,
        template,
        counts,
        new: _,
        update: _,
        problem: _,
        highlight_message,
        error_report,
    } = report;
    for step in steps {
        match *step {
            Step::Head => {
                out.write_all(b"{")?;
                field(out, true, "tenant", tenant)?;
                field(out, false, "template", template)?;
                field(out, false, "counts", counts)?;
            }
            Step::Open(key) => {
                write!(out, ",\n  \"{key}\": [")?;
            }
            Step::New(entry, first) => self::entry(out, first, entry)?,
            Step::Update(entry, first) => self::entry(out, first, entry)?,
            Step::Problem(entry, first) => self::entry(out, first, entry)?,
            Step::Close(had_entries) => {
                out.write_all(if had_entries { b"\n  ]" } else { b"]" })?;
            }
            Step::Tail => {
                field(out, false, "highlightMessage", highlight_message)?;
                field(out, false, "errorReport", error_report)?;
                out.write_all(b"\n}")?;
            }
        }
    }
    Ok(())
}

/// A field of the report: `"key": value`, the value one level deep.
fn field(out: &mut impl Write, first: bool, key: &str, value: &impl Serialize) -> io::Result<()> {
    out.write_all(if first { b"\n  " } else { b",\n  " })?;
    write!(out, "\"{key}\": ")?;
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut *out,
        Pretty::at(1),
    ))?;
    Ok(())
}

/// An entry of a section: two levels deep.
fn entry(out: &mut impl Write, first: bool, entry: &impl Serialize) -> io::Result<()> {
    out.write_all(if first { b"\n    " } else { b",\n    " })?;
    entry.serialize(&mut serde_json::Serializer::with_formatter(
        &mut *out,
        Pretty::at(2),
    ))?;
    Ok(())
}

/// serde_json's pretty format (two spaces a level) for a value that starts `depth` levels deep:
/// `serde_json::ser::PrettyFormatter` always starts at the top.
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    fn at(depth: usize) -> Pretty {
        Pretty {
            depth,
            has_value: false,
        }
    }

    fn open<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        out.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            out.write_all(b"\n")?;
            self.indent(out)?;
        }
        out.write_all(bracket)
    }

    fn next<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(out)
    }

    fn indent<W: ?Sized + Write>(&self, out: &mut W) -> io::Result<()> {
        for _ in 0..self.depth {
            out.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.next(out, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.next(out, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::examples;
    use user_import_engine::error_report::write_error_report;
    use user_import_engine::planner::{PlanOptions, plan};
    use user_import_engine::results::build_results;

    /// The example's reports against its users and against none, and one with no entries.
    fn reports() -> Vec<ImportResults> {
        let (template, records) = examples();
        let options = PlanOptions {
            tenant: "acme".into(),
            sso_sync: true,
        };
        let date = jiff::civil::date(2026, 1, 2);
        let mut reports: Vec<_> = [&records.users[..], &[]]
            .into_iter()
            .map(|users| {
                let plan = plan(&template, users, &options);
                let error_report = write_error_report("Acme", date, &template, &plan);
                let summary = error_report.as_ref().map(|report| report.summary());
                build_results("Acme", &template, &plan, summary)
            })
            .collect();
        reports.push(ImportResults {
            new: Vec::new(),
            update: Vec::new(),
            problem: Vec::new(),
            highlight_message: None,
            error_report: None,
            ..reports[0].clone()
        });
        reports
    }

    fn written(report: &ImportResults, split: usize) -> String {
        let mut out = Vec::new();
        write_split(&mut out, report, &steps(report), split).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_split_writes_the_text_serde_json_writes() {
        let reports = reports();
        assert!(reports[0].highlight_message.is_some() && reports[0].error_report.is_some());
        for report in &reports {
            let expected = serde_json::to_string_pretty(report).unwrap();
            let steps = steps(report);
            for split in 0..=steps.len() {
                assert_eq!(written(report, split), expected, "split at step {split}");
            }
        }
    }

    /// Repeats the entries until there are at least [`ENTRIES_PER_THREAD`].
    fn copies<T: Clone>(entries: &mut Vec<T>) {
        let one = entries.clone();
        while entries.len() < ENTRIES_PER_THREAD {
            entries.extend(one.iter().cloned());
        }
    }

    #[test]
    fn a_large_report_is_cut_at_its_middle_entry_and_written_as_serde_json_writes_it() {
        let mut report = reports().swap_remove(0);
        copies(&mut report.new);
        copies(&mut report.update);
        copies(&mut report.problem);
        let all = steps(&report);
        let cut = split(&all, 2);
        assert_eq!(split(&all, 1), all.len(), "one core, one thread");
        let before = all[..cut].iter().filter(|step| step.is_entry()).count();
        let entries = report.new.len() + report.update.len() + report.problem.len();
        assert_eq!(before, entries / 2, "the first half on this thread");
        let mut out = Vec::new();
        write_json(&mut out, &report).unwrap();
        assert_eq!(out, serde_json::to_vec_pretty(&report).unwrap());
        // A small report stays on one thread.
        let small = reports().swap_remove(0);
        assert_eq!(split(&steps(&small), 2), steps(&small).len());
    }
}
