//! Builders, waits on events, and a TCP proxy that simulates a Redis outage without touching the
//! Redis server other suites share.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use relais_platform::cache::{Cache, CacheBackend, CacheConfig, NamespaceStats};
use relais_platform::clock::{Clock, ManualClock, SystemClock};
use relais_platform::redis::LinkEvent;
use relais_testkit::Ctx;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

/// Guard against a hang: a wait that exceeds it fails the test (it is never the assertion).
pub const GUARD: Duration = Duration::from_secs(20);

pub fn manual_clock() -> ManualClock {
    ManualClock::new(Utc.timestamp_opt(1_800_000_000, 0).unwrap())
}

pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A cache of `backend` on the test Redis (at `redis_url` when given), keys under the run's
/// private prefix.
pub fn cache_at(
    ctx: &Ctx,
    backend: CacheBackend,
    clock: Arc<dyn Clock>,
    redis_url: Option<&str>,
) -> Cache {
    let url = redis_url
        .map(str::to_owned)
        .or_else(|| ctx.redis_url.clone());
    let client = (backend != CacheBackend::Local)
        .then(|| redis::Client::open(url.expect("the case needs Redis").as_str()).unwrap());
    let config = CacheConfig {
        backend,
        memory: 16 << 20,
        default_ttl: Duration::from_secs(60),
        prefix: ctx.key_prefix.clone(),
    };
    Cache::new(config, clock, client, CancellationToken::new()).unwrap()
}

pub fn cache(ctx: &Ctx, backend: CacheBackend) -> Cache {
    cache_at(ctx, backend, system(), None)
}

/// Waits until the cache's Redis link is in `state` (at once on the local backend).
pub async fn link_is(
    current: impl Fn() -> Option<bool>,
    events: Option<broadcast::Receiver<LinkEvent>>,
    up: bool,
) {
    let Some(mut events) = events else { return };
    let wait = async {
        while current() != Some(up) {
            let _ = events.recv().await;
        }
    };
    tokio::time::timeout(GUARD, wait).await.unwrap_or_else(|_| {
        panic!(
            "the Redis link did not become {}",
            if up { "up" } else { "down" }
        )
    });
}

pub async fn ready(cache: &Cache) {
    let c = cache.clone();
    link_is(move || c.redis_up(), cache.link_events(), true).await;
}

pub async fn ns_stats(cache: &Cache, ns: &str) -> NamespaceStats {
    cache
        .stats()
        .await
        .namespaces
        .into_iter()
        .find(|n| n.namespace == ns)
        .unwrap_or_else(|| panic!("no stats for namespace {ns}"))
}

/// Polls `condition` (yielding between checks) until it holds; fails after [`GUARD`].
pub async fn until<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let wait = async {
        while !condition().await {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

/// A TCP proxy in front of Redis that a test can cut (every connection is closed and new ones
/// are closed on accept) and restore.
pub struct Proxy {
    pub url: String,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(redis_url: &str) -> Self {
        let target: SocketAddr = {
            let url = url::Url::parse(redis_url).unwrap();
            let host = url.host_str().unwrap().to_owned();
            let port = url.port().unwrap_or(6379);
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .unwrap()
                .next()
                .unwrap()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (o, c) = (open.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !o.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Self {
            url: format!("redis://{addr}"),
            open,
            connections,
            accept,
        }
    }

    /// Redis "stops": open connections are dropped, new ones closed at once.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Redis "is back".
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
