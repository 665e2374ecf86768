//! The PAP invitation status (`statut_pap`) of the summary, for the current cycle, in every state.

mod common;

use common::*;
use relais_elections::domain::{
    CycleTable, Invitation, PapStatus, PvRow, Summariser, SummaryConfig,
};

/// Today: 1 June 2026, in C5 (2025–2028).
const TODAY: &str = "2026-06-01";

/// The status with its invitation date and PV date.
fn check(
    rows: &[PvRow],
    invitations: &[&str],
    want: PapStatus,
    date_pap: Option<&str>,
    date_pv_pap: Option<&str>,
) -> Vec<chrono::NaiveDate> {
    let invitations: Vec<Invitation> = invitations.iter().map(|d| invitation(d)).collect();
    let s = summarise(rows, &invitations, TODAY);
    let pap = s.pap.expect("today is in C5");
    assert_eq!(pap.cycle.as_str(), "C5");
    assert_eq!(pap.statut_pap, want, "{rows:?} {invitations:?}");
    assert_eq!(pap.date_pap, date_pap.map(date), "date_pap");
    assert_eq!(pap.date_pv_pap, date_pv_pap.map(date), "date_pv_pap");
    pap.invitations_a_revoir
}

fn election_on(day: &str) -> PvRow {
    pv(day, "05", 40, cgt_fo("10", "10"))
}

#[test]
fn aucune_invitation() {
    check(&[], &[], PapStatus::AucuneInvitation, None, None);
    // A PV of the previous cycle is not a PV of this one.
    check(
        &[election_on("2023-05-01")],
        &[],
        PapStatus::AucuneInvitation,
        None,
        None,
    );
}

#[test]
fn pv_sans_invitation() {
    check(
        &[election_on("2025-10-01")],
        &[],
        PapStatus::PvSansInvitation,
        None,
        None,
    );
    // An invitation that prepared the previous cycle's election does not count for this one.
    check(
        &[election_on("2024-06-01"), election_on("2025-10-01")],
        &["2024-03-01"],
        PapStatus::PvSansInvitation,
        None,
        None,
    );
    // Undated rows of the cycle are a PV in the cycle.
    let mut undated = election_on("2025-10-01");
    undated.date = None;
    check(&[undated], &[], PapStatus::PvSansInvitation, None, None);
}

#[test]
fn invitation_en_attente_up_to_the_threshold_then_sans_pv() {
    check(
        &[],
        &["2026-03-01"],
        PapStatus::InvitationEnAttente,
        Some("2026-03-01"),
        None,
    );
    // 1 February → 1 June is exactly 120 days: still waiting.
    check(
        &[],
        &["2026-02-01"],
        PapStatus::InvitationEnAttente,
        Some("2026-02-01"),
        None,
    );
    check(
        &[],
        &["2026-01-31"],
        PapStatus::InvitationSansPv,
        Some("2026-01-31"),
        None,
    );
    // A PV before the invitation is not "after" it.
    check(
        &[election_on("2025-03-01")],
        &["2025-08-01"],
        PapStatus::InvitationSansPv,
        Some("2025-08-01"),
        None,
    );
    // The threshold is configurable.
    let s = Summariser::new(
        CycleTable::standard(),
        SummaryConfig {
            pap_pending_days: 200,
            ..SummaryConfig::default()
        },
    )
    .summarise(siret(SIRET), &[], &[invitation("2026-01-31")], date(TODAY))
    .unwrap();
    assert_eq!(s.pap.unwrap().statut_pap, PapStatus::InvitationEnAttente);
}

#[test]
fn pv_and_carence_apres_invitation() {
    // An invitation of the previous cycle prepares this cycle's first election.
    check(
        &[election_on("2025-02-10")],
        &["2024-11-15"],
        PapStatus::PvApresInvitation,
        Some("2024-11-15"),
        Some("2025-02-10"),
    );
    // The same day counts as after.
    check(
        &[election_on("2025-02-10")],
        &["2025-02-10"],
        PapStatus::PvApresInvitation,
        Some("2025-02-10"),
        Some("2025-02-10"),
    );
    check(
        &[carence("2025-02-10", "05", 40)],
        &["2024-11-15"],
        PapStatus::CarenceApresInvitation,
        Some("2024-11-15"),
        Some("2025-02-10"),
    );
    // A date with a carence in one collège and a vote in another is an election.
    check(
        &[carence("2025-02-10", "03", 12), election_on("2025-02-10")],
        &["2024-11-15"],
        PapStatus::PvApresInvitation,
        Some("2024-11-15"),
        Some("2025-02-10"),
    );
    // The invitation is attached to the first PV after it: a carence, then an election.
    check(
        &[carence("2025-02-10", "05", 40), election_on("2025-09-10")],
        &["2024-11-15"],
        PapStatus::CarenceApresInvitation,
        Some("2024-11-15"),
        Some("2025-02-10"),
    );
    // A new invitation after the carence is the latest: waiting again.
    check(
        &[carence("2025-02-10", "05", 40)],
        &["2024-11-15", "2026-04-01"],
        PapStatus::InvitationEnAttente,
        Some("2026-04-01"),
        None,
    );
}

#[test]
fn an_old_invitation_without_a_later_pv_is_flagged_for_review() {
    // 1 May 2025 → 1 June 2026: over 12 months, no PV after it.
    let review = check(
        &[],
        &["2025-05-01"],
        PapStatus::AucuneInvitation,
        None,
        None,
    );
    assert_eq!(review, [date("2025-05-01")]);
    // With a PV in the cycle before it: that PV has no invitation counted.
    let review = check(
        &[election_on("2025-03-01")],
        &["2025-05-01", "2025-05-01"],
        PapStatus::PvSansInvitation,
        None,
        None,
    );
    assert_eq!(review, [date("2025-05-01")], "listed once");
    // An earlier invitation attached to this cycle's PV still decides.
    let review = check(
        &[election_on("2025-03-01")],
        &["2025-01-10", "2025-04-01"],
        PapStatus::PvApresInvitation,
        Some("2025-01-10"),
        Some("2025-03-01"),
    );
    assert_eq!(review, [date("2025-04-01")]);
    // Just under 12 months: counted, not flagged.
    let review = check(
        &[],
        &["2025-06-02"],
        PapStatus::InvitationSansPv,
        Some("2025-06-02"),
        None,
    );
    assert!(review.is_empty());
}

#[test]
fn no_status_outside_the_configured_cycles() {
    let s = summarise(&[], &[invitation("2029-06-01")], "2030-01-01");
    assert!(s.pap.is_none());
    assert_eq!(s.date_invitation_max, Some(date("2029-06-01")));
}

/// The first day the same data give another summary: a stored summary is computed again then.
#[test]
fn valid_until_is_the_next_day_the_status_changes() {
    let valid_until = |rows: &[PvRow], invitations: &[&str], today: &str| {
        let invitations: Vec<Invitation> = invitations.iter().map(|d| invitation(d)).collect();
        summarise(rows, &invitations, today).valid_until
    };
    // Nothing ageing: the cycle's end.
    assert_eq!(valid_until(&[], &[], TODAY), Some(date("2029-01-01")));
    // Waiting: 120 days, then overdue (the 121st day).
    let pending = "2026-05-01";
    assert_eq!(
        valid_until(&[], &[pending], TODAY),
        Some(date("2026-08-30"))
    );
    let on = |day: &str| {
        let invitations = [invitation(pending)];
        summarise(&[], &invitations, day).pap.unwrap().statut_pap
    };
    assert_eq!(on("2026-08-29"), PapStatus::InvitationEnAttente);
    assert_eq!(on("2026-08-30"), PapStatus::InvitationSansPv);
    // Overdue: the invitation still counts until it is a year old, then goes to review.
    assert_eq!(
        valid_until(&[], &[pending], "2026-09-15"),
        Some(date("2027-05-01"))
    );
    let invitations = [invitation(pending)];
    let later = summarise(&[], &invitations, "2027-05-01").pap.unwrap();
    assert_eq!(later.statut_pap, PapStatus::AucuneInvitation);
    assert_eq!(later.invitations_a_revoir, vec![date(pending)]);
    // An invitation followed by its election no longer ages.
    assert_eq!(
        valid_until(&[election_on("2026-05-20")], &[pending], TODAY),
        Some(date("2029-01-01"))
    );
    // Before the first cycle: when it starts.
    assert_eq!(
        valid_until(&[], &[], "2008-06-01"),
        Some(date("2009-01-01"))
    );
    assert_eq!(valid_until(&[], &[], "2030-06-01"), None);
}
