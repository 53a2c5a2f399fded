//! `kubectl user-import`: a kubectl plugin that shows a UserImport the way the product shows an
//! import (New Data, Update Data, Problem Data, highlighted fields), and the plan its template
//! would make now.
//!
//! An adapter like [`crate::cli`]: it reads from the API server, runs the core, and prints with
//! the CLI's table ([`crate::cli::table`]). It never writes to the cluster.
//!
//! - [`view`]: a UserImport as text (pure).
//! - [`status`]: `status NAME`, once or with `--watch`.
//! - [`plan`]: `plan NAME`, the core run against the cluster's current objects.

pub(crate) mod plan_command;
pub(crate) mod status_command;
pub(crate) mod view;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use user_import_resources::is_object_name;

/// See a UserImport's result the way the product shows it, from kubectl.
#[derive(Parser, Debug)]
#[command(
    name = "kubectl user-import",
    bin_name = "kubectl user-import",
    version,
    after_help = "Exit status: 0 printed; 1 the import is Failed or Stalled (plan: it cannot be \
                  planned; status --watch: not Ready in time); 2 usage; 3 the cluster could not \
                  be read."
)]
pub(crate) struct PluginArgs {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Show an import's phase, template, counts, the three sections, the error report's delivery
    /// and the conditions, from the UserImport's status. Exits 1 when the import is Failed or
    /// Stalled.
    Status(StatusArgs),
    /// Plan the UserImport's current template against the tenant's current users, with the same
    /// engine as the controller, and print it like the command line's `plan`. Writes nothing.
    Plan(NameArg),
}

/// The flags kubectl users expect; accepted before or after the subcommand's arguments.
#[derive(Args, Debug, Clone)]
pub(crate) struct ClusterArgs {
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// The UserImport's namespace (default: the context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// `table` for people; `json` or `yaml` (the status object, or the plan's JSON report) for
    /// scripts.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,
}

/// The UserImport to read.
#[derive(Args, Debug, Clone)]
pub(crate) struct NameArg {
    /// The UserImport's name.
    pub(crate) name: String,
}

/// Options of `status`.
#[derive(Args, Debug, Clone)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) target: NameArg,
    /// Redraw on every change until the import is Ready for its current generation.
    #[arg(short = 'w', long)]
    pub(crate) watch: bool,
    /// How long `--watch` waits for Ready: `30s`, `10m`, `1h30m`, or seconds.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
}

/// Output formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// For people: the CLI's table, and the rest aligned around it.
    Table,
    /// For scripts: the status object, or the plan's JSON report.
    Json,
    /// The same as `Json`, as YAML.
    Yaml,
}

/// Exit status: printed, and the import is neither Failed nor Stalled.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the import is Failed or Stalled (for `plan`: it cannot be planned), or
/// `--watch` ran out of time before Ready. A pipeline gates on this.
pub(crate) const EXIT_IMPORT_FAILED: u8 = 1;
/// Exit status: a usage error (clap's own, and names that cannot be object names).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status: the cluster could not be read (no such UserImport, no access, no connection,
/// an unusable kubeconfig).
pub(crate) const EXIT_CLUSTER: u8 = 3;

/// Why the plugin stopped before it could print a result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PluginError {
    /// The command line names something that cannot exist (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Reading from the cluster failed (no such object, no access, no connection), or the
    /// output could not be written (exit 3).
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl PluginError {
    /// The exit status this error maps to.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            PluginError::Usage(_) => EXIT_USAGE,
            PluginError::Failed(_) => EXIT_CLUSTER,
        }
    }
}

impl From<kube::Error> for PluginError {
    fn from(error: kube::Error) -> Self {
        PluginError::Failed(error.into())
    }
}

impl From<anyhow::Error> for PluginError {
    fn from(error: anyhow::Error) -> Self {
        PluginError::Failed(error)
    }
}

/// The whole program: parses the arguments, runs the subcommand, and maps the outcome to an
/// exit status. The binary `kubectl-user_import` only calls this.
pub fn main() -> ExitCode {
    let args = PluginArgs::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_CLUSTER);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Runs one subcommand; returns the exit status of a printed result.
pub(crate) async fn run(args: PluginArgs) -> Result<u8, PluginError> {
    let target = match &args.command {
        Command::Status(status) => &status.target,
        Command::Plan(target) => target,
    };
    check_name("the UserImport's name", &target.name).map_err(PluginError::Usage)?;
    let (client, namespace) = connect(&args.cluster).await?;
    check_name("the namespace", &namespace).map_err(PluginError::Usage)?;
    let terminal = Terminal::detect();
    match &args.command {
        Command::Status(status) => {
            status_command::run(&client, &namespace, status, args.cluster.output, terminal).await
        }
        Command::Plan(target) => {
            plan_command::run(
                &client,
                &namespace,
                &target.name,
                args.cluster.output,
                terminal,
            )
            .await
        }
    }
}

/// What standard output is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Terminal {
    /// Standard output is a terminal: redraw in place.
    pub(crate) is_terminal: bool,
    /// Draw highlights in yellow: a terminal, and `NO_COLOR` is not set.
    pub(crate) color: bool,
}

impl Terminal {
    fn detect() -> Terminal {
        let is_terminal = std::io::stdout().is_terminal();
        // https://no-color.org: any non-empty value turns colour off.
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Terminal {
            is_terminal,
            color: is_terminal && !no_color,
        }
    }
}

/// A client for the selected kubeconfig and context, and the namespace to use.
async fn connect(args: &ClusterArgs) -> Result<(Client, String), PluginError> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|error| cluster_error(format!("kubeconfig {}", path.display()), error))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|error| cluster_error(format!("kubeconfig {}", path.display()), error))?
        }
        // A context can only come from a kubeconfig ($KUBECONFIG or ~/.kube/config).
        None if args.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|error| cluster_error("kubeconfig".into(), error))?,
        // kubectl's own order: $KUBECONFIG, ~/.kube/config, then the in-cluster account.
        None => Config::infer()
            .await
            .map_err(|error| cluster_error("no usable kubeconfig".into(), error))?,
    };
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config)?;
    Ok((client, namespace))
}

fn cluster_error(
    context: String,
    error: impl std::error::Error + Send + Sync + 'static,
) -> PluginError {
    PluginError::Failed(anyhow::Error::new(error).context(context))
}

/// Checks that `name` can be an object name ([`is_object_name`], the controller's rule): the
/// client puts names into request paths as they are, so `../x` must never reach it.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), String> {
    if is_object_name(name) {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} is not a valid object name (lower-case letters, digits, '-' and '.')"
        ))
    }
}

/// Parses `90`, `30s`, `10m`, `1h30m` (kubectl's `--timeout` style, whole units).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration such as 30s, 10m or 1h30m");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_kubectl_style() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "m", "10x", "1.5m", "10m3", "-5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_that_cannot_be_object_names_are_refused() {
        assert!(check_name("name", "acme-2026-11").is_ok());
        assert!(check_name("name", "a.b-c").is_ok());
        for bad in [
            "",
            "../x",
            "a/b",
            "Acme",
            "-a",
            "a-",
            "a..b",
            &"a".repeat(254),
        ] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_are_accepted_after_the_subcommand() {
        let args = PluginArgs::try_parse_from([
            "kubectl-user_import",
            "status",
            "acme-2026-11",
            "-n",
            "acme",
            "-o",
            "json",
            "--context",
            "test",
        ])
        .unwrap();
        assert_eq!(args.cluster.namespace.as_deref(), Some("acme"));
        assert_eq!(args.cluster.output, Output::Json);
        assert_eq!(args.cluster.context.as_deref(), Some("test"));
        let Command::Status(status) = args.command else {
            panic!("status")
        };
        assert_eq!(status.timeout, Duration::from_secs(600));
        assert!(!status.watch);
    }
}
