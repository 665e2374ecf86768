//! A PV row: the result of one ballot (first round, titulaires) of one collège of one
//! establishment, as published.

use chrono::NaiveDate;

use super::{Cycle, Siret, Votes};

/// The unions the published results name, in the order of the upstream summary's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Union {
    /// CGT.
    Cgt,
    /// CFDT.
    Cfdt,
    /// CGT-FO.
    Fo,
    /// CFTC.
    Cftc,
    /// CFE-CGC.
    Cgc,
    /// UNSA.
    Unsa,
    /// Solidaires (SUD).
    Solidaires,
    /// Every other list.
    Autre,
}

/// Every union, in column order.
pub const UNIONS: [Union; 8] = [
    Union::Cgt,
    Union::Cfdt,
    Union::Fo,
    Union::Cftc,
    Union::Cgc,
    Union::Unsa,
    Union::Solidaires,
    Union::Autre,
];

impl Union {
    /// The upstream summary's prefix: `cgt`, `cfdt`, `fo`, `cftc`, `cgc`, `unsa`,
    /// `solidaires`, `autre`.
    pub fn key(self) -> &'static str {
        match self {
            Union::Cgt => "cgt",
            Union::Cfdt => "cfdt",
            Union::Fo => "fo",
            Union::Cftc => "cftc",
            Union::Cgc => "cgc",
            Union::Unsa => "unsa",
            Union::Solidaires => "solidaires",
            Union::Autre => "autre",
        }
    }

    /// Position in [`UNIONS`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Votes per union, indexed by [`Union::index`].
pub type UnionVotes = [Votes; 8];

/// One value per union, indexed by [`Union`]; serialised as an object keyed by [`Union::key`]
/// (`{"cgt": …, "cfdt": …, …}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByUnion<T>(pub [T; 8]);

impl<T> std::ops::Index<Union> for ByUnion<T> {
    type Output = T;
    fn index(&self, union: Union) -> &T {
        &self.0[union.index()]
    }
}

impl<T> std::ops::IndexMut<Union> for ByUnion<T> {
    fn index_mut(&mut self, union: Union) -> &mut T {
        &mut self.0[union.index()]
    }
}

impl<T: serde::Serialize> serde::Serialize for ByUnion<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(UNIONS.len()))?;
        for union in UNIONS {
            map.serialize_entry(union.key(), &self[union])?;
        }
        map.end()
    }
}

/// Whether a PV records an election or its absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PvKind {
    /// An election took place (CSE).
    Cse,
    /// No election: no candidates (carence). Never "0 % for every union".
    Carence,
}

/// A collège code as published: `01` … `05`; other codes are kept as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct College(String);

impl College {
    /// A collège code: digits are zero-padded to two (`1` → `01`); other text is kept trimmed.
    /// `None` for an empty cell.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        if let Ok(n) = t.parse::<u8>() {
            return Some(College(format!("{n:02}")));
        }
        Some(College(t.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One PV × collège row, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PvRow {
    /// The Ministry's PV number, when the file has one (identifies the row for updates in
    /// place, with the collège).
    pub pv_number: Option<String>,
    /// The establishment.
    pub siret: Siret,
    /// CSE or carence.
    pub kind: PvKind,
    /// Election date (first round); some Ministry extracts leave it empty.
    pub date: Option<NaiveDate>,
    /// The cycle: derived from the date, or given by the import when the file has no date.
    pub cycle: Cycle,
    /// Collège.
    pub college: Option<College>,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters; `None` when the file leaves it empty (never read as a carence).
    pub votants: Option<i64>,
    /// Valid votes (SVE).
    pub sve: Votes,
    /// Votes per union.
    pub votes: UnionVotes,
    /// Seats to fill in this collège, when the PV gives it.
    pub seats_to_fill: Option<u32>,
    /// Seats won per union, when the PV gives them.
    pub seats: Option<[u32; 8]>,
    /// Company name.
    pub raison_sociale: Option<String>,
    /// Town.
    pub ville: Option<String>,
    /// Postal code.
    pub cp: Option<String>,
    /// Département code (`01`, `2A`, `971`).
    pub departement: Option<String>,
    /// Collective agreement code (IDCC), four digits.
    pub idcc: Option<String>,
    /// Collective agreement label.
    pub idcc_label: Option<String>,
}

/// A département code as stored: one digit gets its leading zero (`8` → `08`), letters are
/// upper case (`2a` → `2A`), anything else is kept (`971`).
pub fn departement_code(text: &str) -> String {
    if text.len() == 1 && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("0{text}")
    } else {
        text.to_uppercase()
    }
}
