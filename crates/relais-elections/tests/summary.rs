//! The per-SIRET summary on real PV rows (copied from `data/pv/pv_real_public.csv`) and on
//! hand-computed SIRETs.

mod common;

use common::*;
use relais_elections::domain::{
    CycleTable, ElectionSummary, Invitation, Summariser, SummaryConfig, SummaryError, Union, Votes,
};

/// The election of a cycle, which must exist.
fn election<'a>(s: &'a relais_elections::domain::SiretSummary, cycle: &str) -> &'a ElectionSummary {
    s.cycle(cycle)
        .unwrap_or_else(|| panic!("{cycle} configured"))
        .election
        .as_ref()
        .unwrap_or_else(|| panic!("an election in {cycle}"))
}

/// Seats won per union, in union order.
fn seats(e: &ElectionSummary) -> [u32; 8] {
    e.seats.by_union.0
}

#[test]
fn real_siret_with_three_colleges_sums_them_and_estimates_seats() {
    let rows = [
        "4654389,76820101400042,MOULAGES INDUSTRIELS DU HAUT BUGEY,GROISSIAT,0292,03,20220602,30,26,21.0,0,0.0,0.0,21.0,0.0,0.0,0.0,0.0,01,departement_01.json",
        "4654390,76820101400042,MOULAGES INDUSTRIELS DU HAUT BUGEY,GROISSIAT,0292,02,20220602,56,48,43.0,9,0.0,0.0,34.0,0.0,0.0,0.0,0.0,01,departement_01.json",
        "4654391,76820101400042,MOULAGES INDUSTRIELS DU HAUT BUGEY,GROISSIAT,0292,01,20220602,85,73,56.0,33,0.0,0.0,23.0,0.0,0.0,0.0,0.0,01,departement_01.json",
    ]
    .map(real);
    let s = summarise(&rows, &[], "2026-01-15");
    assert_eq!(s.siret.as_str(), "76820101400042");
    assert_eq!(
        s.raison_sociale.as_deref(),
        Some("MOULAGES INDUSTRIELS DU HAUT BUGEY")
    );
    assert_eq!(s.ville.as_deref(), Some("GROISSIAT"));
    assert_eq!(s.idcc.as_deref(), Some("0292"));
    assert_eq!(s.departement.as_deref(), Some("01"));
    assert_eq!(s.date_pv_max, Some(date("2022-06-02")));
    assert_eq!(s.prochaine_election, Some(date("2026-06-02")));
    assert!(s.cycle("C3").unwrap().election.is_none());
    assert!(s.cycle("C5").unwrap().election.is_none());
    let e = election(&s, "C4");
    assert_eq!(e.date, Some(date("2022-06-02")));
    assert!(!e.carence);
    assert_eq!((e.rows, e.inscrits, e.votants), (3, 171, 147));
    assert_eq!(e.sve, votes("120"));
    assert_eq!(e.voix[Union::Cgt], votes("42"));
    assert_eq!(e.voix[Union::Cftc], votes("78"));
    assert_eq!(e.shares[Union::Cgt], Some(0.35));
    assert!(e.cgt_presente && e.cgt_representative && s.cgt_implantee);
    // 171 inscrits → 8 seats; split on inscrits 30/56/85: one each, then 01, 01, 02, 01, 02
    // → 1/3/4. Collège 03: CFTC 1. Collège 02 (43 SVE): CFTC 3. Collège 01 (56 SVE, CGT 33,
    // CFTC 23): quotient 14 gives 2/1, the last seat to CFTC (23/2 = 11.5 > 33/3 = 11).
    assert_eq!(seats(e), [2, 0, 0, 6, 0, 0, 0, 0]);
    assert_eq!((e.seats.to_fill, e.seats.vacant), (8, 0));
    assert!(e.seats.estimated);
    assert_eq!(e.seats.unresolved_ties, 0);
}

#[test]
fn real_joint_lists_tie_in_every_college_and_no_column_wins() {
    // CGT and CFTC ran a joint list whose votes are split half and half.
    let rows = [
        "4928162,51394647500011,EUROCAST REYRIEUX,REYRIEUX,3248,02,20230918,53,47,45.0,22.5,0.0,0.0,22.5,0.0,0.0,0.0,0.0,01,departement_01.json",
        "4928163,51394647500011,EUROCAST REYRIEUX,REYRIEUX,3248,03,20230918,45,31,24.0,12,0.0,0.0,12.0,0.0,0.0,0.0,0.0,01,departement_01.json",
        "4928164,51394647500011,EUROCAST REYRIEUX,REYRIEUX,3248,01,20230918,63,51,46.0,23,0.0,0.0,23.0,0.0,0.0,0.0,0.0,01,departement_01.json",
    ]
    .map(real);
    let s = summarise(&rows, &[], "2026-01-15");
    let e = election(&s, "C4");
    assert_eq!(e.voix[Union::Cgt], votes("57.5"));
    assert_eq!(e.voix[Union::Cftc], votes("57.5"));
    assert_eq!(e.sve, votes("115"));
    assert!(e.cgt_representative);
    // 161 inscrits → 8 seats, split 3 (02) / 2 (03) / 3 (01). Each collège: one seat each,
    // and in 02 and 01 the third seat is an unresolved tie.
    assert_eq!(seats(e), [3, 0, 0, 3, 0, 0, 0, 0]);
    assert_eq!((e.seats.unresolved_ties, e.seats.unresolved_seats), (2, 2));
    assert_eq!(e.seats.to_fill, 8);
}

#[test]
fn real_decimal_votes_sum_exactly() {
    let rows = [
        "4765335,82264377100030,STS PLASTICS ETS IZERNORE,IZERNORE,0292,02,20221201,37,33,32.0,0,14.08,0.0,14.72,3.2,0.0,0.0,0.0,01,departement_01.json",
        "4765336,82264377100030,STS PLASTICS ETS IZERNORE,IZERNORE,0292,01,20221201,71,63,53.0,0,35.51,0.0,17.49,0.0,0.0,0.0,0.0,01,departement_01.json",
    ]
    .map(real);
    let s = summarise(&rows, &[], "2026-01-15");
    let e = election(&s, "C4");
    assert_eq!(e.voix[Union::Cfdt], votes("49.59"));
    assert_eq!(e.voix[Union::Cftc], votes("32.21"));
    assert_eq!(e.voix[Union::Cgc], votes("3.2"));
    assert_eq!(e.sve, votes("85"));
    assert!(!e.cgt_presente && !e.cgt_representative && !s.cgt_implantee);
    assert_eq!(e.shares[Union::Cgt], Some(0.0));
    // 108 inscrits → 6 seats, split 2 (02) / 4 (01). 02: CFTC 14.72, CFDT 14.08 → 1/1.
    // 01: CFDT 35.51, 17.755, CFTC 17.49, CFDT 11.84 → CFDT 3, CFTC 1.
    assert_eq!(seats(e), [0, 4, 0, 2, 0, 0, 0, 0]);

    // Sums of many decimal rows are exact, and the 10 % threshold is compared exactly.
    let mut rows: Vec<_> = (0..1000)
        .map(|i| {
            let mut r = pv(
                "2022-03-01",
                "01",
                10,
                ["0.1", "0.9", "0", "0", "0", "0", "0", "0"],
            );
            r.pv_number = Some(i.to_string());
            r
        })
        .collect();
    let e = election(&summarise(&rows, &[], "2026-01-15"), "C4").clone();
    assert_eq!(e.voix[Union::Cgt], Votes::whole(100));
    assert_eq!(e.sve, Votes::whole(1000));
    assert!(e.cgt_representative, "exactly 10 % is representative");
    rows[0].votes[Union::Cgt.index()] = votes("0.0999");
    rows[0].sve = votes("0.9999");
    let e = election(&summarise(&rows, &[], "2026-01-15"), "C4").clone();
    assert_eq!(e.voix[Union::Cgt], votes("99.9999"));
    assert!(!e.cgt_representative, "99.9999 of 999.9999 is below 10 %");
}

#[test]
fn real_several_dates_in_a_cycle_keep_the_latest_only() {
    let rows = [
        "4972378,50851378500164,SOCOPA VIANDES,VILLEFRANCHE D ALLIER,1534,03,20231027,37,32,27.0,0,0.0,0.0,0.0,27.0,0.0,0.0,0.0,03,departement_03.json",
        "4972379,50851378500164,SOCOPA VIANDES,VILLEFRANCHE D ALLIER,1534,02,20231027,36,31,27.0,0,0.0,0.0,0.0,27.0,0.0,0.0,0.0,03,departement_03.json",
        "4972380,50851378500164,SOCOPA VIANDES,VILLEFRANCHE D ALLIER,1534,01,20231021,441,334,303.0,99,123.0,81.0,0.0,0.0,0.0,0.0,0.0,03,departement_03.json",
    ]
    .map(real);
    let s = summarise(&rows, &[], "2026-01-15");
    let e = election(&s, "C4");
    assert_eq!(e.date, Some(date("2023-10-27")));
    assert_eq!((e.rows, e.inscrits, e.votants), (2, 73, 63));
    assert_eq!(e.voix[Union::Cgc], votes("54"));
    assert_eq!(
        e.voix[Union::Cgt],
        Votes::ZERO,
        "the 21 October collège is not summed"
    );
    assert!(!e.cgt_presente && !s.cgt_implantee);
    // 73 inscrits → 4 seats, 2 and 2.
    assert_eq!(seats(e), [0, 0, 0, 0, 4, 0, 0, 0]);
    assert_eq!(s.date_pv_max, Some(date("2023-10-27")));
}

#[test]
fn pv_seat_counts_are_used_and_the_estimate_fills_the_rest() {
    // Collège 01 gives 3 seats: 40, 20 (CGT/2) and 20 (CFDT) tie on the average; the list with
    // more votes (CGT) takes it. Collège 02 gives nothing: 110 inscrits → 6 seats, split
    // 5 / 1 on inscrits 80 / 30; its one seat goes to FO.
    let mut a = pv(
        "2022-03-10",
        "01",
        80,
        ["40", "20", "0", "0", "0", "0", "0", "0"],
    );
    a.seats_to_fill = Some(3);
    let b = pv("2022-03-10", "02", 30, cgt_fo("5", "10"));
    let s = summarise(&[a.clone(), b], &[], "2026-01-15");
    let e = election(&s, "C4");
    assert_eq!(seats(e), [2, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(e.seats.to_fill, 4);
    assert!(e.seats.estimated);

    // Every row gives its seats: nothing estimated; seats won given as such are used, and
    // seats to fill beyond them are vacant.
    let mut c = pv("2022-03-10", "02", 30, cgt_fo("5", "10"));
    c.seats_to_fill = Some(2);
    c.seats = Some([0, 0, 1, 0, 0, 0, 0, 0]);
    let s = summarise(&[a, c], &[], "2026-01-15");
    let e = election(&s, "C4");
    assert_eq!(seats(e), [2, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!((e.seats.to_fill, e.seats.vacant), (5, 1));
    assert!(!e.seats.estimated);
}

#[test]
fn a_carence_is_no_election_and_a_partial_one_is_an_election() {
    let rows = [
        // C3: only carences.
        carence("2018-06-01", "01", 40),
        carence("2018-06-01", "02", 15),
        // C4: collège 01 voted, collège 03 had no candidates.
        pv("2022-05-01", "01", 50, cgt_fo("30", "10")),
        carence("2022-05-01", "03", 12),
    ];
    let s = summarise(&rows, &[], "2026-01-15");
    let c3 = election(&s, "C3");
    assert!(c3.carence);
    assert_eq!((c3.rows, c3.carence_rows, c3.inscrits), (2, 2, 55));
    assert!(!c3.cgt_presente);
    assert_eq!(c3.shares[Union::Cgt], None, "no share of nothing");
    assert_eq!(seats(c3), [0; 8]);
    assert_eq!(c3.seats.vacant, c3.seats.to_fill);

    let c4 = election(&s, "C4");
    assert!(!c4.carence);
    assert_eq!((c4.rows, c4.carence_rows, c4.inscrits), (2, 1, 62));
    assert_eq!(
        c4.votants_missing, 0,
        "a carence without votants is not missing any"
    );
    // 62 inscrits → 4 seats, 3 / 1. Collège 01: 30, 15, then CGT/3 = 10 and FO = 10 tie on
    // the average and CGT has more votes. Collège 03's seat stays vacant.
    assert_eq!(seats(c4), [3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!((c4.seats.to_fill, c4.seats.vacant), (4, 1));
    assert!(s.cgt_implantee);
}

#[test]
fn cgt_implantee_looks_at_the_latest_cycle_with_an_election() {
    let c3 = pv("2019-02-01", "05", 40, cgt_fo("12", "20"));
    // C4 only has a carence: C3 decides.
    let s = summarise(
        &[c3.clone(), carence("2023-02-01", "05", 40)],
        &[],
        "2026-01-15",
    );
    assert!(s.cgt_implantee);
    assert!(election(&s, "C3").cgt_presente);
    assert!(!election(&s, "C4").cgt_presente);
    // C4 has an election without CGT votes: C4 decides.
    let c4 = pv("2023-02-01", "05", 40, cgt_fo("0", "20"));
    assert!(!summarise(&[c3.clone(), c4], &[], "2026-01-15").cgt_implantee);
    // Only carences: not implanted.
    assert!(!summarise(&[carence("2023-02-01", "05", 40)], &[], "2026-01-15").cgt_implantee);
    // No PV at all.
    let s = summarise(&[], &[], "2026-01-15");
    assert!(!s.cgt_implantee);
    assert!(s.cycles.iter().all(|c| c.election.is_none()));
    assert_eq!(s.cycles.len(), 5);
}

#[test]
fn undated_rows_are_an_election_only_when_the_cycle_has_no_dated_one() {
    let mut undated = pv("2022-01-01", "01", 30, cgt_fo("10", "5"));
    undated.date = None;
    let s = summarise(std::slice::from_ref(&undated), &[], "2026-01-15");
    let e = election(&s, "C4");
    assert_eq!(e.date, None);
    assert_eq!(e.voix[Union::Cgt], votes("10"));
    assert_eq!(s.date_pv_max, None);
    assert_eq!(s.prochaine_election, None);

    let dated = pv("2023-04-01", "01", 30, cgt_fo("0", "15"));
    let s = summarise(&[undated, dated], &[], "2026-01-15");
    let e = election(&s, "C4");
    assert_eq!(e.date, Some(date("2023-04-01")));
    assert_eq!(e.voix[Union::Cgt], Votes::ZERO);
}

#[test]
fn identity_takes_the_most_recent_value_of_each_field() {
    let mut old = pv("2019-05-01", "01", 30, cgt_fo("10", "5"));
    old.raison_sociale = Some("ANCIEN NOM".into());
    old.ville = Some("LYON".into());
    old.idcc = Some("0292".into());
    let mut new = pv("2023-05-01", "01", 30, cgt_fo("10", "5"));
    new.raison_sociale = Some("NOUVEAU NOM".into());
    new.ville = Some("  ".into());
    new.idcc = Some("3248".into());
    let invitations = [
        Invitation {
            cp: Some("69003".into()),
            raison_sociale: Some("NOM DE L'INVITATION".into()),
            ..invitation("2025-06-01")
        },
        Invitation {
            cp: Some("69001".into()),
            ..invitation("2024-06-01")
        },
    ];
    let s = summarise(&[new, old], &invitations, "2026-01-15");
    assert_eq!(s.raison_sociale.as_deref(), Some("NOUVEAU NOM"));
    assert_eq!(
        s.ville.as_deref(),
        Some("LYON"),
        "an empty value is skipped"
    );
    assert_eq!(s.idcc.as_deref(), Some("3248"));
    assert_eq!(
        s.cp.as_deref(),
        Some("69003"),
        "no PV gives it: the latest invitation"
    );
    assert_eq!(s.date_invitation_max, Some(date("2025-06-01")));
    assert_eq!(s.prochaine_election, Some(date("2027-05-01")));
}

#[test]
fn rows_of_another_siret_are_refused() {
    let row = real(
        "4654389,76820101400042,MOULAGES INDUSTRIELS DU HAUT BUGEY,GROISSIAT,0292,03,20220602,30,26,21.0,0,0.0,0.0,21.0,0.0,0.0,0.0,0.0,01,departement_01.json",
    );
    let mut summariser = Summariser::new(CycleTable::standard(), SummaryConfig::default());
    let err = summariser
        .summarise(siret(SIRET), &[row], &[], date("2026-01-15"))
        .unwrap_err();
    assert!(matches!(err, SummaryError::OtherSiret { .. }));
    assert!(err.to_string().contains("76820101400042"));
}

#[test]
fn a_summariser_reused_across_sirets_gives_fresh_results() {
    let first = [
        "4765335,82264377100030,STS PLASTICS ETS IZERNORE,IZERNORE,0292,02,20221201,37,33,32.0,0,14.08,0.0,14.72,3.2,0.0,0.0,0.0,01,departement_01.json",
        "4765336,82264377100030,STS PLASTICS ETS IZERNORE,IZERNORE,0292,01,20221201,71,63,53.0,0,35.51,0.0,17.49,0.0,0.0,0.0,0.0,01,departement_01.json",
    ]
    .map(real);
    let second = [pv("2019-05-01", "01", 30, cgt_fo("10", "5"))];
    let today = date("2026-01-15");
    let mut shared = Summariser::new(CycleTable::standard(), SummaryConfig::default());
    let a = shared
        .summarise(first[0].siret, &first, &[], today)
        .unwrap();
    let b = shared
        .summarise(second[0].siret, &second, &[], today)
        .unwrap();
    assert_eq!(a, summarise(&first, &[], "2026-01-15"));
    assert_eq!(b, summarise(&second, &[], "2026-01-15"));
    assert_ne!(a.cycle("C4"), b.cycle("C4"));
}

#[test]
fn the_json_shape_maps_to_the_upstream_names() {
    let rows = [
        "4761518,77931002800013,OGEC SAINT-JOSEPH DE BOURG-EN-BRESSE,BOURG-EN-BRESSE,3218,02,20221201,88,67,67.0,21.75,38.0,0.0,0.0,0.0,0.0,7.25,0.0,01,departement_01.json",
        "4761519,77931002800013,OGEC SAINT-JOSEPH DE BOURG-EN-BRESSE,BOURG-EN-BRESSE,3218,01,20221201,26,23,23.0,11,12.0,0.0,0.0,0.0,0.0,0.0,0.0,01,departement_01.json",
    ]
    .map(real);
    let s = summarise(&rows, &[invitation("2022-09-01")], "2026-01-15");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["siret"], "77931002800013");
    assert_eq!(json["date_pv_max"], "2022-12-01");
    assert_eq!(json["cgt_implantee"], true);
    let c4 = &json["cycles"][3];
    assert_eq!(c4["cycle"], "C4");
    let e = &c4["election"];
    assert_eq!(e["date"], "2022-12-01");
    assert_eq!(e["carence"], false);
    assert_eq!(e["inscrits"], 114);
    assert_eq!(e["sve"], 90);
    assert_eq!(e["voix"]["cgt"], 32.75);
    assert_eq!(e["voix"]["unsa"], 7.25);
    // 114 inscrits → 6 seats, 5 (02) / 1 (01). 02: CFDT 38, CGT 21.75, CFDT 19, CFDT 12.67,
    // CGT 10.875. 01: CFDT 12 against CGT 11.
    assert_eq!(e["seats"]["by_union"]["cgt"], 2);
    assert_eq!(e["seats"]["by_union"]["cfdt"], 4);
    assert_eq!(e["seats"]["estimated"], true);
    assert_eq!(json["cycles"][4]["election"], serde_json::Value::Null);
    // The invitation of September 2022 belongs to the December 2022 election (C4): nothing
    // counts for C5.
    assert_eq!(json["pap"]["cycle"], "C5");
    assert_eq!(json["pap"]["statut_pap"], "aucune_invitation");
    assert_eq!(json["pap"]["date_pap"], serde_json::Value::Null);
}
