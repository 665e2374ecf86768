//! What a task is: states, records, options. Plain data shared by the engine, storage and HTTP.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The life of a task. See `docs/tasks.md` for the diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting to be claimed.
    Available,
    /// Waiting for its scheduled time.
    Scheduled,
    /// Claimed by a worker.
    Running,
    /// Failed an attempt; waiting for its retry time.
    Retryable,
    /// Finished successfully (final).
    Succeeded,
    /// Failed permanently: the handler said the error is not worth retrying (final).
    Failed,
    /// Cancelled (final).
    Cancelled,
    /// Failed its last attempt (final).
    Discarded,
}

impl TaskState {
    /// Every state.
    pub const ALL: [TaskState; 8] = [
        TaskState::Available,
        TaskState::Scheduled,
        TaskState::Running,
        TaskState::Retryable,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Discarded,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Available => "available",
            TaskState::Scheduled => "scheduled",
            TaskState::Running => "running",
            TaskState::Retryable => "retryable",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Discarded => "discarded",
        }
    }

    /// Whether the task will not change again (unless retried by hand).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled | TaskState::Discarded
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown task state `{s}`"))
    }
}

/// Retry delays: `base · 2^(attempt-1)`, capped at `max`, with up to `jitter` (0–1) of it
/// removed at random so retries of many tasks spread out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay before the first retry, in milliseconds.
    pub base_ms: u64,
    /// Longest delay, in milliseconds.
    pub max_ms: u64,
    /// Fraction of the delay that may be removed at random (0 = none, 1 = up to all of it).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            max_ms: 3_600_000,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1-based), given a random `unit` in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(62);
        let full = self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        let cut = (full as f64 * self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0)) as u64;
        Duration::from_millis(full - cut.min(full))
    }
}

/// Execution options stored with each task, so any process running it applies the same limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecOptions {
    /// After this long the handler is signalled and may clean up (milliseconds).
    pub soft_limit_ms: Option<u64>,
    /// After this long the attempt is aborted and recorded as timed out (milliseconds).
    pub hard_limit_ms: Option<u64>,
    /// Retry delays.
    pub backoff: Backoff,
    /// After a cancel signal, how long the handler may take to stop before it is aborted (ms).
    pub cancel_grace_ms: u64,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            soft_limit_ms: None,
            hard_limit_ms: None,
            backoff: Backoff::default(),
            cancel_grace_ms: 5_000,
        }
    }
}

/// A task to insert.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// UUIDv7.
    pub id: Uuid,
    /// Registered kind name.
    pub kind: String,
    /// Queue it runs on.
    pub queue: String,
    /// Arguments (JSON).
    pub args: serde_json::Value,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts before the task is discarded.
    pub max_attempts: i32,
    /// Not before this time.
    pub scheduled_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// While a task with this key is queued or running, enqueueing the key returns it.
    pub unique_key: Option<String>,
    /// Who enqueued it (token name, user, `cron`, `cli`…).
    pub created_by: Option<String>,
    /// Execution options.
    pub options: ExecOptions,
}

/// Progress reported by a running task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// 0 to 100.
    pub percent: f64,
    /// Human-readable status.
    pub message: Option<String>,
    /// Structured details.
    pub details: Option<serde_json::Value>,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// UUIDv7.
    pub id: Uuid,
    /// Kind name.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// Arguments.
    pub args: serde_json::Value,
    /// Current state.
    pub state: TaskState,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts started so far.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Not before this time.
    pub scheduled_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Start of the latest attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Latest heartbeat of the worker running it.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The worker holding (or that last held) it.
    pub worker: Option<String>,
    /// Latest progress.
    pub progress: Progress,
    /// Result of a successful run.
    pub result: Option<serde_json::Value>,
    /// Uniqueness key.
    pub unique_key: Option<String>,
    /// Who enqueued it.
    pub created_by: Option<String>,
    /// A cancel was requested while it ran.
    pub cancel_requested: bool,
    /// Execution options.
    pub options: ExecOptions,
}

/// The error of one failed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptError {
    /// Attempt number (1-based).
    pub attempt: i32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// What went wrong.
    pub message: String,
    /// Whether the hard time limit ended it.
    pub timed_out: bool,
}

/// How an attempt ended, as reported by the worker that ran it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler returned a result.
    Succeeded(serde_json::Value),
    /// The attempt failed; `retry_at` is when to retry, `None` to give up.
    Failed {
        /// The error.
        error: String,
        /// Ended by the hard time limit.
        timed_out: bool,
        /// Retry at this time, or `None`: `discarded` if out of attempts, else `failed`.
        retry_at: Option<DateTime<Utc>>,
    },
    /// Stopped after a cancel request.
    Cancelled,
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// It was queued: it is now `cancelled`.
    Cancelled(TaskRecord),
    /// It is running: its worker is asked to stop.
    Signalled(TaskRecord),
    /// It had already finished; nothing changed.
    AlreadyFinal(TaskRecord),
    /// No such task.
    NotFound,
}

/// Which tasks to list: every set field must match. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    /// In one of these states (any when empty).
    pub states: Vec<TaskState>,
    /// Of this kind.
    pub kind: Option<String>,
    /// On this queue.
    pub queue: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Older than this task (the cursor: the last id of the previous page).
    pub before: Option<Uuid>,
    /// At most this many (1–1000).
    pub limit: u32,
}

/// A task returned to the queue (or discarded) by the rescuer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rescued {
    /// The task.
    pub id: Uuid,
    /// Its new state.
    pub state: TaskState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_down() {
        let b = Backoff {
            base_ms: 1_000,
            max_ms: 10_000,
            jitter: 0.5,
        };
        let delays: Vec<u64> = (1..=6)
            .map(|a| b.delay(a, 0.0).as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        let jittered = b.delay(2, 0.999_999).as_millis();
        assert!(
            (1_000..=2_000).contains(&jittered),
            "jitter removes at most half: {jittered}"
        );
        assert_eq!(
            b.delay(500, 0.0).as_millis(),
            10_000,
            "no overflow on large attempts"
        );
        let none = Backoff { jitter: 0.0, ..b };
        assert_eq!(none.delay(3, 0.7), Duration::from_secs(4));
    }

    #[test]
    fn states_round_trip() {
        for s in TaskState::ALL {
            assert_eq!(s.as_str().parse::<TaskState>().unwrap(), s);
        }
        assert!("done".parse::<TaskState>().is_err());
        assert!(TaskState::Discarded.is_final() && !TaskState::Retryable.is_final());
    }
}
