//! Builders shared by the summary suites.

#![allow(dead_code)]

use chrono::NaiveDate;
use relais_elections::domain::{
    College, CycleTable, Invitation, PvKind, PvRow, Siret, SiretSummary, Summariser, SummaryConfig,
    Votes,
};

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub fn votes(text: &str) -> Votes {
    Votes::parse(text).unwrap()
}

pub fn siret(text: &str) -> Siret {
    Siret::parse(text).unwrap()
}

/// A row of `data/pv/pv_real_public.csv` (`pv_number,siret,raison_sociale,ville,idcc,college,
/// date,inscrits,votants,sve,cgt,cfdt,cgt_fo,cftc,cfe_cgc,solidaires,unsa,autres,departement,
/// source_file`), for lines without quoted fields.
pub fn real(line: &str) -> PvRow {
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!(f.len(), 20, "{line}");
    let d = date(f[6]);
    let v = |i: usize| votes(f[i]);
    PvRow {
        pv_number: Some(f[0].to_owned()),
        siret: siret(f[1]),
        kind: PvKind::Cse,
        date: Some(d),
        cycle: CycleTable::standard().cycle_of(d).unwrap().clone(),
        college: College::parse(f[5]),
        inscrits: f[7].parse().unwrap(),
        votants: Some(f[8].parse().unwrap()),
        sve: v(9),
        // Union order: CGT, CFDT, FO, CFTC, CGC, UNSA, Solidaires, autres.
        votes: [v(10), v(11), v(12), v(13), v(14), v(16), v(15), v(17)],
        seats_to_fill: None,
        seats: None,
        raison_sociale: Some(f[2].to_owned()),
        ville: Some(f[3].to_owned()),
        cp: None,
        departement: Some(f[18].to_owned()),
        idcc: Some(f[4].to_owned()),
        idcc_label: None,
    }
}

/// The SIRET of the synthetic rows.
pub const SIRET: &str = "34329419500239";

/// A synthetic CSE row: `votes` in union order (CGT, CFDT, FO, CFTC, CGC, UNSA, Solidaires,
/// autres), SVE their sum, votants = inscrits.
pub fn pv(day: &str, college: &str, inscrits: i64, union_votes: [&str; 8]) -> PvRow {
    let d = date(day);
    let v = union_votes.map(votes);
    PvRow {
        pv_number: None,
        siret: siret(SIRET),
        kind: PvKind::Cse,
        date: Some(d),
        cycle: CycleTable::standard().cycle_of(d).unwrap().clone(),
        college: College::parse(college),
        inscrits,
        votants: Some(inscrits),
        sve: v.iter().copied().sum(),
        votes: v,
        seats_to_fill: None,
        seats: None,
        raison_sociale: None,
        ville: None,
        cp: None,
        departement: None,
        idcc: None,
        idcc_label: None,
    }
}

/// A carence row.
pub fn carence(day: &str, college: &str, inscrits: i64) -> PvRow {
    PvRow {
        kind: PvKind::Carence,
        votants: None,
        ..pv(day, college, inscrits, ["0"; 8])
    }
}

pub const NO_VOTES: [&str; 8] = ["0"; 8];

/// CGT and FO votes only.
pub fn cgt_fo(cgt: &'static str, fo: &'static str) -> [&'static str; 8] {
    [cgt, "0", fo, "0", "0", "0", "0", "0"]
}

pub fn invitation(day: &str) -> Invitation {
    Invitation {
        date: date(day),
        ..Invitation::default()
    }
}

/// The summary with the standard cycles and default settings.
pub fn summarise(rows: &[PvRow], invitations: &[Invitation], today: &str) -> SiretSummary {
    let siret = rows.first().map_or_else(|| siret(SIRET), |r| r.siret);
    Summariser::new(CycleTable::standard(), SummaryConfig::default())
        .summarise(siret, rows, invitations, date(today))
        .unwrap()
}
