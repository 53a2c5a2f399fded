use clap::{Parser, Subcommand};

/// Imports a tenant's users from a Coupa User Import Template.
#[derive(Parser)]
#[command(name = "user-import-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the three CustomResourceDefinitions as YAML (the source of crds/).
    Crd,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => print!("{}", user_import_operator::resources::crds_yaml()),
    }
}
