//! `relais bench cache`: local hit throughput and latency on 2 threads; with `redis.url`, tiered
//! (local) and Redis hit latency and the invalidation delay between two tiered instances.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use relais_platform::cache::{Cache, CacheBackend, CacheConfig, Namespace};
use relais_platform::clock::{Clock, SystemClock};
use relais_platform::config::Config;
use tokio_util::sync::CancellationToken;

use super::{median, percentile};

/// A typical small cached value (a referential row).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Row {
    id: u32,
    code: String,
    label: String,
    active: bool,
}

fn row(i: usize) -> Row {
    Row {
        id: i as u32,
        code: format!("C{i:05}"),
        label: format!("centre {i}"),
        active: i.is_multiple_of(2),
    }
}

const THREADS: usize = 2;
const LATENCY_SAMPLES: usize = 200_000;
const REDIS_SAMPLES: usize = 20_000;
const INVALIDATIONS: usize = 200;

struct Run {
    local_rate: f64,
    local_p50: f64,
    local_p99: f64,
    remote: Option<Remote>,
}

struct Remote {
    tiered_p50: f64,
    tiered_p99: f64,
    redis_p50: f64,
    redis_p99: f64,
    invalidation_p50: f64,
    invalidation_p99: f64,
}

pub(crate) async fn bench_cache(
    config: Config,
    runs: usize,
    keys: usize,
    ops: usize,
) -> anyhow::Result<()> {
    let redis = config.redis_url.clone();
    println!(
        "relais bench cache: {keys} keys, {THREADS} threads, {ops} local hits per thread, {runs} runs; Redis: {}",
        if redis.is_some() {
            "yes"
        } else {
            "no (set RELAIS_REDIS_URL or --redis-url for tiered and Redis figures)"
        }
    );
    let names: Arc<Vec<String>> = Arc::new((0..keys).map(|i| format!("row:{i}")).collect());
    let mut results = Vec::with_capacity(runs);
    for run in 1..=runs {
        let (local_rate, local_p50, local_p99) = local(&names, ops).await?;
        let remote = match &redis {
            Some(url) => Some(remote(url, &names).await?),
            None => None,
        };
        print!(
            "run {run}: local {:.2} M hits/s, hit p50 {local_p50:.0} ns, p99 {local_p99:.0} ns",
            local_rate / 1e6
        );
        if let Some(r) = &remote {
            print!(
                " | tiered hit p50 {:.0} ns, p99 {:.0} ns | redis hit p50 {:.0} µs, p99 {:.0} µs | invalidation seen by the other instance p50 {:.2} ms, p99 {:.2} ms",
                r.tiered_p50,
                r.tiered_p99,
                r.redis_p50 / 1e3,
                r.redis_p99 / 1e3,
                r.invalidation_p50 / 1e6,
                r.invalidation_p99 / 1e6
            );
        }
        println!();
        results.push(Run {
            local_rate,
            local_p50,
            local_p99,
            remote,
        });
    }
    let med = |f: &dyn Fn(&Run) -> Option<f64>| {
        let mut v: Vec<f64> = results.iter().filter_map(f).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            median(&mut v)
        }
    };
    print!(
        "median of {runs}: local {:.2} M hits/s, hit p50 {:.0} ns, p99 {:.0} ns",
        med(&|r| Some(r.local_rate)) / 1e6,
        med(&|r| Some(r.local_p50)),
        med(&|r| Some(r.local_p99)),
    );
    if redis.is_some() {
        print!(
            " | tiered hit p50 {:.0} ns, p99 {:.0} ns | redis hit p50 {:.0} µs, p99 {:.0} µs | invalidation seen by the other instance p50 {:.2} ms, p99 {:.2} ms",
            med(&|r| r.remote.as_ref().map(|x| x.tiered_p50)),
            med(&|r| r.remote.as_ref().map(|x| x.tiered_p99)),
            med(&|r| r.remote.as_ref().map(|x| x.redis_p50)) / 1e3,
            med(&|r| r.remote.as_ref().map(|x| x.redis_p99)) / 1e3,
            med(&|r| r.remote.as_ref().map(|x| x.invalidation_p50)) / 1e6,
            med(&|r| r.remote.as_ref().map(|x| x.invalidation_p99)) / 1e6,
        );
    }
    println!();
    Ok(())
}

async fn fill(ns: &Namespace, names: &[String]) -> anyhow::Result<()> {
    for (i, name) in names.iter().enumerate() {
        ns.set(name, &row(i), Some(Duration::from_secs(3600)), &[])
            .await?;
    }
    Ok(())
}

/// Hits on `THREADS` tasks; returns per-operation latencies in ns when `timed`.
async fn hammer(
    ns: &Namespace,
    names: &Arc<Vec<String>>,
    per_thread: usize,
    timed: bool,
) -> anyhow::Result<Vec<f64>> {
    let mut tasks = Vec::with_capacity(THREADS);
    for t in 0..THREADS {
        let (ns, names) = (ns.clone(), names.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(if timed { per_thread } else { 0 });
            let mut missing = 0usize;
            for i in 0..per_thread {
                let name = &names[(i * 7919 + t * 104_729) % names.len()];
                if timed {
                    let start = Instant::now();
                    let hit = ns.get::<Row>(name).await;
                    latencies.push(start.elapsed().as_nanos() as f64);
                    missing += usize::from(hit.is_none());
                } else {
                    missing += usize::from(ns.get::<Row>(name).await.is_none());
                }
            }
            (latencies, missing)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let (latencies, missing) = task.await?;
        anyhow::ensure!(
            missing == 0,
            "{missing} reads missed: the benchmark measures hits"
        );
        all.extend(latencies);
    }
    all.sort_by(f64::total_cmp);
    Ok(all)
}

async fn local(names: &Arc<Vec<String>>, ops: usize) -> anyhow::Result<(f64, f64, f64)> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cache = Cache::local(256 << 20, Duration::from_secs(3600), clock);
    let ns = cache.namespace("bench")?;
    fill(&ns, names).await?;
    let start = Instant::now();
    hammer(&ns, names, ops, false).await?;
    let rate = (ops * THREADS) as f64 / start.elapsed().as_secs_f64();
    let latencies = hammer(&ns, names, LATENCY_SAMPLES, true).await?;
    Ok((
        rate,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    ))
}

fn shared(url: &str, backend: CacheBackend, prefix: &str) -> anyhow::Result<Cache> {
    let client = relais_platform::redis::Redis::new(url)?.client();
    let config = CacheConfig {
        backend,
        memory: 256 << 20,
        default_ttl: Duration::from_secs(3600),
        prefix: prefix.to_owned(),
    };
    Ok(Cache::new(
        config,
        Arc::new(SystemClock),
        Some(client),
        CancellationToken::new(),
    )?)
}

async fn up(cache: &Cache) -> anyhow::Result<()> {
    let mut events = cache.link_events().context("a Redis backend")?;
    let wait = async {
        while cache.redis_up() != Some(true) {
            let _ = events.recv().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .context("Redis did not answer within 10 s")
}

async fn remote(url: &str, names: &Arc<Vec<String>>) -> anyhow::Result<Remote> {
    let prefix = format!("relais:bench:{}:", uuid_like());
    let tiered = shared(url, CacheBackend::Tiered, &prefix)?;
    let other = shared(url, CacheBackend::Tiered, &prefix)?;
    let direct = shared(url, CacheBackend::Redis, &prefix)?;
    for c in [&tiered, &other, &direct] {
        up(c).await?;
    }
    let ns = tiered.namespace("bench")?;
    fill(&ns, names).await?;
    // Warm the local tier, then measure local hits in front of Redis.
    hammer(&ns, names, names.len(), false).await?;
    let t = hammer(&ns, names, LATENCY_SAMPLES, true).await?;
    // Redis hits, one request at a time.
    let dns = direct.namespace("bench")?;
    let mut r = Vec::with_capacity(REDIS_SAMPLES);
    for i in 0..REDIS_SAMPLES {
        let name = &names[(i * 7919) % names.len()];
        let start = Instant::now();
        let hit = dns.get::<Row>(name).await;
        r.push(start.elapsed().as_nanos() as f64);
        anyhow::ensure!(hit.is_some(), "Redis read missed");
    }
    r.sort_by(f64::total_cmp);
    // Invalidation on one instance until the other has dropped its copy.
    let ons = other.namespace("bench")?;
    let mut received = other.remote_invalidations();
    let mut d = Vec::with_capacity(INVALIDATIONS);
    for i in 0..INVALIDATIONS {
        let name = &names[i % names.len()];
        ns.set(name, &row(i), None, &[]).await?;
        // The write's own broadcast reaches `other` first; wait for it, then read through.
        wait_for(&mut received, name).await?;
        anyhow::ensure!(ons.get::<Row>(name).await.is_some(), "read-through missed");
        let start = Instant::now();
        ns.delete(name).await;
        wait_for(&mut received, name).await?;
        d.push(start.elapsed().as_nanos() as f64);
    }
    d.sort_by(f64::total_cmp);
    ns.invalidate_prefix("").await;
    Ok(Remote {
        tiered_p50: percentile(&t, 0.5),
        tiered_p99: percentile(&t, 0.99),
        redis_p50: percentile(&r, 0.5),
        redis_p99: percentile(&r, 0.99),
        invalidation_p50: percentile(&d, 0.5),
        invalidation_p99: percentile(&d, 0.99),
    })
}

async fn wait_for(
    received: &mut tokio::sync::broadcast::Receiver<relais_platform::cache::RemoteInvalidation>,
    key: &str,
) -> anyhow::Result<()> {
    let wait = async {
        loop {
            match received.recv().await {
                Ok(m) if m.value == key => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("invalidation channel: {e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .context("no invalidation within 5 s")?
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}
