//! `relais import TYPE FILE`: the file is copied to the file store with the upload checks
//! (without the size and row limits), recorded and queued like an upload, then worked by this
//! process on the `imports` queue (any `relais serve` working that queue may take it too) while
//! a progress bar follows the record. Interrupted (Ctrl-C), the import goes back to the queue
//! and resumes after its last committed batch wherever it is picked up next.

use anyhow::Context;
use bytes::Bytes;
use relais_platform::Platform;
use relais_platform::audit::{AuditRecord, Params};
use relais_platform::config::Config;
use relais_platform::imports::{ImportRecord, ImportStatus, UploadRequest};
use relais_platform::tasks::EngineConfig;
use tokio::io::AsyncReadExt;

use crate::cli::ImportArgs;
use crate::follow::{Seen, drain, follow};

/// Runs `relais import`.
pub async fn import(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    let (platform, _) = Platform::start(config, crate::APP_MIGRATIONS).await?;
    let result = run(&platform, args).await;
    platform.store.close().await;
    result
}

async fn run(platform: &Platform, args: ImportArgs) -> anyhow::Result<()> {
    let registry = crate::import_registry(platform)?;
    let engine = crate::task_engine(
        platform,
        EngineConfig {
            queues: vec![(relais_platform::imports::QUEUE.to_owned(), 1)],
            retention: None,
            ..EngineConfig::default()
        },
        &registry,
        false,
    )?;
    let imports = registry.with_engine(engine.clone());
    let file_name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .context("the file has no usable name")?
        .to_owned();
    let mut file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let mut upload = imports
        .begin_upload(UploadRequest {
            type_name: args.type_name.clone(),
            file_name,
            dry_run: args.dry_run,
            force: args.force,
            mode: args.mode,
            scope: args.scope,
            sheet: args.sheet,
            uploader: Some(crate::cli_actor()),
            declared_size: None,
            unlimited: true,
        })
        .await?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        upload.write(Bytes::copy_from_slice(&buf[..n])).await?;
    }
    let uploaded = upload.finish().await;
    let at = platform.audit.now();
    let mut params = serde_json::json!({
        "type": args.type_name, "file": args.file.display().to_string(),
        "dry_run": args.dry_run, "force": args.force,
    });
    if let Err(e) = &uploaded {
        params["error"] = e.to_string().into();
    }
    let resource = uploaded.as_ref().ok().map(|u| u.record.id.to_string());
    crate::record(
        &platform.audit,
        AuditRecord::new(at, crate::cli_actor(), "cli import")
            .resource("imports", resource)
            .params(Params::summarise(params))
            .success(uploaded.is_ok()),
    )
    .await?;
    let uploaded = uploaded?;
    let id = uploaded.record.id;
    if !uploaded.created {
        println!(
            "import {id}: this file was imported successfully before ({} rows); nothing to do (use --force to import it again)",
            uploaded.record.counts.read
        );
        return Ok(());
    }
    eprintln!("import {id}: stored, processing");
    engine.start(&platform.shutdown);
    let record = follow(
        platform,
        &format!("interrupted: import {id} goes back to the `imports` queue and resumes after its last committed batch"),
        || async {
            let record = imports.get(id).await?.context("the import vanished")?;
            let percent = match record.task_id {
                Some(task) => engine.get(task).await?.map_or(0.0, |t| t.progress.percent),
                None => 0.0,
            };
            Ok(Seen {
                percent,
                message: summary(&record),
                done: record.status.is_final().then_some(record),
            })
        },
    )
    .await?;
    drain(platform).await;
    println!("import {id}: {} — {}", record.status, summary(&record));
    if record.counts.rejected + record.counts.warnings > 0 {
        println!("row errors and warnings: GET /api/imports/{id}/errors.csv");
    }
    match record.status {
        ImportStatus::Succeeded | ImportStatus::Partial => Ok(()),
        status => anyhow::bail!(
            "import {id} {status}: {}",
            record.error.as_deref().unwrap_or("no detail")
        ),
    }
}

fn summary(r: &ImportRecord) -> String {
    let c = &r.counts;
    format!(
        "{} read, {} inserted, {} updated, {} unchanged, {} deleted, {} rejected, {} warnings",
        c.read, c.inserted, c.updated, c.unchanged, c.deleted, c.rejected, c.warnings
    )
}
