//! `relais bench audit`: the throughput of a mutating request (`POST /api/tasks`, an admin
//! token, the whole router in process) with and without the audit middleware, at a fixed number
//! of requests in flight.
//!
//! Both routers serve the same platform and database. Each run alternates short slices of
//! requests between them in ABBA order and sums the time of each, so drift (the database
//! growing, another process taking the CPU for a while) weighs on both alike; the cost is
//! `1 - rate with / rate without`. Without a database URL each run uses a fresh SQLite file.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use relais_platform::clock::SystemClock;
use relais_platform::config::{Config, DatabaseConfig};
use relais_platform::tasks::EngineConfig;
use relais_platform::tokens::{Role, Tokens};
use tower::ServiceExt;

use super::{median, platform_for_run};

/// Requests sent through each router before measuring.
const WARMUP: usize = 500;

/// Slices per run (ABBA…): each router serves `requests / SLICES` requests per slice.
const SLICES: usize = 10;

pub(crate) async fn bench_audit(
    config: Config,
    requests: usize,
    concurrency: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let backend = match config.database {
        DatabaseConfig::Sqlite { .. } => "sqlite",
        DatabaseConfig::Postgres { .. } => "postgres",
    };
    let slice = (requests / SLICES).max(1);
    println!(
        "relais bench audit: backend {backend}, POST /api/tasks (relais.noop) with an admin token, \
         {concurrency} in flight, {runs} runs of {} requests per router in {SLICES} alternating slices",
        slice * SLICES
    );
    let (mut with, mut without, mut costs) = (vec![], vec![], vec![]);
    for run in 1..=runs {
        let (rate_with, rate_without, per_record) = measure(&config, slice, concurrency).await?;
        let cost = (1.0 - rate_with / rate_without) * 100.0;
        println!(
            "run {run}: with audit {rate_with:>7.0} req/s | without {rate_without:>7.0} req/s | cost {cost:>5.1} % | {per_record:.1} records per audit transaction"
        );
        with.push(rate_with);
        without.push(rate_without);
        costs.push(cost);
    }
    println!(
        "median of {runs}: with audit {:.0} req/s | without {:.0} req/s | cost {:.1} %",
        median(&mut with),
        median(&mut without),
        median(&mut costs)
    );
    Ok(())
}

/// Requests per second with and without audit, and records per audit transaction.
async fn measure(
    config: &Config,
    slice: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let (platform, scratch) = platform_for_run(config).await?;
    // No workers: the enqueued tasks wait, so only the request path is measured.
    let engine = crate::task_engine(
        &platform,
        EngineConfig {
            retention: None,
            ..EngineConfig::default()
        },
        &crate::import_registry(&platform)?,
        false,
    )?;
    let tokens = Tokens::new(platform.store.clone(), Arc::new(SystemClock));
    let name = format!("bench-{}", uuid_suffix());
    let secret = tokens.create(&name, Role::Admin, None, None).await?.secret;
    let router = |audit: bool| {
        relais_http::app_with_options(
            platform.clone(),
            vec![relais_http::tasks::routes(engine.clone())],
            relais_http::AppOptions {
                audit,
                ..relais_http::AppOptions::default()
            },
        )
        .0
    };
    let routers = [router(true), router(false)];
    let bearer = Arc::new(format!("Bearer {secret}"));
    for r in &routers {
        drive(r, &bearer, WARMUP, concurrency).await?;
    }
    let before = *platform.audit.progress().borrow();
    let mut elapsed = [Duration::ZERO; 2];
    for i in 0..SLICES {
        // A B B A A B B A …
        let first = usize::from(i % 2 == 1);
        for which in [first, 1 - first] {
            let start = Instant::now();
            drive(&routers[which], &bearer, slice, concurrency).await?;
            elapsed[which] += start.elapsed();
        }
    }
    let after = *platform.audit.progress().borrow();
    let total = (slice * SLICES) as f64;
    let per_record =
        (after.written - before.written) as f64 / (after.batches - before.batches).max(1) as f64;
    platform
        .audit
        .drain(tokio::time::Instant::now() + Duration::from_secs(30))
        .await;
    platform.store.close().await;
    scratch.remove().await?;
    Ok((
        total / elapsed[0].as_secs_f64(),
        total / elapsed[1].as_secs_f64(),
        per_record,
    ))
}

/// Sends `total` enqueues through `router`, `concurrency` at a time.
async fn drive(
    router: &Router,
    bearer: &Arc<String>,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (router, bearer, next) = (router.clone(), bearer.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let request = Request::post("/api/tasks")
                        .header(header::CONTENT_TYPE, "application/json")
                        .header(header::AUTHORIZATION, bearer.as_str())
                        .body(Body::from(r#"{"kind":"relais.noop","args":{}}"#))
                        .expect("a valid request");
                    let response = router.clone().oneshot(request).await?;
                    let status = response.status();
                    axum::body::to_bytes(response.into_body(), usize::MAX).await?;
                    anyhow::ensure!(
                        status == StatusCode::ACCEPTED,
                        "POST /api/tasks answered {status}"
                    );
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for w in workers {
        w.await.context("a request task panicked")??;
    }
    Ok(())
}

fn uuid_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}
