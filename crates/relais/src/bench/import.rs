//! `relais bench import`: a generated CSV through the whole import pipeline (copy to the file
//! store with the upload checks and hashing, then the `relais.import` task: read, parse,
//! validate, upsert in batches with the resume offset), with peak memory; and the latency of a
//! 10 MB upload answered over HTTP on loopback.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use relais_platform::Platform;
use relais_platform::clock::SystemClock;
use relais_platform::config::{Config, DatabaseConfig};
use relais_platform::imports::sample::SampleImport;
use relais_platform::imports::{ImportRegistry, ImportStatus, Imports, UploadRequest};
use relais_platform::shutdown::Shutdown;
use relais_platform::tasks::{Engine, EngineConfig};
use relais_platform::tokens::{Role, Tokens};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{median, tempdir::TempDir};

/// What to run.
pub(crate) struct ImportBench {
    pub rows: usize,
    pub runs: usize,
    pub upload_runs: usize,
}

/// Peak and current resident memory of this process, in bytes (VmHWM, VmRSS).
pub(crate) fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak (VmHWM) to the current resident size (Linux ≥ 4.0).
pub(crate) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Writes a sample CSV of `rows` rows (codes prefixed by `prefix`), `;`-separated, with accents,
/// decimal commas and French dates, like the seeds' company files.
fn write_csv(path: &Path, rows: usize, prefix: &str, pad: usize) -> std::io::Result<u64> {
    let filler = "x".repeat(pad);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all("Code;Raison sociale;Courriel;Montant;Date;Groupe\n".as_bytes())?;
    for i in 0..rows {
        writeln!(
            out,
            "{prefix}{i:08};Société {i}{filler};contact{i}@example.org;{},{:02};{:02}/{:02}/2024;g{}",
            i % 100_000,
            i % 100,
            1 + i % 28,
            1 + i % 12,
            i % 7
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

struct Setup {
    platform: Platform,
    imports: Imports,
    engine: Engine,
    _dir: TempDir,
    dir: std::path::PathBuf,
}

async fn setup(config: &Config, explicit_db: bool) -> anyhow::Result<Setup> {
    let dir = TempDir::new()?;
    let mut config = config.clone();
    if !explicit_db {
        config = config.with_database(DatabaseConfig::Sqlite {
            path: dir.path().join("bench.db"),
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        });
    }
    let mut settings = config.imports.clone();
    settings.dir = dir.path().join("files");
    settings.upload_rate = None;
    let config = config.with_imports(settings.clone());
    let (platform, _) = Platform::start(config, &[]).await?;
    let registry = ImportRegistry::new(platform.store.clone(), Arc::new(SystemClock), settings)
        .register(SampleImport)?;
    let builder = Engine::builder(
        platform.store.clone(),
        Arc::new(SystemClock),
        EngineConfig {
            queues: vec![(relais_platform::imports::QUEUE.into(), 1)],
            retention: None,
            ..EngineConfig::default()
        },
    );
    let engine = registry.engine_tasks(builder, false).build()?;
    let imports = registry.with_engine(engine.clone());
    Ok(Setup {
        platform,
        imports,
        engine,
        dir: dir.path().to_owned(),
        _dir: dir,
    })
}

/// Copies `path` into the store as an upload would (no limits: like `relais import`).
async fn store_file(imports: &Imports, path: &Path) -> anyhow::Result<uuid::Uuid> {
    let mut upload = imports
        .begin_upload(UploadRequest {
            type_name: "sample".into(),
            file_name: "bench.csv".into(),
            force: true,
            uploader: Some("bench".into()),
            unlimited: true,
            ..UploadRequest::default()
        })
        .await?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        upload.write(Bytes::copy_from_slice(&buf[..n])).await?;
    }
    Ok(upload.finish().await?.record.id)
}

struct Run {
    total: Duration,
    processing: Duration,
    peak: u64,
    baseline: u64,
}

async fn one_run(
    config: &Config,
    explicit_db: bool,
    rows: usize,
    prefix: &str,
) -> anyhow::Result<Run> {
    let s = setup(config, explicit_db).await?;
    SampleImport::clear(s.platform.store.as_ref()).await?;
    let csv = s.dir.join("input.csv");
    write_csv(&csv, rows, prefix, 0)?;
    reset_peak();
    let (_, baseline) = memory();
    let start = Instant::now();
    let id = store_file(&s.imports, &csv).await?;
    let stored = Instant::now();
    let shutdown = Shutdown::new();
    s.engine.start(&shutdown);
    let record = loop {
        let r = s.imports.get(id).await?.context("the import vanished")?;
        if r.status.is_final() {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let end = Instant::now();
    let (peak, _) = memory();
    anyhow::ensure!(
        record.status == ImportStatus::Succeeded && record.counts.inserted == rows as u64,
        "the benchmark import did not succeed: {:?} {:?} {:?}",
        record.status,
        record.counts,
        record.error
    );
    s.engine
        .drain(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
    s.platform.store.close().await;
    Ok(Run {
        total: end - start,
        processing: end - stored,
        peak,
        baseline,
    })
}

/// Runs the benchmark.
pub(crate) async fn bench_import(config: Config, b: ImportBench) -> anyhow::Result<()> {
    let explicit_db = config.shown_value("database.url").is_some();
    let backend = match config.database {
        DatabaseConfig::Sqlite { .. } => "sqlite",
        DatabaseConfig::Postgres { .. } => "postgres",
    };
    println!(
        "relais bench import: backend {backend}, sample type, {} rows per run, {} runs, batches of {} rows",
        b.rows, b.runs, config.imports.batch_rows
    );
    let stamp = uuid::Uuid::now_v7().simple().to_string();
    let small = (b.rows / 10).max(1);
    let s = one_run(&config, explicit_db, small, &format!("S{}-", &stamp[..12])).await?;
    println!(
        "{small} rows: {:.0} rows/s end to end, peak memory {:.1} MiB (resident before {:.1} MiB)",
        small as f64 / s.total.as_secs_f64(),
        mib(s.peak),
        mib(s.baseline)
    );
    let (mut totals, mut processing, mut peaks) = (vec![], vec![], vec![]);
    for run in 1..=b.runs {
        let r = one_run(
            &config,
            explicit_db,
            b.rows,
            &format!("R{run}-{}-", &stamp[..12]),
        )
        .await?;
        let total = b.rows as f64 / r.total.as_secs_f64();
        let proc_rate = b.rows as f64 / r.processing.as_secs_f64();
        println!(
            "run {run}: {total:>9.0} rows/s end to end ({:.2} s) | task {proc_rate:>9.0} rows/s | peak memory {:.1} MiB (resident before {:.1} MiB)",
            r.total.as_secs_f64(),
            mib(r.peak),
            mib(r.baseline)
        );
        totals.push(total);
        processing.push(proc_rate);
        peaks.push(mib(r.peak));
    }
    println!(
        "median of {}: {:.0} rows/s end to end | task {:.0} rows/s | peak memory {:.1} MiB ({} rows: {:.1} MiB)",
        b.runs,
        median(&mut totals),
        median(&mut processing),
        median(&mut peaks),
        small,
        mib(s.peak)
    );
    if b.upload_runs > 0 {
        bench_upload(&config, explicit_db, b.upload_runs).await?;
    }
    Ok(())
}

/// Uploads of a 10 MB CSV over HTTP on loopback (no import runs meanwhile): time from the first
/// byte sent to the last byte of the 202 answer.
async fn bench_upload(config: &Config, explicit_db: bool, runs: usize) -> anyhow::Result<()> {
    let s = setup(config, explicit_db).await?;
    let csv = s.dir.join("upload.csv");
    // Just under the default limits: 10,000,000 bytes in 49,000 rows of about 200 bytes.
    let rows = 49_000;
    let size = write_csv(&csv, rows, "U", 128)?;
    anyhow::ensure!(size <= 10_000_000, "the upload file is {size} bytes");
    let body = std::fs::read(&csv)?;
    let secret = Tokens::new(s.platform.store.clone(), Arc::new(SystemClock))
        .create(
            &format!("bench-upload-{}", uuid::Uuid::now_v7().simple()),
            Role::Operator,
            None,
            Some("bench"),
        )
        .await?
        .secret;
    let routes = vec![relais_http::imports::routes(s.imports.clone())];
    let (router, _) = relais_http::app(s.platform.clone(), routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = Shutdown::new();
    let server = tokio::spawn(relais_http::serve(
        listener,
        router,
        shutdown.clone(),
        Duration::from_secs(5),
    ));
    let mut latencies = Vec::with_capacity(runs);
    for run in 0..runs {
        let head = format!(
            "POST /api/imports/sample?filename=upload.csv HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let start = Instant::now();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        let elapsed = start.elapsed();
        let text = String::from_utf8_lossy(&answer);
        anyhow::ensure!(
            text.starts_with("HTTP/1.1 202"),
            "upload {run} was not accepted: {}",
            text.lines().next().unwrap_or("")
        );
        latencies.push(elapsed.as_secs_f64() * 1e3);
    }
    shutdown.trigger();
    let _ = server.await;
    latencies.sort_by(f64::total_cmp);
    println!(
        "upload of a {size}-byte CSV over HTTP (loopback), {runs} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        super::percentile(&latencies, 0.5),
        latencies[0],
        latencies[latencies.len() - 1]
    );
    s.platform.store.close().await;
    Ok(())
}
