//! `relais bench elections`: the summary build (`elections.build`) on the real PV file and on
//! synthetic files of the demo generator: the full build end to end (from the request to the
//! task's success) with peak memory, then an incremental build after changing the PV rows of
//! 1,000 SIRETs. Each data set is loaded into a fresh database (SQLite file, or a PostgreSQL
//! schema dropped afterwards) through the storage module's batch upsert, with rows parsed by the
//! `elections.pv` import type, not through the upload pipeline: the load is setup, not measured.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use relais_elections::build::{BUILD_QUEUE, BuildSettings, BuildTask, build_request};
use relais_elections::demo::{DemoSpec, generate};
use relais_elections::domain::{CycleTable, Siret, Votes};
use relais_elections::imports::{Invitation, InvitationImport, PvImport, PvLine, PvRecord};
use relais_elections::store;
use relais_platform::Platform;
use relais_platform::clock::SystemClock;
use relais_platform::config::{Config, DatabaseConfig};
use relais_platform::imports::{ImportContext, parse_file};
use relais_platform::shutdown::Shutdown;
use relais_platform::tasks::{Engine, EngineConfig, TaskEvent, TaskRecord, TaskState};
use tokio::sync::broadcast;

use super::import::{memory, mib, reset_peak};
use super::{median, tempdir::TempDir};

/// What to run.
pub(crate) struct ElectionsBench {
    /// Synthetic PV rows per data set.
    pub sizes: Vec<u64>,
    /// The real PV file, when measured.
    pub real_file: Option<PathBuf>,
    /// Runs per measurement (medians reported).
    pub runs: usize,
    /// SIRETs changed before each incremental build.
    pub changed: usize,
    /// Seed of the generator.
    pub seed: u64,
}

/// Rows per batch of the load.
const LOAD_BATCH: usize = 5_000;

/// One data set's figures.
struct Figures {
    name: String,
    rows: u64,
    sirets: u64,
    load: Duration,
    full: Vec<Duration>,
    full_peak: Vec<u64>,
    full_growth: Vec<u64>,
    incremental: Vec<Duration>,
    incremental_peak: Vec<u64>,
}

/// Parses `126k`, `1M`, `10M`, `126000`.
pub(crate) fn parse_sizes(text: &str) -> anyhow::Result<Vec<u64>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (digits, factor) = match s.as_bytes().last() {
                Some(b'k' | b'K') => (&s[..s.len() - 1], 1_000),
                Some(b'm' | b'M') => (&s[..s.len() - 1], 1_000_000),
                _ => (s, 1),
            };
            let n: u64 = digits
                .replace('_', "")
                .parse()
                .with_context(|| format!("--sizes: {s:?} is not a row count (126k, 1M, 126000)"))?;
            anyhow::ensure!(n > 0, "--sizes: {s:?} is not a row count");
            Ok(n * factor)
        })
        .collect()
}

/// Runs the benchmark.
pub(crate) async fn bench_elections(config: Config, b: ElectionsBench) -> anyhow::Result<()> {
    let backend = match config.database {
        DatabaseConfig::Sqlite { .. } => "sqlite",
        DatabaseConfig::Postgres { .. } => "postgres",
    };
    println!(
        "relais bench elections: backend {backend}, {} runs per measurement (medians), incremental builds after changing {} SIRETs",
        b.runs, b.changed
    );
    println!(
        "data are loaded into a fresh database through the storage module's batch upsert (rows parsed by elections.pv, {LOAD_BATCH} per transaction), not the upload pipeline; the load is not part of the figures"
    );
    let dir = TempDir::new()?;
    let mut all = Vec::new();
    if let Some(real) = &b.real_file {
        anyhow::ensure!(
            real.is_file(),
            "the real PV file {} is missing: pass --real-file PATH, or --no-real",
            real.display()
        );
        let figures = one_set(&config, "real file", real, None, &b).await?;
        print_set(&figures);
        all.push(figures);
    }
    let today = chrono::Utc::now().date_naive();
    for &rows in &b.sizes {
        let name = format!("synthetic {}", human(rows));
        let pv_path = dir.path().join(format!("pv-{rows}.csv"));
        let invitations_path = dir.path().join(format!("invitations-{rows}.csv"));
        let started = Instant::now();
        let writer = |path: &Path| -> std::io::Result<_> {
            Ok(std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(path)?,
            ))
        };
        let counts = generate(
            &DemoSpec::new(rows, b.seed, today),
            writer(&pv_path)?,
            writer(&invitations_path)?,
        )?;
        println!(
            "{name}: generated {} PV rows and {} invitations of {} SIRETs in {:.1} s",
            counts.pv_rows,
            counts.invitations,
            counts.sirets,
            started.elapsed().as_secs_f64()
        );
        let figures = one_set(&config, &name, &pv_path, Some(&invitations_path), &b).await?;
        print_set(&figures);
        all.push(figures);
        let _ = std::fs::remove_file(&pv_path);
        let _ = std::fs::remove_file(&invitations_path);
    }
    println!();
    println!(
        "{:<20} {:>11} {:>10} {:>9} {:>12} {:>18} {:>14} {:>12}",
        "data", "PV rows", "SIRETs", "load", "full build", "peak (growth)", "incremental", "peak"
    );
    for f in &mut all {
        let full = median_of(&mut f.full);
        let peak = median_u64(&mut f.full_peak);
        let growth = median_u64(&mut f.full_growth);
        let inc = median_of(&mut f.incremental);
        let inc_peak = median_u64(&mut f.incremental_peak);
        println!(
            "{:<20} {:>11} {:>10} {:>8.1}s {:>11.3}s {:>9.1} MiB (+{:.1}) {:>11.1} ms {:>8.1} MiB",
            f.name,
            f.rows,
            f.sirets,
            f.load.as_secs_f64(),
            full.as_secs_f64(),
            mib(peak),
            mib(growth),
            inc.as_secs_f64() * 1e3,
            mib(inc_peak)
        );
    }
    Ok(())
}

fn human(rows: u64) -> String {
    match rows {
        r if r >= 1_000_000 && r.is_multiple_of(1_000_000) => format!("{}M", r / 1_000_000),
        r if r >= 1_000 && r.is_multiple_of(1_000) => format!("{}k", r / 1_000),
        r => r.to_string(),
    }
}

fn median_of(values: &mut [Duration]) -> Duration {
    let mut secs: Vec<f64> = values.iter().map(Duration::as_secs_f64).collect();
    Duration::from_secs_f64(median(&mut secs))
}

fn median_u64(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn print_set(f: &Figures) {
    let runs: Vec<String> = f
        .full
        .iter()
        .zip(&f.full_peak)
        .map(|(d, p)| format!("{:.3} s / {:.0} MiB", d.as_secs_f64(), mib(*p)))
        .collect();
    let incremental: Vec<String> = f
        .incremental
        .iter()
        .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
        .collect();
    println!(
        "{}: {} rows, {} SIRETs loaded in {:.1} s; full builds {}; incremental builds {}",
        f.name,
        f.rows,
        f.sirets,
        f.load.as_secs_f64(),
        runs.join(", "),
        incremental.join(", ")
    );
}

async fn one_set(
    config: &Config,
    name: &str,
    csv: &Path,
    invitations: Option<&Path>,
    b: &ElectionsBench,
) -> anyhow::Result<Figures> {
    let (platform, scratch) = super::platform_for_run_with(config, crate::APP_MIGRATIONS).await?;
    let started = Instant::now();
    let rows = load(&platform, csv).await?;
    let mut load = started.elapsed();
    let db = platform.store.db().clone();
    // SIRETs with PV rows (every one is marked), some of which the incremental runs change.
    let with_rows = store::dirty_count(&db, None).await?;
    let chosen = choose(&platform, with_rows, b.changed).await?;
    if let Some(path) = invitations {
        let started = Instant::now();
        load_invitations(&platform, path).await?;
        load += started.elapsed();
    }
    // Every SIRET loaded is marked: what a full build summarises.
    let sirets = store::dirty_count(&db, None).await?;
    let engine = Engine::builder(
        platform.store.clone(),
        Arc::new(SystemClock),
        EngineConfig {
            queues: vec![(BUILD_QUEUE.to_owned(), 1)],
            retention: None,
            ..EngineConfig::default()
        },
    )
    .register(BuildTask::new(
        platform.store.clone(),
        BuildSettings::default(),
    ))
    .build()?;
    let shutdown = Shutdown::new();
    engine.start(&shutdown);
    let mut events = engine.subscribe();
    let mut figures = Figures {
        name: name.to_owned(),
        rows,
        sirets,
        load,
        full: Vec::new(),
        full_peak: Vec::new(),
        full_growth: Vec::new(),
        incremental: Vec::new(),
        incremental_peak: Vec::new(),
    };
    for _ in 0..b.runs {
        reset_peak();
        let (_, base) = memory();
        let (elapsed, task) = timed_build(&engine, &mut events, true).await?;
        let (peak, _) = memory();
        figures.full_growth.push(peak.saturating_sub(base));
        let summarised = task
            .result
            .as_ref()
            .map_or(0, |r| r["summarised"].as_u64().unwrap_or(0));
        anyhow::ensure!(
            summarised == sirets,
            "{name}: the full build summarised {summarised} SIRETs, not {sirets}"
        );
        figures.full.push(elapsed);
        figures.full_peak.push(peak);
    }
    for run in 0..b.runs {
        change(&platform, &chosen, run).await?;
        reset_peak();
        let (elapsed, task) = timed_build(&engine, &mut events, false).await?;
        let (peak, _) = memory();
        let done = task.result.as_ref().map_or(0, |r| {
            r["summarised"].as_u64().unwrap_or(0) + r["deleted"].as_u64().unwrap_or(0)
        });
        anyhow::ensure!(
            done == chosen.len() as u64,
            "{name}: the incremental build took {done} SIRETs, not the {} changed",
            chosen.len()
        );
        figures.incremental.push(elapsed);
        figures.incremental_peak.push(peak);
    }
    engine
        .drain(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
    platform.store.close().await;
    scratch.remove().await?;
    Ok(figures)
}

/// Loads a PV file: parsed by `elections.pv` on a blocking thread, written in batches by the
/// storage module's upsert (which marks every SIRET for the build). Returns the rows written.
async fn load(platform: &Platform, csv: &Path) -> anyhow::Result<u64> {
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Vec<PvLine>>(4);
    let path = csv.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let ty = PvImport::new(CycleTable::standard());
        let ctx = ImportContext {
            import_id: uuid::Uuid::now_v7(),
            mode: "append",
            scope: None,
            dry_run: false,
        };
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        let counts = parse_file(&ty, &path, &ctx, |record| {
            if let PvRecord::Pv(line) = record {
                batch.push(*line);
            }
            if batch.len() >= LOAD_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
                sender
                    .blocking_send(full)
                    .map_err(|_| "the writer stopped".to_owned())?;
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            sender
                .blocking_send(batch)
                .map_err(|_| "the writer stopped".to_owned())?;
        }
        Ok::<_, String>(counts)
    });
    let import_id = uuid::Uuid::now_v7();
    let mut written = 0u64;
    while let Some(lines) = batches.recv().await {
        let mut tx = platform.store.begin().await?;
        let w = store::upsert_pv(&mut tx, lines, import_id, false).await?;
        tx.commit().await?;
        written += w.inserted + w.updated;
    }
    let counts = reader
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
    anyhow::ensure!(
        counts.accepted > 0,
        "{}: no PV row accepted ({} rejected)",
        csv.display(),
        counts.rejected
    );
    if counts.rejected > 0 {
        println!(
            "{}: {} rows rejected by the parser (not loaded)",
            csv.display(),
            counts.rejected
        );
    }
    Ok(written)
}

/// Loads an invitations file like [`load`] (invitations are few: one transaction per batch
/// read in memory).
async fn load_invitations(platform: &Platform, csv: &Path) -> anyhow::Result<()> {
    let path = csv.to_owned();
    let batches = tokio::task::spawn_blocking(move || {
        let ctx = ImportContext {
            import_id: uuid::Uuid::now_v7(),
            mode: "append",
            scope: None,
            dry_run: false,
        };
        let mut all: Vec<Invitation> = Vec::new();
        parse_file(&InvitationImport, &path, &ctx, |i| {
            all.push(i);
            Ok(())
        })
        .map(|_| all)
    })
    .await?
    .map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
    let import_id = uuid::Uuid::now_v7();
    for chunk in batches.chunks(LOAD_BATCH) {
        let mut tx = platform.store.begin().await?;
        store::upsert_invitations(&mut tx, chunk.to_vec(), import_id).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// `n` SIRETs spread over the marked ones (every SIRET loaded is marked).
async fn choose(platform: &Platform, marked: u64, n: usize) -> anyhow::Result<Vec<Siret>> {
    let db = platform.store.db();
    let stride = (marked / n.max(1) as u64).max(1);
    let mut chosen = Vec::with_capacity(n);
    let mut after = String::new();
    let mut seen = 0u64;
    while chosen.len() < n {
        let page = store::dirty_page(db, i64::MAX, &after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.clone();
        for siret in page {
            if seen.is_multiple_of(stride) && chosen.len() < n {
                chosen.push(Siret::parse(&siret).map_err(|e| anyhow::anyhow!("{siret}: {e}"))?);
            }
            seen += 1;
        }
    }
    Ok(chosen)
}

/// Changes one PV row of each chosen SIRET (its CGT votes, by `run + 1` votes), in one
/// transaction through the storage module's upsert: the SIRETs are marked.
async fn change(platform: &Platform, sirets: &[Siret], run: usize) -> anyhow::Result<()> {
    let rows = store::pv_rows_of(platform.store.db(), sirets).await?;
    let mut lines: Vec<PvLine> = Vec::with_capacity(sirets.len());
    for stored in rows {
        if lines
            .last()
            .is_some_and(|l| l.row.siret == stored.row.siret)
        {
            continue;
        }
        let mut row = stored.row;
        row.votes[0] += Votes::whole(run as i64 + 1);
        lines.push(PvLine {
            key: stored.key,
            row,
            region: stored.region,
            source_file: stored.source_file,
        });
    }
    let mut tx = platform.store.begin().await?;
    store::upsert_pv(&mut tx, lines, uuid::Uuid::now_v7(), false).await?;
    tx.commit().await?;
    Ok(())
}

/// Requests a build and waits for its success: the time from the request to the outcome.
async fn timed_build(
    engine: &Engine,
    events: &mut broadcast::Receiver<TaskEvent>,
    full: bool,
) -> anyhow::Result<(Duration, TaskRecord)> {
    let started = Instant::now();
    let (task, _) = engine
        .enqueue(build_request(full, Some("bench".into())))
        .await?;
    loop {
        match tokio::time::timeout(Duration::from_millis(100), events.recv()).await {
            Ok(Ok(e)) if e.id == task.id && e.state.is_final() => break,
            Ok(Ok(_)) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => anyhow::bail!("event bus closed"),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) | Err(_) => {
                let t = engine.get(task.id).await?.context("the build vanished")?;
                if t.state.is_final() {
                    break;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let t = engine.get(task.id).await?.context("the build vanished")?;
    if t.state != TaskState::Succeeded {
        let error = engine.errors(t.id).await?.pop().map(|e| e.message);
        anyhow::bail!("the build ended {}: {}", t.state, error.unwrap_or_default());
    }
    Ok((elapsed, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_suffixes() {
        assert_eq!(
            parse_sizes("126k, 1M,10M,5000").unwrap(),
            vec![126_000, 1_000_000, 10_000_000, 5_000]
        );
        assert_eq!(parse_sizes("").unwrap(), Vec::<u64>::new());
        assert!(parse_sizes("12x").is_err());
        assert!(parse_sizes("0").is_err());
        assert_eq!(human(126_000), "126k");
        assert_eq!(human(10_000_000), "10M");
    }
}
