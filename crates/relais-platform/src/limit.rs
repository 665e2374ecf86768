//! Rate limits: token buckets keyed by scope (a route, a task kind…) and caller, kept in this
//! process or in Redis (shared by every process), with the same [`Rate`] arithmetic either way.
//!
//! A bucket is one number, its theoretical arrival time (see [`crate::rate`]). Locally it sits in
//! a map; in Redis it is one key updated by a Lua script that performs [`Rate::take`] atomically
//! on Redis's own clock (processes on several hosts then agree on time). When Redis is
//! unreachable the limiter falls back to this process's buckets: limits keep applying, per
//! process, until Redis answers again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::rate::{Decision, Rate};
use crate::redis::link::{Link, LinkHooks};

/// Buckets kept locally before idle (full) ones are swept.
const SWEEP_AT: usize = 100_000;

/// The GCRA step of [`Rate::take`], atomically on Redis's clock. Returns
/// `{allowed, previous tat or -1, now}`; the caller recomputes the decision with `Rate::take`.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local base = now
if stored then base = math.max(tonumber(stored), now) end
local tat = base + interval * n
if tat - period <= now then
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1)
  return {1, stored and string.format('%d', tonumber(stored)) or '-1', string.format('%d', now)}
end
return {0, stored and string.format('%d', tonumber(stored)) or '-1', string.format('%d', now)}
";

/// Where buckets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitBackend {
    /// In this process.
    Local,
    /// In Redis, shared by every process.
    Redis,
}

impl LimitBackend {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitBackend::Local => "local",
            LimitBackend::Redis => "redis",
        }
    }
}

/// The outcome of [`Limiter::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitDecision {
    /// The rate applied.
    pub rate: Rate,
    /// The bucket's answer.
    pub decision: Decision,
    /// Whether the bucket is shared by every process (Redis) or was this process's own.
    pub shared: bool,
}

/// The rate limiter of this process; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    backend: LimitBackend,
    clock: Arc<dyn Clock>,
    local: Mutex<Buckets>,
    redis: Option<Link>,
    script: redis::Script,
    prefix: String,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Default)]
struct Buckets {
    map: HashMap<String, i64>,
    /// Size at which idle buckets are next swept (doubles when most buckets are in use, so a
    /// sweep stays amortised).
    sweep_at: usize,
}

struct NoHooks;

#[async_trait::async_trait]
impl LinkHooks for NoHooks {
    async fn connected(&self, _: MultiplexedConnection) -> redis::RedisResult<()> {
        Ok(())
    }
    async fn message(&self, _: &[u8]) {}
    fn disconnected(&self) {}
}

impl Limiter {
    /// A limiter whose buckets live in this process.
    pub fn local(clock: Arc<dyn Clock>) -> Self {
        Self::build(
            LimitBackend::Local,
            clock,
            None,
            "",
            CancellationToken::new(),
        )
    }

    /// A limiter whose buckets live in Redis under `prefix` (its link stops with `stop`).
    pub fn redis(
        client: redis::Client,
        prefix: &str,
        clock: Arc<dyn Clock>,
        stop: CancellationToken,
    ) -> Self {
        Self::build(LimitBackend::Redis, clock, Some(client), prefix, stop)
    }

    fn build(
        backend: LimitBackend,
        clock: Arc<dyn Clock>,
        client: Option<redis::Client>,
        prefix: &str,
        stop: CancellationToken,
    ) -> Self {
        let stop = stop.child_token();
        let redis = client.map(|client| {
            Link::start(
                "limits",
                client,
                None,
                clock.clone(),
                Arc::new(NoHooks),
                stop.clone(),
            )
        });
        Self {
            inner: Arc::new(Inner {
                backend,
                clock,
                local: Mutex::new(Buckets {
                    map: HashMap::new(),
                    sweep_at: SWEEP_AT,
                }),
                redis,
                script: redis::Script::new(TAKE),
                prefix: prefix.to_owned(),
                stop,
            }),
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> LimitBackend {
        self.inner.backend
    }

    /// Whether Redis answers (`None` on the local backend).
    pub fn redis_up(&self) -> Option<bool> {
        self.inner.redis.as_ref().map(Link::is_up)
    }

    /// Changes of the Redis link (`None` on the local backend).
    pub fn link_events(&self) -> Option<tokio::sync::broadcast::Receiver<crate::redis::LinkEvent>> {
        self.inner.redis.as_ref().map(Link::events)
    }

    /// Takes `n` tokens from the bucket of (`scope`, `caller`) limited by `rate`.
    pub async fn take(&self, scope: &str, caller: &str, rate: Rate, n: u32) -> LimitDecision {
        if let Some(link) = &self.inner.redis
            && let Some((mut conn, lost)) = link.connection()
        {
            let key = format!("{}limit:{scope}:{caller}", self.inner.prefix);
            let result: redis::RedisResult<(i64, String, String)> = self
                .inner
                .script
                .key(&key)
                .arg(rate.interval_micros())
                .arg(i64::try_from(rate.period.as_micros()).unwrap_or(i64::MAX))
                .arg(n)
                .invoke_async(&mut conn)
                .await;
            match result {
                Ok((allowed, previous, now)) => {
                    let previous: i64 = previous.parse().unwrap_or(-1);
                    let now: i64 = now.parse().unwrap_or(0);
                    let previous = (previous >= 0).then_some(previous);
                    let mut decision = rate.take(previous, now, n);
                    // The script decided atomically; the same arithmetic agrees, but its answer
                    // is the one that counted.
                    decision.allowed = allowed == 1;
                    return LimitDecision {
                        rate,
                        decision,
                        shared: true,
                    };
                }
                Err(e) => {
                    link.failed(&lost, &e);
                    metrics::counter!("relais_limits_local_fallback_total").increment(1);
                }
            }
        }
        let now = self.inner.clock.now().timestamp_micros();
        let key = format!("{scope}\u{1f}{caller}");
        let mut buckets = self.inner.local.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.map.len() >= buckets.sweep_at {
            // A bucket whose tat has passed is full: forgetting it changes nothing.
            buckets.map.retain(|_, tat| *tat > now);
            buckets.sweep_at = (buckets.map.len() * 2).max(SWEEP_AT);
        }
        let decision = rate.take(buckets.map.get(&key).copied(), now, n);
        if decision.allowed {
            buckets.map.insert(key, decision.tat);
        }
        LimitDecision {
            rate,
            decision,
            shared: false,
        }
    }
}
