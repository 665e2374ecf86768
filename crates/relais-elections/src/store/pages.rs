//! Pages of complete SIRETs, in SIRET order, produced ahead of the reader: what a full build
//! walks. A producer task reads the next pages while the build summarises the current one; the
//! channel between them holds two pages, so memory does not grow with the table.

use std::future::Future;

use relais_platform::store::StoreError;
use tokio::sync::mpsc;

/// Pages read ahead; `next` gives them in order, then `None`.
pub struct Pages<T> {
    receiver: mpsc::Receiver<Result<Vec<T>, StoreError>>,
    ended: bool,
}

impl<T: Send + 'static> Pages<T> {
    /// The next page; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<T>>, StoreError> {
        if self.ended {
            return Ok(None);
        }
        match self.receiver.recv().await {
            Some(Ok(page)) => Ok(Some(page)),
            Some(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            None => {
                self.ended = true;
                Ok(None)
            }
        }
    }

    /// Pages sent by `produce` through the sender it is given (it stops when the reader is
    /// dropped: a send fails).
    pub(crate) fn spawn<F, Fut>(produce: F) -> Self
    where
        F: FnOnce(PageSender<T>) -> Fut,
        Fut: Future<Output = Result<(), StoreError>> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel(2);
        let errors = sender.clone();
        let work = produce(PageSender(sender));
        tokio::spawn(async move {
            if let Err(e) = work.await {
                let _ = errors.send(Err(e)).await;
            }
        });
        Pages {
            receiver,
            ended: false,
        }
    }

    /// Keyset pages: `page(after)` reads the page of complete SIRETs after `after` (empty at
    /// the end), `key` names a row's SIRET.
    pub(crate) fn keyset<P, Fut>(page: P, key: fn(&T) -> &str) -> Self
    where
        P: Fn(String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<T>, StoreError>> + Send,
    {
        Self::spawn(move |sender| async move {
            let mut after = String::new();
            loop {
                let rows = page(after).await?;
                let Some(last) = rows.last() else {
                    return Ok(());
                };
                after = key(last).to_owned();
                if !sender.send(rows).await {
                    return Ok(());
                }
            }
        })
    }
}

/// Where a producer sends its pages.
pub(crate) struct PageSender<T>(mpsc::Sender<Result<Vec<T>, StoreError>>);

impl<T> PageSender<T> {
    /// Sends a page; false when the reader is gone (the producer then stops).
    pub(crate) async fn send(&self, page: Vec<T>) -> bool {
        self.0.send(Ok(page)).await.is_ok()
    }
}
