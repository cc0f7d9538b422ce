//! `josefine connect-standalone`: Kafka's connect-standalone.sh, with
//! `bootstrap.servers=embedded` starting a broker inside the worker's process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use josefine::connect::properties::{load_properties, parse_connector_file, ConnectorFile};
use josefine::connect::standalone::{Standalone, StandaloneError};
use josefine::connect::worker_config::{WorkerConfig, EMBEDDED_PREFIX};

/// Kafka's exit code when a connector of the command line cannot be created.
const CONNECTOR_FAILED: u8 = 3;

pub(crate) async fn run(
    worker_file: PathBuf,
    connector_files: Vec<PathBuf>,
    overrides: Vec<(String, String)>,
    set_log_filter: Arc<dyn Fn(&str) + Send + Sync>,
) -> ExitCode {
    let mut props = match load_properties(&worker_file) {
        Ok(props) => props,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    props.extend(overrides);
    let config = match WorkerConfig::new(props) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {}: {err}", worker_file.display());
            return ExitCode::FAILURE;
        }
    };
    let mut connectors: Vec<ConnectorFile> = Vec::new();
    for path in &connector_files {
        let parsed = std::fs::read_to_string(path)
            .map_err(|err| err.to_string())
            .and_then(|text| parse_connector_file(&text).map_err(|err| err.to_string()));
        match parsed {
            Ok(connector) => connectors.push(connector),
            Err(err) => {
                eprintln!("error: {}: {err}", path.display());
                return ExitCode::from(CONNECTOR_FAILED);
            }
        }
    }

    // `bootstrap.servers=embedded`: a broker in this process; the worker's clients use it.
    let mut embedded = None;
    let config = if config.is_embedded() {
        let mut builder = josefine::Broker::builder();
        for (key, value) in config.originals() {
            if let Some(broker_key) = key.strip_prefix(EMBEDDED_PREFIX) {
                builder = match broker_key {
                    "log.dirs" => builder.log_dir(value),
                    _ => builder.property(broker_key, value),
                };
            }
        }
        let broker = match builder.start().await {
            Ok(broker) => broker,
            Err(err) => {
                eprintln!("error: the embedded broker cannot start: {err:#}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(bootstrap_servers = %broker.bootstrap_servers(), "embedded broker started");
        let resolved = config.with_bootstrap_servers(&broker.bootstrap_servers());
        embedded = Some(broker);
        match resolved {
            Ok(config) => config,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        config
    };

    let standalone = match Standalone::start(config, connectors, Some(set_log_filter)).await {
        Ok(standalone) => standalone,
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(broker) = embedded {
                broker.shutdown().await;
            }
            return match err {
                StandaloneError::Connector { .. } => ExitCode::from(CONNECTOR_FAILED),
                StandaloneError::Worker(_) => ExitCode::FAILURE,
            };
        }
    };
    tracing::info!(rest = %standalone.rest_address(), "Kafka Connect started");
    crate::shutdown_signal().await;
    tracing::info!("Kafka Connect stopping");
    standalone.shutdown().await;
    if let Some(broker) = embedded {
        broker.shutdown().await;
    }
    tracing::info!("Kafka Connect stopped");
    ExitCode::SUCCESS
}
