//! The command line's `plan` and `import`: the core run on local files (docs/cli.md).
//!
//! Everything is computed first; files are written (atomically) only when all went well, so a
//! failed command leaves nothing behind.

mod json_output;
pub mod plan_users;
pub mod records_file;
mod records_scan;
pub mod table;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args, ValueEnum};
use jiff::civil::Date;

use crate::mail::{MailArgs, MailError, MailSettings, ReportMail, build_message, send};
use records_file::{PlanRecords, RecordsFile, TenantRecords, prepare_atomic_write};
use user_import_engine::archive::read_unpacked;
use user_import_engine::error_report::{ErrorReport, error_report_summary, write_error_report};
use user_import_engine::matching::UserIndex;
use user_import_engine::naming::dns_name;
use user_import_engine::planner::{Plan, PlanOptions, Writes, plan_checked};
use user_import_engine::results::{
    ErrorReportSummary, HIGHLIGHT_MESSAGE, ImportResults, build_results,
};
use user_import_engine::template::{Template, TemplateLimits, read_template};
use user_import_engine::validation::{RowProblems, validate_rows};

/// Options shared by `plan` and `import`.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The User Import Template: a CSV, or a CSV compressed with gzip (`.csv.gz`, recognised by
    /// its first bytes, not by its name).
    #[arg(long, value_name = "FILE")]
    pub template: PathBuf,
    /// The tenant's users, as `kubectl get tenantusers -o yaml|json` prints them. A missing
    /// file means the tenant has no users yet.
    #[arg(long, value_name = "FILE")]
    pub records: PathBuf,
    /// The tenant's display name (the error report's title); its DNS form names new records.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub tenant: String,
    /// Whether new and linked users become SSO-synced (the tenant's ssoSync.enabled).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub sso_sync: bool,
    /// The report date, YYYY-MM-DD (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = report_date)]
    pub date: Option<Date>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Where to write the error report: a file, or a folder to write it into under its own name.
    #[arg(long, value_name = "PATH")]
    pub error_report: Option<PathBuf>,
    /// Largest template accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = TemplateLimits::default().max_bytes)]
    pub max_template_bytes: usize,
    /// Most user rows accepted in one template.
    #[arg(long, value_name = "ROWS", default_value_t = TemplateLimits::default().max_rows)]
    pub max_rows: usize,
    /// Longest cell accepted, in characters.
    #[arg(long, value_name = "CHARS", default_value_t = TemplateLimits::default().max_cell_chars)]
    pub max_cell_chars: usize,
}

/// Options of `import` beyond those of `plan`.
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    #[command(flatten)]
    pub(crate) plan: PlanArgs,
    /// `continue` applies the good rows; `abort` applies nothing when any row is a problem.
    #[arg(long, value_enum, default_value_t = OnProblemArg::Continue)]
    pub(crate) on_problem: OnProblemArg,
    /// The tenant's default site administrator, who receives the error report. Required when
    /// there is a report to send.
    #[arg(long, value_name = "EMAIL", value_parser = recipient_address)]
    pub(crate) to: Option<String>,
    #[command(flatten)]
    pub(crate) mail: MailArgs,
}

/// How `plan` and `import` print their report.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// The three sections as tables, for a person.
    Table,
    /// The report as JSON, in the shape of docs/results.md.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnProblemArg {
    Continue,
    Abort,
}

/// A failure, with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The template was rejected (exit 3).
    #[error("template rejected: {0}")]
    Rejected(String),
    /// Any other failure (exit 1), with its causes (`{:#}`). Not a `source`: the message
    /// already says it all, and anyhow's error is no `std::error::Error`.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl CliError {
    /// The process exit code of this failure (docs/cli.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Rejected(_) => 3,
            CliError::Failed(_) => 1,
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        CliError::Failed(error)
    }
}

/// Everything one run computed, before anything is written. `R` is what was read of the
/// records file: all of it for `import`, which rewrites it, the users alone for `plan`.
pub struct Planned<R = RecordsFile> {
    /// The template. Nothing reads it after the plan: it is held so that, like the rest, it is
    /// not freed row by row before the command ends (see `exit_without_freeing`).
    #[expect(dead_code, reason = "held, not read: see above")]
    pub(crate) template: Template,
    pub(crate) records: R,
    pub(crate) plan: Plan,
    /// The error report of the problem rows, when there are any and it was asked for (see
    /// [`ErrorCsv`]).
    pub error_report: Option<ErrorReport>,
    /// The report that `--output` prints.
    pub report: ImportResults,
    pub(crate) tenant: String,
}

/// Reads the template and the records, and plans, as `import` does: every record whole, and
/// the writes that apply the plan. Writes nothing.
pub fn prepare(args: &PlanArgs) -> Result<Planned, CliError> {
    prepare_with::<RecordsFile>(args, Writes::Keep, ErrorCsv::Make)
}

/// Whether a run makes the error report's CSV. The report names the error report and counts
/// its rows either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorCsv {
    /// `import`, which writes and mails it, and `plan --error-report`.
    Make,
    /// `plan` without `--error-report`, which writes no file: on a large template with many
    /// problem rows the CSV costs as much as printing a section of the report.
    Skip,
}

/// [`prepare`], reading of the records what `R` keeps, with the plan's writes or not, with
/// the error report's CSV or not: `plan` reads the users alone and keeps no writes, as it only
/// prints the report, and makes the CSV only to write it.
///
/// The template (read and checked on its own) and the records are independent until the
/// plan: each is read on a core of its own.
pub(crate) fn prepare_with<R: TenantRecords + Send>(
    args: &PlanArgs,
    writes: Writes,
    error_csv: ErrorCsv,
) -> Result<Planned<R>, CliError> {
    let (checked, records) = std::thread::scope(|scope| {
        let records = scope.spawn(|| R::read(&args.records));
        let checked = read_and_check_template(args);
        let records = records
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (checked, records)
    });
    // A rejected template is reported first, whatever the records file holds.
    let (template, problems) = checked?;
    let records = records?;
    let tenant = records
        .tenant_label()
        .unwrap_or_else(|| dns_name(&args.tenant));
    let options = PlanOptions {
        tenant: tenant.clone(),
        sso_sync: args.sso_sync,
    };
    let index = UserIndex::new(records.users());
    records.refuse_shared_name(&args.records, index.shared_name())?;
    let mut plan = plan_checked(&template, problems, &index, &options, writes);
    let date = args.date.unwrap_or_else(|| {
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
    });
    let error_report = match error_csv {
        ErrorCsv::Make => write_error_report(&args.tenant, date, &template, &plan),
        ErrorCsv::Skip => None,
    };
    let summary = error_report_summary(&args.tenant, date, &plan);
    let report = take_results(&args.tenant, &template, &mut plan, summary);
    Ok(Planned {
        template,
        records,
        plan,
        error_report,
        report,
        tenant,
    })
}

/// The report of `plan`, as [`build_results`] makes it, but with the three sections moved out of
/// the plan rather than copied: on a large template the copies were most of the report's cost.
/// The plan keeps its counts and writes, all that is used of it afterwards.
fn take_results(
    tenant: &str,
    template: &Template,
    plan: &mut Plan,
    error_report: Option<ErrorReportSummary>,
) -> ImportResults {
    // The highlight sentence is the one part of the report that depends on the sections.
    let highlights = plan.has_highlights();
    let new = std::mem::take(&mut plan.new);
    let update = std::mem::take(&mut plan.update);
    let problem = std::mem::take(&mut plan.problem);
    let report = build_results(tenant, template, plan, error_report);
    ImportResults {
        new,
        update,
        problem,
        highlight_message: highlights.then(|| HIGHLIGHT_MESSAGE.to_string()),
        ..report
    }
}

/// Reads the template within its limits, and checks its rows ([`validate_rows`]).
fn read_and_check_template(args: &PlanArgs) -> Result<(Template, Vec<RowProblems>), CliError> {
    let path = args.template.display();
    let limits = TemplateLimits {
        max_bytes: args.max_template_bytes,
        max_rows: args.max_rows,
        max_cell_chars: args.max_cell_chars,
    };
    let file = std::fs::File::open(&args.template)
        .map_err(|error| CliError::Rejected(format!("cannot read {path}: {error}")))?;
    // Read within the size limit: an endless input (a pipe, /dev/zero) stops there, and so does
    // a gzip file whose decompressed content is over it.
    let template = read_unpacked(file, &limits)
        .and_then(|bytes| read_template(&bytes, &limits))
        .map_err(|error| CliError::Rejected(format!("{path}: {error}")))?;
    let problems = validate_rows(&template);
    Ok((template, problems))
}

/// `plan`: prints the three sections; writes the error report only when asked to.
pub fn run_plan(args: &PlanArgs) -> Result<(), CliError> {
    let error_csv = match args.error_report {
        Some(_) => ErrorCsv::Make,
        None => ErrorCsv::Skip,
    };
    let planned = prepare_with::<PlanRecords>(args, Writes::Skip, error_csv)?;
    if let (Some(path), Some(report)) = (&args.error_report, &planned.error_report) {
        prepare_atomic_write(&report_path(path, report), &report.csv)?.persist()?;
    }
    print_report(&planned.report, args.output)?;
    exit_without_freeing(planned);
    Ok(())
}

/// The process ends right after a command: freeing a large plan record by record would take
/// longer than the operating system reclaiming it all at once.
fn exit_without_freeing<R>(planned: Planned<R>) {
    std::mem::forget(planned);
}

/// `import`: plans, then rewrites the records file and writes the error report.
///
/// Nothing is written when the command fails: everything that can fail (the recipient and
/// mail settings, the report's file name and folder, both temporary files) is checked or
/// prepared first, then the mail is sent, and only then are the files renamed into place.
pub fn run_import(args: &ImportArgs) -> Result<(), CliError> {
    let mut planned = prepare(&args.plan)?;
    let mail = match &planned.error_report {
        Some(error_report) => Some(mail_settings(args, error_report)?),
        None => None,
    };
    let abort = args.on_problem == OnProblemArg::Abort && planned.plan.counts.problem > 0;
    let writes = if abort {
        &[][..]
    } else {
        &planned.plan.writes[..]
    };
    planned.records.apply(writes, &planned.tenant);
    // Both files are written beside their destinations first, then renamed into place.
    let records = prepare_atomic_write(&args.plan.records, &planned.records.render()?)?;
    let report = match &planned.error_report {
        Some(report) => {
            let folder = args.plan.error_report.clone().unwrap_or_else(|| ".".into());
            Some(prepare_atomic_write(
                &report_path(&folder, report),
                &report.csv,
            )?)
        }
        None => None,
    };
    // The mail goes before the renames: a failed send leaves nothing written, and a retried
    // import then sends the same message (same Message-ID) again.
    if let (Some((to, settings)), Some(error_report)) = (mail, &planned.error_report) {
        mail_report(args, to, &settings, &planned.report, error_report)?;
    }
    records.persist()?;
    if let Some(report) = report {
        report.persist()?;
    }
    print_report(&planned.report, args.plan.output)?;
    if abort {
        eprintln!(
            "onProblem abort: nothing applied, as {} row(s) are problems",
            planned.plan.counts.problem
        );
    }
    exit_without_freeing(planned);
    Ok(())
}

/// `--date`: a calendar date written `YYYY-MM-DD`. Anything else, or a day that does not exist
/// (2026-02-30), is refused by clap as a usage error (exit 2).
fn report_date(text: &str) -> Result<Date, String> {
    Date::strptime("%Y-%m-%d", text).map_err(|error| format!("not a date YYYY-MM-DD: {error}"))
}

/// `--to` must be an address a message can be sent to: a bad one is a usage error, found
/// before anything is read or written.
fn recipient_address(text: &str) -> Result<String, String> {
    let address = text.trim();
    address
        .parse::<lettre::Address>()
        .map(|_| address.to_string())
        .map_err(|error| format!("not a valid e-mail address: {error}"))
}

/// The recipient and the mail settings of a report to send. A missing `--to`, or a mail
/// option that is not valid, is a usage error.
fn mail_settings(
    args: &ImportArgs,
    error_report: &ErrorReport,
) -> Result<(String, MailSettings), CliError> {
    let Some(to) = args.to.clone() else {
        let rows = error_report.rows;
        return Err(CliError::Usage(format!(
            "{rows} problem row(s) make an error report to send: name its recipient with --to EMAIL"
        )));
    };
    // The operator's rule, the same for the CLI: a report is never mailed outside the list.
    // Found before anything is written, as a usage error (docs/cli.md).
    if let Err(refused) = args.mail.recipient_domains().check(&to) {
        return Err(CliError::Usage(format!(
            "--to {to}: {refused}: the error report is not mailed"
        )));
    }
    for warning in MailArgs::retired_variable_warnings() {
        eprintln!("user-import-operator: warning: {warning}");
    }
    let settings = args.mail.settings().map_err(|error| match error {
        MailError::InvalidAddress { .. } | MailError::InvalidSettings(_) => {
            CliError::Usage(error.to_string())
        }
        error => CliError::Failed(error.into()),
    })?;
    if settings.is_plain_text() {
        eprintln!(
            "user-import-operator: warning: the SMTP relay is reached without TLS (tls=none): the report crosses the network in clear"
        );
    }
    Ok((to, settings))
}

/// Sends the error report to `to` by SMTP, or writes it into the outbox.
fn mail_report(
    args: &ImportArgs,
    to: String,
    settings: &MailSettings,
    report: &ImportResults,
    error_report: &ErrorReport,
) -> Result<(), CliError> {
    let source = args.plan.template.display().to_string();
    let identity = std::fs::canonicalize(&args.plan.template)
        .map(|path| format!("file://{}", path.display()))
        .unwrap_or_else(|_| source.clone());
    let mail = ReportMail {
        to: to.clone(),
        to_name: None,
        source,
        identity,
        report,
        file_name: error_report.file_name.clone(),
        csv: error_report.csv.clone(),
    };
    let message = build_message(&mail, &settings.from).map_err(anyhow::Error::from)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    let delivery = runtime
        .block_on(send(settings, message))
        .map_err(anyhow::Error::from)?;
    eprintln!(
        "error report for {to}: {} ({} attempt(s), {})",
        delivery.target, delivery.attempts, delivery.detail
    );
    Ok(())
}

/// `PATH` itself, or `PATH/<report file name>` when it is a folder.
fn report_path(path: &Path, report: &ErrorReport) -> PathBuf {
    let is_folder = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
    if is_folder {
        path.join(&report.file_name)
    } else {
        path.to_path_buf()
    }
}

fn print_report(report: &ImportResults, output: OutputFormat) -> anyhow::Result<()> {
    use std::io::Write;
    // A large buffer: the report of a large template is megabytes, and stdout writes each
    // chunk it is given at once.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match output {
        OutputFormat::Json => {
            json_output::write_json(&mut stdout, report)?;
            stdout.write_all(b"\n")?;
        }
        OutputFormat::Table => {
            let color = std::io::stdout().is_terminal();
            stdout.write_all(table::render(report, color).as_bytes())?;
        }
    }
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The bundled example template and records, read.
    pub(crate) fn examples() -> (Template, RecordsFile) {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let bytes = std::fs::read(examples.join("template.csv")).unwrap();
        let template = read_template(&bytes, &TemplateLimits::default()).unwrap();
        let records = RecordsFile::read(&examples.join("records.yaml")).unwrap();
        (template, records)
    }

    /// `take_results` makes the report `build_results` makes, with and without highlights.
    #[test]
    fn a_report_taken_from_the_plan_is_the_report_built_from_it() {
        let (template, records) = examples();
        let date = jiff::civil::date(2026, 1, 2);
        let mut highlights = 0;
        for users in [&records.users[..], &[]] {
            let options = PlanOptions {
                tenant: "acme".into(),
                sso_sync: true,
            };
            let mut plan = user_import_engine::planner::plan(&template, users, &options);
            let error_report = write_error_report("Acme", date, &template, &plan);
            let summary = error_report.as_ref().map(ErrorReport::summary);
            assert_eq!(summary, error_report_summary("Acme", date, &plan));
            let built = build_results("Acme", &template, &plan, summary.clone());
            let taken = take_results("Acme", &template, &mut plan, summary);
            assert_eq!(taken, built);
            highlights += usize::from(taken.highlight_message.is_some());
        }
        assert_eq!(highlights, 1, "one plan with highlights, one without");
    }

    #[test]
    fn a_report_date_is_a_calendar_day_written_yyyy_mm_dd() {
        assert_eq!(
            report_date("2026-11-24"),
            Ok(jiff::civil::date(2026, 11, 24))
        );
        assert_eq!(
            report_date("2028-02-29"),
            Ok(jiff::civil::date(2028, 2, 29))
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2027-02-29",
            "2026-11-24x",
            "2026-11-24T10:00",
            "24.11.2026",
            "today",
            "",
        ] {
            assert!(report_date(bad).is_err(), "{bad:?} accepted");
        }
    }
}
