//! Standalone mode (CONNECT.md b.1): one worker, its REST API, and the connectors named on
//! the command line. What `josefine connect-standalone worker.properties c1.properties ...`
//! runs once the binary has resolved `bootstrap.servers=embedded`.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config_provider::ConfigProviders;
use crate::data::ConnectError;
use crate::herder::Herder;
use crate::properties::ConnectorFile;
use crate::rest::{LogHook, RestServer};
use crate::runtime::Worker;
use crate::status::StatusStore;
use crate::worker_config::WorkerConfig;

/// Why a standalone worker could not start, with the exit code Kafka's script uses.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    /// The worker (configuration, Kafka clients, REST listener) could not start: exit 1.
    #[error("{0}")]
    Worker(ConnectError),
    /// A connector of the command line could not be created: exit 3, as Kafka's
    /// `ConnectStandalone`.
    #[error("failed to create connector {name}: {error}")]
    Connector {
        /// The connector's name.
        name: String,
        /// Why.
        error: String,
    },
}

/// A running standalone worker.
#[derive(Debug)]
pub struct Standalone {
    herder: Arc<Herder>,
    rest: RestServer,
}

impl Standalone {
    /// Starts a worker with `config` (its `bootstrap.servers` a real address, never
    /// `embedded`), serves the REST API, and creates `connectors` in order.
    pub async fn start(
        config: WorkerConfig,
        connectors: Vec<ConnectorFile>,
        log_hook: Option<LogHook>,
    ) -> Result<Standalone, StandaloneError> {
        let providers = ConfigProviders::from_worker(&config).map_err(StandaloneError::Worker)?;
        let worker = Worker::new(config.clone(), Arc::new(StatusStore::new()))
            .await
            .map_err(StandaloneError::Worker)?;
        let herder = Herder::new(worker, providers);
        let rest = RestServer::start(herder.clone(), &config, log_hook)
            .await
            .map_err(StandaloneError::Worker)?;
        let standalone = Standalone { herder, rest };
        for connector in connectors {
            if let Err(error) = standalone
                .herder
                .create_connector(&connector.name, connector.config, connector.initial_state)
                .await
            {
                let error = StandaloneError::Connector {
                    name: connector.name,
                    error: error.to_string(),
                };
                standalone.shutdown().await;
                return Err(error);
            }
        }
        Ok(standalone)
    }

    /// The REST API's bound address.
    pub fn rest_address(&self) -> SocketAddr {
        self.rest.local_addr()
    }

    /// The herder, for callers that drive connectors without REST.
    pub fn herder(&self) -> &Arc<Herder> {
        &self.herder
    }

    /// Stops gracefully: REST first, then sources (offsets flushed), then sinks (flushed and
    /// committed), each bounded by `task.shutdown.graceful.timeout.ms`.
    pub async fn shutdown(self) {
        self.rest.shutdown().await;
        self.herder.shutdown().await;
    }
}
