//! One build: the full pass over every SIRET (PV rows and invitations read ahead in pages of
//! complete SIRETs, merge-joined here, summarised one SIRET at a time and written in batches by
//! a writer task), and the incremental build of the marked SIRETs and of the summaries due
//! again.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use relais_platform::store::{Db, Store, StoreError};
use relais_platform::tasks::{TaskContext, TaskError};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::BuildSettings;
use crate::domain::{Invitation, PvRow, Siret, Summariser};
use crate::store::{self, Pages, StoredSummary};

/// Rounds of an incremental build while marks keep arriving (each import also enqueues its
/// own build, so stopping there loses nothing).
const MAX_ROUNDS: u32 = 5;

fn retry(e: StoreError) -> TaskError {
    TaskError::retry(format!("storage: {e}"))
}

/// What one build did (the task's result).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct Report {
    full: bool,
    /// SIRETs summarised.
    summarised: u64,
    /// Summaries deleted (their SIRETs lost every PV row and invitation).
    deleted: u64,
    /// Dirty marks removed.
    cleared: u64,
    /// Summaries computed again because their date-dependent figures were due.
    stale: u64,
    /// Incremental rounds (marks that arrived during a round are taken by the next).
    rounds: u32,
    /// The full build's generation.
    generation: i64,
}

/// Progress: SIRETs done out of `total` (when known).
async fn progress(ctx: &TaskContext, what: &str, done: u64, total: Option<u64>) {
    let percent = match total {
        Some(t) if t > 0 => (done as f64 * 100.0 / t as f64).min(99.9),
        _ => 0.0,
    };
    let message = match total {
        Some(t) => format!("{what}: {done} of {t} SIRETs"),
        None => format!("{what}: {done} SIRETs"),
    };
    ctx.progress_with(
        percent,
        Some(message),
        Some(json!({ "done": done, "total": total })),
    )
    .await;
}

/// The full build: every SIRET with PV rows or invitations summarised again into fresh tables,
/// indexed (on PostgreSQL, before the swap) and swapped in at the end with the marks taken
/// before it started removed (so summaries of other SIRETs go). Crash-safe: until the swap commits, readers and later builds see the previous
/// tables, and the next full build drops what a stopped one left.
pub(super) async fn full(
    ctx: &TaskContext,
    store: &Arc<dyn Store>,
    settings: &BuildSettings,
) -> Result<Value, TaskError> {
    let db = store.db().clone();
    let today = ctx.now().date_naive();
    let built_at = ctx.now();
    // Marks up to here are committed, so the pass below sees their rows.
    let upto = store::dirty_clock(&db).await.map_err(retry)?;
    let mut tx = store.begin().await.map_err(retry)?;
    let generation = store::next_generation(&mut tx).await.map_err(retry)?;
    store::begin_rebuild(&mut tx).await.map_err(retry)?;
    tx.commit().await.map_err(retry)?;
    let mut total: Option<u64> = None;
    let mut counting = Some(tokio::spawn({
        let db = db.clone();
        async move { store::input_siret_count(&db).await }
    }));
    let (batches, receiver) = mpsc::channel::<Vec<StoredSummary>>(2);
    let writer = tokio::spawn(write_loop(store.clone(), receiver, generation));
    let mut merge = Merge::new(&db, settings.page_rows);
    let mut summariser = Summariser::new(settings.cycles.clone(), settings.summary);
    let mut batch = Vec::with_capacity(settings.batch);
    let mut report = Report {
        full: true,
        generation,
        ..Report::default()
    };
    progress(ctx, "full build", 0, total).await;
    loop {
        let group = merge.next().await.map_err(retry)?;
        if let Some(g) = &group {
            let summary = summariser
                .summarise(g.siret, merge.rows(g), merge.invitations(g), today)
                .map_err(TaskError::permanent)?;
            batch.push(StoredSummary::of(&summary, built_at));
        }
        if batch.len() < settings.batch && group.is_some() {
            continue;
        }
        if let Some(gate) = &settings.gate {
            gate.pass(ctx).await;
        }
        if ctx.is_cancelled() {
            drop(batches);
            let _ = writer.await;
            drop_copies(store).await;
            return Err(TaskError::Cancelled);
        }
        report.summarised += batch.len() as u64;
        if !batch.is_empty() {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(settings.batch));
            if batches.send(full).await.is_err() {
                // The writer stopped on an error: report it.
                return Err(writer_error(writer).await);
            }
        }
        if let Some(handle) = counting.take_if(|h| h.is_finished()) {
            total = handle.await.ok().and_then(Result::ok);
        }
        progress(ctx, "full build", report.summarised, total).await;
        if group.is_none() {
            break;
        }
    }
    drop(batches);
    match writer.await {
        Ok(result) => result.map_err(retry)?,
        Err(e) => return Err(TaskError::retry(format!("the summary writer stopped: {e}"))),
    }
    if let Some(handle) = counting {
        handle.abort();
    }
    store::index_rebuild(&db).await.map_err(retry)?;
    if ctx.is_cancelled() {
        drop_copies(store).await;
        return Err(TaskError::Cancelled);
    }
    let mut tx = store.begin().await.map_err(retry)?;
    report.deleted = store::swap_rebuild(&mut tx).await.map_err(retry)?;
    report.cleared = store::clear_dirty_upto(&mut tx, upto)
        .await
        .map_err(retry)?;
    store::record_build(&mut tx, ctx.now(), true)
        .await
        .map_err(retry)?;
    tx.commit().await.map_err(retry)?;
    store::vacuum_dirty(&db).await.map_err(retry)?;
    ctx.progress_with(
        100.0,
        Some(format!(
            "full build: {} SIRETs summarised, {} summaries deleted",
            report.summarised, report.deleted
        )),
        Some(json!({ "done": report.summarised, "total": report.summarised })),
    )
    .await;
    Ok(json!(report))
}

/// After a cancel: the fresh tables go now (otherwise with the next full build's start).
async fn drop_copies(store: &Arc<dyn Store>) {
    if let Ok(mut tx) = store.begin().await
        && store::drop_rebuild(&mut tx).await.is_ok()
    {
        let _ = tx.commit().await;
    }
}

/// The incremental build: the marked SIRETs (and the summaries whose date-dependent figures are
/// due) computed again, batch by batch, each batch's summaries written and its marks removed in
/// one transaction; SIRETs left without rows lose their summary. Rounds repeat while marks
/// arrived meanwhile.
pub(super) async fn incremental(
    ctx: &TaskContext,
    store: &Arc<dyn Store>,
    settings: &BuildSettings,
) -> Result<Value, TaskError> {
    let db = store.db().clone();
    let generation = store::summary_state(&db).await.map_err(retry)?.generation;
    let mut job = Incremental {
        ctx,
        store,
        settings,
        summariser: Summariser::new(settings.cycles.clone(), settings.summary),
        today: ctx.now().date_naive(),
        built_at: ctx.now(),
        generation,
        report: Report {
            generation,
            ..Report::default()
        },
        done: 0,
    };
    let today = job.today;
    loop {
        job.report.rounds += 1;
        let upto = store::dirty_clock(&db).await.map_err(retry)?;
        let mut total = job.done + store::dirty_count(&db, Some(upto)).await.map_err(retry)?;
        let stale = match job.report.rounds {
            1 => store::stale_count(&db, today).await.map_err(retry)?,
            _ => 0,
        };
        total += stale;
        job.report.cleared += job.pages(Due::Marked { upto }, total).await?;
        if stale > 0 {
            job.report.stale += job.pages(Due::Stale, total).await?;
        }
        let waiting = store::dirty_count(&db, None).await.map_err(retry)?;
        if waiting == 0 || job.report.rounds >= MAX_ROUNDS {
            break;
        }
    }
    let Incremental { report, done, .. } = job;
    let mut tx = store.begin().await.map_err(retry)?;
    store::record_build(&mut tx, ctx.now(), false)
        .await
        .map_err(retry)?;
    tx.commit().await.map_err(retry)?;
    ctx.progress_with(
        100.0,
        Some(format!(
            "incremental build: {} SIRETs summarised, {} summaries deleted",
            report.summarised, report.deleted
        )),
        Some(json!({ "done": done, "total": done })),
    )
    .await;
    Ok(json!(report))
}

/// What the batches of an incremental build share.
struct Incremental<'a> {
    ctx: &'a TaskContext,
    store: &'a Arc<dyn Store>,
    settings: &'a BuildSettings,
    summariser: Summariser,
    today: NaiveDate,
    built_at: DateTime<Utc>,
    generation: i64,
    report: Report,
    /// SIRETs taken so far (progress).
    done: u64,
}

/// The SIRETs an incremental build computes again.
#[derive(Clone, Copy)]
enum Due {
    /// Those marked, with marks valued at most `upto` (removed with their batch).
    Marked { upto: i64 },
    /// Those whose PAP figures changed with the date (cycle change, waiting period).
    Stale,
}

impl Incremental<'_> {
    /// Computes again the SIRETs that are `due`, in keyset pages of a batch; returns how many
    /// it took.
    async fn pages(&mut self, due: Due, total: u64) -> Result<u64, TaskError> {
        let db = self.store.db();
        let batch = self.settings.batch;
        let clear = match due {
            Due::Marked { upto } => Some(upto),
            Due::Stale => None,
        };
        let mut after = String::new();
        let mut taken = 0;
        loop {
            let sirets = match due {
                Due::Marked { upto } => store::dirty_page(db, upto, &after, batch).await,
                Due::Stale => store::stale_page(db, self.today, &after, batch).await,
            }
            .map_err(retry)?;
            let Some(last) = sirets.last() else {
                return Ok(taken);
            };
            after = last.clone();
            pass(self.ctx, self.settings).await?;
            let step = recompute(
                self.store,
                &mut self.summariser,
                &sirets,
                clear,
                self.today,
                self.built_at,
                self.generation,
            )
            .await?;
            self.report.summarised += step.summarised;
            self.report.deleted += step.deleted;
            taken += sirets.len() as u64;
            self.done += sirets.len() as u64;
            progress(self.ctx, "incremental build", self.done, Some(total)).await;
        }
    }
}

/// Between batches: the test gate, then the cancel check.
async fn pass(ctx: &TaskContext, settings: &BuildSettings) -> Result<(), TaskError> {
    if let Some(gate) = &settings.gate {
        gate.pass(ctx).await;
    }
    if ctx.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    Ok(())
}

#[derive(Default)]
struct Step {
    summarised: u64,
    deleted: u64,
}

/// Computes these SIRETs again (sorted): what changed in their summaries written, those of
/// SIRETs without rows deleted, and their marks valued at most `clear` removed, in one
/// transaction.
async fn recompute(
    store: &Arc<dyn Store>,
    summariser: &mut Summariser,
    sirets: &[String],
    clear: Option<i64>,
    today: NaiveDate,
    built_at: DateTime<Utc>,
    generation: i64,
) -> Result<Step, TaskError> {
    let db = store.db();
    let keys: Vec<&str> = sirets.iter().map(String::as_str).collect();
    // The four reads (rows, invitations, stored summaries and their cycles) run at once, on
    // connections of the read pool, in tasks of their own (on SQLite a read runs on the thread
    // that polls it; a task polled here would wait for this one).
    let shared: Arc<[String]> = sirets.into();
    let row_read = tokio::spawn({
        let (db, sirets) = (db.clone(), shared.clone());
        async move {
            let keys: Vec<&str> = sirets.iter().map(String::as_str).collect();
            store::pv_inputs_of(&db, &keys).await
        }
    });
    let invitation_read = tokio::spawn({
        let (db, sirets) = (db.clone(), shared.clone());
        async move {
            let keys: Vec<&str> = sirets.iter().map(String::as_str).collect();
            store::invitation_inputs_of(&db, &keys).await
        }
    });
    // A marked key that is not a SIRET has no stored summary (it fails below if it has rows).
    let parsed: Arc<[String]> = shared
        .iter()
        .filter(|k| Siret::parse(k).is_ok())
        .cloned()
        .collect();
    let stored = store::build_summaries_of(db, parsed).await.map_err(retry)?;
    let stopped = |e: tokio::task::JoinError| TaskError::retry(format!("a read stopped: {e}"));
    let rows = row_read.await.map_err(stopped)?.map_err(retry)?;
    let invitations = invitation_read.await.map_err(stopped)?.map_err(retry)?;
    let (inv_sirets, invitations): (Vec<Siret>, Vec<Invitation>) = invitations.into_iter().unzip();
    let mut summaries = Vec::with_capacity(keys.len());
    let mut gone = Vec::new();
    let (mut r, mut i) = (0, 0);
    for key in &keys {
        let r0 = r;
        while r < rows.len() && rows[r].siret.as_str() == *key {
            r += 1;
        }
        let i0 = i;
        while i < inv_sirets.len() && inv_sirets[i].as_str() == *key {
            i += 1;
        }
        if r0 == r && i0 == i {
            gone.push(*key);
            continue;
        }
        let siret = Siret::parse(key)
            .map_err(|e| TaskError::permanent(format!("marked SIRET {key:?}: {e}")))?;
        let summary = summariser
            .summarise(siret, &rows[r0..r], &invitations[i0..i], today)
            .map_err(TaskError::permanent)?;
        summaries.push(StoredSummary::of(&summary, built_at));
    }
    if r != rows.len() || i != inv_sirets.len() {
        return Err(TaskError::permanent(
            "rows were read out of SIRET order; nothing written",
        ));
    }
    // Only what changed is written: a changed PV row usually changes one cycle row.
    let mut changes = store::SummaryChanges::default();
    let mut old = stored.iter().peekable();
    for new in &summaries {
        while old
            .next_if(|o| o.siret.as_str() < new.siret.as_str())
            .is_some()
        {}
        changes.add(new, old.next_if(|o| o.siret == new.siret));
    }
    let mut tx = store.begin().await.map_err(retry)?;
    store::write_changes(&mut tx, &changes, generation)
        .await
        .map_err(retry)?;
    let deleted = store::delete_summaries(&mut tx, &gone)
        .await
        .map_err(retry)?;
    if let Some(upto) = clear {
        store::clear_dirty(&mut tx, &keys, upto)
            .await
            .map_err(retry)?;
    }
    tx.commit().await.map_err(retry)?;
    Ok(Step {
        summarised: summaries.len() as u64,
        deleted,
    })
}

/// Writes batches in their own transactions until the channel closes.
async fn write_loop(
    store: Arc<dyn Store>,
    mut batches: mpsc::Receiver<Vec<StoredSummary>>,
    generation: i64,
) -> Result<(), StoreError> {
    while let Some(batch) = batches.recv().await {
        let mut tx = store.begin().await?;
        store::write_next_summaries(&mut tx, &batch, generation).await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn writer_error(writer: JoinHandle<Result<(), StoreError>>) -> TaskError {
    match writer.await {
        Ok(Err(e)) => retry(e),
        Ok(Ok(())) => TaskError::retry("the summary writer stopped"),
        Err(e) => TaskError::retry(format!("the summary writer stopped: {e}")),
    }
}

/// One SIRET's place in the merge's buffers.
struct Group {
    siret: Siret,
    rows: std::ops::Range<usize>,
    invitations: std::ops::Range<usize>,
}

/// PV rows and invitations in pages of complete SIRETs (read ahead by the storage module),
/// merge-joined by SIRET.
struct Merge {
    row_pages: Pages<PvRow>,
    rows: Vec<PvRow>,
    row_at: usize,
    invitation_pages: Pages<(Siret, Invitation)>,
    inv_sirets: Vec<Siret>,
    invitations: Vec<Invitation>,
    inv_at: usize,
}

impl Merge {
    fn new(db: &Db, page: usize) -> Self {
        Merge {
            row_pages: store::pv_pages(db, page),
            rows: Vec::new(),
            row_at: 0,
            invitation_pages: store::invitation_pages(db, page),
            inv_sirets: Vec::new(),
            invitations: Vec::new(),
            inv_at: 0,
        }
    }

    /// The next SIRET, in order; `None` at the end of both tables.
    async fn next(&mut self) -> Result<Option<Group>, StoreError> {
        if self.row_at == self.rows.len()
            && let Some(page) = self.row_pages.next().await?
        {
            self.rows = page;
            self.row_at = 0;
        }
        if self.inv_at == self.invitations.len()
            && let Some(page) = self.invitation_pages.next().await?
        {
            (self.inv_sirets, self.invitations) = page.into_iter().unzip();
            self.inv_at = 0;
        }
        let row = self.rows.get(self.row_at).map(|r| r.siret);
        let inv = self.inv_sirets.get(self.inv_at).copied();
        let siret = match (row, inv) {
            (Some(a), Some(b)) => {
                if a.as_str() <= b.as_str() {
                    a
                } else {
                    b
                }
            }
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return Ok(None),
        };
        let r0 = self.row_at;
        while self.row_at < self.rows.len() && self.rows[self.row_at].siret == siret {
            self.row_at += 1;
        }
        let i0 = self.inv_at;
        while self.inv_at < self.inv_sirets.len() && self.inv_sirets[self.inv_at] == siret {
            self.inv_at += 1;
        }
        Ok(Some(Group {
            siret,
            rows: r0..self.row_at,
            invitations: i0..self.inv_at,
        }))
    }

    fn rows(&self, g: &Group) -> &[PvRow] {
        &self.rows[g.rows.clone()]
    }

    fn invitations(&self, g: &Group) -> &[Invitation] {
        &self.invitations[g.invitations.clone()]
    }
}
