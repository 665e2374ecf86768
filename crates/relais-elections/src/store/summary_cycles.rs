//! The summary's cycle rows (`elections_summary_cycles`, one per SIRET and cycle with a PV):
//! inserts and upserts (on SQLite one prepared statement stepped per row; on PostgreSQL a
//! statement of arrays, or binary `COPY` into a full build's fresh table) and deletions.

use std::sync::LazyLock;

use relais_platform::store::pg_copy::{CopyRows, copy_in};
use relais_platform::store::{DbTx, StoreError, with_sqlite_handle};

use super::summary::{CYCLE_COLUMNS, CYCLE_WIDTH, StoredCycle, Tables, count};
use super::{to_json, tuple};
use crate::domain::{ElectionSummary, UNIONS};

/// PostgreSQL: a batch of cycle rows inserted as arrays (the fresh tables: `COPY`).
static PG_CYCLE_INSERT: LazyLock<String> = LazyLock::new(|| {
    let mut types = vec![
        "text", "text", "date", "bool", "int4", "int4", "int8", "int8", "int4",
    ];
    types.extend(["int8"; 9]);
    types.extend(["bool"; 2]);
    types.extend(["int4"; 12]);
    types.push("bool");
    assert_eq!(types.len(), CYCLE_WIDTH);
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    format!(
        "INSERT INTO {} ({CYCLE_COLUMNS}) SELECT * FROM UNNEST({})",
        Tables::Live.cycles(),
        arrays.join(", ")
    )
});

/// `ON CONFLICT` of cycle rows written over stored ones.
static CYCLE_CONFLICT: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = CYCLE_COLUMNS
        .split(',')
        .map(str::trim)
        .skip(2)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "ON CONFLICT (siret, cycle) DO UPDATE SET {}",
        set.join(", ")
    )
});

/// Inserts cycle rows (`upsert`: or overwrites them).
pub(super) async fn insert_cycle_rows(
    tx: &mut DbTx,
    cycles: &[(&str, &StoredCycle)],
    upsert: bool,
    tables: Tables,
) -> Result<(), StoreError> {
    if cycles.is_empty() {
        return Ok(());
    }
    let conflict = if upsert { CYCLE_CONFLICT.as_str() } else { "" };
    match tx {
        DbTx::Postgres(t) if tables == Tables::Next => {
            let mut rows = CopyRows::new();
            for (siret, c) in cycles {
                copy_cycle(&mut rows, siret, c);
            }
            copy_in(t, tables.cycles(), CYCLE_COLUMNS, rows).await?;
        }
        DbTx::Postgres(t) => pg_insert_cycles(t, cycles, conflict).await?,
        DbTx::Sqlite(t) => {
            let sql = format!(
                "INSERT INTO {} ({CYCLE_COLUMNS}) VALUES {} {conflict}",
                tables.cycles(),
                tuple(CYCLE_WIDTH)
            );
            with_sqlite_handle(t, |c| {
                let mut insert = c.prepare(&sql)?;
                for (siret, c) in cycles {
                    bind_cycle(&mut insert, siret, c)?;
                    insert.raw_execute()?;
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}

/// Binds a cycle row to an insert of [`CYCLE_COLUMNS`] (SQLite).
fn bind_cycle(
    insert: &mut rusqlite::Statement<'_>,
    siret: &str,
    c: &StoredCycle,
) -> Result<(), rusqlite::Error> {
    let e = &c.election;
    let seats = &e.seats;
    let mut at = 0;
    let mut bind = |value: &dyn rusqlite::ToSql| {
        at += 1;
        insert.raw_bind_parameter(at, value)
    };
    bind(&siret)?;
    bind(&c.cycle.as_str())?;
    bind(&e.date)?;
    bind(&e.carence)?;
    bind(&count(e.rows))?;
    bind(&count(e.carence_rows))?;
    bind(&e.inscrits)?;
    bind(&e.votants)?;
    bind(&count(e.votants_missing))?;
    bind(&e.sve.units())?;
    for u in UNIONS {
        bind(&e.voix[u].units())?;
    }
    bind(&e.cgt_presente)?;
    bind(&e.cgt_representative)?;
    for u in UNIONS {
        bind(&count(seats.by_union[u]))?;
    }
    bind(&count(seats.to_fill))?;
    bind(&count(seats.vacant))?;
    bind(&count(seats.unresolved_ties))?;
    bind(&count(seats.unresolved_seats))?;
    bind(&seats.estimated)?;
    debug_assert_eq!(at, CYCLE_WIDTH);
    Ok(())
}

/// Appends a cycle row of [`CYCLE_COLUMNS`] to a `COPY` (PostgreSQL).
fn copy_cycle(rows: &mut CopyRows, siret: &str, c: &StoredCycle) {
    let e = &c.election;
    let seats = &e.seats;
    rows.row(CYCLE_WIDTH as u16)
        .field(siret)
        .field(c.cycle.as_str())
        .field(e.date)
        .field(e.carence)
        .field(count(e.rows))
        .field(count(e.carence_rows))
        .field(e.inscrits)
        .field(e.votants)
        .field(count(e.votants_missing))
        .field(e.sve.units());
    for u in UNIONS {
        rows.field(e.voix[u].units());
    }
    rows.field(e.cgt_presente).field(e.cgt_representative);
    for u in UNIONS {
        rows.field(count(seats.by_union[u]));
    }
    rows.field(count(seats.to_fill))
        .field(count(seats.vacant))
        .field(count(seats.unresolved_ties))
        .field(count(seats.unresolved_seats))
        .field(seats.estimated);
}

/// Inserts (or, with `conflict`, upserts) cycle rows into the live table (PostgreSQL).
async fn pg_insert_cycles(
    t: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    cycles: &[(&str, &StoredCycle)],
    conflict: &str,
) -> Result<(), StoreError> {
    let ints = |f: fn(&ElectionSummary) -> u32| -> Vec<i32> {
        cycles.iter().map(|(_, c)| count(f(&c.election))).collect()
    };
    let flags = |f: fn(&ElectionSummary) -> bool| -> Vec<bool> {
        cycles.iter().map(|(_, c)| f(&c.election)).collect()
    };
    let sql = format!("{} {conflict}", *PG_CYCLE_INSERT);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(cycles.iter().map(|(s, _)| *s).collect::<Vec<_>>())
        .bind(
            cycles
                .iter()
                .map(|(_, c)| c.cycle.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            cycles
                .iter()
                .map(|(_, c)| c.election.date)
                .collect::<Vec<_>>(),
        )
        .bind(flags(|e| e.carence))
        .bind(ints(|e| e.rows))
        .bind(ints(|e| e.carence_rows))
        .bind(
            cycles
                .iter()
                .map(|(_, c)| c.election.inscrits)
                .collect::<Vec<_>>(),
        )
        .bind(
            cycles
                .iter()
                .map(|(_, c)| c.election.votants)
                .collect::<Vec<_>>(),
        )
        .bind(ints(|e| e.votants_missing))
        .bind(
            cycles
                .iter()
                .map(|(_, c)| c.election.sve.units())
                .collect::<Vec<_>>(),
        );
    for u in UNIONS {
        query = query.bind(
            cycles
                .iter()
                .map(|(_, c)| c.election.voix[u].units())
                .collect::<Vec<_>>(),
        );
    }
    query = query
        .bind(flags(|e| e.cgt_presente))
        .bind(flags(|e| e.cgt_representative));
    for u in UNIONS {
        query = query.bind(
            cycles
                .iter()
                .map(|(_, c)| count(c.election.seats.by_union[u]))
                .collect::<Vec<_>>(),
        );
    }
    query
        .bind(ints(|e| e.seats.to_fill))
        .bind(ints(|e| e.seats.vacant))
        .bind(ints(|e| e.seats.unresolved_ties))
        .bind(ints(|e| e.seats.unresolved_seats))
        .bind(flags(|e| e.seats.estimated))
        .execute(&mut **t)
        .await?;
    Ok(())
}

/// Deletes these cycle rows (SIRET, cycle).
pub(super) async fn delete_cycle_rows(
    tx: &mut DbTx,
    rows: &[(&str, &str)],
) -> Result<(), StoreError> {
    match tx {
        DbTx::Postgres(t) => {
            let sirets: Vec<&str> = rows.iter().map(|(s, _)| *s).collect();
            let cycles: Vec<&str> = rows.iter().map(|(_, c)| *c).collect();
            sqlx::query(
                "DELETE FROM elections_summary_cycles WHERE (siret, cycle) IN
                 (SELECT * FROM UNNEST($1::text[], $2::text[]))",
            )
            .bind(sirets)
            .bind(cycles)
            .execute(&mut **t)
            .await?;
        }
        DbTx::Sqlite(t) => {
            sqlx::query(
                "DELETE FROM elections_summary_cycles WHERE (siret, cycle) IN
                 (SELECT value->>0, value->>1 FROM json_each(?1))",
            )
            .bind(to_json(&rows)?)
            .execute(&mut **t)
            .await?;
        }
    }
    Ok(())
}

/// Deletes the cycle rows of these SIRETs.
pub(super) async fn delete_cycles(tx: &mut DbTx, sirets: &[&str]) -> Result<(), StoreError> {
    match tx {
        DbTx::Postgres(t) => {
            sqlx::query("DELETE FROM elections_summary_cycles WHERE siret = ANY($1)")
                .bind(sirets)
                .execute(&mut **t)
                .await?;
        }
        DbTx::Sqlite(t) => {
            sqlx::query(
                "DELETE FROM elections_summary_cycles
                 WHERE siret IN (SELECT value FROM json_each(?1))",
            )
            .bind(to_json(&sirets)?)
            .execute(&mut **t)
            .await?;
        }
    }
    Ok(())
}
