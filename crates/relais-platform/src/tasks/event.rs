//! Events published on the engine's bus.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{Progress, TaskState};

/// A state change or progress update, published on the engine's bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// The task.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// Its queue.
    pub queue: String,
    /// Its state after the change.
    pub state: TaskState,
    /// The attempt concerned.
    pub attempt: i32,
    /// Progress, for progress events.
    pub progress: Option<Progress>,
    /// When it happened.
    pub at: DateTime<Utc>,
}
