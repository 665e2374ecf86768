//! The JSON shapes of the read routes, built from stored data.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{ByUnion, PvKind, Union, Votes};
use crate::store::{StoredCycle, StoredInvitation, StoredPap, StoredPv, StoredSummary};

/// One value per union, named as the upstream columns' prefixes.
macro_rules! union_view {
    ($(#[$m:meta])* $name:ident, $t:ty, $schema:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
        pub struct $name {
            /// CGT.
            #[schema(value_type = $schema)]
            pub cgt: $t,
            /// CFDT.
            #[schema(value_type = $schema)]
            pub cfdt: $t,
            /// CGT-FO.
            #[schema(value_type = $schema)]
            pub fo: $t,
            /// CFTC.
            #[schema(value_type = $schema)]
            pub cftc: $t,
            /// CFE-CGC.
            #[schema(value_type = $schema)]
            pub cgc: $t,
            /// UNSA.
            #[schema(value_type = $schema)]
            pub unsa: $t,
            /// Solidaires.
            #[schema(value_type = $schema)]
            pub solidaires: $t,
            /// Every other list.
            #[schema(value_type = $schema)]
            pub autre: $t,
        }

        impl From<&ByUnion<$t>> for $name {
            fn from(b: &ByUnion<$t>) -> Self {
                $name {
                    cgt: b[Union::Cgt],
                    cfdt: b[Union::Cfdt],
                    fo: b[Union::Fo],
                    cftc: b[Union::Cftc],
                    cgc: b[Union::Cgc],
                    unsa: b[Union::Unsa],
                    solidaires: b[Union::Solidaires],
                    autre: b[Union::Autre],
                }
            }
        }
    };
}

union_view!(
    /// Votes per union, exact to four decimals (a joint list's votes are split as declared).
    /// "No list" and "0 votes" look the same: the data does not tell them apart.
    UnionVotes, Votes, f64
);
union_view!(
    /// Each union's share of SVE, 0 to 1 (`null` when SVE is 0).
    UnionShares, Option<f64>, Option<f64>
);
union_view!(
    /// Seats won per union.
    UnionSeats, u32, u32
);

/// Seats of an election, summed over its collèges.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatsView {
    /// Seats won per union.
    pub by_union: UnionSeats,
    /// Seats to fill (from the PVs, or estimated: see `estimated`).
    pub to_fill: u32,
    /// Seats no list had votes for (carence collèges included).
    pub vacant: u32,
    /// Ties on votes the data cannot decide (the law gives the seat to the older candidate).
    pub unresolved_ties: u32,
    /// Seats those ties leave unattributed.
    pub unresolved_seats: u32,
    /// Some seats to fill were estimated from the headcount table (R2314-1).
    pub estimated: bool,
}

/// The latest election of a cycle: every PV row (collège) of its date, summed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CycleView {
    /// The cycle (`C4`).
    #[schema(example = "C4")]
    pub cycle: String,
    /// The election date (`null` when the cycle only has undated rows).
    pub date: Option<NaiveDate>,
    /// Every row of that date is a carence: no election took place (never "0 % for every
    /// union").
    pub carence: bool,
    /// PV rows summed.
    pub pv_rows: u32,
    /// Of which carence rows.
    pub carence_rows: u32,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters, over the rows that give them.
    pub votants: i64,
    /// Non-carence rows without `votants`.
    pub votants_missing: u32,
    /// Valid votes.
    #[schema(value_type = f64)]
    pub sve: Votes,
    /// Votes per union.
    pub voix: UnionVotes,
    /// Shares of SVE per union.
    pub shares: UnionShares,
    /// CGT votes > 0 ("no CGT list" and "0 CGT votes" look the same).
    pub cgt_presente: bool,
    /// CGT votes ≥ 10 % of SVE, all collèges.
    pub cgt_representative: bool,
    /// Seats.
    pub seats: SeatsView,
}

impl From<&StoredCycle> for CycleView {
    fn from(c: &StoredCycle) -> Self {
        let e = &c.election;
        CycleView {
            cycle: c.cycle.as_str().to_owned(),
            date: e.date,
            carence: e.carence,
            pv_rows: e.rows,
            carence_rows: e.carence_rows,
            inscrits: e.inscrits,
            votants: e.votants,
            votants_missing: e.votants_missing,
            sve: e.sve,
            voix: (&e.voix).into(),
            shares: (&e.shares).into(),
            cgt_presente: e.cgt_presente,
            cgt_representative: e.cgt_representative,
            seats: SeatsView {
                by_union: (&e.seats.by_union).into(),
                to_fill: e.seats.to_fill,
                vacant: e.seats.vacant,
                unresolved_ties: e.seats.unresolved_ties,
                unresolved_seats: e.seats.unresolved_seats,
                estimated: e.seats.estimated,
            },
        }
    }
}

/// The PAP status for the current cycle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PapView {
    /// The current cycle when the summary was built.
    #[schema(example = "C5")]
    pub cycle: String,
    /// `aucune_invitation`, `invitation_en_attente`, `invitation_sans_pv`,
    /// `pv_apres_invitation`, `carence_apres_invitation` or `pv_sans_invitation`.
    #[schema(example = "invitation_en_attente")]
    pub statut_pap: String,
    /// The invitation the status is about.
    pub date_pap: Option<NaiveDate>,
    /// The election that invitation is attached to.
    pub date_pv_pap: Option<NaiveDate>,
    /// Invitations older than 12 months with no PV after them, left for review.
    pub invitations_a_revoir: u32,
}

impl From<&StoredPap> for PapView {
    fn from(p: &StoredPap) -> Self {
        PapView {
            cycle: p.cycle.as_str().to_owned(),
            statut_pap: p.statut_pap.as_str().to_owned(),
            date_pap: p.date_pap,
            date_pv_pap: p.date_pv_pap,
            invitations_a_revoir: p.invitations_a_revoir,
        }
    }
}

/// One SIRET's summary.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryView {
    /// The establishment (14 digits).
    #[schema(example = "34329419500239")]
    pub siret: String,
    /// Company name (the most recent non-empty one).
    pub raison_sociale: Option<String>,
    /// Town.
    pub ville: Option<String>,
    /// Postal code.
    pub cp: Option<String>,
    /// Département.
    pub departement: Option<String>,
    /// Collective agreement (IDCC, four digits).
    pub idcc: Option<String>,
    /// Its label.
    pub idcc_label: Option<String>,
    /// The latest PV date (carences included), any cycle.
    pub date_pv_max: Option<NaiveDate>,
    /// The latest invitation date.
    pub date_invitation_max: Option<NaiveDate>,
    /// `date_pv_max` + 4 years.
    pub prochaine_election: Option<NaiveDate>,
    /// CGT votes > 0 at the latest election of the latest cycle with a non-carence PV.
    pub cgt_implantee: bool,
    /// The latest cycle with a PV.
    pub latest_cycle: Option<String>,
    /// The PAP status (`null` when no configured cycle is current).
    pub pap: Option<PapView>,
    /// Computed again from this day (PAP ageing).
    pub valid_until: Option<NaiveDate>,
    /// When the summary was computed.
    pub built_at: DateTime<Utc>,
    /// The cycles with a PV, oldest first.
    pub cycles: Vec<CycleView>,
}

impl From<&StoredSummary> for SummaryView {
    fn from(s: &StoredSummary) -> Self {
        SummaryView {
            siret: s.siret.as_str().to_owned(),
            raison_sociale: s.raison_sociale.clone(),
            ville: s.ville.clone(),
            cp: s.cp.clone(),
            departement: s.departement.clone(),
            idcc: s.idcc.clone(),
            idcc_label: s.idcc_label.clone(),
            date_pv_max: s.date_pv_max,
            date_invitation_max: s.date_invitation_max,
            prochaine_election: s.prochaine_election,
            cgt_implantee: s.cgt_implantee,
            latest_cycle: s.latest_cycle.as_ref().map(|c| c.as_str().to_owned()),
            pap: s.pap.as_ref().map(Into::into),
            valid_until: s.valid_until,
            built_at: s.built_at,
            cycles: s.cycles.iter().map(Into::into).collect(),
        }
    }
}

/// A page of summaries.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryList {
    /// The summaries, in the requested order.
    pub items: Vec<SummaryView>,
    /// Pass as `after` for the next page (same filters and sort); absent on the last page.
    pub next: Option<String>,
    /// Summaries matching the filters, all pages.
    pub total: u64,
}

/// A stored PV row (one PV × collège).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PvView {
    /// The row's natural key.
    pub key: String,
    /// The Ministry's PV number.
    pub pv_number: Option<String>,
    /// The election date (`null` when the file gave none).
    pub date: Option<NaiveDate>,
    /// `cse` (an election) or `carence` (none took place).
    #[schema(example = "cse")]
    pub kind: String,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters (`null` when the file left it empty).
    pub votants: Option<i64>,
    /// Valid votes.
    #[schema(value_type = f64)]
    pub sve: Votes,
    /// Votes per union.
    pub voix: UnionVotes,
    /// Seats to fill, when the PV gives it.
    pub seats_to_fill: Option<u32>,
    /// Seats won per union, when the PV gives them.
    pub seats: Option<UnionSeats>,
    /// Company name on the row.
    pub raison_sociale: Option<String>,
    /// The file the row came from, when it said.
    pub source_file: Option<String>,
    /// The import that last wrote the row.
    pub import_id: Uuid,
}

impl From<&StoredPv> for PvView {
    fn from(p: &StoredPv) -> Self {
        let r = &p.row;
        PvView {
            key: p.key.clone(),
            pv_number: r.pv_number.clone(),
            date: r.date,
            kind: match r.kind {
                PvKind::Cse => "cse",
                PvKind::Carence => "carence",
            }
            .to_owned(),
            inscrits: r.inscrits,
            votants: r.votants,
            sve: r.sve,
            voix: (&ByUnion(r.votes)).into(),
            seats_to_fill: r.seats_to_fill,
            seats: r.seats.map(|s| (&ByUnion(s)).into()),
            raison_sociale: r.raison_sociale.clone(),
            source_file: p.source_file.clone(),
            import_id: p.import_id,
        }
    }
}

/// The PV rows of one collège in a cycle, by date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollegeTimeline {
    /// The collège code (`01` … `05`, as written otherwise; empty when the file gave none).
    #[schema(example = "01")]
    pub college: String,
    /// Its rows, oldest first (undated last).
    pub pvs: Vec<PvView>,
}

/// The PV rows of one cycle, per collège.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CycleTimeline {
    /// The cycle.
    #[schema(example = "C4")]
    pub cycle: String,
    /// Its collèges, by code.
    pub colleges: Vec<CollegeTimeline>,
}

/// A PAP invitation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    /// The invitation date.
    pub date: NaiveDate,
    /// Company name.
    pub raison_sociale: Option<String>,
    /// Shop sign.
    pub enseigne: Option<String>,
    /// Address.
    pub adresse: Option<String>,
    /// Town.
    pub ville: Option<String>,
    /// Postal code.
    pub code_postal: Option<String>,
    /// Where the invitation was found.
    pub source: Option<String>,
    /// Main activity (NAF code).
    pub naf: Option<String>,
    /// Its label.
    pub naf_label: Option<String>,
    /// Headcount, as written.
    pub effectifs: Option<String>,
    /// Whether the establishment is active.
    pub actif: Option<bool>,
    /// Whether it is the head office.
    pub siege: Option<bool>,
    /// The import that last wrote it.
    pub import_id: Uuid,
}

impl From<&StoredInvitation> for InvitationView {
    fn from(s: &StoredInvitation) -> Self {
        let i = &s.invitation;
        InvitationView {
            date: i.date,
            raison_sociale: i.raison_sociale.clone(),
            enseigne: i.enseigne.clone(),
            adresse: i.adresse.clone(),
            ville: i.ville.clone(),
            code_postal: i.code_postal.clone(),
            source: i.source.clone(),
            naf: i.naf.clone(),
            naf_label: i.naf_label.clone(),
            effectifs: i.effectifs.clone(),
            actif: i.actif,
            siege: i.siege,
            import_id: s.import_id,
        }
    }
}

/// One SIRET: its summary, its PV rows per cycle and collège, its invitations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SiretDetail {
    /// The establishment.
    #[schema(example = "34329419500239")]
    pub siret: String,
    /// Its summary; `null` while rows imported since the last build wait for the next one.
    pub summary: Option<SummaryView>,
    /// Its stored PV rows, per cycle (oldest first) and collège.
    pub timeline: Vec<CycleTimeline>,
    /// Its invitations, oldest first.
    pub invitations: Vec<InvitationView>,
}

impl SiretDetail {
    /// The detail of a SIRET from its summary, rows (ordered by date, collège, key) and
    /// invitations.
    pub fn new(
        siret: String,
        summary: Option<&StoredSummary>,
        rows: &[StoredPv],
        invitations: &[StoredInvitation],
    ) -> Self {
        let mut cycles: Vec<&str> = rows.iter().map(|r| r.row.cycle.as_str()).collect();
        cycles.sort_unstable_by_key(|c| (c.len(), *c));
        cycles.dedup();
        let timeline = cycles
            .into_iter()
            .map(|cycle| {
                let of_cycle = || rows.iter().filter(move |r| r.row.cycle.as_str() == cycle);
                let mut colleges: Vec<&str> = of_cycle().map(college).collect();
                colleges.sort_unstable();
                colleges.dedup();
                CycleTimeline {
                    cycle: cycle.to_owned(),
                    colleges: colleges
                        .into_iter()
                        .map(|code| CollegeTimeline {
                            college: code.to_owned(),
                            pvs: of_cycle()
                                .filter(|r| college(r) == code)
                                .map(Into::into)
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        SiretDetail {
            siret,
            summary: summary.map(Into::into),
            timeline,
            invitations: invitations.iter().map(Into::into).collect(),
        }
    }
}

fn college(r: &StoredPv) -> &str {
    r.row.college.as_ref().map_or("", |c| c.as_str())
}
