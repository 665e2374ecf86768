//! Graceful shutdown: one trigger, and drain hooks that components register.
//!
//! On the trigger (SIGINT/SIGTERM, or a test), the HTTP server stops accepting and drains its
//! in-flight requests; then [`Shutdown::drain`] runs every registered hook in reverse order of
//! registration (a component registered later may depend on one registered earlier, as the task
//! engine on the audit writer), each bounded by what is left of the grace period; finally the
//! database is closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type Hook = Box<dyn FnOnce(Instant) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Shared shutdown coordinator; clones refer to the same one.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    hooks: Arc<Mutex<Vec<(String, Hook)>>>,
}

/// What happened to each hook during a drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Hook name.
    pub name: String,
    /// Whether it finished before the deadline.
    pub finished: bool,
}

impl Shutdown {
    /// A coordinator not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the shutdown starts.
    pub async fn triggered(&self) {
        self.token.cancelled().await
    }

    /// A token cancelled when the shutdown starts, for loops that select on it.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Registers a drain hook. It receives the deadline by which it must be done; past it, it is
    /// dropped (its future is not polled again) and the drain goes on.
    pub fn on_drain<F, Fut>(&self, name: impl Into<String>, hook: F)
    where
        F: FnOnce(Instant) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let hook: Hook = Box::new(move |deadline| Box::pin(hook(deadline)));
        self.hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.into(), hook));
    }

    /// Triggers the shutdown if needed, then runs every hook once, newest first, within `deadline`.
    pub async fn drain(&self, deadline: Instant) -> Vec<DrainOutcome> {
        self.trigger();
        let hooks = std::mem::take(&mut *self.hooks.lock().unwrap_or_else(|e| e.into_inner()));
        let mut outcomes = Vec::with_capacity(hooks.len());
        for (name, hook) in hooks.into_iter().rev() {
            let finished = tokio::time::timeout_at(deadline, hook(deadline))
                .await
                .is_ok();
            if finished {
                tracing::info!(message = "drained", component = %name);
            } else {
                tracing::warn!(message = "drain deadline passed; abandoning", component = %name);
            }
            outcomes.push(DrainOutcome { name, finished });
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn hooks_run_newest_first_and_overruns_are_cut() {
        let shutdown = Shutdown::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["audit", "tasks"] {
            let order = order.clone();
            shutdown.on_drain(
                name,
                move |_| async move { order.lock().unwrap().push(name) },
            );
        }
        shutdown.on_drain("stuck", |_| std::future::pending::<()>());
        let outcomes = shutdown
            .drain(Instant::now() + Duration::from_secs(5))
            .await;
        assert!(shutdown.is_triggered());
        assert_eq!(*order.lock().unwrap(), vec!["tasks", "audit"]);
        let summary: Vec<_> = outcomes
            .iter()
            .map(|o| (o.name.as_str(), o.finished))
            .collect();
        assert_eq!(
            summary,
            vec![("stuck", false), ("tasks", true), ("audit", true)]
        );
        assert!(
            shutdown.drain(Instant::now()).await.is_empty(),
            "hooks run once"
        );
    }
}
