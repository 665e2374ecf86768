//! `relais.imports.retention`: finalises imports whose task ended without finishing them,
//! deletes the stored files of finished imports after `imports.retention.files` and the records
//! (with their row issues) after `imports.retention.records`, and removes files no record
//! owns (uploads interrupted by a crash) once they are a day old.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::FileFormat;
use super::service::Shared;
use crate::tasks::{Task, TaskContext, TaskError, TaskOptions};

/// Records handled per statement.
const BATCH: u32 = 500;

pub(crate) struct ImportRetentionTask {
    pub shared: Arc<Shared>,
}

impl Task for ImportRetentionTask {
    const KIND: &'static str = super::RETENTION_KIND;
    type Args = serde_json::Map<String, Value>;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            unique_by_args: true,
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, _args: Self::Args) -> Result<Value, TaskError> {
        let Some(policy) = self.shared.settings.retention.clone() else {
            return Ok(json!({ "skipped": "imports.retention.schedule is off" }));
        };
        let value = prune(&self.shared, policy.files, policy.records, &|| {
            ctx.is_cancelled()
        })
        .await?;
        Ok(value)
    }
}

fn before(now: chrono::DateTime<chrono::Utc>, age: Duration) -> chrono::DateTime<chrono::Utc> {
    now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX)
}

/// One retention pass; stops early when `cancelled` says so.
pub(crate) async fn prune(
    shared: &Shared,
    files_age: Duration,
    records_age: Duration,
    cancelled: &(dyn Fn() -> bool + Send + Sync),
) -> Result<Value, TaskError> {
    let store = &shared.store;
    let now = shared.clock.now();
    let reconciled = store
        .reconcile_imports(now)
        .await
        .map_err(TaskError::retry)?;
    let mut files = 0u64;
    loop {
        if cancelled() {
            return Err(TaskError::Cancelled);
        }
        let batch = store
            .imports_with_files(before(now, files_age), BATCH)
            .await
            .map_err(TaskError::retry)?;
        if batch.is_empty() {
            break;
        }
        let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        for (id, format) in &batch {
            remove(shared, *id, *format);
        }
        store
            .mark_files_deleted(&ids, now)
            .await
            .map_err(TaskError::retry)?;
        files += batch.len() as u64;
    }
    let mut records = 0u64;
    loop {
        if cancelled() {
            return Err(TaskError::Cancelled);
        }
        let batch = store
            .delete_imports(before(now, records_age), BATCH)
            .await
            .map_err(TaskError::retry)?;
        if batch.is_empty() {
            break;
        }
        for (id, format) in &batch {
            remove(shared, *id, *format);
        }
        records += batch.len() as u64;
    }
    let orphans = sweep_orphans(shared, now).await.map_err(TaskError::retry)?;
    Ok(json!({
        "finalised": reconciled,
        "files_deleted": files,
        "records_deleted": records,
        "orphan_files_deleted": orphans,
    }))
}

fn remove(shared: &Shared, id: Uuid, format: FileFormat) {
    let path = shared.file_path(id, format);
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(import_id = %id, path = %path.display(), error = %e, "cannot delete an import file");
    }
}

/// Files in the store older than a day that no record owns.
async fn sweep_orphans(
    shared: &Shared,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, crate::store::StoreError> {
    let dir = &shared.settings.dir;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let day_ago = std::time::SystemTime::from(before(now, Duration::from_secs(86_400)));
    let mut candidates: Vec<(Uuid, std::path::PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < day_ago);
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| Uuid::parse_str(s).ok());
        if let (true, Some(id)) = (old, id) {
            candidates.push((id, path));
        }
    }
    let mut removed = 0u64;
    for chunk in candidates.chunks(BATCH as usize) {
        let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
        let known = shared.store.existing_imports(&ids).await?;
        for (id, path) in chunk {
            let partial = path.extension().is_some_and(|e| e == "part");
            if (partial || !known.contains(id)) && std::fs::remove_file(path).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}
