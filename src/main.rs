use std::process::ExitCode;

use clap::{Parser, Subcommand};
use user_import_operator::cli::{self, ImportArgs, PlanArgs};

/// Imports a tenant's users from a Coupa User Import Template.
#[derive(Parser)]
#[command(name = "user-import-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the three CustomResourceDefinitions as YAML (the source of crds/).
    Crd,
    /// Read a template and the tenant's users; print New, Update and Problem Data. Read-only.
    Plan(PlanArgs),
    /// Plan, then apply: rewrite the records file, write the error report and mail it.
    Import(ImportArgs),
    /// Run the controller: in a pod, or locally with KUBECONFIG.
    Run(user_import_operator::ops::RunArgs),
}

fn main() -> ExitCode {
    // Every command may open a TLS connection (the API server, an SMTP relay).
    user_import_operator::ops::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => {
            print!("{}", user_import_resources::crds_yaml());
            Ok(())
        }
        Command::Plan(args) => cli::run_plan(&args),
        Command::Import(args) => cli::run_import(&args),
        Command::Run(args) => {
            return match user_import_operator::ops::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("user-import-operator: {error:#}");
                    // Settings that can never work (the mail settings) are a usage error, as
                    // for `import`; anything else failed on the way.
                    if error
                        .downcast_ref::<user_import_operator::mail::MailError>()
                        .is_some()
                    {
                        ExitCode::from(2)
                    } else {
                        ExitCode::FAILURE
                    }
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("user-import-operator: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
