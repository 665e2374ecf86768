//! Engine settings.

use std::time::Duration;

/// Engine settings; see each field for its default.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Queues this process works, with their concurrency. Default: `default` with 10.
    pub queues: Vec<(String, usize)>,
    /// How often an idle queue looks for due tasks even without a wake-up. Default 1 s.
    pub poll_interval: Duration,
    /// How often running tasks heartbeat (and learn of cancel requests). Default 500 ms.
    pub heartbeat_interval: Duration,
    /// A running task whose heartbeat is older than this is rescued. Default 30 s.
    pub rescue_after: Duration,
    /// How often the rescuer looks. Default 5 s.
    pub rescue_interval: Duration,
    /// Most tasks claimed at once per queue. Default 100.
    pub claim_batch: u32,
    /// Least time between two stored progress updates of one task. Default 250 ms.
    pub progress_interval: Duration,
    /// Deletion of old finished tasks by the built-in `relais.retention` schedule; `None`
    /// keeps every task. Default: [`RetentionPolicy::default`].
    pub retention: Option<RetentionPolicy>,
}

/// How long finished tasks are kept, per final state, and when the pruning runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Default 24 h.
    pub succeeded: Duration,
    /// Default 24 h.
    pub cancelled: Duration,
    /// Default 7 days.
    pub failed: Duration,
    /// Default 7 days.
    pub discarded: Duration,
    /// Cron expression of the pruning schedule (UTC). Default `*/15 * * * *`.
    pub schedule: String,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        Self {
            succeeded: day,
            cancelled: day,
            failed: 7 * day,
            discarded: 7 * day,
            schedule: "*/15 * * * *".into(),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            queues: vec![("default".into(), 10)],
            poll_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_millis(500),
            rescue_after: Duration::from_secs(30),
            rescue_interval: Duration::from_secs(5),
            claim_batch: 100,
            progress_interval: Duration::from_millis(250),
            retention: Some(RetentionPolicy::default()),
        }
    }
}
