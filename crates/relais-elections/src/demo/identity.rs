//! Who the establishments are: unique valid SIRETs, companies with one or more establishments,
//! and each establishment's stable identity (name, town, IDCC, activity), size, collèges and
//! the unions that stand there.

use fastrand::Rng;

use super::random::{Draw, Weighted};
use super::tables::{
    HEADCOUNT_BANDS, LA_POSTE_SECTOR, LA_POSTE_STRUCTURE, LEGAL_FORMS, PLACES, SECTORS, SOURCES,
    STREET_KINDS, STREET_NAMES, STRUCTURES, SURNAMES, Sector, Structure, TOWNS, Town,
    UNION_STRENGTH, UNION_WEIGHTS,
};

/// The most collège rows a structure has.
pub(super) const MAX_COLLEGES: usize = 9;

/// Companies numbered below this get distinct SIRENs: the 8-digit SIREN bodies not starting
/// with 0 (9 × 10⁷), which most companies take.
pub(super) const COMPANY_SPACE: u64 = 90_000_000;

/// The 8-digit SIREN bodies starting with 0.
const ZERO_LED: u64 = 10_000_000;

/// La Poste's SIREN (its SIRETs follow the digit-sum rule instead of Luhn).
const LA_POSTE: &[u8; 9] = b"356000000";

/// Prime to 2, 3 and 5: `i ↦ (i × M + offset) mod n` permutes `0..n` for n = 10⁷ and 9 × 10⁷.
const MULTIPLIER: u64 = 48_271_469;

/// Share of companies that are La Poste establishments (11 of 22,616 SIRETs in the real file).
const LA_POSTE_SHARE: f64 = 0.0006;

/// The tables sampled by weight, built once per run.
pub(super) struct Tables {
    towns: Weighted,
    sectors: Weighted,
    structures: Weighted,
    /// Invitation sources.
    pub(super) sources: Weighted,
    /// `demo_departement_XX.csv`, per town.
    pub(super) source_files: Vec<String>,
}

impl Tables {
    pub(super) fn new() -> Self {
        Tables {
            towns: Weighted::new(TOWNS.iter().map(|t| t.weight)),
            sectors: Weighted::new(SECTORS.iter().map(|s| s.weight)),
            structures: Weighted::new(STRUCTURES.iter().map(|s| s.weight)),
            sources: Weighted::new(SOURCES.iter().map(|s| s.1)),
            source_files: TOWNS
                .iter()
                .map(|t| format!("demo_departement_{}.csv", t.departement))
                .collect(),
        }
    }
}

/// Hands out SIRENs (distinct by construction, never La Poste's) and La Poste NICs.
pub(super) struct SiretMint {
    offset: u64,
    next_company: u64,
    next_la_poste: u32,
}

impl SiretMint {
    pub(super) fn new(seed: u64) -> Self {
        SiretMint {
            // splitmix64's finaliser: nearby seeds start far apart.
            offset: {
                let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            },
            next_company: 0,
            next_la_poste: 1,
        }
    }

    /// Companies numbered so far.
    pub(super) fn companies(&self) -> u64 {
        self.next_company
    }

    fn siren(&mut self) -> [u8; 9] {
        loop {
            let c = self.next_company;
            self.next_company += 1;
            // One company in 50 in the SIRENs starting with 0 (about 2 % in the real file),
            // the others in those starting with 1–9: two permutations, so no SIREN repeats.
            let body = if c % 50 == 49 {
                self.permute(c / 50, ZERO_LED)
            } else {
                ZERO_LED + self.permute(c - (c + 1) / 50, COMPANY_SPACE)
            };
            let mut siren = [b'0'; 9];
            write_digits(&mut siren[..8], body);
            siren[8] = b'0' + luhn_digit(&siren[..8]);
            if &siren != LA_POSTE {
                return siren;
            }
        }
    }

    /// `i` moved by this mint's permutation of `0..n`.
    fn permute(&self, i: u64, n: u64) -> u64 {
        (i % n * MULTIPLIER + self.offset % n) % n
    }

    /// The next La Poste NIC body (4 digits), while any is left.
    fn la_poste_nic(&mut self) -> Option<u32> {
        (self.next_la_poste <= 9_999).then(|| {
            self.next_la_poste += 1;
            self.next_la_poste - 1
        })
    }
}

/// A company: one SIREN, a name, a branch, and the unions it tends to have.
pub(super) struct Company {
    siren: [u8; 9],
    pub(super) name: String,
    pub(super) sector: &'static Sector,
    activity: usize,
    /// Establishments to generate.
    pub(super) establishments: u32,
    next_nic: u32,
    la_poste: bool,
    town_in_name: bool,
    enseigne: Option<String>,
    /// Unions favoured across the company's establishments.
    affinity: [f64; 8],
    size: f64,
}

impl Company {
    pub(super) fn new(rng: &mut Rng, tables: &Tables, mint: &mut SiretMint) -> Self {
        if rng.chance(LA_POSTE_SHARE)
            && let Some(nic) = mint.la_poste_nic()
        {
            return Company {
                siren: *LA_POSTE,
                name: String::new(),
                sector: &LA_POSTE_SECTOR,
                activity: 0,
                establishments: 1,
                next_nic: nic,
                la_poste: true,
                town_in_name: true,
                enseigne: None,
                affinity: [1.0; 8],
                size: 1.0,
            };
        }
        let sector = &SECTORS[tables.sectors.sample(rng)];
        let establishments = if rng.chance(0.9) {
            1
        } else {
            let u = 1.0 - rng.f64();
            (2.0 / u.powf(0.7)).min(250.0) as u32
        };
        let mut affinity = [1.0; 8];
        for _ in 0..3 {
            affinity[pick_union(rng, &affinity, &[false; 8])] *= 2.0;
        }
        let name = company_name(rng, sector);
        // A shop sign: the name's most distinctive (longest) word.
        let enseigne = rng.chance(0.25).then(|| {
            let word = name.split([' ', ',', '"']).max_by_key(|w| w.len());
            word.unwrap_or_default().to_owned()
        });
        Company {
            siren: mint.siren(),
            name,
            sector,
            activity: rng.usize(..sector.activities.len()),
            establishments,
            next_nic: rng.u32(1..30),
            la_poste: false,
            town_in_name: establishments > 1 && rng.chance(0.4),
            enseigne,
            affinity,
            size: rng.spread(0.55),
        }
    }
}

/// One establishment: its SIRET and everything stable about it.
pub(super) struct Establishment {
    /// 14 ASCII digits, check digit valid.
    pub(super) siret: [u8; 14],
    pub(super) raison_sociale: String,
    pub(super) town: &'static Town,
    pub(super) source_file: usize,
    pub(super) idcc: &'static str,
    pub(super) naf: &'static str,
    pub(super) naf_label: &'static str,
    pub(super) enseigne: Option<String>,
    pub(super) address: String,
    pub(super) siege: bool,
    pub(super) active: bool,
    pub(super) structure: &'static Structure,
    /// Each collège row's share of the headcount.
    pub(super) shares: [f64; MAX_COLLEGES],
    /// Headcount at the first election.
    pub(super) headcount: f64,
    /// Strength of each union where it stands; 0 where it has no list.
    pub(super) unions: [f64; 8],
    /// Typical participation.
    pub(super) participation: f64,
}

impl Establishment {
    /// The `index`-th establishment of `company` (the first is the head office).
    pub(super) fn new(rng: &mut Rng, tables: &Tables, company: &mut Company, index: u32) -> Self {
        let town_index = tables.towns.sample(rng);
        let town = &TOWNS[town_index];
        let siret = siret_of(company);
        company.next_nic += rng.u32(1..=3);
        let structure = if company.la_poste {
            &LA_POSTE_STRUCTURE
        } else {
            &STRUCTURES[tables.structures.sample(rng)]
        };
        // Log-normal with a heavier upper tail (a few very large establishments).
        let z = rng.normal();
        let tail = if z < 0.0 { 0.7 } else { 1.05 };
        let headcount = (structure.median_headcount * company.size * (tail * z).exp()).max(11.0);
        let mut shares = [0.0; MAX_COLLEGES];
        let mut total = 0.0;
        for (share, code) in shares.iter_mut().zip(structure.colleges) {
            *share = college_weight(code) * rng.uniform(0.5, 1.6);
            total += *share;
        }
        for share in &mut shares {
            *share /= total;
        }
        let raison_sociale = if company.la_poste {
            format!("LA POSTE {} {}", la_poste_unit(rng), town.name)
        } else if company.town_in_name {
            format!("{} {}", company.name, town.name)
        } else {
            company.name.clone()
        };
        let activity = company.sector.activities[company.activity];
        Establishment {
            siret,
            raison_sociale,
            town,
            source_file: town_index,
            idcc: company.sector.idcc,
            naf: activity.0,
            naf_label: activity.1,
            enseigne: company.enseigne.clone(),
            address: format!(
                "{} {} {}",
                rng.u32(1..180),
                STREET_KINDS[rng.usize(..STREET_KINDS.len())],
                STREET_NAMES[rng.usize(..STREET_NAMES.len())]
            ),
            siege: index == 0 && !company.la_poste,
            active: rng.chance(0.99),
            structure,
            shares,
            headcount,
            unions: stand(rng, company, headcount),
            participation: (0.69 + 0.13 * rng.normal()).clamp(0.15, 0.98),
        }
    }

    /// The SIRET as text.
    #[cfg(test)]
    pub(super) fn siret_str(&self) -> &str {
        std::str::from_utf8(&self.siret).expect("ASCII digits")
    }

    /// The INSEE headcount band label for `headcount`.
    pub(super) fn band(headcount: f64) -> &'static str {
        let h = headcount.round() as u32;
        HEADCOUNT_BANDS
            .iter()
            .find(|(upper, _)| h <= *upper)
            .map_or("", |(_, label)| label)
    }
}

/// The SIRET of the company's next establishment.
fn siret_of(company: &Company) -> [u8; 14] {
    let mut siret = [b'0'; 14];
    siret[..9].copy_from_slice(&company.siren);
    write_digits(&mut siret[9..13], u64::from(company.next_nic));
    siret[13] = if company.la_poste {
        // The digit sum must be a multiple of 5: one of two digits does it.
        let sum: u32 = siret[..13].iter().map(|d| u32::from(d - b'0')).sum();
        let low = (5 - sum % 5) % 5;
        let high = if company.next_nic.is_multiple_of(2) {
            low + 5
        } else {
            low
        };
        b'0' + high as u8
    } else {
        b'0' + luhn_digit(&siret[..13])
    };
    siret
}

/// The digit that, appended to `body`, makes the Luhn sum a multiple of 10.
pub(super) fn luhn_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// `value` as zero-padded ASCII digits filling `out`.
fn write_digits(out: &mut [u8], mut value: u64) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn college_weight(code: &str) -> f64 {
    match code {
        "01" => 0.55,
        "02" => 0.28,
        "03" => 0.22,
        "04" => 0.2,
        _ => 1.0,
    }
}

/// The unions with a list in an establishment of this size, and their strength.
fn stand(rng: &mut Rng, company: &Company, headcount: f64) -> [f64; 8] {
    let lists = if company.la_poste {
        6
    } else {
        let mean = (0.45 * (headcount / 30.0).ln()).max(0.0) + 0.25;
        (1 + rng.poisson(mean)).min(8)
    };
    let mut chosen = [false; 8];
    let mut strength = [0.0; 8];
    for _ in 0..lists {
        let u = pick_union(rng, &company.affinity, &chosen);
        chosen[u] = true;
        strength[u] = UNION_STRENGTH[u] * rng.spread(0.6);
    }
    strength
}

/// A union not yet chosen, by weight × affinity.
fn pick_union(rng: &mut Rng, affinity: &[f64; 8], chosen: &[bool; 8]) -> usize {
    let weight = |u: usize| {
        if chosen[u] {
            0.0
        } else {
            UNION_WEIGHTS[u] * affinity[u]
        }
    };
    let total: f64 = (0..8).map(weight).sum();
    let mut x = rng.f64() * total;
    for u in 0..8 {
        let w = weight(u);
        if w > 0.0 && x < w {
            return u;
        }
        x -= w;
    }
    (0..8).rev().find(|&u| !chosen[u]).unwrap_or(0)
}

fn company_name(rng: &mut Rng, sector: &Sector) -> String {
    let word = sector.words[rng.usize(..sector.words.len())];
    let s1 = SURNAMES[rng.usize(..SURNAMES.len())];
    let s2 = SURNAMES[rng.usize(..SURNAMES.len())];
    let place = PLACES[rng.usize(..PLACES.len())];
    let form = LEGAL_FORMS[rng.usize(..LEGAL_FORMS.len())];
    match rng.u32(0..100) {
        0..30 => format!("{word} {s1}"),
        30..55 => format!("{word} {place}"),
        55..70 => format!("{s1} {word} {form}"),
        70..78 => format!("ETS {s1} ET FILS"),
        78..88 => format!("{s1}-{s2} {form}"),
        88..96 => format!("GROUPE {s1}"),
        96..98 => format!("{word} \"{place}\""),
        _ => format!("{s1}, {s2} ET ASSOCIES"),
    }
}

fn la_poste_unit(rng: &mut Rng) -> &'static str {
    ["BSCC", "PPDC", "PIC", "DEX", "PDC"][rng.usize(..5)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Siret;

    #[test]
    fn sirens_are_distinct_valid_and_never_la_poste() {
        let mut mint = SiretMint::new(42);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50_000 {
            let siren = mint.siren();
            assert_ne!(&siren, LA_POSTE);
            assert_eq!(luhn_digit(&siren[..8]), siren[8] - b'0');
            assert!(seen.insert(siren));
        }
    }

    #[test]
    fn minted_sirets_pass_the_check_digit_rules() {
        let tables = Tables::new();
        let mut mint = SiretMint::new(1);
        let mut rng = Rng::with_seed(1);
        let mut la_poste = 0;
        for _ in 0..20_000 {
            let mut company = Company::new(&mut rng, &tables, &mut mint);
            la_poste += usize::from(company.la_poste);
            for i in 0..company.establishments.min(5) {
                let e = Establishment::new(&mut rng, &tables, &mut company, i);
                let parsed = Siret::parse(e.siret_str()).unwrap_or_else(|err| panic!("{err}"));
                assert_eq!(parsed.as_str(), e.siret_str());
            }
        }
        assert!(la_poste > 0, "some La Poste establishments");
    }
}
