//! The relais binary's library: the composition root that wires the platform, the HTTP layer and
//! the apps together, plus the maintenance commands. `main.rs` only parses arguments.

pub mod bench;
pub mod cli;
pub mod demo;
pub mod elections_cmd;
mod follow;
pub mod import_cmd;
pub mod logging;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use relais_elections::build::{BuildSettings, BuildTask, Elections, WithBuild};
use relais_http::Routes;
use relais_platform::Platform;
use relais_platform::audit::{Audit, AuditRecord, AuditRetention, Params};
use relais_platform::clock::SystemClock;
use relais_platform::config::Config;
use relais_platform::imports::{self, ImportRegistry, Imports, sample::SampleImport};
use relais_platform::store::{self, MigrationSet};
use relais_platform::tasks::{Engine, EngineConfig, Enqueue, Noop, SleepTask, Task};
use relais_platform::tokens::{Role, Tokens};

use crate::cli::{AuditCommand, TokenCommand};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// Migration sets of the apps, in order. Apps register here as they land.
const APP_MIGRATIONS: &[MigrationSet] = &[relais_elections::MIGRATIONS];

/// The import types of this binary. Apps register theirs here.
pub fn import_registry(platform: &Platform) -> anyhow::Result<ImportRegistry> {
    let mut registry = ImportRegistry::new(
        platform.store.clone(),
        Arc::new(SystemClock),
        platform.config.imports.clone(),
    );
    if platform.config.imports.sample {
        registry = registry.register(SampleImport)?;
    }
    // Each finished import enqueues an incremental build of the summary (`elections.build`).
    registry = registry
        .register(WithBuild(relais_elections::imports::PvImport::new(
            relais_elections::domain::CycleTable::standard(),
        )))?
        .register(WithBuild(relais_elections::imports::InvitationImport))?;
    let unknown = registry.unknown_overrides();
    if !unknown.is_empty() {
        anyhow::bail!(
            "imports.types names import types this relais does not have: {}",
            unknown.join(", ")
        );
    }
    Ok(registry)
}

/// The task engine with every kind this binary knows (and the import task kinds of
/// `imports`, with the import retention schedule when `schedules`; the audit retention task when
/// `audit.retention` is set). Apps register their kinds here.
pub fn task_engine(
    platform: &Platform,
    config: EngineConfig,
    imports: &ImportRegistry,
    schedules: bool,
) -> anyhow::Result<Engine> {
    let mut builder = Engine::builder(platform.store.clone(), Arc::new(SystemClock), config)
        .register(Noop)
        .register(SleepTask)
        .register(
            BuildTask::new(platform.store.clone(), BuildSettings::default())
                .with_cache(platform.cache.clone()),
        );
    if let Some(max_age) = platform.config.audit_retention {
        builder = builder.register(AuditRetention::new(platform.audit.clone(), max_age));
        if schedules {
            builder = builder.schedule(
                AuditRetention::KIND,
                AuditRetention::SCHEDULE,
                Enqueue::new(AuditRetention::KIND, serde_json::json!({})),
            );
        }
    }
    let builder = relais_elections::tasks(
        builder,
        platform,
        &relais_elections::http::ReadSettings::new(&platform.config.data_dir),
        schedules,
    );
    Ok(imports.engine_tasks(builder, schedules).build()?)
}

/// The queues of `tasks.queues`, plus `imports` (concurrency 2) when it is not listed.
pub fn queues_with_imports(queues: &[(String, usize)]) -> Vec<(String, usize)> {
    let mut queues = queues.to_vec();
    if !queues.iter().any(|(q, _)| q == imports::QUEUE) {
        queues.push((imports::QUEUE.to_owned(), 2));
    }
    queues
}

/// The actor of command-line operations: `cli:<the operating-system user>`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("cli:{user}")
}

/// Records an operation of the command line (or of the process itself) and waits until it is
/// durable.
async fn record(audit: &Audit, record: AuditRecord) -> anyhow::Result<()> {
    audit
        .record(record)
        .await
        .context("the operation could not be recorded in the audit trail")?;
    Ok(())
}

/// The audit record of migrations applied at `at` by `actor`.
fn migration_record(
    at: chrono::DateTime<chrono::Utc>,
    actor: &str,
    applied: &[(String, u32, String)],
) -> AuditRecord {
    let applied: Vec<String> = applied
        .iter()
        .map(|(c, v, n)| format!("{c} {v} ({n})"))
        .collect();
    AuditRecord::new(at, actor, "migrate")
        .resource("schema", None)
        .params(Params::summarise(serde_json::json!({ "applied": applied })))
}

/// `relais audit verify` found a broken link (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChainBroken(pub String);

/// Documented routes of the apps, on the engine running their tasks. Apps register here as they
/// land.
fn app_routes(platform: &Platform, engine: &Engine) -> Vec<Routes<()>> {
    vec![
        relais_elections::http::routes(Elections::new(platform.store.clone(), engine.clone())),
        relais_elections::http::read_routes(
            platform,
            engine.clone(),
            Arc::new(SystemClock),
            relais_elections::http::ReadSettings::new(&platform.config.data_dir),
        ),
    ]
}

/// The text of `relais version`.
pub fn version_text() -> String {
    let mut out = format!("relais {}\n", relais_platform::VERSION);
    for set in Platform::migration_sets(APP_MIGRATIONS) {
        out.push_str(&format!("schema {} {}\n", set.component, set.latest()));
    }
    out
}

/// A built server, bound to its address, ready to run.
pub struct Application {
    platform: Platform,
    engine: Engine,
    imports: Imports,
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Opens and migrates storage, builds the router and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        let started = chrono::Utc::now();
        let (platform, report) = Platform::start(config, APP_MIGRATIONS).await?;
        for (component, version, name) in &report.applied {
            tracing::info!(component, version, name, "migration applied");
        }
        if !report.applied.is_empty() {
            let recorded = record(
                &platform.audit,
                migration_record(started, "system:startup", &report.applied),
            )
            .await;
            if let Err(e) = recorded {
                platform.store.close().await;
                return Err(e);
            }
        }
        if let Err(e) = bootstrap_token(&platform).await {
            platform.store.close().await;
            return Err(e);
        }
        let rescue_after = platform.config.task_rescue_after;
        let engine_config = EngineConfig {
            queues: queues_with_imports(&platform.config.task_queues),
            rescue_after,
            rescue_interval: (rescue_after / 6)
                .clamp(Duration::from_millis(250), Duration::from_secs(5)),
            retention: platform.config.task_retention.clone(),
            ..EngineConfig::default()
        };
        let built = import_registry(&platform).and_then(|registry| {
            let engine = task_engine(&platform, engine_config, &registry, true)?;
            Ok((registry.with_engine(engine.clone()), engine))
        });
        let (imports, engine) = match built {
            Ok(built) => built,
            Err(e) => {
                platform.store.close().await;
                return Err(e);
            }
        };
        let mut routes = vec![
            relais_http::tasks::routes(engine.clone()),
            relais_http::imports::routes(imports.clone()),
        ];
        routes.extend(app_routes(&platform, &engine));
        let (router, doc) = relais_http::app(platform.clone(), routes);
        let unknown = relais_http::ratelimit::unknown_routes(&doc, &platform.config.limits.routes);
        if !unknown.is_empty() {
            platform.store.close().await;
            anyhow::bail!(
                "limits.routes names routes this server does not have: {} (see /api/openapi.json for the routes)",
                unknown.join(", ")
            );
        }
        let listener = match TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                platform.store.close().await;
                return Err(e).with_context(|| format!("cannot listen on {listen}"));
            }
        };
        Ok(Self {
            platform,
            engine,
            imports,
            listener,
            router,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The task engine (its workers start with [`Application::run`]).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The import service.
    pub fn imports(&self) -> &Imports {
        &self.imports
    }

    /// The platform services this application runs on.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Serves until SIGINT/SIGTERM (or [`relais_platform::shutdown::Shutdown::trigger`]), then
    /// drains HTTP, runs the drain hooks and closes the database, each within the grace period.
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            platform,
            engine,
            listener,
            router,
            ..
        } = self;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr,
            backend = platform.store.backend().as_str(),
            deployment_id = %platform.deployment.id,
            instance_id = %platform.instance.id,
            version = relais_platform::VERSION,
            "relais listening"
        );
        engine.start(&platform.shutdown);
        tracing::info!(worker = engine.worker_id(), queues = ?platform.config.task_queues, "task workers started");
        tokio::spawn(trigger_on_signal(platform.shutdown.clone()));
        let grace = platform.config.shutdown_grace;
        let served = relais_http::serve(listener, router, platform.shutdown.clone(), grace).await;
        platform.shutdown.drain(Instant::now() + grace).await;
        platform.store.close().await;
        tracing::info!("relais stopped");
        served.context("HTTP server failed")
    }
}

async fn trigger_on_signal(shutdown: relais_platform::shutdown::Shutdown) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        () = term => tracing::info!(signal = "SIGTERM", "shutdown requested"),
        () = shutdown.triggered() => {}
    }
    shutdown.trigger();
}

/// On a database without any token, creates the bootstrap admin token (from
/// `RELAIS_ADMIN_TOKEN`, or a new secret printed once on standard output, apart from the logs).
async fn bootstrap_token(platform: &Platform) -> anyhow::Result<()> {
    let tokens = Tokens::new(platform.store.clone(), Arc::new(SystemClock));
    let given = platform.config.admin_token.as_deref();
    if let Some(issued) = tokens.bootstrap(given).await? {
        let at = platform.audit.now();
        record(
            &platform.audit,
            AuditRecord::new(at, "system:bootstrap", "bootstrap admin token")
                .resource("tokens", Some(issued.info.id.to_string()))
                .params(Params::summarise(serde_json::json!({
                    "name": issued.info.name,
                    "role": issued.info.role,
                    "from_environment": given.is_some(),
                }))),
        )
        .await?;
        if given.is_some() {
            tracing::info!(token = %issued.info.name, "created the admin token from RELAIS_ADMIN_TOKEN");
        } else {
            tracing::warn!(token = %issued.info.name, "no API token existed: created an admin token, its secret printed once on standard output");
            println!(
                "relais: admin token `{}` created; its secret (shown once, store it now):\n{}",
                issued.info.name, issued.secret
            );
        }
    }
    Ok(())
}

/// `relais token …`: creates, lists or revokes API tokens.
pub async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let (platform, _) = Platform::start(config, APP_MIGRATIONS).await?;
    let tokens = Tokens::new(platform.store.clone(), Arc::new(SystemClock));
    let audit = &platform.audit;
    let actor = cli_actor();
    let result = async {
        match command {
            TokenCommand::Create {
                name,
                role,
                expires_in,
            } => {
                let role: Role = role.parse().map_err(anyhow::Error::msg)?;
                let expires_at = match expires_in {
                    Some(d) => {
                        let d = relais_platform::config::parse_duration(&d)
                            .map_err(|e| anyhow::anyhow!("--expires-in: {e}"))?;
                        Some(chrono::Utc::now() + chrono::Duration::from_std(d)?)
                    }
                    None => None,
                };
                let at = audit.now();
                let created = tokens.create(&name, role, expires_at, Some(&actor)).await;
                let mut params = serde_json::json!({
                    "name": name, "role": role, "expires_at": expires_at,
                });
                if let Err(e) = &created {
                    params["error"] = e.to_string().into();
                }
                let id = created.as_ref().ok().map(|t| t.info.id.to_string());
                record(
                    audit,
                    AuditRecord::new(at, &actor, "cli token create")
                        .resource("tokens", id)
                        .params(Params::summarise(params))
                        .success(created.is_ok()),
                )
                .await?;
                // The secret is shown only once the creation is on record.
                let issued = created?;
                eprintln!(
                    "token `{}` ({}) created; its secret (shown once, store it now):",
                    issued.info.name, issued.info.role
                );
                println!("{}", issued.secret);
            }
            TokenCommand::List => {
                let at = audit.now();
                let list = tokens.list().await;
                record(
                    audit,
                    AuditRecord::new(at, &actor, "cli token list")
                        .resource("tokens", None)
                        .success(list.is_ok()),
                )
                .await?;
                for t in list? {
                    let state = match (t.revoked_at, t.expires_at) {
                        (Some(at), _) => format!("revoked {at}"),
                        (None, Some(at)) if at <= chrono::Utc::now() => format!("expired {at}"),
                        (None, Some(at)) => format!("expires {at}"),
                        (None, None) => "valid".into(),
                    };
                    println!("{}  {:<24} {:<8} {state}", t.id, t.name, t.role.as_str());
                }
            }
            TokenCommand::Revoke { token } => {
                let at = audit.now();
                let revoked = tokens.revoke(&token).await;
                let done = matches!(revoked, Ok(Some(_)));
                let id = match &revoked {
                    Ok(Some(t)) => t.id.to_string(),
                    _ => token.clone(),
                };
                record(
                    audit,
                    AuditRecord::new(at, &actor, "cli token revoke")
                        .resource("tokens", Some(id))
                        .params(Params::summarise(serde_json::json!({ "token": token })))
                        .success(done),
                )
                .await?;
                match revoked? {
                    Some(t) => println!("revoked `{}` ({})", t.name, t.id),
                    None => anyhow::bail!("no token `{token}`"),
                }
            }
        }
        Ok(())
    }
    .await;
    close(&platform).await;
    result
}

/// Writes what the audit trail still holds, then closes the database.
async fn close(platform: &Platform) {
    let grace = platform.config.shutdown_grace;
    platform.audit.drain(Instant::now() + grace).await;
    platform.store.close().await;
}

/// `relais audit …`.
pub async fn audit(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let (platform, _) = Platform::start(config, APP_MIGRATIONS).await?;
    let result = async {
        match command {
            AuditCommand::Verify => {
                let report = platform.audit.verify().await?;
                let span = if report.anchor_seq > 0 {
                    format!("from anchor {} (older records pruned)", report.anchor_seq)
                } else {
                    "from the first record".to_owned()
                };
                match report.broken {
                    None => {
                        println!(
                            "audit chain intact: {} records checked {span} to the head {}",
                            report.checked, report.head_seq
                        );
                        println!("head {} {}", report.head_seq, report.head_hash);
                        Ok(())
                    }
                    Some(broken) => {
                        println!("audit chain BROKEN at record {}: {broken}", broken.seq);
                        println!(
                            "{} records checked {span} before the break; head {} {}",
                            report.checked, report.head_seq, report.head_hash
                        );
                        Err(ChainBroken(format!(
                            "the audit chain is broken at record {}",
                            broken.seq
                        ))
                        .into())
                    }
                }
            }
        }
    }
    .await;
    close(&platform).await;
    result
}

/// `relais migrate`: applies pending migrations (or, with `status_only`, only reports).
pub async fn migrate(config: Config, status_only: bool) -> anyhow::Result<()> {
    let db = store::open(&config.database).await?;
    let sets = Platform::migration_sets(APP_MIGRATIONS);
    let result = async {
        if status_only {
            let status = db.schema_status(&sets).await?;
            print_status(&status);
            return Ok::<_, anyhow::Error>(());
        }
        let at = chrono::Utc::now();
        let report = db.migrate(&sets).await?;
        if report.applied.is_empty() {
            println!("nothing to apply: the schema is current");
        } else {
            let audit = Audit::start(
                db.clone(),
                Arc::new(SystemClock),
                relais_platform::audit::AuditConfig::default(),
            )?;
            let mut migration = migration_record(at, &cli_actor(), &report.applied);
            migration.action = "cli migrate".into();
            let recorded = record(&audit, migration).await;
            audit.drain(Instant::now() + Duration::from_secs(5)).await;
            recorded?;
        }
        for (component, version, name) in &report.applied {
            println!("applied {component} {version} ({name})");
        }
        print_status(&report.status);
        Ok(())
    }
    .await;
    db.close().await;
    result
}

fn print_status(status: &store::SchemaStatus) {
    for c in &status.components {
        let state = match c.database.cmp(&c.binary) {
            std::cmp::Ordering::Equal => "current",
            std::cmp::Ordering::Less => "pending",
            std::cmp::Ordering::Greater => "newer than this relais",
        };
        println!(
            "{:<12} database {:>3}  binary {:>3}  {state}",
            c.component, c.database, c.binary
        );
    }
}
