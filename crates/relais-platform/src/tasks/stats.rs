//! Task statistics, assembled from the store's counts (a pure function, unit-tested).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::TaskState;
use super::operations::{AttemptDuration, FinishedCounts, QueueDepth, QueueState};

/// Counts, throughput, durations, failure rate and queue lag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStats {
    /// When the statistics were taken.
    pub at: DateTime<Utc>,
    /// Tasks by state (every state, zeros included).
    pub by_state: BTreeMap<String, i64>,
    /// Tasks by kind, then state (states with tasks only).
    pub by_kind: BTreeMap<String, BTreeMap<String, i64>>,
    /// Finished tasks over the last 1, 5 and 15 minutes.
    pub throughput: Throughput,
    /// Durations of attempts that succeeded in the last 15 minutes, by kind.
    pub durations: BTreeMap<String, DurationStats>,
    /// Share of tasks that ended `failed` or `discarded` among those finished (succeeded,
    /// failed, discarded) in the last 15 minutes; `None` when none finished.
    pub failure_rate: Option<f64>,
    /// Per queue: depth, pause, and how long the oldest due task has waited.
    pub queues: Vec<QueueStats>,
}

/// Finished tasks over three windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    /// Last minute.
    pub last_1m: Window,
    /// Last 5 minutes.
    pub last_5m: Window,
    /// Last 15 minutes.
    pub last_15m: Window,
}

/// Tasks finished in one window, by final state, and the rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    /// Every final state together.
    pub finished: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Failed (no retry).
    pub failed: i64,
    /// Discarded (out of attempts).
    pub discarded: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Finished tasks per second over the window.
    pub per_second: f64,
}

/// Duration percentiles of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationStats {
    /// Attempts measured.
    pub samples: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// Longest, milliseconds.
    pub max_ms: f64,
}

/// One queue's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStats {
    /// Queue name.
    pub queue: String,
    /// Whether claiming is paused on every process.
    pub paused: bool,
    /// Due tasks waiting for a worker.
    pub due: i64,
    /// Tasks waiting for their scheduled time.
    pub scheduled: i64,
    /// Running tasks.
    pub running: i64,
    /// How long the oldest due task has waited, in seconds (0 when none waits).
    pub lag_seconds: f64,
}

/// The inputs of [`TaskStats::assemble`], as the store returns them.
pub(crate) struct Inputs<'a> {
    pub now: DateTime<Utc>,
    pub counts: Vec<(String, TaskState, i64)>,
    pub finished: Vec<FinishedCounts>,
    pub durations: Vec<AttemptDuration>,
    pub depths: Vec<QueueDepth>,
    pub states: Vec<QueueState>,
    /// Queues this process serves (listed even when empty).
    pub queues: &'a [String],
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    // Nearest rank.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

impl TaskStats {
    pub(crate) fn assemble(i: Inputs<'_>) -> Self {
        let mut by_state: BTreeMap<String, i64> = TaskState::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        let mut by_kind: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for (kind, state, n) in i.counts {
            *by_state.entry(state.as_str().into()).or_default() += n;
            *by_kind
                .entry(kind)
                .or_default()
                .entry(state.as_str().into())
                .or_default() += n;
        }
        let mut windows = [Window::default(), Window::default(), Window::default()];
        for f in &i.finished {
            for (w, n) in windows.iter_mut().zip([f.last_1m, f.last_5m, f.last_15m]) {
                w.finished += n;
                match f.state {
                    TaskState::Succeeded => w.succeeded += n,
                    TaskState::Failed => w.failed += n,
                    TaskState::Discarded => w.discarded += n,
                    TaskState::Cancelled => w.cancelled += n,
                    _ => {}
                }
            }
        }
        for (w, seconds) in windows.iter_mut().zip([60.0, 300.0, 900.0]) {
            w.per_second = w.finished as f64 / seconds;
        }
        let [last_1m, last_5m, last_15m] = windows;
        let ended = last_15m.succeeded + last_15m.failed + last_15m.discarded;
        let failure_rate =
            (ended > 0).then(|| (last_15m.failed + last_15m.discarded) as f64 / ended as f64);
        let mut per_kind: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for d in i.durations {
            per_kind.entry(d.kind).or_default().push(d.micros.max(0));
        }
        let durations = per_kind
            .into_iter()
            .map(|(kind, mut v)| {
                v.sort_unstable();
                let stats = DurationStats {
                    samples: v.len(),
                    p50_ms: percentile(&v, 0.50),
                    p95_ms: percentile(&v, 0.95),
                    max_ms: v[v.len() - 1] as f64 / 1000.0,
                };
                (kind, stats)
            })
            .collect();
        let queues = queue_stats(i.now, i.depths, i.states, i.queues);
        TaskStats {
            at: i.now,
            by_state,
            by_kind,
            throughput: Throughput {
                last_1m,
                last_5m,
                last_15m,
            },
            durations,
            failure_rate,
            queues,
        }
    }
}

/// Every queue this process serves, is paused or resumed, or holds unfinished tasks, by name.
pub(crate) fn queue_stats(
    now: DateTime<Utc>,
    depths: Vec<QueueDepth>,
    states: Vec<QueueState>,
    served: &[String],
) -> Vec<QueueStats> {
    fn entry<'a>(queues: &'a mut BTreeMap<String, QueueStats>, name: &str) -> &'a mut QueueStats {
        queues
            .entry(name.to_string())
            .or_insert_with(|| QueueStats {
                queue: name.to_string(),
                paused: false,
                due: 0,
                scheduled: 0,
                running: 0,
                lag_seconds: 0.0,
            })
    }
    let mut queues: BTreeMap<String, QueueStats> = BTreeMap::new();
    for q in served {
        entry(&mut queues, q);
    }
    for s in states {
        entry(&mut queues, &s.queue).paused = s.paused;
    }
    for d in depths {
        let q = entry(&mut queues, &d.queue);
        q.due = d.due;
        q.scheduled = d.scheduled;
        q.running = d.running;
        q.lag_seconds = d.oldest_due_at.map_or(0.0, |at| {
            (now - at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
        });
    }
    queues.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn assembles_counts_rates_percentiles_and_lag() {
        let stats = TaskStats::assemble(Inputs {
            now: t(100),
            counts: vec![
                ("a".into(), TaskState::Succeeded, 7),
                ("a".into(), TaskState::Failed, 1),
                ("b".into(), TaskState::Available, 4),
            ],
            finished: vec![
                FinishedCounts {
                    kind: "a".into(),
                    state: TaskState::Succeeded,
                    last_1m: 6,
                    last_5m: 6,
                    last_15m: 7,
                },
                FinishedCounts {
                    kind: "a".into(),
                    state: TaskState::Discarded,
                    last_1m: 0,
                    last_5m: 3,
                    last_15m: 3,
                },
            ],
            durations: (1..=20)
                .map(|ms| AttemptDuration {
                    kind: "a".into(),
                    micros: ms * 1000,
                })
                .collect(),
            depths: vec![QueueDepth {
                queue: "default".into(),
                due: 4,
                scheduled: 1,
                running: 0,
                oldest_due_at: Some(t(40)),
            }],
            states: vec![QueueState {
                queue: "bulk".into(),
                paused: true,
                changed_at: t(0),
                changed_by: None,
            }],
            queues: &["default".into()],
        });
        assert_eq!(stats.by_state["succeeded"], 7);
        assert_eq!(stats.by_state["running"], 0, "every state is listed");
        assert_eq!(stats.by_kind["b"]["available"], 4);
        assert_eq!(stats.throughput.last_1m.finished, 6);
        assert_eq!(stats.throughput.last_5m.discarded, 3);
        assert!((stats.throughput.last_1m.per_second - 0.1).abs() < 1e-9);
        assert_eq!(stats.failure_rate, Some(0.3));
        let a = &stats.durations["a"];
        assert_eq!(
            (a.samples, a.p50_ms, a.p95_ms, a.max_ms),
            (20, 10.0, 19.0, 20.0)
        );
        assert_eq!(stats.queues.len(), 2);
        assert!(stats.queues[0].paused && stats.queues[0].queue == "bulk");
        assert_eq!(stats.queues[1].lag_seconds, 60.0);
    }

    #[test]
    fn no_finished_task_means_no_failure_rate() {
        let stats = TaskStats::assemble(Inputs {
            now: t(0),
            counts: vec![],
            finished: vec![],
            durations: vec![],
            depths: vec![],
            states: vec![],
            queues: &[],
        });
        assert_eq!(stats.failure_rate, None);
        assert!(stats.durations.is_empty() && stats.queues.is_empty());
    }
}
