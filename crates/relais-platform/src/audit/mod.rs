//! The audit trail: an append-only, hash-chained record of every operation that changes
//! something (and of reads marked sensitive), written before the operation is answered.
//!
//! [`Audit::record`] resolves once the record is durable. Records go through a bounded channel
//! to one writer task per process ([`writer`]), which commits everything waiting in one
//! transaction (group commit) and then answers every waiter; a full channel makes callers wait
//! rather than dropping anything. The store links each record to the previous one
//! ([`chain`]) under a lock on the chain head, so several processes sharing one database write
//! one chain. [`Audit::verify`] walks the chain from its anchor (the last pruned record) and
//! names the first broken link.
//!
//! Concurrency model: any number of tasks call [`Audit::record`]; one writer task; queries go
//! straight to the store. [`Audit::drain`] (a shutdown hook) waits for tracked operations,
//! then writes what is queued and stops the writer.

pub mod chain;
mod model;
pub mod params;
mod retention;
mod writer;

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use chain::{BrokenLink, LinkProblem};
pub use model::{AuditCounts, AuditEntry, AuditFilter, AuditRecord, ChainState, PruneOutcome};
pub use params::Params;
pub use retention::AuditRetention;

use crate::clock::Clock;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};

/// Writer settings; see each field for its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Records waiting to be written before callers of [`Audit::record`] wait. Default 4,096.
    pub capacity: usize,
    /// Most records written in one transaction. Default 1,000.
    pub max_batch: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            capacity: 4096,
            max_batch: 1000,
        }
    }
}

/// Why a record was not written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The trail no longer accepts records (the process is shutting down).
    #[error("the audit trail is closed (shutting down)")]
    Closed,
    /// The batch holding the record could not be written.
    #[error("the audit record could not be written: {0}")]
    Write(Arc<StoreError>),
    /// The configuration is not usable.
    #[error("invalid audit configuration: {0}")]
    Config(String),
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Its sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// Counters of the writer, a test and monitoring hook ([`Audit::progress`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditProgress {
    /// Records taken from the channel by the writer.
    pub received: u64,
    /// Records written.
    pub written: u64,
    /// Records whose batch failed.
    pub failed: u64,
    /// Transactions attempted.
    pub batches: u64,
    /// Time spent in those transactions, in microseconds.
    pub write_micros: u64,
}

/// The result of [`Audit::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records whose hash and link were checked.
    pub checked: u64,
    /// Where the walk started: the anchor (0 when nothing was pruned).
    pub anchor_seq: i64,
    /// The chain head when the walk began.
    pub head_seq: i64,
    /// Its hash: keep it elsewhere to detect a later rewrite of the whole table.
    pub head_hash: String,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

/// Records read per page while verifying.
const VERIFY_PAGE: u32 = 1000;

/// The audit trail of this process; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sender: mpsc::Sender<writer::Pending>,
    stop: CancellationToken,
    operations: TaskTracker,
    writer: Mutex<Option<JoinHandle<()>>>,
    progress: watch::Receiver<AuditProgress>,
}

impl Audit {
    /// Starts the writer of a trail stored in `store`, timed by `clock`.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: AuditConfig,
    ) -> Result<Self, AuditError> {
        if config.capacity == 0 || config.max_batch == 0 {
            return Err(AuditError::Config(
                "capacity and max_batch must be at least 1".into(),
            ));
        }
        let (sender, receiver) = mpsc::channel(config.capacity);
        let (progress_tx, progress) = watch::channel(AuditProgress::default());
        let stop = CancellationToken::new();
        let writer = writer::Writer {
            store: store.clone(),
            receiver,
            stop: stop.clone(),
            max_batch: config.max_batch,
            progress: progress_tx,
        };
        let handle = tokio::spawn(writer.run());
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                sender,
                stop,
                operations: TaskTracker::new(),
                writer: Mutex::new(Some(handle)),
                progress,
            }),
        })
    }

    /// Registers [`Audit::drain`] as the shutdown hook `audit`. Register it before the
    /// components that record (hooks run newest first), so it runs after them.
    pub fn drain_on(&self, shutdown: &Shutdown) {
        let audit = self.clone();
        shutdown.on_drain("audit", move |deadline| async move {
            audit.drain(deadline).await
        });
    }

    /// The time to stamp records with.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Queues `record` and resolves once it is durable, with its place in the chain. Waits while
    /// the queue is full. Fails when its batch could not be written or the trail is closed.
    pub async fn record(&self, record: AuditRecord) -> Result<Receipt, AuditError> {
        let (done, written) = oneshot::channel();
        self.inner
            .sender
            .send(writer::Pending { record, done })
            .await
            .map_err(|_| AuditError::Closed)?;
        written.await.map_err(|_| AuditError::Closed)?
    }

    /// Runs `operation` (an operation and the recording of its audit record) to completion in
    /// its own task, even if its caller goes away (a client disconnecting mid-request); the
    /// drain waits for such operations before it stops the writer.
    pub fn spawn_tracked<F>(&self, operation: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.operations.spawn(operation)
    }

    /// Stops the trail: waits (until `deadline`) for tracked operations, then refuses new
    /// records, writes those already queued and stops the writer.
    pub async fn drain(&self, deadline: tokio::time::Instant) {
        let inner = &self.inner;
        inner.operations.close();
        if tokio::time::timeout_at(deadline, inner.operations.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                operations = inner.operations.len(),
                "audited operations still running at the drain deadline"
            );
        }
        inner.stop.cancel();
        let handle = inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = tokio::time::timeout_at(deadline, handle).await;
        }
    }

    /// Whether the writer is running (it stops only when drained, or if it failed).
    pub fn is_running(&self) -> bool {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// Records queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.inner.sender.max_capacity() - self.inner.sender.capacity()
    }

    /// The writer's counters; tests wait on them instead of sleeping.
    pub fn progress(&self) -> watch::Receiver<AuditProgress> {
        self.inner.progress.clone()
    }

    /// Waits until the writer's counters satisfy `done`.
    pub async fn wait_for(&self, done: impl FnMut(&AuditProgress) -> bool) {
        let mut progress = self.progress();
        // The sender lives as long as the writer; if it ended, the last value stands.
        let _ = progress.wait_for(done).await;
    }

    /// Records matching `filter`, newest first.
    pub async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.store.list_audit(filter).await
    }

    /// Counts of the records written at or after `since`.
    pub async fn counts(&self, since: DateTime<Utc>) -> Result<AuditCounts, StoreError> {
        self.inner.store.audit_counts(since).await
    }

    /// The chain head and anchor.
    pub async fn chain(&self) -> Result<ChainState, StoreError> {
        self.inner.store.audit_chain().await
    }

    /// Deletes up to `batch` of the oldest records written before `before` (see
    /// [`crate::store::AuditStore::prune_audit`]); the chain's anchor moves to the last one.
    pub async fn prune(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<Option<PruneOutcome>, StoreError> {
        self.inner.store.prune_audit(before, batch).await
    }

    /// Checks every record from the anchor to the current head, a page at a time: each record's
    /// hash against its fields, each link against the previous record, the sequence for gaps,
    /// and the last record against the head. Stops at the first broken link. Records pruned
    /// while it runs are skipped (the walk restarts at the new anchor).
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        let store = &self.inner.store;
        let chain = store.audit_chain().await?;
        let mut checker = chain::Checker::new(&chain);
        let broken = 'walk: loop {
            let page = store
                .audit_entries(checker.next_seq() - 1, chain.head_seq, VERIFY_PAGE)
                .await?;
            if page.is_empty() {
                match checker.finish(&chain) {
                    Ok(()) => break None,
                    Err(b) => {
                        if self.pruned_past(&mut checker).await? {
                            continue;
                        }
                        break Some(b);
                    }
                }
            }
            for e in &page {
                if let Err(b) = checker.check(e) {
                    if matches!(b.problem, LinkProblem::Missing { .. })
                        && self.pruned_past(&mut checker).await?
                    {
                        continue 'walk;
                    }
                    break 'walk Some(b);
                }
            }
        };
        Ok(VerifyReport {
            checked: checker.checked(),
            anchor_seq: chain.anchor_seq,
            head_seq: chain.head_seq,
            head_hash: chain.head_hash,
            broken,
        })
    }

    /// Whether the anchor moved past the record `checker` expects (retention pruned it during
    /// the walk); if so the checker restarts at the new anchor.
    async fn pruned_past(&self, checker: &mut chain::Checker) -> Result<bool, StoreError> {
        let now = self.inner.store.audit_chain().await?;
        if now.anchor_seq >= checker.next_seq() {
            checker.restart_at(&now);
            return Ok(true);
        }
        Ok(false)
    }
}
