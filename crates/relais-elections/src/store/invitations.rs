//! PAP invitations (`elections_invitations`), one per SIRET and invitation date: the batched
//! upsert of an import and the read of given SIRETs.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use relais_platform::imports::Written;
use relais_platform::store::{Db, DbTx, StoreError};
use sqlx::Row as _;
use uuid::Uuid;

use super::{Pages, chunks, corrupt, mark_dirty, pg_rows_of, tuple, tuples};
use crate::domain::{self as summary, Siret};
use crate::imports::Invitation;

/// Stored columns, in the order of [`Values`] (`import_id` comes after them).
const COLUMNS: &str = "siret, invitation_date, raison_sociale, enseigne, adresse, ville, \
    code_postal, source, naf, naf_label, effectifs, actif, siege";
/// Parameters of one row: the columns and `import_id`.
const WIDTH: usize = 14;

static UPDATE_SET: LazyLock<String> = LazyLock::new(|| {
    COLUMNS
        .split(',')
        .map(str::trim)
        .skip(2)
        .chain(std::iter::once("import_id"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
});

static PG_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let mut types = vec!["text", "date"];
    types.extend(["text"; 9]);
    types.extend(["bool"; 2]);
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    format!(
        "INSERT INTO elections_invitations ({COLUMNS}, import_id)
         SELECT u.*, ${WIDTH} FROM UNNEST({}) AS u
         ON CONFLICT (siret, invitation_date) DO UPDATE SET {}",
        arrays.join(", "),
        *UPDATE_SET
    )
});

/// One invitation as stored, without its import.
#[derive(Debug, Clone, PartialEq)]
struct Values {
    siret: String,
    date: NaiveDate,
    /// raison_sociale, enseigne, adresse, ville, code_postal, source, naf, naf_label, effectifs.
    texts: [Option<String>; 9],
    actif: Option<bool>,
    siege: Option<bool>,
}

macro_rules! decode_values {
    ($r:expr) => {{
        let r = $r;
        Values {
            siret: r.try_get(0)?,
            date: r.try_get(1)?,
            texts: [
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                r.try_get(6)?,
                r.try_get(7)?,
                r.try_get(8)?,
                r.try_get(9)?,
                r.try_get(10)?,
            ],
            actif: r.try_get(11)?,
            siege: r.try_get(12)?,
        }
    }};
}

impl Values {
    fn of(i: &Invitation) -> Self {
        Values {
            siret: i.siret.as_str().to_owned(),
            date: i.date,
            texts: [
                i.raison_sociale.clone(),
                i.enseigne.clone(),
                i.adresse.clone(),
                i.ville.clone(),
                i.code_postal.clone(),
                i.source.clone(),
                i.naf.clone(),
                i.naf_label.clone(),
                i.effectifs.clone(),
            ],
            actif: i.actif,
            siege: i.siege,
        }
    }

    fn key(&self) -> (&str, NaiveDate) {
        (&self.siret, self.date)
    }

    fn into_stored(self, import_id: Uuid) -> Result<StoredInvitation, StoreError> {
        let siret = Siret::parse(&self.siret)
            .map_err(|_| corrupt(format!("invitation SIRET {:?}", self.siret)))?;
        let [
            raison_sociale,
            enseigne,
            adresse,
            ville,
            code_postal,
            source,
            naf,
            naf_label,
            effectifs,
        ] = self.texts;
        Ok(StoredInvitation {
            invitation: Invitation {
                siret,
                date: self.date,
                raison_sociale,
                enseigne,
                adresse,
                ville,
                code_postal,
                source,
                naf,
                naf_label,
                effectifs,
                actif: self.actif,
                siege: self.siege,
            },
            import_id,
        })
    }
}

/// A stored invitation.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// The import that last wrote it.
    pub import_id: Uuid,
}

/// Upserts invitations by (SIRET, date) (the last of duplicates wins; earlier ones count as
/// updated); unchanged ones are not written. The SIRETs of inserted and changed invitations are
/// marked dirty (the PAP status depends on them). The import type writes its batches with it;
/// bulk loads (the benchmark) too.
pub async fn upsert_invitations(
    tx: &mut DbTx,
    invitations: Vec<Invitation>,
    import_id: Uuid,
) -> Result<Written, StoreError> {
    let total = invitations.len();
    let mut by_key: HashMap<(String, NaiveDate), Values> = HashMap::with_capacity(total);
    for i in &invitations {
        by_key.insert((i.siret.as_str().to_owned(), i.date), Values::of(i));
    }
    let mut rows: Vec<Values> = by_key.into_values().collect();
    rows.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
    let mut sirets: Vec<&str> = rows.iter().map(|v| v.siret.as_str()).collect();
    sirets.dedup();
    let existing = existing(tx, &sirets).await?;
    let mut written = Written {
        updated: (total - rows.len()) as u64,
        ..Written::default()
    };
    let mut to_write: Vec<&Values> = Vec::with_capacity(rows.len());
    let mut dirty = Vec::new();
    for v in &rows {
        match existing.get(&(v.siret.clone(), v.date)) {
            None => written.inserted += 1,
            Some(old) if old != v => written.updated += 1,
            Some(_) => {
                written.unchanged += 1;
                continue;
            }
        }
        dirty.push(v.siret.clone());
        to_write.push(v);
    }
    write(tx, &to_write, import_id).await?;
    mark_dirty(tx, dirty).await?;
    Ok(written)
}

/// Stored invitations of these SIRETs, by key.
async fn existing(
    tx: &mut DbTx,
    sirets: &[&str],
) -> Result<HashMap<(String, NaiveDate), Values>, StoreError> {
    let mut found = HashMap::new();
    if sirets.is_empty() {
        return Ok(found);
    }
    match tx {
        DbTx::Postgres(t) => {
            let sql = format!("SELECT {COLUMNS} FROM elections_invitations WHERE siret = ANY($1)");
            for row in &sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(sirets)
                .fetch_all(&mut **t)
                .await?
            {
                let v = decode_values!(row);
                found.insert((v.siret.clone(), v.date), v);
            }
        }
        DbTx::Sqlite(t) => {
            for chunk in chunks(sirets) {
                let sql = format!(
                    "SELECT {COLUMNS} FROM elections_invitations WHERE siret IN {}",
                    tuple(chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in chunk {
                    query = query.bind(*s);
                }
                for row in &query.fetch_all(&mut **t).await? {
                    let v = decode_values!(row);
                    found.insert((v.siret.clone(), v.date), v);
                }
            }
        }
    }
    Ok(found)
}

async fn write(tx: &mut DbTx, rows: &[&Values], import_id: Uuid) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    match tx {
        DbTx::Postgres(t) => {
            let mut query = sqlx::query(PG_UPSERT.as_str())
                .bind(rows.iter().map(|v| v.siret.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|v| v.date).collect::<Vec<_>>());
            for i in 0..9 {
                query = query.bind(
                    rows.iter()
                        .map(|v| v.texts[i].as_deref())
                        .collect::<Vec<_>>(),
                );
            }
            query
                .bind(rows.iter().map(|v| v.actif).collect::<Vec<_>>())
                .bind(rows.iter().map(|v| v.siege).collect::<Vec<_>>())
                .bind(import_id)
                .execute(&mut **t)
                .await?;
        }
        DbTx::Sqlite(t) => {
            for chunk in chunks(rows) {
                let sql = format!(
                    "INSERT INTO elections_invitations ({COLUMNS}, import_id) VALUES {}
                     ON CONFLICT (siret, invitation_date) DO UPDATE SET {}",
                    tuples(chunk.len(), WIDTH),
                    *UPDATE_SET
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in chunk {
                    query = query.bind(&v.siret).bind(v.date);
                    for s in &v.texts {
                        query = query.bind(s);
                    }
                    query = query.bind(v.actif).bind(v.siege).bind(import_id);
                }
                query.execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// The stored invitations of these SIRETs, by SIRET and date.
pub async fn invitations_of(
    db: &Db,
    sirets: &[Siret],
) -> Result<Vec<StoredInvitation>, StoreError> {
    let mut sirets: Vec<&str> = sirets.iter().map(Siret::as_str).collect();
    sirets.sort_unstable();
    sirets.dedup();
    let mut out = Vec::new();
    match db {
        Db::Postgres(pool) => {
            let sql = format!(
                "SELECT {COLUMNS}, import_id FROM elections_invitations WHERE siret = ANY($1)
                 ORDER BY siret, invitation_date"
            );
            for row in &sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&sirets)
                .fetch_all(pool)
                .await?
            {
                out.push(decode_values!(row).into_stored(row.try_get(13)?)?);
            }
        }
        Db::Sqlite { read, .. } => {
            for chunk in chunks(&sirets) {
                let sql = format!(
                    "SELECT {COLUMNS}, import_id FROM elections_invitations WHERE siret IN {}
                     ORDER BY siret, invitation_date",
                    tuple(chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in chunk {
                    query = query.bind(*s);
                }
                for row in &query.fetch_all(read).await? {
                    out.push(decode_values!(row).into_stored(row.try_get(13)?)?);
                }
            }
        }
    }
    Ok(out)
}

/// What the summary reads of an invitation.
const SUMMARY_INPUT: &str = "siret, invitation_date, raison_sociale, ville, code_postal";

/// SQLite: the invitations of the inner query as one JSON array of [`JsonInvitation`]s, by
/// SIRET and date (one value for the driver instead of five per invitation).
const JSON_INVITATIONS: &str = "SELECT json_group_array(json_array(siret, invitation_date, \
    raison_sociale, ville, code_postal) ORDER BY siret, invitation_date)";

/// One invitation of [`JSON_INVITATIONS`].
#[derive(serde::Deserialize)]
struct JsonInvitation(
    String,
    NaiveDate,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn json_invitations(text: &str) -> Result<Vec<(Siret, summary::Invitation)>, StoreError> {
    let rows: Vec<JsonInvitation> = serde_json::from_str(text)
        .map_err(|e| corrupt(format!("invitations read as JSON: {e}")))?;
    rows.into_iter()
        .map(|JsonInvitation(siret, date, raison_sociale, ville, cp)| {
            let siret =
                Siret::parse(&siret).map_err(|_| corrupt(format!("invitation SIRET {siret:?}")))?;
            Ok((
                siret,
                summary::Invitation {
                    date,
                    raison_sociale,
                    ville,
                    cp,
                },
            ))
        })
        .collect()
}

/// Decodes [`SUMMARY_INPUT`] (PostgreSQL).
macro_rules! decode_input {
    ($r:expr) => {{
        let r = $r;
        let siret: String = r.try_get(0)?;
        let siret =
            Siret::parse(&siret).map_err(|_| corrupt(format!("invitation SIRET {siret:?}")))?;
        let invitation = summary::Invitation {
            date: r.try_get(1)?,
            raison_sociale: r.try_get(2)?,
            ville: r.try_get(3)?,
            cp: r.try_get(4)?,
        };
        (siret, invitation)
    }};
}

/// Invitations of complete SIRETs after `after`, by SIRET and date, about `limit` of them: a
/// page of the summary build's pass over the table. Empty at the end.
pub async fn invitation_page(
    db: &Db,
    after: &str,
    limit: usize,
) -> Result<Vec<(Siret, summary::Invitation)>, StoreError> {
    let mut out = Vec::with_capacity(limit);
    match db {
        Db::Postgres(pool) => {
            let sql = format!(
                "SELECT {SUMMARY_INPUT} FROM elections_invitations WHERE siret > $1
                 ORDER BY siret, invitation_date LIMIT $2"
            );
            for row in &sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
            {
                out.push(decode_input!(row));
            }
        }
        Db::Sqlite { read, .. } => {
            static SQL: LazyLock<String> = LazyLock::new(|| {
                format!(
                    "{JSON_INVITATIONS} FROM (SELECT * FROM elections_invitations WHERE siret > ?1
                     ORDER BY siret, invitation_date LIMIT ?2)"
                )
            });
            let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(SQL.as_str()))
                .bind(after)
                .bind(limit as i64)
                .fetch_one(read)
                .await?;
            out = json_invitations(&text)?;
        }
    }
    match super::complete_sirets(&mut out, limit, |(s, _)| s.as_str()) {
        Some(only) => invitation_inputs_of(db, &[only.as_str()]).await,
        None => Ok(out),
    }
}

/// The invitations of these SIRETs, by SIRET and date: what the summary reads.
pub async fn invitation_inputs_of(
    db: &Db,
    sirets: &[&str],
) -> Result<Vec<(Siret, summary::Invitation)>, StoreError> {
    let mut sirets = sirets.to_vec();
    sirets.sort_unstable();
    sirets.dedup();
    let mut out = Vec::new();
    match db {
        Db::Postgres(pool) => {
            let sql = format!(
                "SELECT {SUMMARY_INPUT} FROM elections_invitations WHERE siret = ANY($1)
                 ORDER BY siret, invitation_date"
            );
            out = pg_rows_of(pool, &sql, &sirets, |row| Ok(decode_input!(row))).await?;
        }
        Db::Sqlite { read, .. } => {
            if sirets.is_empty() {
                return Ok(out);
            }
            static SQL: LazyLock<String> = LazyLock::new(|| {
                format!(
                    "{JSON_INVITATIONS} FROM elections_invitations
                     WHERE siret IN (SELECT value FROM json_each(?1))"
                )
            });
            let keys = serde_json::to_string(&sirets).map_err(|e| corrupt(e.to_string()))?;
            let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(SQL.as_str()))
                .bind(keys)
                .fetch_one(read)
                .await?;
            out = json_invitations(&text)?;
        }
    }
    Ok(out)
}

/// Every invitation by SIRET and date, in pages of complete SIRETs of about `page_rows`
/// invitations (keyset pages on both backends: invitations are few beside PV rows).
pub fn invitation_pages(db: &Db, page_rows: usize) -> Pages<(Siret, summary::Invitation)> {
    let page_rows = page_rows.max(1);
    let db = db.clone();
    Pages::keyset(
        move |after| {
            let db = db.clone();
            async move { invitation_page(&db, &after, page_rows).await }
        },
        |(s, _): &(Siret, summary::Invitation)| s.as_str(),
    )
}
