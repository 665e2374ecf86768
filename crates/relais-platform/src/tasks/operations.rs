//! What operators see and steer: queue pause, workers, per-kind limits, schedules, statistics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{TaskRecord, TaskState};
use crate::rate::Rate;

/// The limits of one kind, enforced at claim time across every process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindLimit {
    /// The kind.
    pub kind: String,
    /// Most starts per period (a token bucket shared by all processes).
    pub rate: Option<Rate>,
    /// Most tasks of the kind running at once, all processes together.
    pub concurrency: Option<u32>,
}

/// What a limited claim started, and when a rate-limited kind next has a token.
#[derive(Debug, Clone, Default)]
pub struct LimitedClaim {
    /// The claimed tasks, now running.
    pub tasks: Vec<TaskRecord>,
    /// The earliest time a kind held back by its rate limit can start again.
    pub next_token_at: Option<DateTime<Utc>>,
}

/// A queue's shared state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueState {
    /// Queue name.
    pub queue: String,
    /// Whether claiming is suspended on every process.
    pub paused: bool,
    /// When it was last paused or resumed.
    pub changed_at: DateTime<Utc>,
    /// Who paused or resumed it.
    pub changed_by: Option<String>,
}

/// Tasks of one queue by state, and how long the oldest due task has waited.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueDepth {
    /// Queue name.
    pub queue: String,
    /// Due and waiting for a worker (`available` or `retryable`, scheduled time passed).
    pub due: i64,
    /// Waiting for their scheduled time.
    pub scheduled: i64,
    /// Running now.
    pub running: i64,
    /// Scheduled time of the oldest due task.
    pub oldest_due_at: Option<DateTime<Utc>>,
}

/// One queue a worker process serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerQueue {
    /// Queue name.
    pub queue: String,
    /// Tasks it runs at once on that process.
    pub concurrency: u32,
}

/// A process running workers, as registered in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Worker id (stored on the tasks it runs).
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// relais version.
    pub version: String,
    /// Queues and their concurrency.
    pub queues: Vec<WorkerQueue>,
    /// When the process started.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Tasks running at the last heartbeat.
    pub running: i64,
}

/// Finished tasks of one kind and state over the last 1, 5 and 15 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedCounts {
    /// Kind.
    pub kind: String,
    /// Final (or retryable) state.
    pub state: TaskState,
    /// Within the last minute.
    pub last_1m: i64,
    /// Within the last 5 minutes.
    pub last_5m: i64,
    /// Within the last 15 minutes.
    pub last_15m: i64,
}

/// The duration of one finished attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptDuration {
    /// Kind.
    pub kind: String,
    /// Started to finished, in microseconds.
    pub micros: i64,
}

/// What a schedule tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// This call enqueued the tick's task.
    Enqueued(Uuid),
    /// The tick (or a later one) was already enqueued, by this or another process.
    AlreadyDone,
}
