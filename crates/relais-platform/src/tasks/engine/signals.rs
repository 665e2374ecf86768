//! Signals to and from the other processes sharing a PostgreSQL database (see
//! [`crate::tasks::signal`]): enqueues and resumes wake their workers at once, cancels reach the
//! running process at once, and task events reach every process's bus. Best effort: polling,
//! heartbeats and the event streams' re-reads cover a missed signal.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::{Engine, Inner, lock};
use crate::store::Store;
use crate::tasks::event::TaskEvent;
use crate::tasks::signal::{Packet, Signal, pack};

impl Inner {
    /// Publishes on this process's bus and, when `remote`, on the other processes' buses.
    pub(super) fn emit(&self, event: TaskEvent, remote: bool) {
        if remote && let Some(outbox) = &self.outbox {
            let _ = outbox.send(Signal::Event {
                event: event.clone(),
            });
        }
        let _ = self.events.send(event);
    }

    /// Wakes `queue` here and, in the background, on the other processes.
    pub(super) fn wake_everywhere(&self, queue: &str) {
        self.wake(queue);
        if let Some(outbox) = &self.outbox {
            let _ = outbox.send(Signal::Wake {
                queue: queue.to_string(),
            });
        }
    }

    /// Sends `signals` to the other processes now (on the caller's time: enqueue, cancel,
    /// resume). A failure is logged: the others find the work at their next poll.
    pub(super) async fn signal_now(&self, signals: Vec<Signal>) {
        if !self.store.signals() || signals.is_empty() {
            return;
        }
        if let Err(e) = self.store.send_signals(&pack(&self.worker, signals)).await {
            tracing::warn!(error = %e, "could not signal the other processes; they will poll");
        }
    }

    pub(super) async fn listen_loop(self: Arc<Self>) {
        let mut signals = loop {
            match self.store.listen_signals().await {
                Ok(Some(rx)) => break rx,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen to other processes; retrying at the poll interval");
                    tokio::select! {
                        () = self.clock.sleep(self.config.poll_interval) => continue,
                        () = self.stop.cancelled() => return,
                    }
                }
            }
        };
        self.listening.store(true, Ordering::SeqCst);
        loop {
            let payload = tokio::select! {
                payload = signals.recv() => match payload {
                    Some(p) => p,
                    None => return,
                },
                () = self.stop.cancelled() => return,
            };
            self.on_payload(&payload);
        }
    }

    fn on_payload(&self, payload: &str) {
        let packet: Packet = match serde_json::from_str(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "ignored a malformed signal from another process");
                return;
            }
        };
        if packet.from == self.worker {
            return;
        }
        for signal in packet.signals {
            match signal {
                Signal::Wake { queue } => self.wake(&queue),
                Signal::Cancel { id } => {
                    if let Some(task) = lock(&self.running).get(&id) {
                        task.cancel.request(self.clock.now());
                    }
                }
                Signal::Event { event } => {
                    let _ = self.events.send(event);
                }
            }
        }
    }
}

/// Sends what the engine's loops queue for the other processes, a batch at a time.
pub(super) async fn send_loop(
    store: Arc<dyn Store>,
    worker: String,
    mut outbox: mpsc::UnboundedReceiver<Signal>,
) {
    let mut batch = Vec::new();
    while outbox.recv_many(&mut batch, 2048).await > 0 {
        let payloads = pack(&worker, std::mem::take(&mut batch));
        if let Err(e) = store.send_signals(&payloads).await {
            tracing::warn!(error = %e, "could not signal the other processes");
        }
    }
}

impl Engine {
    /// Whether this engine receives the other processes' signals (PostgreSQL, once started): a
    /// test hook.
    pub fn listening(&self) -> bool {
        self.inner.listening.load(Ordering::SeqCst)
    }
}
