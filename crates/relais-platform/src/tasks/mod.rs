//! Durable tasks: the model, the [`Task`] trait apps implement, and the [`Engine`] that runs them.
//!
//! The state machine is drawn in `docs/tasks.md`.

mod completer;
mod engine;
mod engine_config;
mod enqueue;
mod event;
mod handler;
mod model;
mod operations;
mod retention;
mod signal;
mod stats;

pub use engine::{
    Engine, EngineBuilder, EngineConfig, EngineError, Enqueue, RetentionPolicy, ScheduleSpec,
    TaskEvent, TaskTx,
};
pub use handler::{Noop, SleepArgs, SleepTask, Task, TaskContext, TaskError, TaskOptions};
pub use model::{
    AttemptError, Backoff, CancelOutcome, ExecOptions, NewTask, Outcome, Progress, Rescued,
    TaskFilter, TaskRecord, TaskState,
};
pub use operations::{
    AttemptDuration, FinishedCounts, KindLimit, LimitedClaim, QueueDepth, QueueState, TickOutcome,
    WorkerInfo, WorkerQueue,
};
pub use stats::{DurationStats, QueueStats, TaskStats, Throughput, Window};
