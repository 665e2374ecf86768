//! Following work this process runs (an import, a build) on the terminal: a progress bar polled
//! every 200 ms until the work ends; Ctrl-C drains the process and fails.

use std::future::Future;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use relais_platform::Platform;

/// What one poll saw: percent done, a message, and the final value once the work has ended.
pub(crate) struct Seen<T> {
    pub percent: f64,
    pub message: String,
    pub done: Option<T>,
}

/// Polls until the work ends, showing its progress; the bar is left finished with the last
/// message. On Ctrl-C the process is drained and `interrupted` is the error.
pub(crate) async fn follow<T, F, Fut>(
    platform: &Platform,
    interrupted: &str,
    mut poll: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Seen<T>>>,
{
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                bar.abandon_with_message("interrupted");
                drain(platform).await;
                anyhow::bail!("{interrupted}");
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let seen = poll().await?;
        bar.set_position((seen.percent * 10.0) as u64);
        if let Some(done) = seen.done {
            bar.finish_with_message(seen.message);
            return Ok(done);
        }
        bar.set_message(seen.message);
    }
}

/// Stops this process's work and waits for it (10 s at most).
pub(crate) async fn drain(platform: &Platform) {
    platform.shutdown.trigger();
    platform
        .shutdown
        .drain(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
}
