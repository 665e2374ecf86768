//! A supervised Redis link for components that must keep working when Redis does not: the cache
//! and the rate limiter.
//!
//! A link owns one multiplexed connection and, optionally, one subscription. While it is *up*,
//! [`Link::connection`] hands out the connection; a command failure reported with
//! [`Link::failed`] takes the link *down* at once, so later requests skip Redis instead of
//! waiting on it. A supervisor task reconnects on the link's clock (every [`RETRY`]), runs the
//! owner's [`LinkHooks::connected`] (replaying what could not be written while down), and only
//! then puts the link up again. The transition to down is logged once per outage and counted in
//! `relais_redis_link_errors_total{link}`; `relais_redis_link_up{link}` tells the current state.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;

/// How long to wait between two reconnection attempts (on the link's clock).
pub const RETRY: Duration = Duration::from_secs(1);
/// How long a command or a connection attempt may take before the link is considered down.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the owner's [`LinkHooks::connected`] may take (it may replay many invalidations).
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// What a link's owner does on connection events.
#[async_trait::async_trait]
pub(crate) trait LinkHooks: Send + Sync + 'static {
    /// Runs on a fresh connection before the link goes up; an error keeps the link down.
    async fn connected(&self, conn: MultiplexedConnection) -> redis::RedisResult<()>;
    /// Runs once the link is up, for what was left to do meanwhile (e.g. writes remembered
    /// while `connected` ran); an error takes the link down again.
    async fn up(&self, _conn: MultiplexedConnection) -> redis::RedisResult<()> {
        Ok(())
    }
    /// A message arrived on the link's subscription.
    async fn message(&self, payload: &[u8]);
    /// The link went down.
    fn disconnected(&self);
}

/// A change of a link's state, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// Redis answers; the link is in use (and subscribed, when it has a channel).
    Up,
    /// Redis stopped answering; the owner works without it until the link is up again.
    Down,
}

struct Slot {
    conn: MultiplexedConnection,
    lost: CancellationToken,
}

struct Shared {
    name: &'static str,
    slot: RwLock<Option<Slot>>,
    errors: std::sync::atomic::AtomicU64,
    events: broadcast::Sender<LinkEvent>,
}

/// A handle on a supervised link; cheap to clone.
#[derive(Clone)]
pub(crate) struct Link {
    shared: Arc<Shared>,
}

impl Link {
    /// Starts the supervisor: it connects at once, then keeps the link up until `stop`.
    pub(crate) fn start(
        name: &'static str,
        client: redis::Client,
        channel: Option<String>,
        clock: Arc<dyn Clock>,
        hooks: Arc<dyn LinkHooks>,
        stop: CancellationToken,
    ) -> Self {
        let (events, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            name,
            slot: RwLock::new(None),
            errors: Default::default(),
            events,
        });
        metrics::gauge!("relais_redis_link_up", "link" => name).set(0.0);
        let supervisor = Supervisor {
            shared: shared.clone(),
            client,
            channel,
            clock,
            hooks,
            stop,
        };
        tokio::spawn(supervisor.run());
        Self { shared }
    }

    /// The connection and its loss token while the link is up.
    pub(crate) fn connection(&self) -> Option<(MultiplexedConnection, CancellationToken)> {
        let slot = self.shared.slot.read().unwrap_or_else(|e| e.into_inner());
        slot.as_ref()
            .filter(|s| !s.lost.is_cancelled())
            .map(|s| (s.conn.clone(), s.lost.clone()))
    }

    /// Whether the link is up.
    pub(crate) fn is_up(&self) -> bool {
        self.connection().is_some()
    }

    /// Reports a failed command on the connection whose loss token is `lost`: the link goes down
    /// and the supervisor reconnects.
    pub(crate) fn failed(&self, lost: &CancellationToken, error: &redis::RedisError) {
        self.shared
            .errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("relais_redis_link_errors_total", "link" => self.shared.name)
            .increment(1);
        if !lost.is_cancelled() {
            tracing::debug!(link = self.shared.name, %error, "Redis command failed");
        }
        lost.cancel();
    }

    /// Failed commands, lost connections and failed reconnections since start.
    pub(crate) fn errors(&self) -> u64 {
        self.shared
            .errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Link state changes.
    pub(crate) fn events(&self) -> broadcast::Receiver<LinkEvent> {
        self.shared.events.subscribe()
    }
}

struct Supervisor {
    shared: Arc<Shared>,
    client: redis::Client,
    channel: Option<String>,
    clock: Arc<dyn Clock>,
    hooks: Arc<dyn LinkHooks>,
    stop: CancellationToken,
}

impl Supervisor {
    async fn run(self) {
        let mut was_up = false;
        let mut reported_down = false;
        loop {
            match self.connect().await {
                Ok((conn, subscription)) => {
                    let lost = CancellationToken::new();
                    let for_hook = conn.clone();
                    *self.shared.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(Slot {
                        conn,
                        lost: lost.clone(),
                    });
                    metrics::gauge!("relais_redis_link_up", "link" => self.shared.name).set(1.0);
                    if reported_down {
                        tracing::info!(link = self.shared.name, "Redis reachable again");
                    }
                    was_up = true;
                    let _ = self.shared.events.send(LinkEvent::Up);
                    if let Err(error) = self.hooks.up(for_hook).await {
                        tracing::debug!(link = self.shared.name, %error, "Redis failed after reconnecting");
                        lost.cancel();
                        self.count_error();
                    }
                    let pump = async {
                        match subscription {
                            Some(mut stream) => {
                                while let Some(msg) = stream.next().await {
                                    self.hooks.message(msg.get_payload_bytes()).await;
                                }
                            }
                            None => std::future::pending::<()>().await,
                        }
                    };
                    tokio::select! {
                        () = lost.cancelled() => {}
                        () = pump => {
                            lost.cancel();
                            self.count_error();
                        }
                        () = self.stop.cancelled() => return,
                    }
                    *self.shared.slot.write().unwrap_or_else(|e| e.into_inner()) = None;
                    metrics::gauge!("relais_redis_link_up", "link" => self.shared.name).set(0.0);
                    self.hooks.disconnected();
                    tracing::warn!(
                        link = self.shared.name,
                        "Redis unreachable; working without it until it answers again"
                    );
                    reported_down = true;
                    let _ = self.shared.events.send(LinkEvent::Down);
                }
                Err(error) => {
                    self.count_error();
                    if !reported_down {
                        tracing::warn!(
                            link = self.shared.name,
                            %error,
                            first_attempt = !was_up,
                            "Redis unreachable; working without it until it answers again"
                        );
                        reported_down = true;
                        let _ = self.shared.events.send(LinkEvent::Down);
                    }
                }
            }
            tokio::select! {
                () = self.clock.sleep(RETRY) => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    fn count_error(&self) {
        self.shared
            .errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("relais_redis_link_errors_total", "link" => self.shared.name)
            .increment(1);
    }

    async fn connect(
        &self,
    ) -> redis::RedisResult<(MultiplexedConnection, Option<redis::aio::PubSubStream>)> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // A connection is only established once Redis has answered.
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        let subscription = match &self.channel {
            Some(channel) => {
                let subscribe = async {
                    let mut pubsub = self.client.get_async_pubsub().await?;
                    pubsub.subscribe(channel).await?;
                    Ok::<_, redis::RedisError>(pubsub.into_on_message())
                };
                Some(
                    tokio::time::timeout(COMMAND_TIMEOUT, subscribe)
                        .await
                        .map_err(|_| timeout_error())??,
                )
            }
            None => None,
        };
        tokio::time::timeout(HOOK_TIMEOUT, self.hooks.connected(conn.clone()))
            .await
            .map_err(|_| timeout_error())??;
        Ok((conn, subscription))
    }
}

fn timeout_error() -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Io,
        "Redis did not answer in time",
        format!("{COMMAND_TIMEOUT:?}"),
    ))
}
