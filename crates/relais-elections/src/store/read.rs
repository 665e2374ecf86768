//! Reads of the summary for the API: a filtered and sorted page (keyset pagination on the sort
//! key then the SIRET, so pages stay stable under equal keys), the count of a filter, and
//! streamed passes over the filtered summaries (their cycles, invitations and PV rows) that the
//! statistics aggregate in Rust: a plain loop over streamed rows beats SQL `GROUP BY` on SQLite
//! by orders of magnitude, and memory stays flat.

use chrono::NaiveDate;
use futures_util::TryStreamExt;
use relais_platform::store::{Db, StoreError};
use sqlx::Row as _;

use super::summary::StoredSummary;
use super::{corrupt, summaries_of};
use crate::domain::{ByUnion, Cycle, PapStatus, Siret, UNIONS, Votes, search_text};

/// Which summaries a read takes; an empty list or `None` does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryFilter {
    /// Name words or SIRET prefix.
    pub search: Option<Search>,
    /// `statut_pap` is one of these.
    pub statut_pap: Vec<PapStatus>,
    /// `cgt_implantee` is this.
    pub cgt_implantee: Option<bool>,
    /// CGT representativeness at the reference cycle's election (see [`SummaryFilter::cycle`]);
    /// SIRETs without an election in that cycle match neither value.
    pub cgt_representative: Option<bool>,
    /// The département is one of these (as stored: `08`, `2A`, `971`).
    pub departements: Vec<String>,
    /// The IDCC is one of these (four digits).
    pub idcc: Vec<String>,
    /// The reference cycle: only SIRETs with a PV in it, and the cycle whose election the
    /// per-cycle filters and sort keys read. `None`: each SIRET's latest cycle with a PV.
    pub cycle: Option<Cycle>,
}

/// A text search: every word is the prefix of a word of the name (accents and case ignored),
/// or, for digits only, the SIRET starts with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    words: Vec<String>,
    siret_prefix: Option<String>,
}

impl Search {
    /// The search for `q`; `None` when `q` has no letter or digit.
    pub fn new(q: &str) -> Option<Search> {
        let text = search_text(q);
        if text.is_empty() {
            return None;
        }
        let digits: String = q.chars().filter(|c| !c.is_whitespace()).collect();
        let siret_prefix =
            (digits.len() <= 14 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits);
        Some(Search {
            words: text.split(' ').map(str::to_owned).collect(),
            siret_prefix,
        })
    }

    /// The reduced words (lower case, without accents).
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

/// What a page is sorted by (then by SIRET). Missing values sort first in ascending order:
/// no name (`raison_sociale`), no date, no election in the reference cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortKey {
    /// The SIRET.
    #[default]
    Siret,
    /// The name, accents and case ignored.
    RaisonSociale,
    /// The latest PV date.
    DatePvMax,
    /// The projected next election.
    ProchaineElection,
    /// The latest invitation.
    DateInvitationMax,
    /// Inscrits at the reference cycle's election.
    Inscrits,
    /// CGT votes at the reference cycle's election.
    CgtVoix,
    /// CGT share of SVE at the reference cycle's election (to the millionth).
    CgtShare,
}

impl SortKey {
    /// Every key.
    pub const ALL: [SortKey; 8] = [
        SortKey::Siret,
        SortKey::RaisonSociale,
        SortKey::DatePvMax,
        SortKey::ProchaineElection,
        SortKey::DateInvitationMax,
        SortKey::Inscrits,
        SortKey::CgtVoix,
        SortKey::CgtShare,
    ];

    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Siret => "siret",
            SortKey::RaisonSociale => "raison_sociale",
            SortKey::DatePvMax => "date_pv_max",
            SortKey::ProchaineElection => "prochaine_election",
            SortKey::DateInvitationMax => "date_invitation_max",
            SortKey::Inscrits => "inscrits",
            SortKey::CgtVoix => "cgt_voix",
            SortKey::CgtShare => "cgt_share",
        }
    }

    /// The key of a name; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    fn reads_cycle(self) -> bool {
        matches!(
            self,
            SortKey::Inscrits | SortKey::CgtVoix | SortKey::CgtShare
        )
    }

    /// The SQL expression (never NULL), and its sentinel parameter when it has one.
    fn expression(self, sql: &mut Sql) -> String {
        let date = |sql: &mut Sql, column: &str| {
            let p = sql.bind(Param::Date(NO_DATE));
            format!("COALESCE(s.{column}, {p})")
        };
        match self {
            SortKey::Siret => "s.siret".into(),
            SortKey::RaisonSociale => "s.search_text".into(),
            SortKey::DatePvMax => date(sql, "date_pv_max"),
            SortKey::ProchaineElection => date(sql, "prochaine_election"),
            SortKey::DateInvitationMax => date(sql, "date_invitation_max"),
            SortKey::Inscrits => "COALESCE(c.inscrits, -1)".into(),
            SortKey::CgtVoix => "COALESCE(c.cgt, -1)".into(),
            SortKey::CgtShare => {
                "CASE WHEN c.sve > 0 THEN c.cgt * 1000000 / c.sve ELSE -1 END".into()
            }
        }
    }
}

/// The date missing dates sort as.
const NO_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// A sort key's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SortValue {
    /// SIRET or reduced name.
    Text(String),
    /// A count, votes in ten-thousandths, a share in millionths (`-1`: none).
    Int(i64),
    /// A date (`0001-01-01`: none).
    Date(NaiveDate),
}

/// Where a page starts: after the row with this sort value and SIRET.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PageKey {
    /// The sort key's value.
    pub value: SortValue,
    /// The SIRET.
    pub siret: String,
}

/// A page of summaries in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryPage {
    /// The summaries.
    pub items: Vec<StoredSummary>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageKey>,
}

/// The figures of one cycle's election of a filtered SIRET.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleFact {
    /// The cycle.
    pub cycle: Cycle,
    /// Every row of the election is a carence.
    pub carence: bool,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters.
    pub votants: i64,
    /// Valid votes.
    pub sve: Votes,
    /// Votes per union.
    pub voix: ByUnion<Votes>,
    /// CGT votes ≥ 10 % of SVE.
    pub cgt_representative: bool,
}

/// What the statistics read of a filtered summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryFact {
    /// The PAP status (`None` outside the configured cycles).
    pub statut_pap: Option<PapStatus>,
    /// The projected next election.
    pub prochaine_election: Option<NaiveDate>,
    /// Whether the CGT is present at the latest election.
    pub cgt_implantee: bool,
}

/// One stored PV row of a filtered SIRET, as the time series reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PvFact {
    /// The establishment (rows come ordered by SIRET, then date, undated last).
    pub siret: String,
    /// The election date; `None` when the file gave none.
    pub date: Option<NaiveDate>,
    /// A carence row.
    pub carence: bool,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters, when given.
    pub votants: Option<i64>,
    /// Valid votes.
    pub sve: Votes,
    /// Votes per union.
    pub voix: ByUnion<Votes>,
}

/// What the summary tables hold now: changes with every committed change of PV rows or
/// invitations (the dirty counter) and every completed build. Readers key cached answers
/// with it, so an answer computed from older data is never served once newer data is
/// committed, whatever the order of invalidations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataVersion {
    /// The dirty counter.
    pub changes: i64,
    /// The latest full build's generation.
    pub generation: i64,
    /// When the latest build completed (microseconds), if any.
    pub built_at: Option<i64>,
}

impl std::fmt::Display for DataVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.changes,
            self.generation,
            self.built_at.unwrap_or(0)
        )
    }
}

/// The current [`DataVersion`] (one read of two one-row tables).
pub async fn data_version(db: &Db) -> Result<DataVersion, StoreError> {
    const SQL: &str = "SELECT (SELECT seq FROM elections_dirty_clock WHERE id = 1), \
        generation, built_at FROM elections_summary_state WHERE id = 1";
    let (changes, generation, built_at): (i64, i64, Option<i64>) = match db {
        Db::Sqlite { read, .. } => sqlx::query_as(SQL).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
    };
    Ok(DataVersion {
        changes,
        generation,
        built_at,
    })
}

/// A page of the summaries `filter` selects, sorted by `sort` then SIRET in `order`, starting
/// after `after`, at most `limit` of them.
pub async fn summary_page(
    db: &Db,
    filter: &SummaryFilter,
    sort: SortKey,
    order: Order,
    after: Option<&PageKey>,
    limit: u32,
) -> Result<SummaryPage, StoreError> {
    let mut sql = Sql::default();
    let key = sort.expression(&mut sql);
    let mut filtered = filtered(filter, sort.reads_cycle(), &mut sql);
    if let Some(after) = after {
        let value = sql.bind(match &after.value {
            SortValue::Text(t) => Param::Text(t.clone()),
            SortValue::Int(i) => Param::Int(*i),
            SortValue::Date(d) => Param::Date(*d),
        });
        let siret = sql.bind(Param::Text(after.siret.clone()));
        let op = if order == Order::Asc { ">" } else { "<" };
        filtered
            .conds
            .push(format!("({key}, s.siret) {op} ({value}, {siret})"));
    }
    let dir = if order == Order::Asc { "ASC" } else { "DESC" };
    sql.text = format!(
        "SELECT s.siret, {key} {} ORDER BY {key} {dir}, s.siret {dir} LIMIT {}",
        filtered.clause(),
        u64::from(limit) + 1
    );
    let kind = sort;
    let mut keys: Vec<PageKey> = Vec::new();
    macro_rules! collect {
        ($pool:expr) => {{
            let query = bind_all!(
                sqlx::query(sqlx::AssertSqlSafe(sql.text.clone())),
                &sql.params
            );
            for row in query.fetch_all($pool).await? {
                let siret: String = row.try_get(0)?;
                let value = match kind {
                    SortKey::Siret | SortKey::RaisonSociale => SortValue::Text(row.try_get(1)?),
                    SortKey::DatePvMax
                    | SortKey::ProchaineElection
                    | SortKey::DateInvitationMax => SortValue::Date(row.try_get(1)?),
                    SortKey::Inscrits | SortKey::CgtVoix | SortKey::CgtShare => {
                        SortValue::Int(row.try_get(1)?)
                    }
                };
                keys.push(PageKey { value, siret });
            }
        }};
    }
    match db {
        Db::Sqlite { read, .. } => collect!(read),
        Db::Postgres(pool) => collect!(pool),
    }
    let next = if keys.len() > limit as usize {
        keys.truncate(limit as usize);
        keys.last().cloned()
    } else {
        None
    };
    let sirets = keys
        .iter()
        .map(|k| {
            Siret::parse(&k.siret).map_err(|_| corrupt(format!("summary SIRET {:?}", k.siret)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut found: std::collections::HashMap<String, StoredSummary> = summaries_of(db, &sirets)
        .await?
        .into_iter()
        .map(|s| (s.siret.as_str().to_owned(), s))
        .collect();
    // A summary deleted between the two reads leaves a gap in this page only.
    let items = keys.iter().filter_map(|k| found.remove(&k.siret)).collect();
    Ok(SummaryPage { items, next })
}

/// How many summaries `filter` selects.
pub async fn summary_filter_count(db: &Db, filter: &SummaryFilter) -> Result<u64, StoreError> {
    let mut sql = Sql::default();
    let filtered = filtered(filter, false, &mut sql);
    sql.text = format!("SELECT COUNT(*) {}", filtered.clause());
    let n: i64 = match db {
        Db::Sqlite { read, .. } => {
            bind_all!(
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.text.clone())),
                &sql.params
            )
            .fetch_one(read)
            .await?
        }
        Db::Postgres(pool) => {
            bind_all!(
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.text.clone())),
                &sql.params
            )
            .fetch_one(pool)
            .await?
        }
    };
    Ok(n.max(0) as u64)
}

/// Calls `each` with the PAP status, next election and CGT presence of every summary `filter`
/// selects (streamed); returns how many.
pub async fn each_summary_fact(
    db: &Db,
    filter: &SummaryFilter,
    mut each: impl FnMut(SummaryFact),
) -> Result<u64, StoreError> {
    let mut sql = Sql::default();
    let filtered = filtered(filter, false, &mut sql);
    sql.text = format!(
        "SELECT s.statut_pap, s.prochaine_election, s.cgt_implantee {}",
        filtered.clause()
    );
    let mut n = 0;
    stream!(db, sql, |row| {
        let statut: Option<String> = row.try_get(0)?;
        let statut_pap = statut
            .map(|s| {
                PapStatus::parse(&s).ok_or_else(|| corrupt(format!("summary statut_pap {s:?}")))
            })
            .transpose()?;
        each(SummaryFact {
            statut_pap,
            prochaine_election: row.try_get(1)?,
            cgt_implantee: row.try_get(2)?,
        });
        n += 1;
    });
    Ok(n)
}

/// Calls `each` with every cycle's election of the summaries `filter` selects (streamed);
/// returns how many.
pub async fn each_cycle_fact(
    db: &Db,
    filter: &SummaryFilter,
    mut each: impl FnMut(CycleFact),
) -> Result<u64, StoreError> {
    let mut sql = Sql::default();
    let filtered = filtered(filter, false, &mut sql)
        .join("JOIN elections_summary_cycles a ON a.siret = s.siret");
    sql.text = format!(
        "SELECT a.cycle, a.carence, a.inscrits, a.votants, a.sve, a.cgt, a.cfdt, a.fo, a.cftc, \
         a.cgc, a.unsa, a.solidaires, a.autre, a.cgt_representative {}",
        filtered.clause()
    );
    let mut n = 0;
    let mut last: Option<Cycle> = None;
    stream!(db, sql, |row| {
        let name: String = row.try_get(0)?;
        let cycle = match &last {
            Some(c) if c.as_str() == name => c.clone(),
            _ => Cycle::parse(&name).map_err(|_| corrupt(format!("summary cycle {name:?}")))?,
        };
        last = Some(cycle.clone());
        let mut voix = ByUnion::<Votes>::default();
        for (k, u) in UNIONS.into_iter().enumerate() {
            voix[u] = Votes::from_units(row.try_get(5 + k)?);
        }
        each(CycleFact {
            cycle,
            carence: row.try_get(1)?,
            inscrits: row.try_get(2)?,
            votants: row.try_get(3)?,
            sve: Votes::from_units(row.try_get(4)?),
            voix,
            cgt_representative: row.try_get(13)?,
        });
        n += 1;
    });
    Ok(n)
}

/// Calls `each` with the date of every invitation of the summaries `filter` selects
/// (streamed); returns how many.
pub async fn each_invitation_date(
    db: &Db,
    filter: &SummaryFilter,
    mut each: impl FnMut(NaiveDate),
) -> Result<u64, StoreError> {
    let mut sql = Sql::default();
    let filtered =
        filtered(filter, false, &mut sql).join("JOIN elections_invitations i ON i.siret = s.siret");
    sql.text = format!("SELECT i.invitation_date {}", filtered.clause());
    let mut n = 0;
    stream!(db, sql, |row| {
        each(row.try_get(0)?);
        n += 1;
    });
    Ok(n)
}

/// Calls `each` with every stored PV row of the summaries `filter` selects, dated from `from`
/// to `to` (inclusive, when given) or undated, ordered by SIRET then date (undated last),
/// streamed; returns how many.
pub async fn each_pv_fact(
    db: &Db,
    filter: &SummaryFilter,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    mut each: impl FnMut(PvFact),
) -> Result<u64, StoreError> {
    let mut sql = Sql::default();
    let mut filtered =
        filtered(filter, false, &mut sql).join("JOIN elections_pv p ON p.siret = s.siret");
    let mut range = Vec::new();
    if let Some(from) = from {
        range.push(format!(
            "p.election_date >= {}",
            sql.bind(Param::Date(from))
        ));
    }
    if let Some(to) = to {
        range.push(format!("p.election_date <= {}", sql.bind(Param::Date(to))));
    }
    if !range.is_empty() {
        filtered.conds.push(format!(
            "(p.election_date IS NULL OR ({}))",
            range.join(" AND ")
        ));
    }
    sql.text = format!(
        "SELECT p.siret, p.election_date, p.kind, p.inscrits, p.votants, p.sve, p.cgt, p.cfdt, \
         p.fo, p.cftc, p.cgc, p.unsa, p.solidaires, p.autre {} \
         ORDER BY p.siret, p.election_date NULLS LAST",
        filtered.clause()
    );
    let mut n = 0;
    stream!(db, sql, |row| {
        let kind: String = row.try_get(2)?;
        let carence = match kind.as_str() {
            "cse" => false,
            "carence" => true,
            other => return Err(corrupt(format!("PV kind {other:?}"))),
        };
        let mut voix = ByUnion::<Votes>::default();
        for (k, u) in UNIONS.into_iter().enumerate() {
            voix[u] = Votes::from_units(row.try_get(6 + k)?);
        }
        each(PvFact {
            siret: row.try_get(0)?,
            date: row.try_get(1)?,
            carence,
            inscrits: row.try_get(3)?,
            votants: row.try_get(4)?,
            sve: Votes::from_units(row.try_get(5)?),
            voix,
        });
        n += 1;
    });
    Ok(n)
}

// ---- SQL assembly ----

/// A bound value.
#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Int(i64),
    Bool(bool),
    Date(NaiveDate),
}

/// A statement and its parameters (`$1`, `$2`… on both backends).
#[derive(Debug, Default)]
struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    /// Adds a parameter; returns its placeholder.
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }
}

/// Binds every parameter of a [`Sql`] to a query of either backend.
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for p in $params {
            query = match p {
                Param::Text(t) => query.bind(t.clone()),
                Param::Int(i) => query.bind(*i),
                Param::Bool(b) => query.bind(*b),
                Param::Date(d) => query.bind(*d),
            };
        }
        query
    }};
}
use bind_all;

/// Runs a [`Sql`] on either backend and runs `$body` for each row (streamed); `?` and
/// `return` in `$body` act on the enclosing function.
macro_rules! stream {
    ($db:expr, $sql:expr, |$row:ident| $body:block) => {{
        match $db {
            Db::Sqlite { read, .. } => {
                let query =
                    bind_all!(sqlx::query(sqlx::AssertSqlSafe($sql.text.clone())), &$sql.params);
                let mut rows = query.fetch(read);
                while let Some($row) = rows.try_next().await? $body
            }
            Db::Postgres(pool) => {
                let query =
                    bind_all!(sqlx::query(sqlx::AssertSqlSafe($sql.text.clone())), &$sql.params);
                let mut rows = query.fetch(pool);
                while let Some($row) = rows.try_next().await? $body
            }
        }
    }};
}
use stream;

/// `FROM … JOIN …` and the conditions of a filter.
struct Filtered {
    from: String,
    conds: Vec<String>,
}

impl Filtered {
    fn join(mut self, join: &str) -> Self {
        self.from.push(' ');
        self.from.push_str(join);
        self
    }

    fn clause(&self) -> String {
        if self.conds.is_empty() {
            self.from.clone()
        } else {
            format!("{} WHERE {}", self.from, self.conds.join(" AND "))
        }
    }
}

/// The tables and conditions of `filter`. The reference cycle's row is `c`, joined when the
/// filter or `cycle_needed` reads it.
fn filtered(filter: &SummaryFilter, cycle_needed: bool, sql: &mut Sql) -> Filtered {
    let mut from = String::from("FROM elections_summary s");
    match &filter.cycle {
        Some(cycle) => {
            let p = sql.bind(Param::Text(cycle.as_str().to_owned()));
            from.push_str(&format!(
                " JOIN elections_summary_cycles c ON c.siret = s.siret AND c.cycle = {p}"
            ));
        }
        None if cycle_needed || filter.cgt_representative.is_some() => from.push_str(
            " LEFT JOIN elections_summary_cycles c \
             ON c.siret = s.siret AND c.cycle = s.latest_cycle",
        ),
        None => {}
    }
    let mut conds = Vec::new();
    if let Some(search) = &filter.search {
        let mut words = Vec::with_capacity(search.words.len());
        for w in &search.words {
            // Words hold letters and digits only: nothing to escape in a LIKE pattern.
            let p = sql.bind(Param::Text(format!("% {w}%")));
            words.push(format!("(' ' || s.search_text) LIKE {p}"));
        }
        let name = words.join(" AND ");
        match &search.siret_prefix {
            Some(prefix) => {
                let n = prefix.len();
                let p = sql.bind(Param::Text(prefix.clone()));
                conds.push(format!("(substr(s.siret, 1, {n}) = {p} OR ({name}))"));
            }
            None => conds.push(format!("({name})")),
        }
    }
    let mut any_of = |column: &str, values: Vec<Param>, sql: &mut Sql| {
        if values.is_empty() {
            return;
        }
        let list: Vec<String> = values.into_iter().map(|v| sql.bind(v)).collect();
        conds.push(format!("{column} IN ({})", list.join(", ")));
    };
    any_of(
        "s.statut_pap",
        filter
            .statut_pap
            .iter()
            .map(|s| Param::Text(s.as_str().to_owned()))
            .collect(),
        sql,
    );
    any_of(
        "s.departement",
        filter
            .departements
            .iter()
            .cloned()
            .map(Param::Text)
            .collect(),
        sql,
    );
    any_of(
        "s.idcc",
        filter.idcc.iter().cloned().map(Param::Text).collect(),
        sql,
    );
    if let Some(b) = filter.cgt_implantee {
        conds.push(format!("s.cgt_implantee = {}", sql.bind(Param::Bool(b))));
    }
    if let Some(b) = filter.cgt_representative {
        conds.push(format!(
            "c.cgt_representative = {}",
            sql.bind(Param::Bool(b))
        ));
    }
    Filtered { from, conds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_reduce_words_and_take_digits_as_a_siret_prefix() {
        let s = Search::new("  Société GÉNÉ ").unwrap();
        assert_eq!(s.words(), ["societe", "gene"]);
        assert_eq!(s.siret_prefix, None);
        let s = Search::new("343 294").unwrap();
        assert_eq!(s.siret_prefix.as_deref(), Some("343294"));
        assert_eq!(s.words(), ["343", "294"]);
        assert!(Search::new(" -- ").is_none());
        assert_eq!(Search::new("123456789012345").unwrap().siret_prefix, None);
    }

    #[test]
    fn filters_bind_every_value() {
        let filter = SummaryFilter {
            search: Search::new("gen"),
            statut_pap: vec![PapStatus::InvitationSansPv, PapStatus::PvSansInvitation],
            cgt_implantee: Some(true),
            cgt_representative: Some(false),
            departements: vec!["08".into()],
            idcc: vec![],
            cycle: Some(Cycle::parse("C4").unwrap()),
        };
        let mut sql = Sql::default();
        let f = filtered(&filter, false, &mut sql);
        let clause = f.clause();
        assert!(clause.contains("c.cycle = $1"), "{clause}");
        assert!(clause.contains("s.statut_pap IN ($3, $4)"), "{clause}");
        assert!(clause.contains("c.cgt_representative = $7"), "{clause}");
        assert_eq!(sql.params.len(), 7);
    }
}
