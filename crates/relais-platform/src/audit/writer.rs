//! The group-commit writer: one task per [`super::Audit`], taking every record waiting in the
//! bounded channel (up to the batch cap), writing them in one transaction, then answering every
//! waiter. A full channel makes senders wait (backpressure); nothing is dropped. A failed write
//! fails the waiters of that batch, and the next batch starts afresh from the stored chain head.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::{AuditError, AuditProgress, AuditRecord, Receipt};
use crate::store::Store;

/// A record and the waiter to answer once it is durable (or failed).
pub(super) struct Pending {
    pub(super) record: AuditRecord,
    pub(super) done: oneshot::Sender<Result<Receipt, AuditError>>,
}

pub(super) struct Writer {
    pub(super) store: Arc<dyn Store>,
    pub(super) receiver: mpsc::Receiver<Pending>,
    pub(super) stop: CancellationToken,
    pub(super) max_batch: usize,
    pub(super) progress: watch::Sender<AuditProgress>,
}

impl Writer {
    /// Runs until stopped (then writes what is already queued and ends) or until every sender is
    /// gone.
    pub(super) async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut closed = false;
        loop {
            let first = tokio::select! {
                biased;
                () = self.stop.cancelled(), if !closed => {
                    // No new records; those already queued are still received and written.
                    self.receiver.close();
                    closed = true;
                    continue;
                }
                received = self.receiver.recv() => received,
            };
            let Some(first) = first else { break };
            batch.push(first);
            while batch.len() < self.max_batch {
                match self.receiver.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            self.progress.send_modify(|p| p.received += n);
            self.write(&mut batch).await;
        }
        tracing::debug!("audit writer stopped");
    }

    async fn write(&mut self, batch: &mut Vec<Pending>) {
        let (mut records, mut waiters): (Vec<AuditRecord>, Vec<_>) =
            batch.drain(..).map(|p| (p.record, p.done)).unzip();
        let started = Instant::now();
        let (receiver, progress, max) = (&mut self.receiver, &self.progress, self.max_batch);
        // Once the chain head is locked, the records that arrived meanwhile join this batch.
        let mut top_up = |records: &mut Vec<AuditRecord>| {
            let before = records.len();
            while records.len() < max {
                match receiver.try_recv() {
                    Ok(p) => {
                        records.push(p.record);
                        waiters.push(p.done);
                    }
                    Err(_) => break,
                }
            }
            let added = (records.len() - before) as u64;
            if added > 0 {
                progress.send_modify(|p| p.received += added);
            }
        };
        let written = self.store.append_audit(&mut records, &mut top_up).await;
        let n = records.len() as u64;
        let took = started.elapsed();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        metrics::histogram!("relais_audit_write_seconds").record(took.as_secs_f64());
        metrics::histogram!("relais_audit_batch_records").record(n as f64);
        match written {
            Ok(linked) => {
                tracing::debug!(records = n, "audit batch written");
                metrics::counter!("relais_audit_records_total", "outcome" => "written")
                    .increment(n);
                // Counters first: a waiter that wakes up sees them already counted.
                self.progress.send_modify(|p| {
                    p.written += n;
                    p.batches += 1;
                    p.write_micros += micros;
                });
                for (done, (seq, hash)) in waiters.into_iter().zip(linked) {
                    // A waiter that went away still has its record written.
                    let _ = done.send(Ok(Receipt { seq, hash }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = n, "an audit batch could not be written; its operations are answered as failed");
                metrics::counter!("relais_audit_records_total", "outcome" => "failed").increment(n);
                self.progress.send_modify(|p| {
                    p.failed += n;
                    p.batches += 1;
                    p.write_micros += micros;
                });
                let e = Arc::new(e);
                for done in waiters {
                    let _ = done.send(Err(AuditError::Write(e.clone())));
                }
            }
        }
    }
}
