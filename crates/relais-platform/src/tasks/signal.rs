//! Signals between engines sharing a database (PostgreSQL `NOTIFY`): wake-ups for new work,
//! cancel requests for running tasks, and task events for other processes' buses. Many signals
//! are packed into each notification (under the 8,000-byte payload limit) so a busy engine sends
//! a few notifications per batch rather than one per task.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::TaskEvent;

/// Largest payload written (PostgreSQL refuses 8,000 bytes and more).
const MAX_PAYLOAD: usize = 7_900;

/// One signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Signal {
    /// Due tasks wait in this queue.
    Wake { queue: String },
    /// Cancel was requested for this running task.
    Cancel { id: Uuid },
    /// A state change or progress report.
    Event { event: TaskEvent },
}

/// What travels in one notification: signals of one process.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Packet {
    /// The sending worker (a process ignores its own packets).
    pub from: String,
    /// The signals.
    pub signals: Vec<Signal>,
}

/// Packs `signals` into payloads of at most [`MAX_PAYLOAD`] bytes, dropping duplicate wake-ups
/// and the details of progress events too large to travel (subscribers read them from the task).
pub(crate) fn pack(from: &str, signals: Vec<Signal>) -> Vec<String> {
    let mut woken = std::collections::HashSet::new();
    let mut payloads = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 0;
    let head = from.len() + 32;
    for mut signal in signals {
        if let Signal::Wake { queue } = &signal
            && !woken.insert(queue.clone())
        {
            continue;
        }
        let mut json = serde_json::to_string(&signal).unwrap_or_default();
        if json.len() + head > MAX_PAYLOAD {
            if let Signal::Event { event } = &mut signal
                && let Some(p) = &mut event.progress
            {
                p.details = None;
                p.message = p.message.take().map(|m| m.chars().take(500).collect());
            }
            json = serde_json::to_string(&signal).unwrap_or_default();
            if json.len() + head > MAX_PAYLOAD {
                continue;
            }
        }
        if size + json.len() + 1 + head > MAX_PAYLOAD && !current.is_empty() {
            payloads.push(packet(from, &current));
            current.clear();
            size = 0;
        }
        size += json.len() + 1;
        current.push(json);
    }
    if !current.is_empty() {
        payloads.push(packet(from, &current));
    }
    payloads
}

fn packet(from: &str, signals: &[String]) -> String {
    format!(
        "{{\"from\":{},\"signals\":[{}]}}",
        serde_json::Value::String(from.to_string()),
        signals.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::model::{Progress, TaskState};

    fn event(details: usize) -> Signal {
        Signal::Event {
            event: TaskEvent {
                id: Uuid::now_v7(),
                kind: "k".into(),
                queue: "q".into(),
                state: TaskState::Running,
                attempt: 1,
                progress: Some(Progress {
                    percent: 50.0,
                    message: Some("half".into()),
                    details: (details > 0).then(|| serde_json::json!("x".repeat(details))),
                }),
                at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            },
        }
    }

    #[test]
    fn packs_many_signals_per_payload_under_the_limit() {
        let mut signals: Vec<Signal> = (0..500).map(|_| event(0)).collect();
        signals.push(Signal::Wake { queue: "q".into() });
        signals.push(Signal::Wake { queue: "q".into() });
        signals.push(event(20_000));
        let payloads = pack("worker-1", signals);
        assert!(
            payloads.len() > 1 && payloads.len() < 20,
            "{}",
            payloads.len()
        );
        let mut got = Vec::new();
        for p in &payloads {
            assert!(p.len() < 8_000);
            let packet: Packet = serde_json::from_str(p).unwrap();
            assert_eq!(packet.from, "worker-1");
            got.extend(packet.signals);
        }
        assert_eq!(got.len(), 502, "one wake-up, every event");
        let Some(Signal::Event { event }) = got.last() else {
            panic!("the large event travels last")
        };
        let progress = event.progress.as_ref().unwrap();
        assert_eq!(
            (progress.details.clone(), progress.percent),
            (None, 50.0),
            "without its details"
        );
    }
}
