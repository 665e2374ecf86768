//! Seat allocation against the published vectors (`fixtures/seat-vectors.json`, a copy of the
//! domain reference's `data/seat-vectors.json`), and properties checked against a plain D'Hondt
//! reference.

use std::cmp::Ordering;

use proptest::prelude::*;
use relais_elections::domain::{
    Allocation, SEATS_BY_HEADCOUNT_R2314_1, UnresolvedTie, Votes, allocate, estimate_seats,
    seats_for_headcount,
};
use serde_json::Value;

const VECTORS: &str = include_str!("fixtures/seat-vectors.json");

/// Vectors in the published format for the `tie_unresolved` form, which the published set does
/// not contain: `expected_seats` gives the lists' seats and names the lists tied for the seats
/// left over.
const TIE_VECTORS: &str = r#"[
  {"id": "equal_lists_one_seat", "seats": 1, "votes": {"A": 10, "B": 10},
   "expected_seats": {"tie_unresolved": ["A", "B"]}},
  {"id": "tie_after_the_more_votes_rule", "seats": 3, "votes": {"A": 20, "B": 10, "C": 10},
   "expected_seats": {"A": 2, "tie_unresolved": ["B", "C"]}},
  {"id": "three_way_tie_two_seats", "seats": 4, "votes": {"A": 30, "B": 10.5, "C": 10.5, "D": 10.5},
   "expected_seats": {"A": 2, "tie_unresolved": ["B", "C", "D"]}},
  {"id": "equal_lists_enough_seats", "seats": 4, "votes": {"A": 7.25, "B": 7.25},
   "expected_seats": {"A": 2, "B": 2}}
]"#;

fn votes_of(value: &Value) -> Votes {
    Votes::parse(&value.to_string()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// Checks one vector: the lists' seats, and the unresolved tie when the vector names one.
fn check(vector: &Value) {
    let id = vector["id"].as_str().expect("id");
    let seats = u32::try_from(vector["seats"].as_u64().expect("seats")).expect("u32");
    let lists: Vec<(&String, Votes)> = vector["votes"]
        .as_object()
        .expect("votes")
        .iter()
        .map(|(name, v)| (name, votes_of(v)))
        .collect();
    let votes: Vec<Votes> = lists.iter().map(|(_, v)| *v).collect();
    // The vectors give the lists' votes; their total is the SVE.
    let sve: Votes = votes.iter().copied().sum();
    let got = allocate(seats, sve, &votes);

    let expected = vector["expected_seats"]
        .as_object()
        .expect("expected_seats");
    let tied: Vec<&str> = expected
        .get("tie_unresolved")
        .map(|t| {
            t.as_array()
                .expect("tie_unresolved is a list of names")
                .iter()
                .map(|n| n.as_str().expect("name"))
                .collect()
        })
        .unwrap_or_default();
    for (i, (name, _)) in lists.iter().enumerate() {
        let want = match expected.get(name.as_str()) {
            Some(n) => n.as_u64().expect("seat count"),
            None => {
                assert!(
                    tied.contains(&name.as_str()),
                    "{id}: no expectation for {name}"
                );
                0
            }
        };
        assert_eq!(u64::from(got.seats[i]), want, "{id}: seats of {name}");
    }
    if tied.is_empty() {
        assert!(got.unresolved.is_empty(), "{id}: {:?}", got.unresolved);
        assert_eq!(got.allocated(), seats, "{id}: every seat allocated");
    } else {
        assert_eq!(got.unresolved.len(), 1, "{id}");
        let names: Vec<&str> = got.unresolved[0]
            .lists
            .iter()
            .map(|&i| lists[i].0.as_str())
            .collect();
        assert_eq!(names, tied, "{id}: tied lists");
        assert_eq!(got.allocated() + got.tied(), seats, "{id}: seats at stake");
    }
    if let Some(hare) = vector.get("expected_largest_remainder") {
        let hare: Vec<u64> = lists
            .iter()
            .map(|(n, _)| hare[n.as_str()].as_u64().unwrap())
            .collect();
        let ours: Vec<u64> = got.seats.iter().map(|&s| u64::from(s)).collect();
        assert_ne!(ours, hare, "{id}: not the largest-remainder result");
    }
}

#[test]
fn every_published_vector() {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 12, "the fixture's vectors");
    for vector in vectors {
        check(vector);
    }
}

#[test]
fn the_tie_unresolved_form() {
    let vectors: Vec<Value> = serde_json::from_str(TIE_VECTORS).unwrap();
    for vector in &vectors {
        check(vector);
    }
}

#[test]
fn the_headcount_table_is_the_published_one() {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let rows = file["seats_by_headcount_R2314_1"]["rows"]
        .as_array()
        .unwrap();
    let published: Vec<(i64, Option<i64>, u32)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap(),
                r[1].as_i64(),
                u32::try_from(r[2].as_u64().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(published, SEATS_BY_HEADCOUNT_R2314_1);
    for (min, max, seats) in published {
        assert_eq!(seats_for_headcount(min), seats);
        if let Some(max) = max {
            assert_eq!(seats_for_headcount(max), seats);
        }
    }
    assert_eq!(seats_for_headcount(10), 0);
}

/// Plain D'Hondt: every list's votes divided by 1, 2, 3, …, the `seats` largest quotients win;
/// equal quotients go to more votes; when the last seats fall inside a group equal on both,
/// they are one unresolved tie between the group's lists.
fn dhondt(seats: u32, votes: &[Votes]) -> Allocation {
    let mut entries: Vec<(i128, u32, usize)> = Vec::new();
    for (i, v) in votes.iter().enumerate() {
        if v.is_positive() {
            for d in 1..=seats {
                entries.push((i128::from(v.units()), d, i));
            }
        }
    }
    let order = |a: &(i128, u32, usize), b: &(i128, u32, usize)| {
        (b.0 * i128::from(a.1))
            .cmp(&(a.0 * i128::from(b.1)))
            .then(b.0.cmp(&a.0))
    };
    entries.sort_by(order);
    let mut out = Allocation {
        seats: vec![0; votes.len()],
        unresolved: Vec::new(),
    };
    let cut = (seats as usize).min(entries.len());
    if cut == 0 {
        return out;
    }
    let last = entries[cut - 1];
    let straddles = entries
        .get(cut)
        .is_some_and(|next| order(&last, next) == Ordering::Equal);
    for e in &entries[..cut] {
        if !(straddles && order(e, &last) == Ordering::Equal) {
            out.seats[e.2] += 1;
        }
    }
    if straddles {
        let mut lists: Vec<usize> = entries
            .iter()
            .filter(|e| order(e, &last) == Ordering::Equal)
            .map(|e| e.2)
            .collect();
        lists.sort_unstable();
        let at_stake = entries[..cut]
            .iter()
            .filter(|e| order(e, &last) == Ordering::Equal)
            .count();
        out.unresolved.push(UnresolvedTie {
            seats: at_stake as u32,
            lists,
        });
    }
    out
}

/// Votes in ten-thousandths; small whole counts make ties frequent.
fn votes_strategy() -> impl Strategy<Value = Vec<Votes>> {
    prop_oneof![
        prop::collection::vec((0i64..=20).prop_map(Votes::whole), 1..=8),
        prop::collection::vec((0i64..=2_000_000).prop_map(Votes::from_units), 1..=8),
    ]
}

proptest! {
    #[test]
    fn every_seat_is_allocated_unless_a_tie_is_unresolved(
        seats in 0u32..=40, votes in votes_strategy(), extra in 0i64..=50_000,
    ) {
        let sve = votes.iter().copied().sum::<Votes>() + Votes::from_units(extra);
        let a = allocate(seats, sve, &votes);
        if votes.iter().any(|v| v.is_positive()) {
            prop_assert_eq!(a.allocated() + a.tied(), seats);
            if a.unresolved.is_empty() {
                prop_assert_eq!(a.allocated(), seats);
            }
        } else {
            prop_assert_eq!(a.allocated() + a.tied(), 0);
        }
    }

    #[test]
    fn never_fewer_than_the_quotient_gives(
        seats in 1u32..=40, votes in votes_strategy(), extra in 0i64..=50_000,
    ) {
        let total: Votes = votes.iter().copied().sum();
        prop_assume!(total.is_positive());
        let sve = total + Votes::from_units(extra);
        let a = allocate(seats, sve, &votes);
        for (won, v) in a.seats.iter().zip(&votes) {
            // The quotient on the SVE, and the stronger lower quota on the lists' total.
            let on_sve = i128::from(v.units()) * i128::from(seats) / i128::from(sve.units());
            let on_lists = i128::from(v.units()) * i128::from(seats) / i128::from(total.units());
            prop_assert!(i128::from(*won) >= on_sve.max(on_lists));
        }
    }

    #[test]
    fn a_list_gaining_votes_never_loses_seats(
        seats in 1u32..=40, votes in votes_strategy(), pick in any::<prop::sample::Index>(),
        gain in 1i64..=200_000,
    ) {
        let j = pick.index(votes.len());
        let mut more = votes.clone();
        more[j] += Votes::from_units(gain);
        let before = allocate(seats, votes.iter().copied().sum(), &votes);
        let after = allocate(seats, more.iter().copied().sum(), &more);
        prop_assert!(after.seats[j] >= before.seats[j], "{:?} then {:?}", before, after);
    }

    #[test]
    fn the_same_as_dhondt_whatever_the_sve(
        seats in 0u32..=40, votes in votes_strategy(), sve in 0i64..=20_000_000,
    ) {
        let a = allocate(seats, Votes::from_units(sve), &votes);
        prop_assert_eq!(a, dhondt(seats, &votes));
    }

    #[test]
    fn the_estimate_fills_the_table_and_serves_every_college_first(
        inscrits in prop::collection::vec(0i64..=3_000, 1..=6),
    ) {
        let total = seats_for_headcount(inscrits.iter().sum());
        let e = estimate_seats(&inscrits);
        prop_assert_eq!(e.allocated() + e.tied(), total);
        let voting = inscrits.iter().filter(|&&n| n > 0).count() as u32;
        if total >= voting {
            for (won, n) in e.seats.iter().zip(&inscrits) {
                prop_assert_eq!(*n > 0, *won >= 1);
            }
        }
    }
}
