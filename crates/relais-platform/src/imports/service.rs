//! The registry of import types, the [`Imports`] service (what HTTP and the CLI call) and the
//! `relais.import` task.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use super::kind::{ColumnInfo, ImportType, ModeInfo, TypeInfo, TypeLimits, WriteMode};
use super::model::{ImportFilter, ImportIssue, ImportRecord, ImportStatus, ImportStatusCount};
use super::{FileFormat, ImportError, QUEUE, TASK_KIND};
use crate::clock::Clock;
use crate::config::{ImportLimits, ImportSettings};
use crate::store::Store;
use crate::tasks::{
    Backoff, CancelOutcome, Engine, EngineBuilder, Enqueue, ExecOptions, Task, TaskContext,
    TaskError, TaskOptions,
};

type BoxRun = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;

/// A registered type with its record type erased.
pub(crate) trait ErasedImport: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn columns(&self) -> &'static [super::Column];
    fn modes(&self) -> &'static [WriteMode];
    fn limits(&self) -> TypeLimits;
    fn run(self: Arc<Self>, shared: Arc<Shared>, ctx: TaskContext, record: ImportRecord) -> BoxRun;
}

struct Erased<T>(Arc<T>);

impl<T: ImportType> ErasedImport for Erased<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn description(&self) -> &'static str {
        self.0.description()
    }
    fn columns(&self) -> &'static [super::Column] {
        self.0.columns()
    }
    fn modes(&self) -> &'static [WriteMode] {
        self.0.modes()
    }
    fn limits(&self) -> TypeLimits {
        self.0.limits()
    }
    fn run(self: Arc<Self>, shared: Arc<Shared>, ctx: TaskContext, record: ImportRecord) -> BoxRun {
        Box::pin(super::pipeline::run(self.0.clone(), shared, ctx, record))
    }
}

/// What the service, the tasks and uploads share.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: ImportSettings,
    pub types: HashMap<&'static str, Arc<dyn ErasedImport>>,
}

impl Shared {
    /// Where the file of import `id` is stored: named after the id, never after the client's name.
    pub fn file_path(&self, id: Uuid, format: FileFormat) -> PathBuf {
        self.settings
            .dir
            .join(format!("{}.{}", id.simple(), format.extension()))
    }

    /// Where an upload is written until it is accepted.
    pub fn partial_path(&self, id: Uuid) -> PathBuf {
        self.settings.dir.join(format!("{}.part", id.simple()))
    }

    pub fn kind(&self, name: &str) -> Result<&Arc<dyn ErasedImport>, ImportError> {
        self.types
            .get(name)
            .ok_or_else(|| ImportError::UnknownType(name.to_owned()))
    }

    /// A type's limits: `imports.types` > the type's own > `imports.*` defaults.
    pub fn limits(&self, kind: &dyn ErasedImport) -> ImportLimits {
        let own = kind.limits();
        let over = self
            .settings
            .types
            .iter()
            .find(|o| o.type_name == kind.name());
        let d = &self.settings.defaults;
        ImportLimits {
            max_size: over
                .and_then(|o| o.max_size)
                .or(own.max_size)
                .unwrap_or(d.max_size),
            max_rows: over
                .and_then(|o| o.max_rows)
                .or(own.max_rows)
                .unwrap_or(d.max_rows),
            formats: over
                .and_then(|o| o.formats.clone())
                .or(own.formats.map(<[FileFormat]>::to_vec))
                .unwrap_or_else(|| d.formats.clone()),
        }
    }
}

/// Collects the import types of the apps before the engine is built.
pub struct ImportRegistry {
    shared: Arc<Shared>,
}

impl ImportRegistry {
    /// No types yet.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: ImportSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                clock,
                settings,
                types: HashMap::new(),
            }),
        }
    }

    /// Registers a type (before [`ImportRegistry::engine_tasks`]; a later registration, or a
    /// second type of the same name, is refused).
    pub fn register<T: ImportType>(mut self, ty: T) -> Result<Self, ImportError> {
        let shared = Arc::get_mut(&mut self.shared).ok_or_else(|| {
            ImportError::Invalid("import types are registered before the engine is built".into())
        })?;
        if shared.types.contains_key(T::NAME) {
            return Err(ImportError::Invalid(format!(
                "import type `{}` is registered twice",
                T::NAME
            )));
        }
        shared.types.insert(T::NAME, Arc::new(Erased(Arc::new(ty))));
        Ok(self)
    }

    /// Types named in `imports.types` that are not registered (a typo would limit nothing).
    pub fn unknown_overrides(&self) -> Vec<String> {
        self.shared
            .settings
            .types
            .iter()
            .filter(|o| !self.shared.types.contains_key(o.type_name.as_str()))
            .map(|o| o.type_name.clone())
            .collect()
    }

    /// Adds the `relais.import` task kind, and with `retention` the schedule of
    /// `relais.imports.retention`, to an engine being built.
    pub fn engine_tasks(&self, builder: EngineBuilder, retention: bool) -> EngineBuilder {
        let builder = builder.register(ImportTask {
            shared: self.shared.clone(),
        });
        match (&self.shared.settings.retention, retention) {
            (Some(policy), true) => builder
                .register(super::retention::ImportRetentionTask {
                    shared: self.shared.clone(),
                })
                .schedule(
                    super::RETENTION_KIND,
                    policy.schedule.clone(),
                    Enqueue::new(super::RETENTION_KIND, json!({})),
                ),
            _ => builder,
        }
    }

    /// The service, on the engine built with [`ImportRegistry::engine_tasks`].
    pub fn with_engine(self, engine: Engine) -> Imports {
        Imports {
            shared: self.shared,
            engine,
        }
    }
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelResult {
    /// The import had not started (or its task was gone): it is cancelled.
    Cancelled(ImportRecord),
    /// It is running: its task was signalled and stops after the batch in progress.
    Signalled(ImportRecord),
}

/// The imports of this deployment: uploads, records, cancel, retry, statistics; cheap to clone.
#[derive(Clone)]
pub struct Imports {
    pub(crate) shared: Arc<Shared>,
    pub(crate) engine: Engine,
}

impl Imports {
    /// The registered types with their effective limits, by name.
    pub fn types(&self) -> Vec<TypeInfo> {
        let mut types: Vec<TypeInfo> = self
            .shared
            .types
            .values()
            .map(|k| {
                let limits = self.shared.limits(k.as_ref());
                TypeInfo {
                    name: k.name(),
                    description: k.description(),
                    columns: k
                        .columns()
                        .iter()
                        .map(|c| ColumnInfo {
                            name: c.name,
                            aliases: c.aliases,
                            required: c.required,
                            description: c.description,
                        })
                        .collect(),
                    modes: k
                        .modes()
                        .iter()
                        .map(|m| ModeInfo {
                            name: m.name,
                            needs_scope: m.needs_scope,
                            accepts_scope: m.accepts_scope || m.needs_scope,
                            description: m.description,
                        })
                        .collect(),
                    max_size: limits.max_size,
                    max_rows: limits.max_rows,
                    extensions: limits.formats.iter().map(|f| f.extension()).collect(),
                }
            })
            .collect();
        types.sort_by_key(|t| t.name);
        types
    }

    /// The settings in force.
    pub fn settings(&self) -> &ImportSettings {
        &self.shared.settings
    }

    /// The engine running the imports.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// One import.
    pub async fn get(&self, id: Uuid) -> Result<Option<ImportRecord>, ImportError> {
        Ok(self.shared.store.get_import(id).await?)
    }

    /// Imports matching `filter`, newest first.
    pub async fn list(&self, filter: &ImportFilter) -> Result<Vec<ImportRecord>, ImportError> {
        Ok(self.shared.store.list_imports(filter).await?)
    }

    /// Row errors and warnings of an import in file order, after `after_seq`.
    pub async fn issues(
        &self,
        id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ImportIssue>, ImportError> {
        Ok(self
            .shared
            .store
            .import_issues(id, after_seq, limit)
            .await?)
    }

    /// Counts by type and status.
    pub async fn stats(&self) -> Result<Vec<ImportStatusCount>, ImportError> {
        Ok(self.shared.store.import_stats().await?)
    }

    /// The stored file of an import, when it is still kept.
    pub fn file_path(&self, record: &ImportRecord) -> Option<PathBuf> {
        let path = self.shared.file_path(record.id, record.file.format);
        (record.file.deleted_at.is_none() && path.exists()).then_some(path)
    }

    /// Cancels a pending or running import.
    pub async fn cancel(&self, id: Uuid) -> Result<CancelResult, ImportError> {
        let record = self.get(id).await?.ok_or(ImportError::NotFound(id))?;
        if record.status.is_final() {
            return Err(ImportError::Conflict(format!(
                "import {id} is already {}",
                record.status
            )));
        }
        let now = self.shared.clock.now();
        let message = "cancelled; rows of committed batches stay written";
        let outcome = match record.task_id {
            Some(task) => self.engine.cancel(task).await?,
            None => CancelOutcome::NotFound,
        };
        match outcome {
            CancelOutcome::Signalled(_) => {
                let record = self.get(id).await?.ok_or(ImportError::NotFound(id))?;
                Ok(CancelResult::Signalled(record))
            }
            CancelOutcome::Cancelled(_) | CancelOutcome::NotFound => {
                self.shared
                    .store
                    .end_import(id, ImportStatus::Cancelled, Some(message), now)
                    .await?;
                let record = self.get(id).await?.ok_or(ImportError::NotFound(id))?;
                Ok(CancelResult::Cancelled(record))
            }
            CancelOutcome::AlreadyFinal(_) => {
                let record = self.get(id).await?.ok_or(ImportError::NotFound(id))?;
                Err(ImportError::Conflict(format!(
                    "import {id} is already {}",
                    record.status
                )))
            }
        }
    }

    /// One retention pass now (what `relais.imports.retention` runs): finalises imports whose
    /// task ended, deletes files of finished imports older than `files_age` and finished
    /// records older than `records_age`, and orphan files a day old. Returns what it did.
    pub async fn prune(
        &self,
        files_age: std::time::Duration,
        records_age: std::time::Duration,
    ) -> Result<Value, ImportError> {
        super::retention::prune(&self.shared, files_age, records_age, &|| false)
            .await
            .map_err(|e| ImportError::Io(std::io::Error::other(format!("{e:?}"))))
    }

    /// Runs a failed or cancelled import again with a new task; it resumes after the rows
    /// committed before.
    pub async fn retry(&self, id: Uuid) -> Result<ImportRecord, ImportError> {
        let record = self.get(id).await?.ok_or(ImportError::NotFound(id))?;
        if !matches!(
            record.status,
            ImportStatus::Failed | ImportStatus::Cancelled
        ) {
            return Err(ImportError::Conflict(format!(
                "import {id} is {}; only failed or cancelled imports can be retried (upload the file again with force=true to import it anew)",
                record.status
            )));
        }
        if self.file_path(&record).is_none() {
            return Err(ImportError::Conflict(format!(
                "the stored file of import {id} was deleted; upload it again"
            )));
        }
        let mut tx = self.engine.begin().await?;
        let (task, _) = tx
            .enqueue(task_request(id, record.uploader.clone()))
            .await?;
        let requeued = self
            .shared
            .store
            .requeue_import_in(tx.db(), id, task.id)
            .await?;
        let Some(requeued) = requeued else {
            tx.rollback().await?;
            return Err(ImportError::Conflict(format!(
                "import {id} changed meanwhile; read it again"
            )));
        };
        tx.commit().await?;
        // The record as committed: the worker may already be running the new task.
        Ok(requeued)
    }
}

/// The task request processing import `id`.
pub(crate) fn task_request(id: Uuid, by: Option<String>) -> Enqueue {
    Enqueue {
        created_by: by,
        ..Enqueue::new(TASK_KIND, json!({ "import_id": id }))
    }
}

/// Arguments of `relais.import`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportArgs {
    pub import_id: Uuid,
}

/// `relais.import`: processes one import (retries as in the original service: 3 attempts, soft
/// limit 30 min, after which the attempt stops at a batch boundary and the next resumes,
/// hard limit 2,000 s).
pub(crate) struct ImportTask {
    pub shared: Arc<Shared>,
}

impl Task for ImportTask {
    const KIND: &'static str = TASK_KIND;
    type Args = ImportArgs;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            queue: QUEUE.into(),
            max_attempts: 3,
            exec: ExecOptions {
                soft_limit_ms: Some(30 * 60 * 1000),
                hard_limit_ms: Some(2_000 * 1000),
                backoff: Backoff {
                    base_ms: 5_000,
                    ..Backoff::default()
                },
                ..ExecOptions::default()
            },
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, args: ImportArgs) -> Result<Value, TaskError> {
        let id = args.import_id;
        let record = self
            .shared
            .store
            .get_import(id)
            .await
            .map_err(TaskError::retry)?;
        let Some(record) = record else {
            return Ok(json!({ "import_id": id, "skipped": "no such import" }));
        };
        if record.status.is_final() {
            return Ok(json!({ "import_id": id, "skipped": format!("already {}", record.status) }));
        }
        let kind = match self.shared.kind(&record.type_name) {
            Ok(kind) => kind.clone(),
            Err(e) => {
                let message = format!("{e} in this relais");
                let _ = self
                    .shared
                    .store
                    .end_import(id, ImportStatus::Failed, Some(&message), ctx.now())
                    .await;
                return Err(TaskError::permanent(message));
            }
        };
        let type_name = kind.name();
        let result = kind.run(self.shared.clone(), ctx.clone(), record).await;
        if let Err(TaskError::Retry(message)) = &result {
            let text = if ctx.attempt() >= ctx.max_attempts() {
                format!(
                    "attempt {} failed (no attempt left): {message}",
                    ctx.attempt()
                )
            } else {
                format!("attempt {} failed, retrying: {message}", ctx.attempt())
            };
            if ctx.attempt() >= ctx.max_attempts() {
                super::pipeline::finished_metric(type_name, ImportStatus::Failed);
                let _ = self
                    .shared
                    .store
                    .end_import(id, ImportStatus::Failed, Some(&text), ctx.now())
                    .await;
            } else {
                let _ = self.shared.store.note_import_retry(id, &text).await;
            }
        }
        result
    }
}
