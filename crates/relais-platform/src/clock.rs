//! Time, behind a trait so background loops can be driven deterministically in tests.
//!
//! Every timestamp the task engine stores and every timer it waits on (polling, heartbeats,
//! rescue, soft and hard limits) goes through a [`Clock`]. Production uses [`SystemClock`];
//! tests use [`ManualClock`], whose time moves only when the test calls [`ManualClock::advance`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

/// A future that completes after a clock's duration.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A source of time and timers.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep;

    /// Completes once this clock reaches `deadline` (at once if it has). Deadlines, unlike
    /// durations, do not depend on when the timer is armed.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let left = (deadline - self.now()).to_std().unwrap_or(Duration::ZERO);
        self.sleep(left)
    }
}

/// Wall-clock time and tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told; timers fire when their deadline is passed.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<Manual>>,
}

#[derive(Debug)]
struct Manual {
    now: DateTime<Utc>,
    timers: Vec<(DateTime<Utc>, oneshot::Sender<()>)>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Manual {
                now: start,
                timers: Vec::new(),
            })),
        }
    }

    /// Moves time forward and fires every timer whose deadline is reached.
    pub fn advance(&self, by: Duration) {
        let due = {
            let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            m.now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
            let now = m.now;
            let (due, pending): (Vec<_>, Vec<_>) =
                m.timers.drain(..).partition(|(at, _)| *at <= now);
            m.timers = pending;
            due
        };
        for (_, fire) in due {
            let _ = fire.send(());
        }
    }

    /// Timers currently waiting (dropped sleeps are removed on the next advance).
    pub fn pending_timers(&self) -> usize {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.timers.retain(|(_, tx)| !tx.is_closed());
        m.timers.len()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).now
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let now = self.now();
        self.sleep_until(
            now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX),
        )
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let (tx, rx) = oneshot::channel();
        {
            let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if at <= m.now {
                let _ = tx.send(());
            } else {
                m.timers.push((at, tx));
            }
        }
        Box::pin(async move {
            // A dropped clock never fires: wait forever rather than wake spuriously.
            if rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn manual_timers_fire_only_when_advanced_past_their_deadline() {
        let clock = ManualClock::new(Utc.timestamp_opt(1_000, 0).unwrap());
        let mut short = clock.sleep(Duration::from_secs(5));
        let mut long = clock.sleep(Duration::from_secs(10));
        clock.sleep(Duration::ZERO).await;
        assert_eq!(clock.pending_timers(), 2);
        clock.advance(Duration::from_secs(4));
        assert!(futures_util::poll!(&mut short).is_pending());
        clock.advance(Duration::from_secs(1));
        (&mut short).await;
        assert!(futures_util::poll!(&mut long).is_pending());
        assert_eq!(clock.now(), Utc.timestamp_opt(1_005, 0).unwrap());
        clock.advance(Duration::from_secs(5));
        long.await;
        assert_eq!(clock.pending_timers(), 0);
    }
}
