//! The `josefine` binary: a thin shell around the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod connect_standalone;
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
    /// Runs a Kafka Connect worker in standalone mode, as Kafka's connect-standalone.sh:
    /// `josefine connect-standalone worker.properties [connector.properties|connector.json ...]`.
    /// `bootstrap.servers=embedded` starts a broker inside the worker's process.
    #[command(name = "connect-standalone", visible_alias = "connect-standalone.sh")]
    ConnectStandalone {
        /// The worker's properties (Kafka's connect-standalone.properties).
        worker: PathBuf,
        /// Connector files: properties, or JSON as the REST API takes it.
        connectors: Vec<PathBuf>,
        /// Overrides a worker property: --override key=value (repeatable).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

/// Sets the log filter anew from directives such as `info,josefine_connect=debug` (the
/// Connect REST API's loggers endpoints use it).
type SetLogFilter = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

fn init_logging() -> SetLogFilter {
    use tracing_subscriber::filter::Targets;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    std::sync::Arc::new(
        move |directives: &str| match directives.parse::<Targets>() {
            Ok(targets) => {
                if let Err(error) = handle.reload(targets) {
                    tracing::warn!(%error, "cannot change the log levels");
                }
            }
            Err(error) => tracing::warn!(%error, directives, "unusable log level directives"),
        },
    )
}

fn parse_overrides(overrides: &[String]) -> Result<Vec<(String, String)>, String> {
    overrides
        .iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) => Ok((key.trim().to_string(), value.trim().to_string())),
            None => Err(format!("--override takes key=value, got {item:?}")),
        })
        .collect()
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("error: cannot start the runtime: {err:#}");
            ExitCode::FAILURE
        })
}

pub(crate) async fn shutdown_signal() {
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
    let set_log_filter = init_logging();
    match cli.command {
        Command::ConnectStandalone {
            worker,
            connectors,
            overrides,
        } => {
            let overrides = match parse_overrides(&overrides) {
                Ok(pairs) => pairs,
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match runtime() {
                Ok(runtime) => runtime,
                Err(code) => return code,
            };
            runtime.block_on(connect_standalone::run(
                worker,
                connectors,
                overrides,
                set_log_filter,
            ))
        }
        Command::Broker { config, overrides } => {
            let pairs = match parse_overrides(&overrides) {
                Ok(pairs) => pairs,
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            };
            let config = match BrokerConfig::from_file(config.as_deref(), &pairs) {
                Ok(config) => config,
                Err(err) => {
                    eprintln!("error: {err:#}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match runtime() {
                Ok(runtime) => runtime,
                Err(code) => return code,
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
