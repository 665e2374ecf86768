//! A request to enqueue a task.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::engine::EngineError;
use super::handler::Task;

/// A request to enqueue one task; unset options take the kind's defaults.
#[derive(Debug, Clone, Default)]
pub struct Enqueue {
    /// Registered kind.
    pub kind: String,
    /// Arguments (checked against the kind's type).
    pub args: Value,
    /// Queue.
    pub queue: Option<String>,
    /// Priority (higher first).
    pub priority: Option<i32>,
    /// Attempts allowed (1–100).
    pub max_attempts: Option<i32>,
    /// Not before this time.
    pub run_at: Option<DateTime<Utc>>,
    /// Uniqueness key (overrides the kind's unique-by-arguments key).
    pub unique_key: Option<String>,
    /// Soft time limit in milliseconds.
    pub soft_limit_ms: Option<u64>,
    /// Hard time limit in milliseconds.
    pub hard_limit_ms: Option<u64>,
    /// Who enqueues.
    pub created_by: Option<String>,
}

impl Enqueue {
    /// A request for a registered kind with JSON arguments.
    pub fn new(kind: impl Into<String>, args: Value) -> Self {
        Self {
            kind: kind.into(),
            args,
            ..Self::default()
        }
    }

    /// A request for a typed task.
    pub fn of<T: Task>(args: &T::Args) -> Result<Self, EngineError> {
        let args = serde_json::to_value(args).map_err(|e| EngineError::InvalidArgs {
            kind: T::KIND.into(),
            message: e.to_string(),
        })?;
        Ok(Self::new(T::KIND, args))
    }
}
