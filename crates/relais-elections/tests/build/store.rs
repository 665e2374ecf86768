//! The summary tables through the storage module: what is written is read back exactly, a
//! SIRET's cycle rows are replaced with it, deletions, pages in SIRET order.

use chrono::{DateTime, Utc};
use relais_elections::domain::{CycleTable, Invitation, PvKind, PvRow, Summariser, SummaryConfig};

use crate::common::{SIRET, carence, cgt_fo, date, invitation, pv, siret};
use crate::support::*;

fn built_at() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap()
}

/// The stored form of the summary of `rows` and `invitations` as of 2026-03-01.
fn stored(rows: &[PvRow], invitations: &[Invitation]) -> StoredSummary {
    let siret = rows.first().map_or_else(|| siret(SIRET), |r| r.siret);
    let s = Summariser::new(CycleTable::standard(), SummaryConfig::default())
        .summarise(siret, rows, invitations, date("2026-03-01"))
        .unwrap();
    StoredSummary::of(&s, built_at())
}

fn other(row: PvRow, s: &str) -> PvRow {
    PvRow {
        siret: siret(s),
        ..row
    }
}

pub(crate) async fn summaries_are_read_back_exactly(ctx: Ctx) {
    let env = env(&ctx).await;
    let mut named = pv("2019-05-06", "01", 120, cgt_fo("40.5", "22.25"));
    named.raison_sociale = Some("Société Générale d'Études S.A.".into());
    named.idcc = Some("1486".into());
    named.seats_to_fill = Some(3);
    let a = stored(
        &[
            named,
            pv("2019-05-06", "02", 30, cgt_fo("0", "17")),
            carence("2023-02-01", "05", 12),
            pv("2025-11-20", "05", 15, cgt_fo("1.0001", "0")),
        ],
        &[invitation("2025-09-01"), invitation("2020-01-15")],
    );
    assert_eq!(a.search_text, "societe generale d etudes s a");
    assert_eq!(a.cycles.len(), 3, "C3, C4 and C5 have a PV");
    assert_eq!(a.latest_cycle.as_ref().unwrap().as_str(), "C5");
    let b = stored(
        &[other(
            pv("2022-03-04", "03", 50, cgt_fo("0", "0")),
            "73282932000074",
        )],
        &[],
    );
    let only_invited = {
        let s = Summariser::new(CycleTable::standard(), SummaryConfig::default())
            .summarise(
                siret("44306184100047"),
                &[],
                &[invitation("2026-01-10")],
                date("2026-03-01"),
            )
            .unwrap();
        StoredSummary::of(&s, built_at())
    };
    assert!(only_invited.cycles.is_empty());
    assert_eq!(
        only_invited.pap.as_ref().unwrap().statut_pap.as_str(),
        "invitation_en_attente"
    );
    env.write(&[a.clone(), b.clone(), only_invited.clone()], 1)
        .await;
    assert_eq!(env.summary(SIRET).await, Some(a.clone()));
    assert_eq!(env.summary("73282932000074").await, Some(b.clone()));
    assert_eq!(
        env.summary("44306184100047").await,
        Some(only_invited.clone())
    );
    assert_eq!(store::summary_count(env.db()).await.unwrap(), 3);

    // Pages in SIRET order.
    let all = env.all_summaries(2).await;
    let sirets: Vec<&str> = all.iter().map(|s| s.siret.as_str()).collect();
    assert_eq!(sirets, [SIRET, "44306184100047", "73282932000074"]);

    // Written again with fewer cycles: the cycle rows are replaced.
    let a2 = stored(&[carence("2023-02-01", "05", 12)], &[]);
    assert_eq!(a2.cycles.len(), 1);
    assert_eq!(a2.cycles[0].election.rows, 1);
    assert!(a2.cycles[0].election.carence);
    env.write(std::slice::from_ref(&a2), 2).await;
    assert_eq!(env.summary(SIRET).await, Some(a2));
    assert_eq!(env.summary("73282932000074").await, Some(b));

    // Deleted.
    let mut tx = env.platform.store.begin().await.unwrap();
    let deleted = store::delete_summaries(&mut tx, &[SIRET, "44306184100047", "99999999999999"])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(env.summary(SIRET).await, None);
    assert_eq!(env.all_summaries(10).await.len(), 1);
    env.stop().await;
}

/// A carence-only row keeps its kind through the stored summary.
pub(crate) async fn a_carence_cycle_round_trips(ctx: Ctx) {
    let env = env(&ctx).await;
    let row = carence("2022-06-01", "01", 9);
    assert_eq!(row.kind, PvKind::Carence);
    let s = stored(&[row], &[]);
    env.write(std::slice::from_ref(&s), 1).await;
    let read = env.summary(SIRET).await.unwrap();
    assert!(read.cycle("C4").unwrap().election.carence);
    assert_eq!(read, s);
    env.stop().await;
}
