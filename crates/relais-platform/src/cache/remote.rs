//! The Redis tier: values, tag sets, prefix invalidation, the invalidation channel, and what is
//! replayed after an outage.
//!
//! Key layout under the deployment's prefix `P` (e.g. `relais:<deployment id>:`):
//! - `P cache:v:<namespace>:<key>`: a serialised value, with its TTL (`PX`);
//! - `P cache:t:<namespace>:<tag>`: the set of value keys written with that tag, kept at least as
//!   long as its longest-lived member;
//! - channel `P cache:invalidate`: every invalidation, for the local tiers of other processes.
//!
//! A tag set may list keys rewritten since without the tag: invalidating the tag then drops them
//! too (too much, never too little). Prefix invalidation walks `SCAN MATCH` over the namespace's
//! keys: its cost grows with the keys of the deployment, fine for operator actions.
//!
//! Writes and invalidations that fail while Redis is unreachable are remembered (up to
//! [`PENDING_MAX`]; beyond, the whole cache of the deployment is flushed) and replayed before the
//! link is used again, so a value written before the outage is not served after it.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::redis::link::Link;

/// Invalidations remembered during an outage before falling back to a full flush.
pub const PENDING_MAX: usize = 10_000;

const SET_WITH_TAGS: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  local left = redis.call('PTTL', KEYS[i])
  if left < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
";

const DELETE_TAG: &str = r"
local keys = redis.call('SMEMBERS', KEYS[1])
for i = 1, #keys, 500 do
  redis.call('DEL', unpack(keys, i, math.min(i + 499, #keys)))
end
redis.call('DEL', KEYS[1])
return #keys
";

/// An invalidation, as applied to Redis and broadcast to the other processes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "by", content = "value")]
pub(crate) enum Target {
    Key(String),
    Tag(String),
    Prefix(String),
}

/// The message on the invalidation channel.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Message {
    /// The instance that invalidated (it ignores its own messages).
    pub(crate) origin: String,
    /// The namespace; `None` with `target` `None` means everything.
    pub(crate) namespace: Option<String>,
    pub(crate) target: Option<Target>,
}

/// Redis is unreachable (the link is down or the command failed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unavailable;

pub(crate) struct Remote {
    pub(crate) link: Link,
    prefix: String,
    pub(crate) channel: String,
    set_with_tags: redis::Script,
    delete_tag: redis::Script,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    items: Vec<(String, Target)>,
    overflowed: bool,
}

impl Remote {
    /// The channel name for a key prefix.
    pub(crate) fn channel_for(prefix: &str) -> String {
        format!("{prefix}cache:invalidate")
    }

    pub(crate) fn new(link: Link, prefix: &str) -> Self {
        Self {
            link,
            prefix: prefix.to_owned(),
            channel: Self::channel_for(prefix),
            set_with_tags: redis::Script::new(SET_WITH_TAGS),
            delete_tag: redis::Script::new(DELETE_TAG),
            pending: Mutex::new(Pending::default()),
        }
    }

    fn value_key(&self, namespace: &str, key: &str) -> String {
        format!("{}cache:v:{namespace}:{key}", self.prefix)
    }

    fn tag_key(&self, namespace: &str, tag: &str) -> String {
        format!("{}cache:t:{namespace}:{tag}", self.prefix)
    }

    async fn run<T, F, Fut>(&self, f: F) -> Result<T, Unavailable>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let (conn, lost) = self.link.connection().ok_or(Unavailable)?;
        f(conn).await.map_err(|e| {
            self.link.failed(&lost, &e);
            Unavailable
        })
    }

    /// The value and, when `with_ttl`, its remaining TTL.
    pub(crate) async fn get(
        &self,
        namespace: &str,
        key: &str,
        with_ttl: bool,
    ) -> Result<Option<(Vec<u8>, Option<Duration>)>, Unavailable> {
        let k = self.value_key(namespace, key);
        self.run(|mut conn| async move {
            if with_ttl {
                let (value, pttl): (Option<Vec<u8>>, i64) = redis::pipe()
                    .get(&k)
                    .pttl(&k)
                    .query_async(&mut conn)
                    .await?;
                let ttl = u64::try_from(pttl).ok().map(Duration::from_millis);
                Ok(value.map(|v| (v, ttl)))
            } else {
                let value: Option<Vec<u8>> =
                    redis::cmd("GET").arg(&k).query_async(&mut conn).await?;
                Ok(value.map(|v| (v, None)))
            }
        })
        .await
    }

    pub(crate) async fn set(
        &self,
        namespace: &str,
        key: &str,
        bytes: &[u8],
        ttl: Duration,
        tags: &[&str],
    ) -> Result<(), Unavailable> {
        let k = self.value_key(namespace, key);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let result = self
            .run(|mut conn| async move {
                if tags.is_empty() {
                    redis::cmd("SET")
                        .arg(&k)
                        .arg(bytes)
                        .arg("PX")
                        .arg(ms)
                        .query_async::<()>(&mut conn)
                        .await
                } else {
                    let mut invocation = self.set_with_tags.key(&k);
                    for tag in tags {
                        invocation.key(self.tag_key(namespace, tag));
                    }
                    invocation
                        .arg(bytes)
                        .arg(ms)
                        .invoke_async::<()>(&mut conn)
                        .await
                }
            })
            .await;
        if result.is_err() {
            // The value Redis still holds would be stale once it is back: drop it then.
            self.remember(namespace, Target::Key(key.to_owned()));
        }
        result
    }

    /// Applies an invalidation to Redis (remembered for replay when Redis is unreachable).
    pub(crate) async fn invalidate(
        &self,
        namespace: &str,
        target: &Target,
    ) -> Result<u64, Unavailable> {
        let result = self
            .run(|mut conn| async move { self.apply(&mut conn, namespace, target).await })
            .await;
        if result.is_err() {
            self.remember(namespace, target.clone());
        }
        result
    }

    async fn apply(
        &self,
        conn: &mut MultiplexedConnection,
        namespace: &str,
        target: &Target,
    ) -> redis::RedisResult<u64> {
        match target {
            Target::Key(key) => {
                redis::cmd("DEL")
                    .arg(self.value_key(namespace, key))
                    .query_async(conn)
                    .await
            }
            Target::Tag(tag) => {
                self.delete_tag
                    .key(self.tag_key(namespace, tag))
                    .invoke_async(conn)
                    .await
            }
            Target::Prefix(prefix) => {
                let literal = format!("{}{prefix}", self.value_key(namespace, ""));
                let pattern = format!("{}*", glob_escape(&literal));
                delete_matching(conn, &pattern).await
            }
        }
    }

    /// Tells the other processes (best effort: a process that misses it has lost its link, and
    /// clears its local tier when the link comes back).
    pub(crate) async fn publish(&self, message: &Message) {
        let Ok(payload) = serde_json::to_vec(message) else {
            return;
        };
        let channel = &self.channel;
        let _ = self
            .run(|mut conn| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await;
    }

    fn remember(&self, namespace: &str, target: Target) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.items.len() >= PENDING_MAX {
            pending.overflowed = true;
            pending.items.clear();
        } else if !pending.overflowed {
            pending.items.push((namespace.to_owned(), target));
        }
    }

    /// Replays what failed during an outage; on overflow flushes the deployment's whole cache.
    /// Returns the messages to broadcast.
    pub(crate) async fn replay(
        &self,
        conn: &mut MultiplexedConnection,
        origin: &str,
    ) -> redis::RedisResult<Vec<Message>> {
        let Pending { items, overflowed } =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let restore = |items: &[(String, Target)]| {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.overflowed |= overflowed;
            pending.items.extend_from_slice(items);
        };
        if overflowed {
            let pattern = format!("{}cache:*", glob_escape(&self.prefix));
            if let Err(e) = delete_matching(conn, &pattern).await {
                restore(&[]);
                return Err(e);
            }
            return Ok(vec![Message {
                origin: origin.to_owned(),
                namespace: None,
                target: None,
            }]);
        }
        let mut messages = Vec::with_capacity(items.len());
        for (i, (namespace, target)) in items.iter().enumerate() {
            if let Err(e) = self.apply(conn, namespace, target).await {
                restore(&items[i..]);
                return Err(e);
            }
            messages.push(Message {
                origin: origin.to_owned(),
                namespace: Some(namespace.clone()),
                target: Some(target.clone()),
            });
        }
        Ok(messages)
    }

    /// Keys of `namespace` held in Redis (a `SCAN`: for stats pages, not hot paths).
    pub(crate) async fn count(&self, namespace: &str) -> Result<u64, Unavailable> {
        let pattern = format!("{}*", glob_escape(&self.value_key(namespace, "")));
        self.run(|mut conn| async move {
            let mut cursor = 0u64;
            let mut n = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await?;
                n += keys.len() as u64;
                if next == 0 {
                    return Ok(n);
                }
                cursor = next;
            }
        })
        .await
    }
}

async fn delete_matching(
    conn: &mut MultiplexedConnection,
    pattern: &str,
) -> redis::RedisResult<u64> {
    let mut cursor = 0u64;
    let mut deleted = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            deleted += redis::cmd("DEL")
                .arg(&keys)
                .query_async::<u64>(conn)
                .await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// Escapes the glob characters of `SCAN MATCH` so a prefix matches literally.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value as stored in Redis: `u16` length of the tag list, the tags joined by `\n`, then the
/// serialised value. The tags travel with the value so a local copy can be invalidated by tag.
pub(crate) fn envelope(tags: &[&str], value: &[u8]) -> Vec<u8> {
    let joined = tags.join("\n");
    let len = u16::try_from(joined.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + joined.len() + value.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&joined.as_bytes()[..usize::from(len)]);
    out.extend_from_slice(value);
    out
}

/// The tags and value of an [`envelope`]; `None` when malformed.
pub(crate) fn open_envelope(raw: &[u8]) -> Option<(Vec<&str>, &[u8])> {
    let len = usize::from(u16::from_le_bytes([*raw.first()?, *raw.get(1)?]));
    let tags = std::str::from_utf8(raw.get(2..2 + len)?).ok()?;
    let tags = if tags.is_empty() {
        Vec::new()
    } else {
        tags.split('\n').collect()
    };
    Some((tags, &raw[2 + len..]))
}
