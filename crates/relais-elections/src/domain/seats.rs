//! Seats: the allocation between lists in one collège (Code du travail R2314-19, R2314-20), the
//! headcount table R2314-1, and the estimate of seats to fill when a PV does not give them.
//!
//! All arithmetic is exact: votes are integers of ten-thousandths ([`Votes::units`]), quotients
//! are compared by cross-multiplication in `i128`, and no float is involved.

use std::cmp::Ordering;

use super::Votes;

/// The seats of one allocation, per list (or per collège for [`estimate_seats`]), in the order
/// of the input.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Allocation {
    /// Seats won, by input position.
    pub seats: Vec<u32>,
    /// Seats the rule cannot attribute: the lists tie on the average and on the votes, and the
    /// law's last resort (the older candidate) is not in the data. Never decided by position.
    pub unresolved: Vec<UnresolvedTie>,
}

/// Seats left undecided between lists that tie on the average and on the votes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnresolvedTie {
    /// How many seats are at stake (fewer than the tied lists).
    pub seats: u32,
    /// The tied lists, by input position, in increasing order.
    pub lists: Vec<usize>,
}

impl Allocation {
    /// Seats attributed to a list.
    pub fn allocated(&self) -> u32 {
        self.seats.iter().sum()
    }

    /// Seats reported as unresolved ties.
    pub fn tied(&self) -> u32 {
        self.unresolved.iter().map(|t| t.seats).sum()
    }

    fn reset(&mut self, lists: usize) {
        self.seats.clear();
        self.seats.resize(lists, 0);
        self.unresolved.clear();
    }
}

/// Allocates `seats` between lists by the quotient électoral then the highest average
/// (R2314-19, R2314-20), which is exactly D'Hondt.
///
/// 1. The quotient is the collège's SVE divided by the seats to fill. `sve` is taken as a
///    parameter because the law divides the valid votes, not the lists' total: with crossed-out
///    names a list's votes are the average of its candidates' votes, so the lists' total can be
///    below the SVE. When a row's SVE is *below* the lists' total (inconsistent data, counted as
///    a warning at import), the lists' total is used instead, so step 2 can never hand out more
///    seats than there are. Any quotient at or above lists' total / seats gives the same final
///    result (the D'Hondt one); the SVE only changes how many seats step 2 hands out.
/// 2. Each list gets floor(votes / quotient) seats, computed as floor(votes × seats / SVE).
/// 3. Remaining seats go one at a time to the highest average votes / (seats won + 1); on an
///    equal average the list with more votes wins; on equal votes too the remaining seats are
///    reported in [`Allocation::unresolved`] (all of the tied lists get a seat when enough
///    seats remain).
///
/// Lists with no votes never get a seat. When no list has votes (or `seats` is 0) nothing is
/// allocated; otherwise allocated + tied seats = `seats`.
pub fn allocate(seats: u32, sve: Votes, votes: &[Votes]) -> Allocation {
    let mut out = Allocation::default();
    allocate_into(seats, sve, votes, &mut out);
    out
}

/// [`allocate`] into a reused [`Allocation`] (no allocation once its buffers have grown).
pub fn allocate_into(seats: u32, sve: Votes, votes: &[Votes], out: &mut Allocation) {
    out.reset(votes.len());
    let total: i128 = votes.iter().map(|v| weight(v.units())).sum();
    if seats == 0 || total == 0 {
        return;
    }
    let dividend = i128::from(sve.units()).max(total);
    let mut given = 0u32;
    for (won, v) in out.seats.iter_mut().zip(votes) {
        // weight ≤ dividend, so the quotient is at most `seats`.
        *won = (weight(v.units()) * i128::from(seats) / dividend) as u32;
        given += *won;
    }
    highest_average(
        |i| weight(votes[i].units()),
        &mut out.seats,
        seats - given,
        &mut out.unresolved,
    );
}

/// The R2314-1 table: number of titulaires by headcount of the company or establishment, as
/// `(min, max, titulaires)` rows (`max` `None`: and above). Below 11 there is no CSE.
/// Source: Code du travail R2314-1 (décret 2017-1819), as published in `seat-vectors.json`
/// (`seats_by_headcount_R2314_1`); a test checks this copy against that file.
pub const SEATS_BY_HEADCOUNT_R2314_1: [(i64, Option<i64>, u32); 33] = [
    (11, Some(24), 1),
    (25, Some(49), 2),
    (50, Some(74), 4),
    (75, Some(99), 5),
    (100, Some(124), 6),
    (125, Some(149), 7),
    (150, Some(174), 8),
    (175, Some(199), 9),
    (200, Some(249), 10),
    (250, Some(399), 11),
    (400, Some(499), 12),
    (500, Some(599), 13),
    (600, Some(799), 14),
    (800, Some(899), 15),
    (900, Some(999), 16),
    (1000, Some(1249), 17),
    (1250, Some(1499), 18),
    (1500, Some(1749), 20),
    (1750, Some(1999), 21),
    (2000, Some(2249), 22),
    (2250, Some(2499), 23),
    (2500, Some(2999), 24),
    (3000, Some(3499), 25),
    (3500, Some(4249), 26),
    (4250, Some(4749), 27),
    (4750, Some(4999), 28),
    (5000, Some(5749), 29),
    (5750, Some(5999), 30),
    (6000, Some(6999), 31),
    (7000, Some(8249), 32),
    (8250, Some(8999), 33),
    (9000, Some(9999), 34),
    (10000, None, 35),
];

/// Titulaires for a headcount under R2314-1; 0 below 11.
pub fn seats_for_headcount(headcount: i64) -> u32 {
    SEATS_BY_HEADCOUNT_R2314_1
        .iter()
        .find(|(min, max, _)| *min <= headcount && max.is_none_or(|max| headcount <= max))
        .map_or(0, |row| row.2)
}

/// The estimate of §4 of the domain reference, for an election whose PVs do not give the seats
/// to fill. `inscrits` holds one entry per collège (per PV row) of the election. The total is
/// [`seats_for_headcount`] of the sum of the inscrits (the headcount is not in the data; the
/// registered voters stand for it), split between the entries by the highest average on their
/// inscrits, every entry with inscrits > 0 getting one seat first while seats remain (largest
/// inscrits first). Ties on equal inscrits at the last seats are reported as unresolved, like
/// lists (an entry's position is never a reason). Every figure this gives is an estimate.
pub fn estimate_seats(inscrits: &[i64]) -> Allocation {
    let mut out = Allocation::default();
    estimate_seats_into(inscrits, &mut out);
    out
}

/// [`estimate_seats`] into a reused [`Allocation`].
pub fn estimate_seats_into(inscrits: &[i64], out: &mut Allocation) {
    out.reset(inscrits.len());
    let headcount: i64 = inscrits.iter().map(|&n| n.max(0)).sum();
    let mut remaining = seats_for_headcount(headcount);
    // One seat each, largest first, while seats remain.
    while remaining > 0 {
        let best = (0..inscrits.len())
            .filter(|&i| inscrits[i] > 0 && out.seats[i] == 0)
            .map(|i| inscrits[i])
            .max();
        let Some(best) = best else { break };
        let group = |i: usize, seats: &[u32]| inscrits[i] == best && seats[i] == 0;
        let tied = (0..inscrits.len())
            .filter(|&i| group(i, &out.seats))
            .count() as u32;
        if tied <= remaining {
            for i in 0..inscrits.len() {
                if group(i, &out.seats) {
                    out.seats[i] = 1;
                }
            }
            remaining -= tied;
        } else {
            let lists = (0..inscrits.len())
                .filter(|&i| group(i, &out.seats))
                .collect();
            out.unresolved.push(UnresolvedTie {
                seats: remaining,
                lists,
            });
            return;
        }
    }
    highest_average(
        |i| i128::from(inscrits[i].max(0)),
        &mut out.seats,
        remaining,
        &mut out.unresolved,
    );
}

/// A list's weight: its votes in units, nothing below zero.
fn weight(units: i64) -> i128 {
    i128::from(units.max(0))
}

/// Hands out `remaining` seats one at a time to the highest weight / (seats + 1); equal
/// averages go to the larger weight; equal weights too (hence equal seats) share the seats when
/// there are enough for all, otherwise the seats are reported as one unresolved tie. Entries of
/// weight 0 never get a seat; the loop stops when no entry has weight.
fn highest_average(
    weight: impl Fn(usize) -> i128,
    seats: &mut [u32],
    mut remaining: u32,
    unresolved: &mut Vec<UnresolvedTie>,
) {
    while remaining > 0 {
        let mut best: Option<usize> = None;
        for i in 0..seats.len() {
            let w = weight(i);
            if w == 0 {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => match compare_averages(w, seats[i], weight(b), seats[b]) {
                    Ordering::Greater => true,
                    Ordering::Equal => w > weight(b),
                    Ordering::Less => false,
                },
            };
            if better {
                best = Some(i);
            }
        }
        let Some(b) = best else { return };
        let (wb, sb) = (weight(b), seats[b]);
        let in_group = |i: usize, seats: &[u32]| weight(i) == wb && seats[i] == sb;
        let tied = (0..seats.len()).filter(|&i| in_group(i, seats)).count() as u32;
        if tied <= remaining {
            for i in 0..seats.len() {
                if in_group(i, seats) {
                    seats[i] += 1;
                }
            }
            remaining -= tied;
        } else {
            let lists = (0..seats.len()).filter(|&i| in_group(i, seats)).collect();
            unresolved.push(UnresolvedTie {
                seats: remaining,
                lists,
            });
            return;
        }
    }
}

/// Compares wa / (sa + 1) with wb / (sb + 1) exactly.
fn compare_averages(wa: i128, sa: u32, wb: i128, sb: u32) -> Ordering {
    (wa * i128::from(sb + 1)).cmp(&(wb * i128::from(sa + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(v: &[i64]) -> Vec<Votes> {
        v.iter().map(|&n| Votes::whole(n)).collect()
    }

    #[test]
    fn the_quotient_step_then_the_highest_average() {
        // SVE 1000 > lists' total 950 (averages of crossed-out lists): quotient 250 gives 2/1/0,
        // then the averages 500/3, 300/2 and 150/1 → A.
        let a = allocate(4, Votes::whole(1000), &whole(&[500, 300, 150]));
        assert_eq!(a.seats, [3, 1, 0]);
        assert!(a.unresolved.is_empty());
    }

    #[test]
    fn a_tie_on_votes_is_unresolved_and_a_tie_on_the_average_goes_to_more_votes() {
        let a = allocate(1, Votes::whole(20), &whole(&[10, 10]));
        assert_eq!(a.seats, [0, 0]);
        assert_eq!(
            a.unresolved,
            [UnresolvedTie {
                seats: 1,
                lists: vec![0, 1]
            }]
        );
        // Two seats for two equal lists: each gets one, nothing unresolved.
        assert_eq!(allocate(2, Votes::ZERO, &whole(&[10, 10])).seats, [1, 1]);
        // Averages 20/2 = 10 and 10/1 = 10: the third seat goes to the list with 20 votes.
        let a = allocate(3, Votes::ZERO, &whole(&[20, 10, 3]));
        assert_eq!(a.seats, [2, 1, 0]);
    }

    #[test]
    fn an_sve_below_the_lists_total_never_over_allocates() {
        let a = allocate(2, Votes::whole(10), &whole(&[10, 10]));
        assert_eq!(a.seats, [1, 1]);
        assert_eq!(allocate(3, Votes::ZERO, &[]).seats, Vec::<u32>::new());
        assert_eq!(allocate(3, Votes::whole(5), &whole(&[0, 0])).seats, [0, 0]);
        assert_eq!(allocate(0, Votes::whole(5), &whole(&[5])).seats, [0]);
    }

    #[test]
    fn the_headcount_table_bounds() {
        for (headcount, seats) in [
            (-1, 0),
            (0, 0),
            (10, 0),
            (11, 1),
            (24, 1),
            (25, 2),
            (74, 4),
            (1499, 18),
            (1500, 20),
            (9999, 34),
            (10_000, 35),
            (1_000_000, 35),
        ] {
            assert_eq!(seats_for_headcount(headcount), seats, "{headcount}");
        }
        for w in SEATS_BY_HEADCOUNT_R2314_1.windows(2) {
            assert_eq!(w[0].1, Some(w[1].0 - 1), "rows are contiguous");
            assert!(w[0].2 < w[1].2, "seats grow");
        }
    }

    #[test]
    fn the_estimate_gives_each_college_a_seat_first() {
        // 60 inscrits → 4 seats: one each, then the highest average on inscrits: 45/2 against
        // 10/2 and 5/2 → the first collège.
        assert_eq!(estimate_seats(&[45, 10, 5]).seats, [2, 1, 1]);
        // 30 inscrits → 2 seats for three collèges: the two largest.
        assert_eq!(estimate_seats(&[20, 6, 4]).seats, [1, 1, 0]);
        // 30 inscrits → 2 seats, three collèges of 10: unresolved.
        let e = estimate_seats(&[10, 10, 10]);
        assert_eq!(e.seats, [0, 0, 0]);
        assert_eq!(e.unresolved[0].seats, 2);
        assert_eq!(e.unresolved[0].lists, [0, 1, 2]);
        // Under 11 inscrits: no seat; collèges without inscrits get none.
        assert_eq!(estimate_seats(&[6, 4]).seats, [0, 0]);
        assert_eq!(estimate_seats(&[200, 0]).seats, [10, 0]);
    }
}
