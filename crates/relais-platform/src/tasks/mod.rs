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

pub use engine::{Engine, EngineBuilder, EngineConfig, EngineError, Enqueue, TaskEvent};
pub use handler::{Noop, SleepArgs, SleepTask, Task, TaskContext, TaskError, TaskOptions};
pub use model::{
    AttemptError, Backoff, CancelOutcome, ExecOptions, NewTask, Outcome, Progress, Rescued,
    TaskFilter, TaskRecord, TaskState,
};
