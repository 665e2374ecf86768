//! `GET /api/tasks/{id}/events`: a task's progress and state changes as Server-Sent Events, until
//! its final state.
//!
//! Events come from the engine's bus (subscribed before the first read, so none is missed
//! between the snapshot and the stream). A task running on another process publishes on that
//! process's bus: the stream also re-reads the task every [`RECHECK`] and emits what changed, so
//! it is complete whichever process runs the task, and a lagging subscriber catches up.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use relais_platform::tasks::{Engine, Progress, TaskEvent, TaskRecord, TaskState};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Access, Role, Routes};
use crate::error::ApiError;
use crate::extract::Path;
use crate::tasks::{TaskView, engine_error, not_found};

/// How often the stream re-reads the task from the database.
const RECHECK: Duration = Duration::from_secs(1);

pub(crate) fn routes() -> Routes<Engine> {
    Routes::<Engine>::new().route(Access::Role(Role::Viewer), routes!(task_events))
}

/// Data of a `state` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateEvent {
    /// The task.
    pub id: Uuid,
    /// Its new state.
    pub state: String,
    /// The attempt concerned.
    pub attempt: i32,
    /// When it changed.
    pub at: DateTime<Utc>,
}

/// Data of a `progress` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressEvent {
    /// The task.
    pub id: Uuid,
    /// 0 to 100.
    pub percent: f64,
    /// Human-readable status.
    pub message: Option<String>,
    /// Structured details.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// When it was reported.
    pub at: DateTime<Utc>,
}

/// Task events (Server-Sent Events)
///
/// A `text/event-stream`: first a `task` event with the whole task; then `progress` events
/// (data: `ProgressEvent`) and `state` events (data: `StateEvent`) as they happen, on whichever
/// process runs the task; at the final state a last `task` event, then the stream closes.
/// Comments keep the connection alive every 15 s.
#[utoipa::path(get, path = "/api/tasks/{id}/events", tag = "tasks",
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "An event stream of `task`, `progress` and `state` events", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such task", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn task_events(
    State(engine): State<Engine>,
    Path(id): Path<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let bus = engine.subscribe();
    let task = engine
        .get(id)
        .await
        .map_err(engine_error)?
        .ok_or_else(|| not_found(id))?;
    let mut ticker = tokio::time::interval(RECHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch = Watch {
        engine,
        id,
        bus: Some(bus),
        ticker,
        state: task.state,
        progress: progress_key(&task.progress),
        pending: VecDeque::new(),
        done: false,
    };
    watch.snapshot(task);
    let stream = futures_util::stream::unfold(watch, |mut w| async move {
        w.next().await.map(|event| (Ok(event), w))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Watch {
    engine: Engine,
    id: Uuid,
    bus: Option<broadcast::Receiver<TaskEvent>>,
    ticker: tokio::time::Interval,
    state: TaskState,
    progress: (u64, Option<String>),
    pending: VecDeque<Event>,
    done: bool,
}

fn progress_key(p: &Progress) -> (u64, Option<String>) {
    (p.percent.to_bits(), p.message.clone())
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

impl Watch {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            let received = async {
                match &mut self.bus {
                    Some(bus) => bus.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = received => match received {
                    Ok(event) if event.id == self.id => self.on_event(event).await,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.recheck().await,
                    Err(broadcast::error::RecvError::Closed) => self.bus = None,
                },
                _ = self.ticker.tick() => self.recheck().await,
            }
        }
    }

    /// Emits the whole task; at a final state, it is the last event.
    fn snapshot(&mut self, task: TaskRecord) {
        self.state = task.state;
        self.progress = progress_key(&task.progress);
        self.done = task.state.is_final();
        self.pending
            .push_back(json_event("task", &TaskView::new(task, None)));
    }

    async fn on_event(&mut self, event: TaskEvent) {
        match event.progress {
            Some(p) => {
                self.progress = progress_key(&p);
                self.pending.push_back(json_event(
                    "progress",
                    &ProgressEvent {
                        id: self.id,
                        percent: p.percent,
                        message: p.message,
                        details: p.details,
                        at: event.at,
                    },
                ));
            }
            None if event.state.is_final() => self.recheck().await,
            None if event.state != self.state => {
                self.state = event.state;
                self.pending.push_back(json_event(
                    "state",
                    &StateEvent {
                        id: self.id,
                        state: event.state.as_str().into(),
                        attempt: event.attempt,
                        at: event.at,
                    },
                ));
            }
            None => {}
        }
    }

    /// Reads the task and emits what changed since the last event.
    async fn recheck(&mut self) {
        let task = match self.engine.get(self.id).await {
            Ok(Some(task)) => task,
            // Deleted (retention): nothing more will happen.
            Ok(None) => {
                self.done = true;
                return;
            }
            Err(e) => {
                tracing::warn!(task_id = %self.id, error = %e, "task event stream could not read the task");
                return;
            }
        };
        if progress_key(&task.progress) != self.progress && !task.state.is_final() {
            self.progress = progress_key(&task.progress);
            self.pending.push_back(json_event(
                "progress",
                &ProgressEvent {
                    id: self.id,
                    percent: task.progress.percent,
                    message: task.progress.message.clone(),
                    details: task.progress.details.clone(),
                    at: Utc::now(),
                },
            ));
        }
        if task.state != self.state {
            self.pending.push_back(json_event(
                "state",
                &StateEvent {
                    id: self.id,
                    state: task.state.as_str().into(),
                    attempt: task.attempt,
                    at: task
                        .finished_at
                        .or(task.started_at)
                        .unwrap_or_else(Utc::now),
                },
            ));
            if task.state.is_final() {
                self.snapshot(task);
            } else {
                self.state = task.state;
            }
        }
    }
}
