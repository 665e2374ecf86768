//! The figures of one collège row: inscrits, participation, blank and spoilt ballots, the lists
//! standing and their votes (joint lists split with decimals), and the real files' oddities at
//! their observed rates.

use fastrand::Rng;

use super::history::Election;
use super::identity::Establishment;
use super::random::Draw;
use crate::domain::{Union, Votes};

/// Rates of the oddities seen in the real file (per collège row).
const SVE_ABOVE_VOTANTS: f64 = 0.0013;
const VOTANTS_ABOVE_INSCRITS: f64 = 0.0003;
const NO_INSCRITS: f64 = 0.0002;
const NO_VALID_VOTE: f64 = 0.0013;
const FLOAT_NOISE: f64 = 0.0003;
/// Share of rows with two lists or more where two or three unions ran a joint list.
const JOINT_LIST: f64 = 0.065;

/// One PV × collège row's figures.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Row {
    pub(super) inscrits: i64,
    pub(super) votants: i64,
    pub(super) sve: Votes,
    /// In [`crate::domain::UNIONS`] order; they sum to `sve`.
    pub(super) votes: [Votes; 8],
    /// A cell written with binary-float noise (`0..8` a union, `8` the SVE).
    pub(super) noisy: Option<usize>,
}

/// The row of collège `index` of the establishment at `election`.
pub(super) fn cast(rng: &mut Rng, est: &Establishment, election: &Election, index: usize) -> Row {
    let college = est.structure.colleges[index];
    let inscrits = (election.headcount * est.shares[index] * rng.uniform(0.92, 1.08))
        .round()
        .max(1.0) as i64;
    let mut row = Row {
        inscrits,
        ..Row::default()
    };
    if election.carence {
        return row;
    }
    let participation = if rng.chance(0.02) {
        1.0
    } else {
        // Small collèges vote more; a draw above 1 is mirrored below it.
        let size = -0.05 * (inscrits as f64 / 100.0).ln();
        let p = est.participation + size + 0.11 * rng.normal();
        (if p > 1.0 { 2.0 - p } else { p }).clamp(0.05, 1.0)
    };
    row.votants = ((inscrits as f64 * participation).round() as i64).max(1);
    // Blank and spoilt ballots: none on some rows, usually a few percent, sometimes many.
    let blank_mean = if rng.chance(0.85) { 0.06 } else { 0.25 };
    let valid = if rng.chance(0.06) {
        1.0
    } else {
        (1.0 + blank_mean * (1.0 - rng.f64()).ln()).max(0.2)
    };
    let sve = if rng.chance(NO_VALID_VOTE) {
        0
    } else {
        (row.votants as f64 * valid).round() as i64
    };
    row.sve = Votes::whole(sve);
    if sve > 0 {
        share_out(rng, est, college, sve, &mut row.votes);
    }
    if rng.chance(SVE_ABOVE_VOTANTS) && sve >= 3 {
        row.votants = sve - rng.between(1, 2);
    } else if rng.chance(VOTANTS_ABOVE_INSCRITS) {
        row.votants = inscrits + rng.between(1, 3);
    }
    if rng.chance(NO_INSCRITS) {
        row.inscrits = 0;
    }
    if rng.chance(FLOAT_NOISE) && sve > 0 {
        row.noisy = if rng.bool() {
            Some(8)
        } else {
            row.votes.iter().position(|v| v.is_positive())
        };
    }
    row
}

/// Splits `sve` whole votes between the lists standing in this collège.
fn share_out(rng: &mut Rng, est: &Establishment, college: &str, sve: i64, votes: &mut [Votes; 8]) {
    let mut weights = [0.0; 8];
    let mut standing = 0;
    for (u, strength) in est.unions.iter().enumerate() {
        if *strength <= 0.0 {
            continue;
        }
        let stands = match (u == Union::Cgc.index(), college) {
            (true, "03") => 0.97,
            (true, "01") => 0.5,
            _ => 0.88,
        };
        if rng.chance(stands) {
            weights[u] = strength * rng.spread(0.35);
            standing += 1;
        }
    }
    if standing == 0 {
        let strongest = (0..8)
            .max_by(|a, b| est.unions[*a].total_cmp(&est.unions[*b]))
            .unwrap_or(0);
        weights[strongest] = 1.0;
        standing = 1;
    }
    let mut whole = [0i64; 8];
    largest_remainder(sve, &weights, &mut whole);
    for (v, w) in votes.iter_mut().zip(whole) {
        *v = Votes::whole(w);
    }
    if standing >= 2 && rng.chance(JOINT_LIST) {
        joint_list(rng, &weights, votes);
    }
}

/// Two or three standing unions ran one list: its votes are split between them as declared,
/// in hundredths (half each, or an agreed proportion).
fn joint_list(rng: &mut Rng, weights: &[f64; 8], votes: &mut [Votes; 8]) {
    let standing: Vec<usize> = (0..8).filter(|u| weights[*u] > 0.0).collect();
    let members = if standing.len() >= 3 && rng.chance(0.1) {
        3
    } else {
        2
    };
    let mut partners = [0usize; 3];
    let mut pool = standing;
    for slot in partners.iter_mut().take(members) {
        *slot = pool.swap_remove(rng.usize(..pool.len()));
    }
    let partners = &partners[..members];
    let total_units: i64 = partners.iter().map(|u| votes[*u].units()).sum();
    let hundredths = total_units / (Votes::SCALE / 100);
    let mut split_weights = [0.0; 8];
    for (i, _) in partners.iter().enumerate() {
        split_weights[i] = if rng.chance(0.5) {
            1.0
        } else {
            rng.uniform(0.2, 1.0)
        };
    }
    let mut parts = [0i64; 8];
    largest_remainder(hundredths, &split_weights[..members], &mut parts[..members]);
    for (u, part) in partners.iter().zip(parts) {
        votes[*u] = Votes::from_units(part * (Votes::SCALE / 100));
    }
}

/// Splits `total` in proportion to `weights` (at most 16; whole parts summing exactly to
/// `total`, the units left by rounding down going to the largest remainders).
fn largest_remainder(total: i64, weights: &[f64], out: &mut [i64]) {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return;
    }
    let mut remainders = [-1.0f64; 16];
    let mut rest = total;
    for (i, w) in weights.iter().enumerate() {
        let exact = total as f64 * w / sum;
        out[i] = exact.floor() as i64;
        rest -= out[i];
        if *w > 0.0 {
            remainders[i] = exact - exact.floor();
        }
    }
    while rest > 0 {
        let (i, r) = remainders[..weights.len()]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, r)| (i, *r))
            .expect("weights");
        if r < 0.0 {
            // Every remainder used (only through float rounding): start the round again.
            for (r, w) in remainders.iter_mut().zip(weights) {
                if *w > 0.0 {
                    *r = 0.0;
                }
            }
            continue;
        }
        out[i] += 1;
        remainders[i] = -1.0;
        rest -= 1;
    }
}

/// Seats to fill in a collège of `inscrits` (a plausible figure: the PV's own number, which a
/// company's PAP sets; not derived from the legal table).
pub(super) fn seats_to_fill(inscrits: i64) -> u32 {
    match inscrits {
        ..25 => 1,
        25..50 => 2,
        50..100 => 3,
        100..200 => 4,
        200..500 => 6,
        500..1_000 => 8,
        1_000..2_000 => 11,
        _ => 15,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_gives_exactly_the_total() {
        let mut rng = Rng::with_seed(5);
        for _ in 0..10_000 {
            let total = rng.i64(0..5_000);
            let weights: Vec<f64> = (0..8)
                .map(|_| if rng.bool() { rng.f64() } else { 0.0 })
                .chain([0.5])
                .collect();
            let mut out = vec![0; weights.len()];
            largest_remainder(total, &weights, &mut out);
            assert_eq!(out.iter().sum::<i64>(), total);
            for (o, w) in out.iter().zip(&weights) {
                assert!(*o >= 0);
                if *w == 0.0 {
                    assert_eq!(*o, 0);
                }
            }
        }
    }

    #[test]
    fn joint_lists_keep_the_sum_and_write_hundredths() {
        let mut rng = Rng::with_seed(11);
        let weights = [1.0, 0.5, 0.0, 0.7, 0.0, 0.0, 0.0, 0.0];
        for total in [1, 5, 45, 61, 999] {
            let mut votes = [Votes::ZERO; 8];
            let mut whole = [0; 8];
            largest_remainder(total, &weights, &mut whole);
            for (v, w) in votes.iter_mut().zip(whole) {
                *v = Votes::whole(w);
            }
            joint_list(&mut rng, &weights, &mut votes);
            let sum: Votes = votes.iter().copied().sum();
            assert_eq!(sum, Votes::whole(total));
            assert!(votes.iter().all(|v| v.units() % 100 == 0));
        }
    }
}
