//! `relais elections build [--full]`: a build of the summary requested like
//! `POST /api/elections/build` (recorded in the audit trail), then run by this process, which
//! works the `imports` queue (where builds run) while a progress bar follows the task. A build
//! already queued or running is followed instead of a new one. Interrupted (Ctrl-C), a build
//! this process runs goes back to the queue.

use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use relais_elections::build::{BUILD_QUEUE, BuildRequest, Elections, RequestOutcome};
use relais_platform::Platform;
use relais_platform::audit::{AuditRecord, Params};
use relais_platform::config::Config;
use relais_platform::tasks::{EngineConfig, TaskRecord, TaskState};

use crate::cli::ElectionsCommand;

/// Runs `relais elections …`.
pub async fn run(config: Config, command: ElectionsCommand) -> anyhow::Result<()> {
    let (platform, _) = Platform::start(config, crate::APP_MIGRATIONS).await?;
    let result = match command {
        ElectionsCommand::Build { full } => build(&platform, full).await,
    };
    platform.store.close().await;
    result
}

async fn build(platform: &Platform, full: bool) -> anyhow::Result<()> {
    let registry = crate::import_registry(platform)?;
    let engine = crate::task_engine(
        platform,
        EngineConfig {
            queues: vec![(BUILD_QUEUE.to_owned(), 1)],
            retention: None,
            ..EngineConfig::default()
        },
        &registry,
        false,
    )?;
    let elections = Elections::new(platform.store.clone(), engine.clone());
    let at = platform.audit.now();
    let requested = elections
        .request_build(full, Some(crate::cli_actor()))
        .await;
    let mut params = serde_json::json!({ "full": full });
    match &requested {
        Ok(r) => params["outcome"] = serde_json::json!(r.outcome),
        Err(e) => params["error"] = e.to_string().into(),
    }
    crate::record(
        &platform.audit,
        AuditRecord::new(at, crate::cli_actor(), "cli elections build")
            .resource(
                "tasks",
                requested.as_ref().ok().map(|r| r.task.id.to_string()),
            )
            .params(Params::summarise(params))
            .success(requested.is_ok()),
    )
    .await?;
    let BuildRequest { task, outcome } = requested?;
    let id = task.id;
    let kind = if task.args["full"] == true {
        "full"
    } else {
        "incremental"
    };
    match outcome {
        RequestOutcome::Enqueued => eprintln!("{kind} build {id}: enqueued, running it here"),
        RequestOutcome::Queued => {
            eprintln!("{kind} build {id}: one was already queued; running it here")
        }
        RequestOutcome::Running => {
            eprintln!("{kind} build {id}: one is already running; following it")
        }
    }
    engine.start(&platform.shutdown);
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let task = loop {
        tokio::select! {
            _ = &mut interrupted => {
                bar.abandon_with_message("interrupted");
                drain(platform).await;
                anyhow::bail!("interrupted: build {id} goes back to the `{BUILD_QUEUE}` queue if this process was running it");
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let task = engine.get(id).await?.context("the build task vanished")?;
        bar.set_position((task.progress.percent * 10.0) as u64);
        bar.set_message(task.progress.message.clone().unwrap_or_default());
        if task.state.is_final() {
            break task;
        }
    };
    bar.finish_with_message(task.progress.message.clone().unwrap_or_default());
    let error = engine.errors(id).await?.pop().map(|e| e.message);
    drain(platform).await;
    report(&task, kind, error)
}

async fn drain(platform: &Platform) {
    platform.shutdown.trigger();
    platform
        .shutdown
        .drain(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
}

fn report(task: &TaskRecord, kind: &str, error: Option<String>) -> anyhow::Result<()> {
    let id = task.id;
    match task.state {
        TaskState::Succeeded => {
            let r = task.result.clone().unwrap_or_default();
            println!(
                "{kind} build {id}: succeeded — {} SIRETs summarised, {} summaries deleted",
                r["summarised"], r["deleted"]
            );
            Ok(())
        }
        state => anyhow::bail!(
            "{kind} build {id} {state}: {}",
            error.as_deref().unwrap_or("no detail")
        ),
    }
}
