//! Reading the summary tables: one SIRET, a set of SIRETs, pages in SIRET order.

use std::sync::Arc;

use relais_platform::store::{Db, StoreError};
use sqlx::Row as _;

use super::summary::{
    CYCLE_COLUMNS, SUMMARY_COLUMNS, StoredCycle, StoredPap, StoredSummary, from_micros,
};
use super::{RawRow, corrupt, on_sqlite_reader, pg_rows_of, to_json};
use crate::domain::{
    ByUnion, Cycle, ElectionSummary, PapStatus, SeatTotals, Siret, UNIONS, Votes, shares_of,
};

/// Decodes a summary row (its cycles come later) from [`SUMMARY_COLUMNS`] (either backend).
macro_rules! decode_summary {
    ($r:expr) => {{
        let r = $r;
        let siret: String = r.try_get(0)?;
        let raison_sociale: Option<String> = r.try_get(1)?;
        let cycle_of = |v: Option<String>| -> Result<Option<Cycle>, StoreError> {
            v.map(|c| Cycle::parse(&c).map_err(|_| corrupt(format!("summary cycle {c:?}"))))
                .transpose()
        };
        let pap_cycle = cycle_of(r.try_get(13)?)?;
        let statut: Option<String> = r.try_get(14)?;
        let pap = match (pap_cycle, statut) {
            (Some(cycle), Some(statut)) => Some(StoredPap {
                cycle,
                statut_pap: PapStatus::parse(&statut)
                    .ok_or_else(|| corrupt(format!("summary statut_pap {statut:?}")))?,
                date_pap: r.try_get(15)?,
                date_pv_pap: r.try_get(16)?,
                invitations_a_revoir: r.try_get::<i32, _>(17)?.max(0) as u32,
            }),
            _ => None,
        };
        StoredSummary {
            siret: Siret::parse(&siret).map_err(|_| corrupt(format!("summary SIRET {siret:?}")))?,
            raison_sociale,
            ville: r.try_get(2)?,
            cp: r.try_get(3)?,
            departement: r.try_get(4)?,
            idcc: r.try_get(5)?,
            idcc_label: r.try_get(6)?,
            search_text: r.try_get(7)?,
            date_pv_max: r.try_get(8)?,
            date_invitation_max: r.try_get(9)?,
            prochaine_election: r.try_get(10)?,
            cgt_implantee: r.try_get(11)?,
            latest_cycle: cycle_of(r.try_get(12)?)?,
            pap,
            valid_until: r.try_get(18)?,
            built_at: from_micros(r.try_get(20)?),
            cycles: Vec::new(),
        }
    }};
}

/// Decodes a cycle row from [`CYCLE_COLUMNS`] into its SIRET and entry (either backend).
macro_rules! decode_cycle {
    ($r:expr) => {{
        let r = $r;
        let siret: String = r.try_get(0)?;
        let cycle: String = r.try_get(1)?;
        let n = |i: usize| -> Result<u32, StoreError> { Ok(r.try_get::<i32, _>(i)?.max(0) as u32) };
        let mut voix = ByUnion::<Votes>::default();
        let mut by_union = ByUnion::<u32>::default();
        for (k, u) in UNIONS.into_iter().enumerate() {
            voix[u] = Votes::from_units(r.try_get(10 + k)?);
            by_union[u] = n(20 + k)?;
        }
        let sve = Votes::from_units(r.try_get(9)?);
        let election = ElectionSummary {
            date: r.try_get(2)?,
            carence: r.try_get(3)?,
            rows: n(4)?,
            carence_rows: n(5)?,
            inscrits: r.try_get(6)?,
            votants: r.try_get(7)?,
            votants_missing: n(8)?,
            sve,
            shares: shares_of(&voix, sve),
            voix,
            cgt_presente: r.try_get(18)?,
            cgt_representative: r.try_get(19)?,
            seats: SeatTotals {
                by_union,
                to_fill: n(28)?,
                vacant: n(29)?,
                unresolved_ties: n(30)?,
                unresolved_seats: n(31)?,
                estimated: r.try_get(32)?,
            },
        };
        let cycle =
            Cycle::parse(&cycle).map_err(|_| corrupt(format!("summary cycle {cycle:?}")))?;
        (siret, StoredCycle { cycle, election })
    }};
}

/// One SIRET's summary.
pub async fn summary_of(db: &Db, siret: &Siret) -> Result<Option<StoredSummary>, StoreError> {
    Ok(summaries_of(db, std::slice::from_ref(siret)).await?.pop())
}

/// The summaries of these SIRETs (those that have one), in SIRET order.
pub async fn summaries_of(db: &Db, sirets: &[Siret]) -> Result<Vec<StoredSummary>, StoreError> {
    let mut keys: Vec<&str> = sirets.iter().map(Siret::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let out = summary_rows_of(db, &keys).await?;
    with_cycles(db, out).await
}

/// The summaries of these SIRETs (sorted, distinct), as [`summaries_of`] gives them, with the
/// summary rows and the cycle rows read at once, on tasks of their own (on SQLite a read runs
/// on the thread that polls it). For the summary build only: it is the only writer of these
/// tables, so no write falls between the two reads.
pub(crate) async fn build_summaries_of(
    db: &Db,
    keys: Arc<[String]>,
) -> Result<Vec<StoredSummary>, StoreError> {
    let cycles = tokio::spawn({
        let (db, keys) = (db.clone(), keys.clone());
        async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            cycle_rows_of(&db, &keys).await
        }
    });
    let summaries = tokio::spawn({
        let db = db.clone();
        async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            summary_rows_of(&db, &keys).await
        }
    });
    let stopped = |e: tokio::task::JoinError| corrupt(format!("a read stopped: {e}"));
    let summaries = summaries.await.map_err(stopped)??;
    attach(summaries, cycles.await.map_err(stopped)??)
}

/// Summary rows (without their cycles) of these SIRETs (sorted, distinct), in SIRET order.
async fn summary_rows_of(db: &Db, keys: &[&str]) -> Result<Vec<StoredSummary>, StoreError> {
    Ok(match db {
        Db::Postgres(pool) => {
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM elections_summary WHERE siret = ANY($1) ORDER BY siret"
            );
            pg_rows_of(pool, &sql, keys, |row| Ok(decode_summary!(row))).await?
        }
        Db::Sqlite { read, .. } => {
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM elections_summary \
                 WHERE siret IN (SELECT value FROM json_each(?1)) ORDER BY siret"
            );
            sqlite_rows_of(read, &sql, keys, |r| Ok(decode_summary!(r))).await?
        }
    })
}

/// Summaries in SIRET order after `after` (from the first when `None`), at most `limit`: pages
/// of the whole table, for comparisons and exports.
pub async fn summaries_after(
    db: &Db,
    after: Option<&Siret>,
    limit: u32,
) -> Result<Vec<StoredSummary>, StoreError> {
    let after = after.map_or("", Siret::as_str);
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM elections_summary WHERE siret > $1 ORDER BY siret LIMIT $2"
    );
    let mut out = Vec::new();
    match db {
        Db::Postgres(pool) => {
            for row in &sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            {
                out.push(decode_summary!(row));
            }
        }
        Db::Sqlite { read, .. } => {
            for row in &sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(read)
                .await?
            {
                out.push(decode_summary!(row));
            }
        }
    }
    with_cycles(db, out).await
}

/// Reads the cycle rows of these summaries (sorted by SIRET) and attaches them.
async fn with_cycles(
    db: &Db,
    summaries: Vec<StoredSummary>,
) -> Result<Vec<StoredSummary>, StoreError> {
    if summaries.is_empty() {
        return Ok(summaries);
    }
    let keys: Vec<&str> = summaries.iter().map(|s| s.siret.as_str()).collect();
    let cycles = cycle_rows_of(db, &keys).await?;
    attach(summaries, cycles)
}

/// The cycle rows of these SIRETs, in no order.
async fn cycle_rows_of(db: &Db, keys: &[&str]) -> Result<Vec<(String, StoredCycle)>, StoreError> {
    Ok(match db {
        Db::Postgres(pool) => {
            let sql = format!(
                "SELECT {CYCLE_COLUMNS} FROM elections_summary_cycles WHERE siret = ANY($1)"
            );
            pg_rows_of(pool, &sql, keys, |row| Ok(decode_cycle!(row))).await?
        }
        Db::Sqlite { read, .. } => {
            let sql = format!(
                "SELECT {CYCLE_COLUMNS} FROM elections_summary_cycles \
                 WHERE siret IN (SELECT value FROM json_each(?1))"
            );
            sqlite_rows_of(read, &sql, keys, |r| Ok(decode_cycle!(r))).await?
        }
    })
}

/// SQLite: the rows `sql` selects for these keys (its one parameter, as a JSON array), each
/// decoded by `decode`, read through rusqlite on a reader.
async fn sqlite_rows_of<T>(
    read: &sqlx::SqlitePool,
    sql: &str,
    keys: &[&str],
    decode: impl Fn(RawRow<'_, '_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let keys = to_json(&keys)?;
    on_sqlite_reader(read, |conn| {
        let mut statement = conn.prepare(sql)?;
        let mut rows = statement.query([keys])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(decode(RawRow(row))?);
        }
        Ok(out)
    })
    .await
}

/// Attaches cycle rows to their summaries (sorted by SIRET), oldest cycle first.
fn attach(
    mut summaries: Vec<StoredSummary>,
    mut cycles: Vec<(String, StoredCycle)>,
) -> Result<Vec<StoredSummary>, StoreError> {
    cycles.sort_unstable_by(|(a, x), (b, y)| {
        a.cmp(b)
            .then_with(|| x.cycle.number().cmp(&y.cycle.number()))
    });
    let mut cycles = cycles.into_iter().peekable();
    for s in &mut summaries {
        while let Some((siret, _)) = cycles.peek() {
            match siret.as_str().cmp(s.siret.as_str()) {
                std::cmp::Ordering::Less => {
                    return Err(corrupt(format!(
                        "summary cycle row of {siret} without its summary"
                    )));
                }
                std::cmp::Ordering::Equal => {
                    let (_, c) = cycles.next().expect("peeked");
                    s.cycles.push(c);
                }
                std::cmp::Ordering::Greater => break,
            }
        }
    }
    if let Some((siret, _)) = cycles.next() {
        return Err(corrupt(format!(
            "summary cycle row of {siret} without its summary"
        )));
    }
    Ok(summaries)
}
