//! PV rows (`elections_pv`): the batched upsert of an import (inserted, updated and unchanged
//! rows counted exactly), the deletion of a cycle's rows another import wrote (mode `replace`),
//! and the reads (rows of given SIRETs, every row in SIRET order, totals).

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use relais_platform::imports::Written;
use relais_platform::store::{Db, DbTx, StoreError};
use sqlx::Row as _;
use uuid::Uuid;

use super::{chunks, corrupt, mark_dirty, next_dirty_seq, on_tx, tuple, tuples};
use crate::domain::{College, Cycle, PvKind, PvRow, Siret, UNIONS, Votes};
use crate::imports::PvLine;

/// Stored columns, in the order of [`Values`] (`import_id` comes after them).
const COLUMNS: &str = "row_key, pv_number, siret, kind, election_date, cycle, college, \
    inscrits, votants, sve, cgt, cfdt, fo, cftc, cgc, unsa, solidaires, autre, seats_to_fill, \
    seats_cgt, seats_cfdt, seats_fo, seats_cftc, seats_cgc, seats_unsa, seats_solidaires, \
    seats_autre, raison_sociale, ville, cp, departement, region, idcc, idcc_label, source_file";
/// Parameters of one row: the columns and `import_id`.
const WIDTH: usize = 36;
/// Every row in SIRET order (then date, undated last; collège; key), on both backends.
pub(super) const ORDER: &str = "ORDER BY siret, election_date NULLS LAST, college, row_key";

/// `col = excluded.col` for every column but the key, and the import.
static UPDATE_SET: LazyLock<String> = LazyLock::new(|| {
    COLUMNS
        .split(',')
        .map(str::trim)
        .skip(1)
        .chain(std::iter::once("import_id"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
});

/// The PostgreSQL upsert of a whole batch: one array per column.
static PG_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let mut types = vec!["text"; 4];
    types.extend(["date", "text", "text"]);
    types.extend(["int8"; 11]);
    types.extend(["int4"; 9]);
    types.extend(["text"; 8]);
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    format!(
        "INSERT INTO elections_pv ({COLUMNS}, import_id)
         SELECT u.*, ${WIDTH} FROM UNNEST({}) AS u
         ON CONFLICT (row_key) DO UPDATE SET {}",
        arrays.join(", "),
        *UPDATE_SET
    )
});

/// One row as stored, without its import: what "unchanged" compares.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Values {
    pub(super) key: String,
    pub(super) pv_number: Option<String>,
    pub(super) siret: String,
    pub(super) kind: String,
    pub(super) date: Option<NaiveDate>,
    pub(super) cycle: String,
    pub(super) college: String,
    pub(super) inscrits: i64,
    pub(super) votants: Option<i64>,
    pub(super) sve: i64,
    pub(super) votes: [i64; 8],
    pub(super) seats_to_fill: Option<i32>,
    pub(super) seats: [Option<i32>; 8],
    /// raison_sociale, ville, cp, departement, region, idcc, idcc_label, source_file.
    pub(super) identity: [Option<String>; 8],
}

/// Decodes [`Values`] from a row whose first columns are [`COLUMNS`] (either backend).
macro_rules! decode_values {
    ($r:expr) => {{
        let r = $r;
        Values {
            key: r.try_get(0)?,
            pv_number: r.try_get(1)?,
            siret: r.try_get(2)?,
            kind: r.try_get(3)?,
            date: r.try_get(4)?,
            cycle: r.try_get(5)?,
            college: r.try_get(6)?,
            inscrits: r.try_get(7)?,
            votants: r.try_get(8)?,
            sve: r.try_get(9)?,
            votes: [
                r.try_get(10)?,
                r.try_get(11)?,
                r.try_get(12)?,
                r.try_get(13)?,
                r.try_get(14)?,
                r.try_get(15)?,
                r.try_get(16)?,
                r.try_get(17)?,
            ],
            seats_to_fill: r.try_get(18)?,
            seats: [
                r.try_get(19)?,
                r.try_get(20)?,
                r.try_get(21)?,
                r.try_get(22)?,
                r.try_get(23)?,
                r.try_get(24)?,
                r.try_get(25)?,
                r.try_get(26)?,
            ],
            identity: [
                r.try_get(27)?,
                r.try_get(28)?,
                r.try_get(29)?,
                r.try_get(30)?,
                r.try_get(31)?,
                r.try_get(32)?,
                r.try_get(33)?,
                r.try_get(34)?,
            ],
        }
    }};
}

pub(super) use decode_values;

impl Values {
    fn of(line: &PvLine) -> Self {
        let r = &line.row;
        let seat = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        Values {
            key: line.key.clone(),
            pv_number: r.pv_number.clone(),
            siret: r.siret.as_str().to_owned(),
            kind: kind_name(r.kind).to_owned(),
            date: r.date,
            cycle: r.cycle.as_str().to_owned(),
            college: r
                .college
                .as_ref()
                .map_or_else(String::new, |c| c.as_str().to_owned()),
            inscrits: r.inscrits,
            votants: r.votants,
            sve: r.sve.units(),
            votes: r.votes.map(Votes::units),
            seats_to_fill: r.seats_to_fill.map(seat),
            seats: match r.seats {
                Some(s) => s.map(|n| Some(seat(n))),
                None => [None; 8],
            },
            identity: [
                r.raison_sociale.clone(),
                r.ville.clone(),
                r.cp.clone(),
                r.departement.clone(),
                line.region.clone(),
                r.idcc.clone(),
                r.idcc_label.clone(),
                line.source_file.clone(),
            ],
        }
    }

    pub(super) fn into_stored(self, import_id: Uuid) -> Result<StoredPv, StoreError> {
        let bad = |what: &str, value: &str| {
            corrupt(format!(
                "PV row {} of {}: {what} {value:?}",
                self.key, self.siret
            ))
        };
        let siret = Siret::parse(&self.siret).map_err(|_| bad("SIRET", &self.siret))?;
        let kind = match self.kind.as_str() {
            "cse" => PvKind::Cse,
            "carence" => PvKind::Carence,
            other => return Err(bad("kind", other)),
        };
        let cycle = Cycle::parse(&self.cycle).map_err(|_| bad("cycle", &self.cycle))?;
        let count = |n: Option<i32>| n.map(|n| u32::try_from(n).unwrap_or(0));
        let seats = if self.seats.iter().all(Option::is_none) {
            None
        } else {
            Some(self.seats.map(|n| count(n).unwrap_or(0)))
        };
        let [
            raison_sociale,
            ville,
            cp,
            departement,
            region,
            idcc,
            idcc_label,
            source_file,
        ] = self.identity;
        Ok(StoredPv {
            key: self.key,
            row: PvRow {
                pv_number: self.pv_number,
                siret,
                kind,
                date: self.date,
                cycle,
                college: College::parse(&self.college),
                inscrits: self.inscrits,
                votants: self.votants,
                sve: Votes::from_units(self.sve),
                votes: self.votes.map(Votes::from_units),
                seats_to_fill: count(self.seats_to_fill),
                seats,
                raison_sociale,
                ville,
                cp,
                departement,
                idcc,
                idcc_label,
            },
            region,
            source_file,
            import_id,
        })
    }
}

fn kind_name(kind: PvKind) -> &'static str {
    match kind {
        PvKind::Cse => "cse",
        PvKind::Carence => "carence",
    }
}

/// A stored PV row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPv {
    /// Its natural key (`pv:<number>:<collège>` or `s:<siret>:<date or cycle>:<collège>:<kind>:<n>`).
    pub key: String,
    /// The row.
    pub row: PvRow,
    /// Région, when the file gave it.
    pub region: Option<String>,
    /// The file the row came from, when the file said (normalised files have `source_file`).
    pub source_file: Option<String>,
    /// The import that last wrote it.
    pub import_id: Uuid,
}

/// Counts over every stored PV row (for statistics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PvTotals {
    /// PV rows.
    pub rows: u64,
    /// Distinct SIRETs.
    pub sirets: u64,
    /// CGT votes, summed exactly.
    pub cgt: Votes,
    /// SVE, summed exactly.
    pub sve: Votes,
    /// Rows where the CGT has votes.
    pub rows_with_cgt: u64,
}

/// Upserts `lines` by key (the last of duplicate keys wins; earlier ones count as updated).
/// Rows equal to the stored ones are not written, unless `touch_unchanged` (then only their
/// import becomes `import_id`, which `replace` relies on). The SIRETs of inserted and changed
/// rows (also the former SIRET of a row whose SIRET changed) are marked dirty. The import type
/// writes its batches with it; bulk loads (the benchmark) too.
pub async fn upsert_pv(
    tx: &mut DbTx,
    lines: Vec<PvLine>,
    import_id: Uuid,
    touch_unchanged: bool,
) -> Result<Written, StoreError> {
    let total = lines.len();
    let mut by_key: HashMap<String, Values> = HashMap::with_capacity(total);
    for line in &lines {
        by_key.insert(line.key.clone(), Values::of(line));
    }
    let mut rows: Vec<Values> = by_key.into_values().collect();
    // One lock order for concurrent imports on PostgreSQL.
    rows.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = rows.iter().map(|v| v.key.as_str()).collect();
    let existing = existing(tx, &keys).await?;
    let mut written = Written {
        updated: (total - rows.len()) as u64,
        ..Written::default()
    };
    let mut to_write: Vec<&Values> = Vec::with_capacity(rows.len());
    let mut unchanged: Vec<&str> = Vec::new();
    let mut dirty: Vec<String> = Vec::new();
    for v in &rows {
        match existing.get(&v.key) {
            None => {
                written.inserted += 1;
                dirty.push(v.siret.clone());
                to_write.push(v);
            }
            Some(old) if old != v => {
                written.updated += 1;
                dirty.push(v.siret.clone());
                if old.siret != v.siret {
                    dirty.push(old.siret.clone());
                }
                to_write.push(v);
            }
            Some(_) => {
                written.unchanged += 1;
                unchanged.push(&v.key);
            }
        }
    }
    write(tx, &to_write, import_id).await?;
    if touch_unchanged {
        retag(tx, &unchanged, import_id).await?;
    }
    mark_dirty(tx, dirty).await?;
    Ok(written)
}

/// The stored values of these keys.
async fn existing(tx: &mut DbTx, keys: &[&str]) -> Result<HashMap<String, Values>, StoreError> {
    let mut found = HashMap::with_capacity(keys.len());
    if keys.is_empty() {
        return Ok(found);
    }
    match tx {
        DbTx::Postgres(t) => {
            let sql = format!("SELECT {COLUMNS} FROM elections_pv WHERE row_key = ANY($1)");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(keys)
                .fetch_all(&mut **t)
                .await?;
            for row in &rows {
                let v = decode_values!(row);
                found.insert(v.key.clone(), v);
            }
        }
        DbTx::Sqlite(t) => {
            for chunk in chunks(keys) {
                let sql = format!(
                    "SELECT {COLUMNS} FROM elections_pv WHERE row_key IN {}",
                    tuple(chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for k in chunk {
                    query = query.bind(*k);
                }
                for row in &query.fetch_all(&mut **t).await? {
                    let v = decode_values!(row);
                    found.insert(v.key.clone(), v);
                }
            }
        }
    }
    Ok(found)
}

/// Inserts or overwrites these rows.
async fn write(tx: &mut DbTx, rows: &[&Values], import_id: Uuid) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    match tx {
        DbTx::Postgres(t) => {
            let column =
                |f: fn(&Values) -> &str| -> Vec<&str> { rows.iter().map(|v| f(v)).collect() };
            let mut query = sqlx::query(PG_UPSERT.as_str())
                .bind(column(|v| &v.key))
                .bind(
                    rows.iter()
                        .map(|v| v.pv_number.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(column(|v| &v.siret))
                .bind(column(|v| &v.kind))
                .bind(rows.iter().map(|v| v.date).collect::<Vec<_>>())
                .bind(column(|v| &v.cycle))
                .bind(column(|v| &v.college))
                .bind(rows.iter().map(|v| v.inscrits).collect::<Vec<_>>())
                .bind(rows.iter().map(|v| v.votants).collect::<Vec<_>>())
                .bind(rows.iter().map(|v| v.sve).collect::<Vec<_>>());
            for u in 0..UNIONS.len() {
                query = query.bind(rows.iter().map(|v| v.votes[u]).collect::<Vec<_>>());
            }
            query = query.bind(rows.iter().map(|v| v.seats_to_fill).collect::<Vec<_>>());
            for u in 0..UNIONS.len() {
                query = query.bind(rows.iter().map(|v| v.seats[u]).collect::<Vec<_>>());
            }
            for i in 0..8 {
                query = query.bind(
                    rows.iter()
                        .map(|v| v.identity[i].as_deref())
                        .collect::<Vec<_>>(),
                );
            }
            query.bind(import_id).execute(&mut **t).await?;
        }
        DbTx::Sqlite(t) => {
            for chunk in chunks(rows) {
                let sql = format!(
                    "INSERT INTO elections_pv ({COLUMNS}, import_id) VALUES {}
                     ON CONFLICT (row_key) DO UPDATE SET {}",
                    tuples(chunk.len(), WIDTH),
                    *UPDATE_SET
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in chunk {
                    query = query
                        .bind(&v.key)
                        .bind(&v.pv_number)
                        .bind(&v.siret)
                        .bind(&v.kind)
                        .bind(v.date)
                        .bind(&v.cycle)
                        .bind(&v.college)
                        .bind(v.inscrits)
                        .bind(v.votants)
                        .bind(v.sve);
                    for n in v.votes {
                        query = query.bind(n);
                    }
                    query = query.bind(v.seats_to_fill);
                    for n in v.seats {
                        query = query.bind(n);
                    }
                    for s in &v.identity {
                        query = query.bind(s);
                    }
                    query = query.bind(import_id);
                }
                query.execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// Marks unchanged rows as written by `import_id`.
async fn retag(tx: &mut DbTx, keys: &[&str], import_id: Uuid) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    match tx {
        DbTx::Postgres(t) => {
            sqlx::query("UPDATE elections_pv SET import_id = $1 WHERE row_key = ANY($2)")
                .bind(import_id)
                .bind(keys)
                .execute(&mut **t)
                .await?;
        }
        DbTx::Sqlite(t) => {
            for chunk in chunks(keys) {
                let sql = format!(
                    "UPDATE elections_pv SET import_id = ? WHERE row_key IN {}",
                    tuple(chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(import_id);
                for k in chunk {
                    query = query.bind(*k);
                }
                query.execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// Deletes the rows of `cycle` that import `import_id` did not write, marking their SIRETs
/// dirty; returns how many. Deletes nothing when the import wrote no row of the cycle (a
/// replacement without a single PV of its cycle is a mistake, not an empty cycle).
pub(crate) async fn delete_cycle_except(
    tx: &mut DbTx,
    cycle: &Cycle,
    import_id: Uuid,
) -> Result<u64, StoreError> {
    let wrote = on_tx!(tx, |conn| {
        sqlx::query("SELECT 1 FROM elections_pv WHERE cycle = $1 AND import_id = $2 LIMIT 1")
            .bind(cycle.as_str())
            .bind(import_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some()
    });
    if !wrote {
        return Ok(0);
    }
    let seq = next_dirty_seq(tx).await?;
    let deleted = on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO elections_dirty (siret, seq)
             SELECT DISTINCT siret, $3 FROM elections_pv WHERE cycle = $1 AND import_id <> $2
             ON CONFLICT (siret) DO UPDATE SET seq = excluded.seq",
        )
        .bind(cycle.as_str())
        .bind(import_id)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM elections_pv WHERE cycle = $1 AND import_id <> $2")
            .bind(cycle.as_str())
            .bind(import_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(deleted)
}

/// The stored rows of these SIRETs, in SIRET order (then date, collège, key).
pub async fn pv_rows_of(db: &Db, sirets: &[Siret]) -> Result<Vec<StoredPv>, StoreError> {
    let mut sirets: Vec<&str> = sirets.iter().map(Siret::as_str).collect();
    sirets.sort_unstable();
    sirets.dedup();
    let mut out = Vec::new();
    match db {
        Db::Postgres(pool) => {
            let sql = format!(
                "SELECT {COLUMNS}, import_id FROM elections_pv WHERE siret = ANY($1) {ORDER}"
            );
            for row in &sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&sirets)
                .fetch_all(pool)
                .await?
            {
                out.push(decode_values!(row).into_stored(row.try_get(35)?)?);
            }
        }
        Db::Sqlite { read, .. } => {
            // Sorted SIRETs in consecutive chunks keep the order across chunks.
            for chunk in chunks(&sirets) {
                let sql = format!(
                    "SELECT {COLUMNS}, import_id FROM elections_pv WHERE siret IN {} {ORDER}",
                    tuple(chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in chunk {
                    query = query.bind(*s);
                }
                for row in &query.fetch_all(read).await? {
                    out.push(decode_values!(row).into_stored(row.try_get(35)?)?);
                }
            }
        }
    }
    Ok(out)
}

/// Every stored row in SIRET order (then date, undated last; collège; key), streamed: memory
/// stays flat whatever the table size.
pub fn stream_pv(db: &Db) -> BoxStream<'_, Result<StoredPv, StoreError>> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {COLUMNS}, import_id FROM elections_pv {ORDER}"));
    match db {
        Db::Sqlite { read, .. } => sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
            .fetch(read)
            .map(|row| {
                let row = row?;
                decode_values!(&row).into_stored(row.try_get(35)?)
            })
            .boxed(),
        Db::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
            .fetch(pool)
            .map(|row| {
                let row = row?;
                decode_values!(&row).into_stored(row.try_get(35)?)
            })
            .boxed(),
    }
}

/// Row count, distinct SIRETs, CGT and SVE sums, rows with CGT votes.
pub async fn totals(db: &Db) -> Result<PvTotals, StoreError> {
    const SQL: &str = "SELECT COUNT(*), COUNT(DISTINCT siret),
        CAST(COALESCE(SUM(cgt), 0) AS BIGINT), CAST(COALESCE(SUM(sve), 0) AS BIGINT),
        COUNT(CASE WHEN cgt > 0 THEN 1 END)
        FROM elections_pv";
    let (rows, sirets, cgt, sve, with_cgt): (i64, i64, i64, i64, i64) = match db {
        Db::Sqlite { read, .. } => sqlx::query_as(SQL).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
    };
    Ok(PvTotals {
        rows: rows as u64,
        sirets: sirets as u64,
        cgt: Votes::from_units(cgt),
        sve: Votes::from_units(sve),
        rows_with_cgt: with_cgt as u64,
    })
}
