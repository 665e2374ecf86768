//! The generated files, read back as an import would: determinism, exact row count, every
//! SIRET and figure parsing into the domain types, and the mix the benchmarks rely on.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::*;
use crate::domain::{Siret, Votes};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn run(pv_rows: u64, seed: u64) -> (Vec<u8>, Vec<u8>, DemoCounts) {
    let (mut pv, mut invitations) = (Vec::new(), Vec::new());
    let counts = generate(
        &DemoSpec::new(pv_rows, seed, today()),
        &mut pv,
        &mut invitations,
    )
    .expect("generated");
    (pv, invitations, counts)
}

fn records(bytes: &[u8]) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().unwrap().clone();
    let rows = reader.records().map(|r| r.expect("valid CSV")).collect();
    (header, rows)
}

fn date(text: &str, format: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, format).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_other_data() {
    let a = run(5_000, 7);
    let b = run(5_000, 7);
    assert!(a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
    let c = run(5_000, 8);
    assert_ne!(a.0, c.0);
}

#[test]
fn the_row_count_is_exact_even_when_tiny() {
    for n in [0, 1, 2, 3, 17, 1_000] {
        let (pv, _, counts) = run(n, 1);
        let (header, rows) = records(&pv);
        assert_eq!(header.iter().collect::<Vec<_>>(), PV_COLUMNS);
        assert_eq!(rows.len() as u64, n);
        assert_eq!(counts.pv_rows, n);
    }
}

/// One large run checked row by row.
#[test]
fn every_row_parses_and_the_mix_is_realistic() {
    const N: u64 = 60_000;
    let (pv, invitations, counts) = run(N, 2026);
    let (_, rows) = records(&pv);
    assert_eq!(rows.len() as u64, N);

    let col = |name: &str| PV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let (siret_c, date_c, college_c, type_c) =
        (col("siret"), col("date"), col("college"), col("type"));
    let (ins_c, vot_c, sve_c, cgt_c) = (col("inscrits"), col("votants"), col("sve"), col("cgt"));
    let seats_c = col("sieges_a_pourvoir");
    let cycles = CycleTable::standard();

    let mut pv_numbers = HashSet::new();
    let mut identity: HashMap<String, Vec<String>> = HashMap::new();
    let mut pv_dates: HashMap<String, Vec<NaiveDate>> = HashMap::new();
    let mut colleges = HashMap::new();
    let mut cycle_rows = HashMap::new();
    let (mut carences, mut decimals, mut cgt, mut la_poste, mut leading_zero) = (0, 0, 0, 0, 0);
    let (mut seats, mut sve_above_votants, mut no_inscrits) = (0, 0, 0);
    for row in &rows {
        let siret = Siret::parse(&row[siret_c]).expect("valid SIRET");
        assert_eq!(siret.as_str(), &row[siret_c], "written as 14 digits");
        la_poste += usize::from(siret.siren() == "356000000");
        leading_zero += usize::from(row[siret_c].starts_with('0'));
        assert!(
            pv_numbers.insert(row[0].to_owned()),
            "PV numbers are unique"
        );
        let ident: Vec<String> = [2, 3, 4, 18].iter().map(|i| row[*i].to_owned()).collect();
        let known = identity
            .entry(row[siret_c].to_owned())
            .or_insert(ident.clone());
        assert_eq!(*known, ident, "identity is stable per SIRET");

        let d = date(&row[date_c], "%Y%m%d");
        assert!(d <= today());
        pv_dates.entry(row[siret_c].to_owned()).or_default().push(d);
        *cycle_rows
            .entry(cycles.cycle_of(d).expect("in a cycle").to_string())
            .or_insert(0) += 1;
        *colleges.entry(row[college_c].to_owned()).or_insert(0) += 1;

        let inscrits: i64 = row[ins_c].parse().expect("inscrits");
        let votants: i64 = row[vot_c].parse().expect("votants");
        let sve = Votes::parse(&row[sve_c]).expect("sve");
        let votes: Vec<Votes> = (cgt_c..cgt_c + 8)
            .map(|i| Votes::parse(&row[i]).expect("votes"))
            .collect();
        let total: Votes = votes.iter().copied().sum();
        assert_eq!(total, sve, "the lists share the valid votes exactly");
        decimals += usize::from(votes.iter().any(|v| v.units() % Votes::SCALE != 0));
        cgt += usize::from(votes[0].is_positive());
        no_inscrits += usize::from(inscrits == 0);
        sve_above_votants += usize::from(sve > Votes::whole(votants));
        match &row[type_c] {
            "CAR" => {
                carences += 1;
                assert!(inscrits > 0 && votants == 0 && sve == Votes::ZERO);
                assert_eq!(&row[seats_c], "");
            }
            "CSE" => {}
            other => panic!("type {other}"),
        }
        if !row[seats_c].is_empty() {
            seats += 1;
            assert!(row[seats_c].parse::<u32>().unwrap() >= 1);
        }
    }
    let share = |n: usize| n as f64 / N as f64;
    let election_rows = N as usize - carences;
    let cgt_share = cgt as f64 / election_rows as f64;
    assert!((0.33..0.44).contains(&cgt_share), "CGT on {cgt_share}");
    assert!(
        (0.05..0.2).contains(&share(carences)),
        "{carences} carences"
    );
    assert!(
        (0.005..0.05).contains(&share(decimals)),
        "{decimals} rows with decimals"
    );
    assert!(seats > N as usize / 5, "{seats} rows with seats");
    assert!(la_poste > 0 && leading_zero > 0);
    assert!(sve_above_votants > 0 && no_inscrits > 0, "oddities present");
    for code in ["01", "02", "03", "04", "05"] {
        assert!(
            colleges.get(code).copied().unwrap_or(0) > 500,
            "{colleges:?}"
        );
    }
    for cycle in ["C3", "C4", "C5"] {
        assert!(
            cycle_rows.get(cycle).copied().unwrap_or(0) > 5_000,
            "{cycle_rows:?}"
        );
    }
    let multi_cycle = pv_dates
        .values()
        .filter(|dates| {
            let set: HashSet<_> = dates.iter().filter_map(|d| cycles.cycle_of(*d)).collect();
            set.len() >= 2
        })
        .count();
    assert!(
        multi_cycle > identity.len() / 3,
        "{multi_cycle} SIRETs over several cycles"
    );

    let (header, invitations) = records(&invitations);
    assert_eq!(header.iter().collect::<Vec<_>>(), INVITATION_COLUMNS);
    assert_eq!(invitations.len() as u64, counts.invitations);
    assert!(
        invitations.len() > 2_000,
        "{} invitations",
        invitations.len()
    );
    let mut followed = 0;
    let mut unanswered = Vec::new();
    let mut invitation_sirets = HashSet::new();
    for inv in &invitations {
        Siret::parse(&inv[0]).expect("valid SIRET");
        invitation_sirets.insert(inv[0].to_owned());
        let d = date(&inv[1], "%d/%m/%Y");
        assert!(d <= today());
        assert_eq!(inv[6].len(), 5, "postal code");
        assert!(["Oui", "Non"].contains(&&inv[12]));
        match pv_dates
            .get(&inv[0])
            .and_then(|ds| ds.iter().filter(|p| **p >= d).min())
        {
            Some(pv) => {
                followed += 1;
                assert!(
                    (*pv - d).num_days() <= 181,
                    "{} invited {d}, PV {pv}",
                    &inv[0]
                );
            }
            None => unanswered.push(d),
        }
    }
    let followed_share = followed as f64 / invitations.len() as f64;
    assert!(followed_share > 0.7, "{followed_share} followed by a PV");
    let recent = unanswered
        .iter()
        .filter(|d| (today() - **d).num_days() <= 120)
        .count();
    assert!(
        recent > 0 && recent < unanswered.len(),
        "recent and old ones"
    );

    let sirets: HashSet<&String> = identity.keys().chain(invitation_sirets.iter()).collect();
    assert_eq!(counts.sirets, sirets.len() as u64);
}

#[test]
fn refusals_are_errors() {
    let mut sink = (Vec::new(), Vec::new());
    let late = DemoSpec::new(10, 1, NaiveDate::from_ymd_opt(2031, 1, 1).unwrap());
    assert!(matches!(
        generate(&late, &mut sink.0, &mut sink.1),
        Err(DemoError::Today { .. })
    ));
    let huge = DemoSpec::new(MAX_PV_ROWS + 1, 1, today());
    assert!(matches!(
        generate(&huge, &mut sink.0, &mut sink.1),
        Err(DemoError::TooManyRows { .. })
    ));
}
