//! The connection to Redis: a standalone server through a connection manager, or a cluster
//! through the cluster client, both reconnecting by themselves. Made on first use (not at
//! start-up, so the app starts while Redis is down), and every command bounded by the command
//! timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, RedisError, RedisFuture, ScriptInvocation, Value};
use tokio::sync::OnceCell;

use crate::config::{ConfigError, RedisSettings};
use crate::store::StoreError;

/// An open connection; clones share it.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// Redis as the store sees it: commands in, `StoreError`s out.
pub(super) struct Redis {
    /// The cluster's client; `None` for a standalone server, reached with `subscribers[0]`.
    cluster: Option<redis::cluster::ClusterClient>,
    /// One client per node: the revocation feed's subscription (and a standalone server's
    /// commands).
    subscribers: Vec<redis::Client>,
    connection: OnceCell<Connection>,
    /// Until a first command succeeds, commands may also wait for the connection to open.
    answered_once: AtomicBool,
    pub(super) connect_timeout: Duration,
    pub(super) command_timeout: Duration,
}

impl Redis {
    /// Checks the URLs as the Redis client reads them; connects later, on first use.
    pub(super) fn new(settings: &RedisSettings) -> Result<Self, ConfigError> {
        let invalid = |error: RedisError| ConfigError::Invalid {
            name: "REDIS_URL (oidc.redis_url)",
            // The client's messages name what is wrong, never the password.
            detail: error.to_string(),
            hint: "use redis://[user:password@]host[:port][/db] or rediss://…",
        };
        if settings.nodes.iter().any(|node| node.tls()) {
            // rustls needs a crypto back end chosen for the process; when the host app has
            // not chosen one, take ring (the one the app's HTTP client already uses).
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
        }
        let subscribers = settings
            .nodes
            .iter()
            .map(|node| redis::Client::open(node.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let cluster = match settings.is_cluster() {
            false => None,
            true => Some(
                ClusterClientBuilder::new(settings.nodes.iter().map(|n| n.as_str()))
                    .connection_timeout(settings.connect_timeout)
                    .response_timeout(settings.command_timeout)
                    .retries(2)
                    .build()
                    .map_err(invalid)?,
            ),
        };
        Ok(Self {
            cluster,
            subscribers,
            connection: OnceCell::new(),
            answered_once: AtomicBool::new(false),
            connect_timeout: settings.connect_timeout,
            command_timeout: settings.command_timeout,
        })
    }

    /// The clients of the nodes a subscription can use (one for a standalone server).
    pub(super) fn subscribers(&self) -> &[redis::Client] {
        &self.subscribers
    }

    async fn connect(&self) -> Result<Connection, StoreError> {
        match (&self.cluster, self.subscribers.first()) {
            (Some(cluster), _) => cluster
                .get_async_connection()
                .await
                .map(Connection::Cluster)
                .map_err(store_error),
            (None, Some(client)) => {
                // Reconnects by itself after a failure; a command during an outage fails at
                // once rather than queueing behind a long series of retries.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.command_timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_secs(1));
                ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map(Connection::Single)
                    .map_err(store_error)
            }
            (None, None) => Err(StoreError::Unavailable("no Redis node configured".into())),
        }
    }

    /// The shared connection, opened on first use; a failed attempt is retried by the next call.
    async fn connection(&self) -> Result<Connection, StoreError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let opening = self.connection.get_or_try_init(|| self.connect());
        match tokio::time::timeout(self.connect_timeout, opening).await {
            Ok(Ok(connection)) => Ok(connection.clone()),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no connection to Redis within {} ms",
                self.connect_timeout.as_millis()
            ))),
        }
    }

    /// Runs `operation` on the connection within the command timeout (plus the connect timeout
    /// until Redis first answered).
    async fn bounded<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let connection = self.connection().await?;
        let mut limit = self.command_timeout;
        if !self.answered_once.load(Ordering::Relaxed) {
            limit += self.connect_timeout;
        }
        let value = tokio::time::timeout(limit, operation(connection))
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(store_error)?;
        self.answered_once.store(true, Ordering::Relaxed);
        Ok(value)
    }

    /// Runs one command.
    pub(super) async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        self.bounded(|mut connection| async move { command.query_async(&mut connection).await })
            .await
    }

    /// Runs a Lua script (loaded on first use, then called by its digest).
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.bounded(|mut connection| async move { script.invoke_async(&mut connection).await })
            .await
    }
}

/// A timeout says so; anything else (refused, dropped, an error reply) is unavailability.
pub(super) fn store_error(error: RedisError) -> StoreError {
    if error.is_timeout() {
        StoreError::Timeout
    } else {
        StoreError::Unavailable(error.to_string())
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
