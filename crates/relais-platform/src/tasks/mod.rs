//! Durable tasks: the model and (as it lands) the engine that runs them.

mod model;

pub use model::{
    AttemptError, Backoff, CancelOutcome, ExecOptions, NewTask, Outcome, Progress, Rescued,
    TaskRecord, TaskState,
};
