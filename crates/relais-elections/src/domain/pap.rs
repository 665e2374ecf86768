//! The PAP invitation status of a SIRET for the current cycle (§6 of the domain reference).
//!
//! Each invitation is attached to the first election dated on or after it (an invitation
//! prepares the next election, whatever its cycle). For the current cycle, an invitation counts
//! when its election is in the cycle, or when it has no election yet and is younger than
//! [`SummaryConfig::invitation_max_age_days`]; an invitation with no election that is older is
//! not counted and is listed for review. The status is then decided on the latest invitation
//! that counts (`d_inv`):
//!
//! | state | condition |
//! |---|---|
//! | `aucune_invitation` | no invitation counts and the SIRET has no PV in the cycle |
//! | `pv_sans_invitation` | no invitation counts and a PV is in the cycle |
//! | `pv_apres_invitation` | `d_inv`'s election is not a carence |
//! | `carence_apres_invitation` | `d_inv`'s election is a carence |
//! | `invitation_en_attente` | `d_inv` has no election and is at most [`SummaryConfig::pap_pending_days`] old |
//! | `invitation_sans_pv` | `d_inv` has no election and is older |

use chrono::NaiveDate;

use super::{Cycle, CyclePeriod, SummaryConfig};

/// Where a SIRET stands between the PAP invitation and the election, for the current cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PapStatus {
    /// No invitation and no PV in the cycle.
    AucuneInvitation,
    /// An invitation without a later PV, recent enough to be waiting for its election.
    InvitationEnAttente,
    /// An invitation without a later PV, past the waiting period.
    InvitationSansPv,
    /// An election (not a carence) followed the latest invitation.
    PvApresInvitation,
    /// A carence followed the latest invitation.
    CarenceApresInvitation,
    /// A PV in the cycle, no invitation recorded for it.
    PvSansInvitation,
}

impl PapStatus {
    /// Every status.
    pub const ALL: [PapStatus; 6] = [
        PapStatus::AucuneInvitation,
        PapStatus::InvitationEnAttente,
        PapStatus::InvitationSansPv,
        PapStatus::PvApresInvitation,
        PapStatus::CarenceApresInvitation,
        PapStatus::PvSansInvitation,
    ];

    /// The status of an upstream spelling; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The upstream spelling (`invitation_en_attente`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PapStatus::AucuneInvitation => "aucune_invitation",
            PapStatus::InvitationEnAttente => "invitation_en_attente",
            PapStatus::InvitationSansPv => "invitation_sans_pv",
            PapStatus::PvApresInvitation => "pv_apres_invitation",
            PapStatus::CarenceApresInvitation => "carence_apres_invitation",
            PapStatus::PvSansInvitation => "pv_sans_invitation",
        }
    }
}

/// The PAP part of a SIRET's summary, for the current cycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PapSummary {
    /// The current cycle (the one containing `today`).
    pub cycle: Cycle,
    /// The status (upstream `statut_pap`).
    pub statut_pap: PapStatus,
    /// The invitation the status is about: the latest one that counts for the cycle (upstream
    /// `date_pap_c5` for C5).
    pub date_pap: Option<NaiveDate>,
    /// The date of the election that invitation is attached to.
    pub date_pv_pap: Option<NaiveDate>,
    /// Invitations flagged for review: no PV dated on or after them, and older than the age
    /// limit. They do not count for the cycle.
    pub invitations_a_revoir: Vec<NaiveDate>,
}

/// One dated election of a SIRET: all its PV rows of one day. A carence only when every row of
/// that day is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DatedElection {
    pub(crate) date: NaiveDate,
    pub(crate) carence: bool,
}

/// The status for `current`, and the first day after `today` on which it may change with the
/// same data (an invitation passing the waiting period or the age limit; the cycle ending).
/// `elections` are the SIRET's dated elections, sorted by date and distinct;
/// `undated_pv_in_cycle` says whether it has undated PV rows of the current cycle (a PV in the
/// cycle, never "after" an invitation since its date is unknown).
pub(crate) fn pap_status(
    current: &CyclePeriod,
    elections: &[DatedElection],
    undated_pv_in_cycle: bool,
    invitations: impl Iterator<Item = NaiveDate>,
    today: NaiveDate,
    config: &SummaryConfig,
) -> (PapSummary, NaiveDate) {
    let in_cycle = |d: NaiveDate| current.start <= d && d <= current.end;
    let attached = |d: NaiveDate| {
        let i = elections.partition_point(|e| e.date < d);
        elections.get(i).copied()
    };
    let mut counted: Option<(NaiveDate, Option<DatedElection>)> = None;
    let mut review = Vec::new();
    // The cycle ends: the current cycle, hence the status, changes the next day.
    let mut changes = current.end.succ_opt().unwrap_or(current.end);
    for d in invitations {
        let election = attached(d);
        let counts = match election {
            Some(e) => in_cycle(e.date),
            None => {
                let max_age = i64::from(config.invitation_max_age_days);
                let young = (today - d).num_days() < max_age;
                if young {
                    changes = changes.min(d + chrono::Days::new(max_age as u64));
                } else {
                    review.push(d);
                }
                young
            }
        };
        if counts && counted.is_none_or(|(c, _)| d > c) {
            counted = Some((d, election));
        }
    }
    review.sort_unstable();
    review.dedup();
    let pv_in_cycle = undated_pv_in_cycle || elections.iter().any(|e| in_cycle(e.date));
    let statut_pap = match counted {
        None if pv_in_cycle => PapStatus::PvSansInvitation,
        None => PapStatus::AucuneInvitation,
        Some((_, Some(e))) if e.carence => PapStatus::CarenceApresInvitation,
        Some((_, Some(_))) => PapStatus::PvApresInvitation,
        Some((d, None)) if (today - d).num_days() <= i64::from(config.pap_pending_days) => {
            PapStatus::InvitationEnAttente
        }
        Some((_, None)) => PapStatus::InvitationSansPv,
    };
    if statut_pap == PapStatus::InvitationEnAttente
        && let Some((d, _)) = counted
    {
        changes = changes.min(d + chrono::Days::new(u64::from(config.pap_pending_days) + 1));
    }
    let summary = PapSummary {
        cycle: current.cycle.clone(),
        statut_pap,
        date_pap: counted.map(|(d, _)| d),
        date_pv_pap: counted.and_then(|(_, e)| e).map(|e| e.date),
        invitations_a_revoir: review,
    };
    (summary, changes)
}
