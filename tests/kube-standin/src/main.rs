//! `kube-standin --port 0 --crds crds --kubeconfig /tmp/standin.kubeconfig`

use std::path::PathBuf;

use clap::Parser;
use kube_standin::{Options, Server, load_crds};

/// A Kubernetes API server stand-in for tests (plain HTTP on 127.0.0.1).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// CRD files or directories (repeatable).
    #[arg(long)]
    crds: Vec<PathBuf>,
    /// Where to write a kubeconfig pointing at the server.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut crds = vec![];
    for p in &args.crds {
        crds.extend(load_crds(p)?);
    }
    let server = Server::start(Options {
        port: args.port,
        crds,
        ..Options::default()
    })
    .await?;
    if let Some(path) = &args.kubeconfig {
        server.write_kubeconfig(path)?;
    }
    println!("listening on {}", server.url());
    wait_for_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
