//! The `josefine` binary: a thin shell around the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use josefine::{BrokerConfig, Server};

#[derive(Parser, Debug)]
#[command(
    name = "josefine",
    version,
    about = "A single-node Apache Kafka compatible broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the broker, as Kafka's kafka-server-start.sh: `josefine broker [server.properties]`.
    Broker {
        /// A Kafka server.properties file. Without it: PLAINTEXT on 127.0.0.1:9092, data in ./data.
        config: Option<PathBuf>,
        /// Overrides a property: --override key=value (repeatable).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Broker { config, overrides } => {
            let mut pairs = Vec::new();
            for item in &overrides {
                let Some((key, value)) = item.split_once('=') else {
                    eprintln!("error: --override takes key=value, got {item:?}");
                    return ExitCode::from(2);
                };
                pairs.push((key.trim().to_string(), value.trim().to_string()));
            }
            let config = match BrokerConfig::from_file(config.as_deref(), &pairs) {
                Ok(config) => config,
                Err(err) => {
                    eprintln!("error: {err:#}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("error: cannot start the runtime: {err:#}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(async move {
                let server = match Server::start(config).await {
                    Ok(server) => server,
                    Err(err) => {
                        let err = anyhow::Error::from(err);
                        eprintln!("error: {err:#}");
                        return ExitCode::FAILURE;
                    }
                };
                shutdown_signal().await;
                tracing::info!("shutting down");
                server.shutdown().await;
                ExitCode::SUCCESS
            })
        }
    }
}
