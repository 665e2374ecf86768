//! `relais elections build [--full]`: a build of the summary requested like
//! `POST /api/elections/build` (recorded in the audit trail), then run by this process, which
//! works the `imports` queue (where builds run) while a progress bar follows the task. A build
//! already queued or running is followed instead of a new one. Interrupted (Ctrl-C), a build
//! this process runs goes back to the queue.

use anyhow::Context;
use relais_elections::build::{BUILD_QUEUE, BuildRequest, Elections, RequestOutcome};
use relais_platform::Platform;
use relais_platform::audit::{AuditRecord, Params};
use relais_platform::config::Config;
use relais_platform::tasks::{EngineConfig, TaskRecord, TaskState};

use crate::cli::ElectionsCommand;
use crate::follow::{Seen, drain, follow};

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
    let task = follow(
        platform,
        &format!("interrupted: build {id} goes back to the `{BUILD_QUEUE}` queue if this process was running it"),
        || async {
            let task = engine.get(id).await?.context("the build task vanished")?;
            Ok(Seen {
                percent: task.progress.percent,
                message: task.progress.message.clone().unwrap_or_default(),
                done: task.state.is_final().then_some(task),
            })
        },
    )
    .await?;
    let error = engine.errors(id).await?.pop().map(|e| e.message);
    drain(platform).await;
    report(&task, kind, error)
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
