//! `relais bench …`: performance measurements that print medians (never asserted by tests).

use std::time::{Duration, Instant};

use anyhow::Context;
use relais_platform::Platform;
use relais_platform::config::{Config, DatabaseConfig};
use relais_platform::shutdown::Shutdown;
use relais_platform::tasks::{Engine, EngineConfig, Enqueue, Noop, TaskState};

use crate::cli::BenchCommand;

mod audit;
mod cache;
mod elections;
mod import;

/// Runs a benchmark.
pub async fn run(config: Config, what: BenchCommand) -> anyhow::Result<()> {
    match what {
        BenchCommand::Tasks {
            tasks,
            runs,
            concurrency,
            trickle,
        } => bench_tasks(config, tasks, runs.max(1), concurrency, trickle).await,
        BenchCommand::Audit {
            requests,
            concurrency,
            runs,
        } => audit::bench_audit(config, requests.max(1), concurrency.max(1), runs.max(1)).await,
        BenchCommand::Cache { runs, keys, ops } => {
            cache::bench_cache(config, runs.max(1), keys.max(1), ops.max(1)).await
        }
        BenchCommand::Import {
            rows,
            runs,
            upload_runs,
        } => {
            import::bench_import(
                config,
                import::ImportBench {
                    rows: rows.max(10),
                    runs: runs.max(1),
                    upload_runs,
                },
            )
            .await
        }
        BenchCommand::Elections {
            sizes,
            runs,
            real_file,
            no_real,
            changed,
            seed,
        } => {
            let real_file = match (no_real, real_file) {
                (true, _) => None,
                (false, Some(path)) => Some(path),
                (false, None) => Some(std::path::PathBuf::from(DEFAULT_REAL_FILE)),
            };
            elections::bench_elections(
                config,
                elections::ElectionsBench {
                    sizes: elections::parse_sizes(&sizes)?,
                    real_file,
                    runs: runs.max(1),
                    changed: changed.max(1),
                    seed,
                },
            )
            .await
        }
    }
}

/// The real PV file committed with the elections app (in the source tree this binary was
/// built from).
const DEFAULT_REAL_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../relais-elections/tests/fixtures/pv_real_public.csv"
);

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Where a run's data lives, removed after the run.
pub(crate) enum Scratch {
    /// A fresh SQLite file in a temporary directory.
    Dir(tempdir::TempDir),
    /// A fresh schema on the configured PostgreSQL server.
    Schema(relais_platform::store::ScratchSchema),
}

impl Scratch {
    pub(crate) async fn remove(self) -> anyhow::Result<()> {
        match self {
            Scratch::Dir(dir) => drop(dir),
            Scratch::Schema(schema) => schema.drop_now().await?,
        }
        Ok(())
    }
}

/// A platform on empty tables: a fresh SQLite file, or a fresh schema on the configured
/// PostgreSQL server (so runs neither depend on earlier data nor leave any).
pub(crate) async fn platform_for_run(config: &Config) -> anyhow::Result<(Platform, Scratch)> {
    platform_for_run_with(config, &[]).await
}

/// [`platform_for_run`] with the schemas of these apps.
pub(crate) async fn platform_for_run_with(
    config: &Config,
    apps: &[relais_platform::store::MigrationSet],
) -> anyhow::Result<(Platform, Scratch)> {
    let (db, scratch) = match &config.database {
        DatabaseConfig::Sqlite {
            readers,
            busy_timeout,
            ..
        } => {
            let dir = tempdir::TempDir::new()?;
            let db = DatabaseConfig::Sqlite {
                path: dir.path().join("bench.db"),
                readers: *readers,
                busy_timeout: *busy_timeout,
            };
            (db, Scratch::Dir(dir))
        }
        DatabaseConfig::Postgres {
            url,
            max_connections,
            connect_timeout,
        } => {
            let schema = relais_platform::store::ScratchSchema::create(url).await?;
            let db = DatabaseConfig::Postgres {
                url: schema.url.clone(),
                max_connections: *max_connections,
                connect_timeout: *connect_timeout,
            };
            (db, Scratch::Schema(schema))
        }
    };
    let (platform, _) = Platform::start(config.clone().with_database(db), apps).await?;
    Ok((platform, scratch))
}

fn engine(platform: &Platform, concurrency: usize) -> anyhow::Result<Engine> {
    crate::task_engine(
        platform,
        EngineConfig {
            queues: vec![("bench".into(), concurrency)],
            retention: None,
            ..EngineConfig::default()
        },
        &crate::import_registry(platform)?,
        false,
    )
}

fn noop() -> Enqueue {
    Enqueue {
        queue: Some("bench".into()),
        created_by: Some("bench".into()),
        ..Enqueue::of::<Noop>(&Default::default()).expect("noop args")
    }
}

async fn succeeded_noops(platform: &Platform) -> anyhow::Result<i64> {
    Ok(platform
        .store
        .task_counts()
        .await?
        .into_iter()
        .filter(|(kind, state, _)| kind == "relais.noop" && *state == TaskState::Succeeded)
        .map(|(_, _, n)| n)
        .sum())
}

/// Waits until `target` no-op tasks have succeeded: counted from the event bus, and from the
/// store when the bus lagged (or at least every second).
async fn wait_for_noops(
    platform: &Platform,
    events: &mut tokio::sync::broadcast::Receiver<relais_platform::tasks::TaskEvent>,
    target: i64,
) -> anyhow::Result<()> {
    use tokio::sync::broadcast::error::RecvError;
    let mut done = succeeded_noops(platform).await?;
    while done < target {
        match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
            Ok(Ok(e))
                if e.state == TaskState::Succeeded
                    && e.kind == "relais.noop"
                    && e.progress.is_none() =>
            {
                done += 1
            }
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) | Err(_) => done = succeeded_noops(platform).await?,
            Ok(Err(RecvError::Closed)) => anyhow::bail!("event bus closed"),
        }
    }
    Ok(())
}

async fn bench_tasks(
    config: Config,
    tasks: usize,
    runs: usize,
    concurrency: usize,
    trickle: usize,
) -> anyhow::Result<()> {
    let backend = match config.database {
        DatabaseConfig::Sqlite { .. } => "sqlite",
        DatabaseConfig::Postgres { .. } => "postgres",
    };
    println!(
        "relais bench tasks: backend {backend}, {tasks} no-op tasks per run, {runs} runs, concurrency {concurrency}"
    );
    let (mut insert_rates, mut drain_rates, mut total_rates, mut p50s, mut p99s) =
        (vec![], vec![], vec![], vec![], vec![]);
    for run in 1..=runs {
        let (platform, scratch) = platform_for_run(&config).await?;
        let engine = engine(&platform, concurrency)?;
        let before = succeeded_noops(&platform).await?;

        // Throughput: insert in batches of 1,000 (one transaction each), then drain.
        let start = Instant::now();
        for chunk in (0..tasks).collect::<Vec<_>>().chunks(1_000) {
            engine
                .enqueue_many(chunk.iter().map(|_| noop()).collect())
                .await?;
        }
        let inserted = start.elapsed();
        let shutdown = Shutdown::new();
        let mut events = engine.subscribe();
        let drain_start = Instant::now();
        engine.start(&shutdown);
        wait_for_noops(&platform, &mut events, before + tasks as i64).await?;
        let drained = drain_start.elapsed();
        let insert_rate = tasks as f64 / inserted.as_secs_f64();
        let drain_rate = tasks as f64 / drained.as_secs_f64();
        let total_rate = tasks as f64 / (inserted + drained).as_secs_f64();

        // Latency: one task every 2 ms while the workers idle; enqueue→start from the records.
        let mut ids = Vec::with_capacity(trickle);
        for _ in 0..trickle {
            ids.push(engine.enqueue(noop()).await?.0.id);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        wait_for_noops(&platform, &mut events, before + (tasks + trickle) as i64).await?;
        let mut latencies = Vec::with_capacity(trickle);
        for id in ids {
            let t = engine.get(id).await?.context("trickle task vanished")?;
            let started = t.started_at.context("trickle task never started")?;
            latencies.push((started - t.created_at).num_microseconds().unwrap_or(0) as f64 / 1e3);
        }
        latencies.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        println!(
            "run {run}: insert {insert_rate:>9.0} tasks/s | drain {drain_rate:>8.0} tasks/s | end to end {total_rate:>8.0} tasks/s | enqueue→start p50 {p50:.2} ms, p99 {p99:.2} ms"
        );
        insert_rates.push(insert_rate);
        drain_rates.push(drain_rate);
        total_rates.push(total_rate);
        p50s.push(p50);
        p99s.push(p99);
        engine
            .drain(tokio::time::Instant::now() + Duration::from_secs(10))
            .await;
        platform.store.close().await;
        scratch.remove().await?;
    }
    println!(
        "median of {runs}: insert {:.0} tasks/s | drain {:.0} tasks/s | end to end {:.0} tasks/s | enqueue→start p50 {:.2} ms, p99 {:.2} ms",
        median(&mut insert_rates),
        median(&mut drain_rates),
        median(&mut total_rates),
        median(&mut p50s),
        median(&mut p99s)
    );
    Ok(())
}

mod tempdir {
    /// A directory removed on drop.
    pub struct TempDir(std::path::PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!("relais-bench-{}", std::process::id()));
            let path = path.with_extension(format!(
                "{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
