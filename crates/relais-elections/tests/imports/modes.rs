//! Keys and modes: a PV updated in place by its number, bad rows rejected with their row and
//! column, `replace` swapping one cycle, dirty SIRETs, and a resumed import keeping its keys.

use std::sync::Mutex;

use relais_elections::imports::PvRecord;
use relais_platform::imports::{
    Column, ImportContext, ImportCounts, ImportType, Issues, Row, TypeLimits, WriteMode, Written,
};
use relais_platform::store::{DbTx, StoreError};

use crate::support::*;

const HEADER: &str = "pv_number,siret,raison_sociale,ville,idcc,college,date,inscrits,votants,sve,cgt,cfdt,cgt_fo,cftc,cfe_cgc,solidaires,unsa,autres,departement,source_file\n";

/// A normalised file with these rows (`pv,siret,college,date,inscrits,sve,cgt,cfdt`).
fn normalised(rows: &[[&str; 8]]) -> Vec<u8> {
    let mut out = String::from(HEADER);
    for [pv, siret, college, date, inscrits, sve, cgt, cfdt] in rows {
        out.push_str(&format!(
            "{pv},{siret},ACME,PARIS,0112,{college},{date},{inscrits},{inscrits},{sve},{cgt},{cfdt},0,0,0,0,0,0,75,t.csv\n"
        ));
    }
    out.into_bytes()
}

pub(crate) async fn pv_numbers_update_in_place_and_bad_rows_are_rejected(ctx: Ctx) {
    let env = env(&ctx).await;
    let a = "34329419500239";
    let first = normalised(&[
        ["1001", a, "01", "20210202", "139", "110", "50", "60"],
        ["1002", a, "02", "20210202", "27", "23", "23", "0"],
    ]);
    let r = env.pv("a.csv", &first, |_| {}).await;
    assert_eq!(r.counts.inserted, 2, "{r:#?}");
    assert_eq!(env.dirty().await, vec![a]);
    env.clear_dirty().await;
    // The same PV with other figures: updated in place, its SIRET marked again.
    let second = normalised(&[
        ["1001", a, "01", "20210202", "139", "110", "55", "55"],
        ["1002", a, "02", "20210202", "27", "23", "23", "0"],
    ]);
    let r = env.pv("b.csv", &second, |_| {}).await;
    assert_eq!(
        (r.counts.inserted, r.counts.updated, r.counts.unchanged),
        (0, 1, 1)
    );
    let rows = env.rows_of(a).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0].key.as_str(),
            rows[0].row.votes[0],
            rows[0].import_id
        ),
        ("pv:1001:01", votes("55"), r.id)
    );
    assert_ne!(rows[1].import_id, r.id, "an unchanged row keeps its writer");
    assert_eq!(env.dirty().await, vec![a]);

    // Rejected rows: their row, column and reason; the good row is written.
    let bad = normalised(&[
        [
            "2001",
            "34329419500238",
            "01",
            "20210202",
            "10",
            "5",
            "5",
            "0",
        ],
        ["2002", a, "03", "20210202", "10", "5", "-5", "0"],
        ["2003", a, "04", "20213002", "10", "5", "5", "0"],
        [
            "2004",
            "3432941950023",
            "01",
            "20210202",
            "10",
            "5",
            "5",
            "0",
        ],
        ["2005", a, "05", "20180101", "10", "5", "5", "0"],
        ["2006", a, "05", "20400101", "10", "5", "5", "0"],
        ["2007", a, "05", "20210202", "10.5", "5", "5", "0"],
    ]);
    let r = env.pv("bad.csv", &bad, |_| {}).await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!((r.counts.accepted, r.counts.rejected), (1, 6));
    let errors: Vec<(u64, String, String, String)> = env
        .issues(r.id)
        .await
        .into_iter()
        .filter(Issue::is_error)
        .map(|i| (i.row, i.column, i.value, i.message))
        .collect();
    let e = |row: u64, column: &str, value: &str, message: &str| {
        (row, column.to_owned(), value.to_owned(), message.to_owned())
    };
    assert_eq!(
        errors,
        vec![
            e(
                2,
                "siret",
                "34329419500238",
                "34329419500238 fails the SIRET check digit"
            ),
            e(3, "cgt", "-5", "negative"),
            e(
                4,
                "date",
                "20213002",
                "not a date (expected YYYYMMDD, YYYY-MM-DD or DD/MM/YYYY)"
            ),
            e(
                5,
                "siret",
                "3432941950023",
                "a SIRET has 14 digits; got \"3432941950023\""
            ),
            e(
                7,
                "date",
                "20400101",
                "dated outside the configured cycles (C1 from 2009-01-01 to C5 until 2028-12-31)"
            ),
            e(8, "inscrits", "10.5", "not a whole number"),
            e(8, "votants", "10.5", "not a whole number"),
        ]
    );
    let rows = env.rows_of(a).await;
    assert_eq!(rows.len(), 3, "row 6 (2018, cycle C3) was written");
    assert_eq!(rows[0].row.cycle.as_str(), "C3");
    env.stop().await;
}

pub(crate) async fn replace_mode_swaps_one_cycle_and_keeps_the_others(ctx: Ctx) {
    let env = env(&ctx).await;
    let (a, b, c, d, e) = (
        "34329419500239",
        "00638004200033",
        "42738003500027",
        "18080251400067",
        "79931368900017",
    );
    let base = normalised(&[
        ["3001", a, "01", "20190501", "10", "8", "8", "0"],
        ["4001", b, "01", "20220110", "10", "8", "8", "0"],
        ["4002", c, "01", "20220110", "10", "8", "8", "0"],
        ["4003", d, "01", "20220110", "10", "8", "8", "0"],
    ]);
    let r = env.pv("base.csv", &base, |_| {}).await;
    assert_eq!(r.counts.inserted, 4, "{r:#?}");
    env.clear_dirty().await;

    // Refused at upload without a scope.
    let err = env
        .upload_with("elections.pv", "r.csv", &base, |r| {
            r.mode = Some("replace".into())
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a scope"), "{err}");

    // A rejected row (dated in another cycle) blocks the deletion.
    let stray = normalised(&[
        ["4001", b, "01", "20220110", "10", "8", "8", "0"],
        ["3002", e, "01", "20190501", "10", "8", "8", "0"],
    ]);
    let r = env
        .pv("stray.csv", &stray, |r| {
            r.mode = Some("replace".into());
            r.scope = Some("C4".into());
        })
        .await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!(r.counts.deleted, 0);
    let issues = env.issues(r.id).await;
    assert_eq!(
        issues[0].message, "dated in C3, outside the cycle C4 being replaced",
        "{issues:?}"
    );
    assert_eq!(env.totals().await.rows, 4);

    // The cycle's new file: one unchanged, one changed, one new, one gone.
    let swap = normalised(&[
        ["4001", b, "01", "20220110", "10", "8", "8", "0"],
        ["4002", c, "01", "20220110", "10", "8", "6", "2"],
        ["4004", e, "01", "20230301", "10", "8", "8", "0"],
    ]);
    let r = env
        .pv("c4.csv", &swap, |r| {
            r.mode = Some("replace".into());
            r.scope = Some("C4".into());
        })
        .await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    let c = &r.counts;
    assert_eq!(
        (c.inserted, c.updated, c.unchanged, c.deleted),
        (1, 1, 1, 1)
    );
    let keys: Vec<(String, String, bool)> = env
        .all_rows()
        .await
        .into_iter()
        .map(|p| (p.key, p.row.cycle.to_string(), p.import_id == r.id))
        .collect();
    let k = |key: &str, cycle: &str, this: bool| (key.to_owned(), cycle.to_owned(), this);
    assert_eq!(
        keys,
        vec![
            k("pv:4001:01", "C4", true),
            k("pv:3001:01", "C3", false),
            k("pv:4002:01", "C4", true),
            k("pv:4004:01", "C4", true),
        ]
    );
    // Changed, new and deleted rows' SIRETs wait for the summary; the unchanged one does not.
    let mut dirty = env.dirty().await;
    dirty.sort();
    let mut expected = vec![
        "42738003500027".to_owned(),
        "18080251400067".to_owned(),
        "79931368900017".to_owned(),
    ];
    expected.sort();
    assert_eq!(dirty, expected);

    // A scope that is not a cycle rejects every row.
    let r = env
        .pv("c9.csv", &swap, |r| {
            r.mode = Some("replace".into());
            r.scope = Some("C9".into());
        })
        .await;
    assert_eq!(r.status, ImportStatus::Failed, "{r:#?}");
    let issues = env.issues(r.id).await;
    assert!(
        issues[0]
            .message
            .starts_with("the import's scope must be a cycle: unknown cycle C9"),
        "{issues:?}"
    );
    assert_eq!(env.totals().await.rows, 4);
    env.stop().await;
}

/// `elections.pv` whose second batch fails once after writing (rolled back).
#[derive(Clone)]
pub(crate) struct FlakyPv {
    inner: PvImport,
    calls: Arc<Mutex<u32>>,
}

impl ImportType for FlakyPv {
    const NAME: &'static str = "flaky.pv";
    type Record = PvRecord;

    fn description(&self) -> &'static str {
        "elections.pv whose second batch fails once"
    }

    fn columns(&self) -> &'static [Column] {
        self.inner.columns()
    }

    fn modes(&self) -> &'static [WriteMode] {
        self.inner.modes()
    }

    fn limits(&self) -> TypeLimits {
        self.inner.limits()
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<PvRecord> {
        self.inner.parse(row, ctx, issues)
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<PvRecord>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        let fail = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls == 2
        };
        let written = self.inner.upsert(tx, records, ctx).await?;
        if fail {
            return Err(StoreError::Conflict("injected failure".into()));
        }
        Ok(written)
    }

    async fn finish(
        &self,
        tx: &mut DbTx,
        ctx: &ImportContext,
        counts: &ImportCounts,
    ) -> Result<Written, StoreError> {
        self.inner.finish(tx, ctx, counts).await
    }
}

/// Undated rows without PV numbers are numbered in file order; a resumed attempt numbers the
/// rows after the committed batches as the whole file would.
pub(crate) async fn a_resumed_import_keeps_the_keys_of_undated_rows(ctx: Ctx) {
    let flaky = FlakyPv {
        inner: PvImport::new(CycleTable::standard()),
        calls: Arc::new(Mutex::new(0)),
    };
    let env = env_with(&ctx, |s| s.batch_rows = 2, {
        let flaky = flaky.clone();
        move |r| r.register(flaky).unwrap()
    })
    .await;
    let csv = "SIRET,Collège,Date,Inscrits,Votants,SVE,CGT
77674399900026,02,,149,112,105,105
42738003500027,01,,87,55,51,51
77674399900026,02,,33,27,20,20
77674399900026,01,,10,9,9,0
77674399900026,02,,12,10,10,10
";
    let r = env
        .import("flaky.pv", "cpam.csv", csv.as_bytes(), |r| {
            r.scope = Some("C4".into())
        })
        .await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    assert_eq!(r.attempts, 2, "the failed batch made one retry");
    assert_eq!((r.counts.read, r.counts.inserted), (5, 5));
    let cpam: Vec<(String, i64)> = env
        .rows_of("77674399900026")
        .await
        .into_iter()
        .map(|p| (p.key, p.row.inscrits))
        .collect();
    let k = |key: &str, inscrits: i64| (key.to_owned(), inscrits);
    assert_eq!(
        cpam,
        vec![
            k("s:77674399900026:C4:01:cse:1", 10),
            k("s:77674399900026:C4:02:cse:1", 149),
            k("s:77674399900026:C4:02:cse:2", 33),
            k("s:77674399900026:C4:02:cse:3", 12),
        ]
    );
    let warnings: Vec<u64> = env
        .issues(r.id)
        .await
        .into_iter()
        .filter(|i| {
            i.message
                .contains("another PV of this SIRET, collège and cycle")
        })
        .map(|i| i.row)
        .collect();
    assert_eq!(warnings, vec![4, 6], "each reported once");
    env.stop().await;
}
