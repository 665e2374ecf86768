//! Checkpoints of SQLite's write-ahead log, off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that takes the log past its threshold
//! (1,000 pages by default) and, with `synchronous=NORMAL`, syncs the log and the database file
//! there: that commit waits for the copy and two fsyncs (10 ms for 1,000 pages here, on a
//! commit that otherwise takes 3 ms). The writer's threshold is raised to [`BACKSTOP_PAGES`],
//! which only a checkpointer falling behind reaches, and a task of its own checkpoints on its
//! own connection every [`INTERVAL`], in PASSIVE mode: it never waits for the writer or for
//! readers, and copies what no reader still needs.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::StoreError;

/// The writer's automatic checkpoint threshold, in pages (16 MiB of 4 KiB pages). Under steady
/// writes (a bulk load, a full build) the writer still checkpoints, every 16 MiB of log instead
/// of every 4: a PASSIVE checkpoint running beside the writer never finds the log wholly copied,
/// so without the writer's own the log would never start over and its file would keep growing
/// (it reached 562 MB during a 1M-row load with a 64 MiB threshold, against 62 MB with
/// SQLite's default).
pub(super) const BACKSTOP_PAGES: u32 = 4_096;

/// How often the checkpointer runs.
pub(super) const INTERVAL: Duration = Duration::from_millis(500);

/// What one checkpoint did: the log's size and how much of it is now in the database file, in
/// pages (`PRAGMA wal_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpoint {
    /// A reader or the writer kept part of the log from being copied.
    pub busy: bool,
    /// Pages in the log.
    pub log: i64,
    /// Pages of the log copied into the database file.
    pub copied: i64,
}

/// One PASSIVE checkpoint on `conn`.
pub(super) async fn checkpoint(conn: &mut SqliteConnection) -> Result<Checkpoint, StoreError> {
    let (busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Checkpoint {
        busy: busy != 0,
        log,
        copied,
    })
}

/// The running checkpointer; stopped by [`Checkpointer::stop`] (a last checkpoint is made).
pub(super) struct Checkpointer {
    stop: CancellationToken,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing the database of `options` every `every`.
    pub(super) async fn start(
        options: &SqliteConnectOptions,
        every: Duration,
    ) -> Result<Self, StoreError> {
        let mut conn = options.connect().await?;
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    let stopping = tokio::select! {
                        () = stop.cancelled() => true,
                        _ = tick.tick() => false,
                    };
                    if let Err(e) = checkpoint(&mut conn).await {
                        tracing::warn!(error = %e, "SQLite checkpoint failed");
                    }
                    if stopping {
                        break;
                    }
                }
                let _ = conn.close().await;
            }
        });
        Ok(Checkpointer {
            stop,
            task: std::sync::Mutex::new(Some(task)),
        })
    }

    /// Stops the task after a last checkpoint, and waits for it.
    pub(super) async fn stop(&self) {
        self.stop.cancel();
        let task = self.task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
