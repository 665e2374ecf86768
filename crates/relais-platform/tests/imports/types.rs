//! Test import types built on `sample` (same columns, parser and table): `flaky` fails its third
//! batch once; `gated` writes a batch only when the test lets it; `followed` enqueues a
//! follow-up task when it finishes.

use std::sync::{Arc, Mutex};

use relais_platform::imports::sample::{SampleImport, SampleRow};
use relais_platform::imports::{
    Column, ImportContext, ImportCounts, ImportType, Issues, Row, WriteMode, Written,
};
use relais_platform::store::{DbTx, StoreError};
use relais_platform::tasks::Enqueue;

#[derive(Clone, Default)]
pub(crate) struct Flaky {
    calls: Arc<Mutex<(u32, Vec<String>)>>,
}

impl Flaky {
    /// Codes handed to the upsert, in order, the failed batch included.
    pub(crate) fn upserted(&self) -> Vec<String> {
        self.calls.lock().unwrap().1.clone()
    }
}

impl ImportType for Flaky {
    const NAME: &'static str = "flaky";
    type Record = SampleRow;

    fn description(&self) -> &'static str {
        "sample whose third batch fails once"
    }

    fn columns(&self) -> &'static [Column] {
        SampleImport.columns()
    }

    fn modes(&self) -> &'static [WriteMode] {
        SampleImport.modes()
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<SampleRow> {
        SampleImport.parse(row, ctx, issues)
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<SampleRow>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        let fail = {
            let mut calls = self.calls.lock().unwrap();
            calls.0 += 1;
            calls.1.extend(records.iter().map(|r| r.code.clone()));
            calls.0 == 3
        };
        // Write first, then fail: the transaction must roll the batch back.
        let written = SampleImport.upsert(tx, records, ctx).await?;
        if fail {
            return Err(StoreError::Conflict(
                "injected failure of the third batch".into(),
            ));
        }
        Ok(written)
    }
}

/// Waits, on the reader thread, before the first row of every block of 100 rows (by line), so
/// no transaction is held while a batch waits (SQLite has one writer).
#[derive(Clone, Default)]
pub(crate) struct Gated {
    permits: Arc<(Mutex<usize>, std::sync::Condvar)>,
}

impl Gated {
    /// Lets `n` more blocks of 100 rows be read.
    pub(crate) fn open(&self, n: usize) {
        let (count, ready) = &*self.permits;
        *count.lock().unwrap() += n;
        ready.notify_all();
    }

    fn pass(&self) {
        let (count, ready) = &*self.permits;
        let mut left = count.lock().unwrap();
        while *left == 0 {
            left = ready.wait(left).unwrap();
        }
        *left -= 1;
    }
}

impl ImportType for Gated {
    const NAME: &'static str = "gated";
    type Record = SampleRow;

    fn description(&self) -> &'static str {
        "sample whose rows wait for the test"
    }

    fn columns(&self) -> &'static [Column] {
        SampleImport.columns()
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<SampleRow> {
        // The header is line 1: lines 2, 102, 202… start a block.
        if (row.number() - 2) % 100 == 0 {
            self.pass();
        }
        SampleImport.parse(row, ctx, issues)
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<SampleRow>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        SampleImport.upsert(tx, records, ctx).await
    }
}

/// `sample` whose finished imports enqueue a follow-up task of `kind` (on the `imports` queue)
/// carrying the import's id and final counts.
#[derive(Clone)]
pub(crate) struct Followed {
    pub kind: &'static str,
}

impl ImportType for Followed {
    const NAME: &'static str = "followed";
    type Record = SampleRow;

    fn description(&self) -> &'static str {
        "sample with a follow-up task"
    }

    fn columns(&self) -> &'static [Column] {
        SampleImport.columns()
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<SampleRow> {
        SampleImport.parse(row, ctx, issues)
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<SampleRow>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        SampleImport.upsert(tx, records, ctx).await
    }

    fn follow_up(&self, ctx: &ImportContext, counts: &ImportCounts) -> Vec<Enqueue> {
        vec![Enqueue {
            queue: Some("imports".into()),
            ..Enqueue::new(
                self.kind,
                serde_json::json!({
                    "import_id": ctx.import_id,
                    "inserted": counts.inserted,
                    "rejected": counts.rejected,
                }),
            )
        }]
    }
}

/// `followed` with a follow-up of a kind no engine knows.
#[derive(Clone)]
pub(crate) struct Refused;

impl ImportType for Refused {
    const NAME: &'static str = "refused";
    type Record = SampleRow;

    fn description(&self) -> &'static str {
        "sample with a follow-up task the engine refuses"
    }

    fn columns(&self) -> &'static [Column] {
        SampleImport.columns()
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<SampleRow> {
        SampleImport.parse(row, ctx, issues)
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<SampleRow>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        SampleImport.upsert(tx, records, ctx).await
    }

    fn follow_up(&self, ctx: &ImportContext, counts: &ImportCounts) -> Vec<Enqueue> {
        Followed {
            kind: "no.such.kind",
        }
        .follow_up(ctx, counts)
    }
}
