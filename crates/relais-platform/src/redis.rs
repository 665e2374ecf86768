//! A shared Redis connection, when `redis.url` is configured.
//!
//! The connection is lazy and reconnects by itself: relais starts even when Redis is down, and
//! readiness reports it until it answers again.

pub(crate) mod link;

pub use link::{LinkEvent, RETRY};

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Redis failures.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The URL was refused by the client.
    #[error("invalid Redis URL: {0}")]
    Url(redis::RedisError),
    /// A command failed.
    #[error("Redis error: {0}")]
    Command(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// A handle on the shared Redis; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    manager: ConnectionManager,
    client: redis::Client,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redis { .. }")
    }
}

impl Redis {
    /// Prepares a connection to `url` without waiting for Redis to answer.
    pub fn new(url: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(RedisError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(RedisError::Url)?;
        Ok(Self { manager, client })
    }

    /// Sends `PING`; errors if Redis does not answer `PONG` within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), RedisError> {
        let mut conn = self.manager.clone();
        let pong: String = tokio::time::timeout(timeout, redis::cmd("PING").query_async(&mut conn))
            .await
            .map_err(|_| RedisError::Timeout(timeout))??;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(RedisError::Command(redis::RedisError::from((
                redis::ErrorKind::Client,
                "unexpected PING reply",
                pong,
            ))))
        }
    }

    /// A multiplexed connection for commands (clones share one socket).
    pub fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// The client, for components that supervise their own connections (cache, limits).
    pub fn client(&self) -> redis::Client {
        self.client.clone()
    }
}
