//! The command line's `plan` and `import`: the core run on local files (spec section 8).
//!
//! Everything is computed first; files are written (atomically) only when all went well, so a
//! failed command leaves nothing behind.

pub mod records_file;
pub mod table;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{ArgAction, Args, ValueEnum};

use crate::core::error_report::{ErrorReport, write_error_report};
use crate::core::naming::dns_name;
use crate::core::planner::{Plan, PlanOptions, plan};
use crate::core::report::{ImportReport, build_report};
use crate::core::template::{Template, TemplateLimits, read_template};
use records_file::{RecordsFile, prepare_atomic_write};

/// Options shared by `plan` and `import`.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The User Import Template (CSV).
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
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
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
    pub plan: PlanArgs,
    /// `continue` applies the good rows; `abort` applies nothing when any row is a problem.
    #[arg(long, value_enum, default_value_t = OnProblemArg::Continue)]
    pub on_problem: OnProblemArg,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnProblemArg {
    Continue,
    Abort,
}

/// A failure, with the exit status it maps to.
#[derive(Debug)]
pub enum CliError {
    /// The template was rejected (exit 3).
    Rejected(String),
    /// Any other failure (exit 1).
    Failed(anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Rejected(_) => 3,
            CliError::Failed(_) => 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Rejected(message) => write!(f, "template rejected: {message}"),
            CliError::Failed(error) => write!(f, "{error:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        CliError::Failed(error)
    }
}

/// Everything one run computed, before anything is written.
pub struct Planned {
    pub template: Template,
    pub records: RecordsFile,
    pub plan: Plan,
    pub error_report: Option<ErrorReport>,
    pub report: ImportReport,
    pub tenant: String,
}

/// Reads the template and the records, and plans. Writes nothing.
pub fn prepare(args: &PlanArgs) -> Result<Planned, CliError> {
    let path = args.template.display();
    let bytes = std::fs::read(&args.template)
        .map_err(|error| CliError::Rejected(format!("cannot read {path}: {error}")))?;
    let limits = TemplateLimits {
        max_bytes: args.max_template_bytes,
        max_rows: args.max_rows,
        max_cell_chars: args.max_cell_chars,
    };
    let template = read_template(&bytes, &limits)
        .map_err(|error| CliError::Rejected(format!("{path}: {error}")))?;
    let records = RecordsFile::read(&args.records)?;
    let tenant = records
        .tenant_label()
        .unwrap_or_else(|| dns_name(&args.tenant));
    let options = PlanOptions {
        tenant: tenant.clone(),
        sso_sync: args.sso_sync,
    };
    let plan = plan(&template, &records.users, &options);
    let date = args.date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let error_report = write_error_report(&args.tenant, date, &template, &plan);
    let report = build_report(&args.tenant, &template, &plan, error_report.as_ref());
    Ok(Planned {
        template,
        records,
        plan,
        error_report,
        report,
        tenant,
    })
}

/// `plan`: prints the three sections; writes the error report only when asked to.
pub fn run_plan(args: &PlanArgs) -> Result<(), CliError> {
    let planned = prepare(args)?;
    if let (Some(path), Some(report)) = (&args.error_report, &planned.error_report) {
        prepare_atomic_write(&report_path(path, report), &report.csv)?.persist()?;
    }
    print_report(&planned.report, args.output)?;
    exit_without_freeing(planned);
    Ok(())
}

/// The process ends right after a command: freeing a large plan record by record would take
/// longer than the operating system reclaiming it all at once.
fn exit_without_freeing(planned: Planned) {
    std::mem::forget(planned);
}

/// `import`: plans, then rewrites the records file and writes the error report.
pub fn run_import(args: &ImportArgs) -> Result<(), CliError> {
    let mut planned = prepare(&args.plan)?;
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

/// `PATH` itself, or `PATH/<report file name>` when it is a folder.
fn report_path(path: &Path, report: &ErrorReport) -> PathBuf {
    let is_folder = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
    if is_folder {
        path.join(&report.file_name)
    } else {
        path.to_path_buf()
    }
}

fn print_report(report: &ImportReport, output: OutputFormat) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match output {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, report)?;
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
