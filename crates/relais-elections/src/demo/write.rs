//! The two CSV layouts, each line built in a reused buffer (numbers formatted in place, text
//! quoted where it needs it) and written through a buffered writer: no allocation per row.

use std::io::{self, BufWriter, Write};

use chrono::{Datelike, NaiveDate};

use super::ballot::Row;
use super::identity::Establishment;
use super::tables::SOURCES;
use crate::domain::{Union, Votes};

/// The columns of `pv.csv`: the normalised layout of the shipped files, then the PV kind
/// (`CSE`, or `CAR` for a carence) and the seats to fill when the PV gives them.
pub const PV_COLUMNS: [&str; 22] = [
    "pv_number",
    "siret",
    "raison_sociale",
    "ville",
    "idcc",
    "college",
    "date",
    "inscrits",
    "votants",
    "sve",
    "cgt",
    "cfdt",
    "cgt_fo",
    "cftc",
    "cfe_cgc",
    "solidaires",
    "unsa",
    "autres",
    "departement",
    "source_file",
    "type",
    "sieges_a_pourvoir",
];

/// The columns of `invitations.csv`: the upstream invitations template.
pub const INVITATION_COLUMNS: [&str; 13] = [
    "SIRET",
    "Date invitation",
    "Raison sociale",
    "Enseigne",
    "Adresse",
    "Ville",
    "Code Postal",
    "Source",
    "Activité principale",
    "Libellé activité",
    "Effectifs",
    "Actif",
    "Siège",
];

/// The unions in the file's column order.
const FILE_UNIONS: [Union; 8] = [
    Union::Cgt,
    Union::Cfdt,
    Union::Fo,
    Union::Cftc,
    Union::Cgc,
    Union::Solidaires,
    Union::Unsa,
    Union::Autre,
];

const BUFFER: usize = 256 * 1024;

/// One CSV line built in place: numbers formatted without allocation, text quoted only when it
/// holds a separator, a quote or a line break (RFC 4180), then handed to the buffered writer.
struct Line<W: Write> {
    out: BufWriter<W>,
    line: Vec<u8>,
    fields: usize,
    number: itoa::Buffer,
}

impl<W: Write> Line<W> {
    fn new(out: W, header: &[&str]) -> io::Result<Self> {
        let mut line = Line {
            out: BufWriter::with_capacity(BUFFER, out),
            line: Vec::with_capacity(512),
            fields: 0,
            number: itoa::Buffer::new(),
        };
        for name in header {
            line.text(name);
        }
        line.end()?;
        Ok(line)
    }

    fn separate(&mut self) {
        if self.fields > 0 {
            self.line.push(b',');
        }
        self.fields += 1;
    }

    /// A text field, quoted if it must be.
    fn text(&mut self, value: &str) {
        let value = value.as_bytes();
        self.separate();
        if value
            .iter()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        {
            self.line.push(b'"');
            for b in value {
                if *b == b'"' {
                    self.line.push(b'"');
                }
                self.line.push(*b);
            }
            self.line.push(b'"');
        } else {
            self.line.extend_from_slice(value);
        }
    }

    /// A field known to need no quoting (digits, codes, the fixed tables' names).
    fn plain(&mut self, value: &[u8]) {
        debug_assert!(
            !value
                .iter()
                .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        );
        self.separate();
        self.line.extend_from_slice(value);
    }

    fn int(&mut self, value: impl itoa::Integer) {
        self.separate();
        self.line
            .extend_from_slice(self.number.format(value).as_bytes());
    }

    fn votes(&mut self, votes: Votes, noise: bool) {
        self.separate();
        votes_text(&mut self.line, votes, noise);
    }

    fn end(&mut self) -> io::Result<()> {
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.line.clear();
        self.fields = 0;
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes `pv.csv` rows.
pub(super) struct PvWriter<W: Write> {
    line: Line<W>,
}

/// The fields of one PV row that are not the figures.
pub(super) struct PvFields<'a> {
    pub(super) pv_number: u64,
    pub(super) est: &'a Establishment,
    pub(super) source_file: &'a str,
    pub(super) college: &'a str,
    pub(super) date: &'a [u8; 8],
    pub(super) carence: bool,
    pub(super) seats: Option<u32>,
}

impl<W: Write> PvWriter<W> {
    pub(super) fn new(out: W) -> io::Result<Self> {
        Ok(PvWriter {
            line: Line::new(out, &PV_COLUMNS)?,
        })
    }

    pub(super) fn row(&mut self, f: &PvFields<'_>, row: &Row) -> io::Result<()> {
        let est = f.est;
        let line = &mut self.line;
        line.int(f.pv_number);
        line.plain(&est.siret);
        line.text(&est.raison_sociale);
        line.plain(est.town.name.as_bytes());
        line.plain(est.idcc.as_bytes());
        line.plain(f.college.as_bytes());
        line.plain(f.date);
        line.int(row.inscrits);
        line.int(row.votants);
        line.votes(row.sve, row.noisy == Some(8));
        for union in FILE_UNIONS {
            let u = union.index();
            line.votes(row.votes[u], row.noisy == Some(u));
        }
        line.plain(est.town.departement.as_bytes());
        line.plain(f.source_file.as_bytes());
        line.plain(if f.carence { b"CAR" } else { b"CSE" });
        match f.seats {
            Some(seats) => line.int(seats),
            None => line.plain(b""),
        }
        line.end()
    }

    pub(super) fn finish(self) -> io::Result<()> {
        self.line.finish()
    }
}

/// Writes `invitations.csv` rows.
pub(super) struct InvitationWriter<W: Write> {
    line: Line<W>,
}

impl<W: Write> InvitationWriter<W> {
    pub(super) fn new(out: W) -> io::Result<Self> {
        Ok(InvitationWriter {
            line: Line::new(out, &INVITATION_COLUMNS)?,
        })
    }

    pub(super) fn row(
        &mut self,
        est: &Establishment,
        date: NaiveDate,
        source: usize,
        headcount: f64,
    ) -> io::Result<()> {
        let line = &mut self.line;
        line.plain(&est.siret);
        line.plain(&dmy(date));
        line.text(&est.raison_sociale);
        line.text(est.enseigne.as_deref().unwrap_or(""));
        line.text(&est.address);
        line.text(est.town.name);
        line.text(est.town.cp);
        line.text(SOURCES[source].0);
        line.text(est.naf);
        line.text(est.naf_label);
        line.text(Establishment::band(headcount));
        line.text(if est.active { "Oui" } else { "Non" });
        line.text(if est.siege { "Oui" } else { "Non" });
        line.end()
    }

    pub(super) fn finish(self) -> io::Result<()> {
        self.line.finish()
    }
}

/// `YYYYMMDD`, as in the Ministry's exports.
pub(super) fn ymd(date: NaiveDate) -> [u8; 8] {
    let mut out = [b'0'; 8];
    put_digits(&mut out[..4], date.year() as u32);
    put_digits(&mut out[4..6], date.month());
    put_digits(&mut out[6..], date.day());
    out
}

/// `DD/MM/YYYY`, as in the upstream invitations template.
fn dmy(date: NaiveDate) -> [u8; 10] {
    let mut out = *b"00/00/0000";
    put_digits(&mut out[..2], date.day());
    put_digits(&mut out[3..5], date.month());
    put_digits(&mut out[6..], date.year() as u32);
    out
}

fn put_digits(out: &mut [u8], mut value: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The shortest exact decimal (`12`, `12.5`, `14.08`); with `noise`, the same value as a binary
/// float prints it after a sum (`52.01000000000001`, `57.99999999999999` for 58), which reads
/// back to the same four-decimal count.
fn votes_text(out: &mut Vec<u8>, votes: Votes, noise: bool) {
    let units = votes.units();
    let whole = units / Votes::SCALE;
    let frac = units % Votes::SCALE;
    let mut number = itoa::Buffer::new();
    if noise && frac == 0 && whole > 0 {
        out.extend_from_slice(number.format(whole - 1).as_bytes());
        out.extend_from_slice(b".99999999999999");
        return;
    }
    out.extend_from_slice(number.format(whole).as_bytes());
    if frac > 0 {
        let digits = [
            (frac / 1000) as u8,
            (frac / 100 % 10) as u8,
            (frac / 10 % 10) as u8,
            (frac % 10) as u8,
        ];
        let len = 4 - digits.iter().rev().take_while(|d| **d == 0).count();
        out.push(b'.');
        out.extend(digits[..len].iter().map(|d| b'0' + d));
        if noise {
            out.extend_from_slice(b"000000000001");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(units: i64, noise: bool) -> String {
        let mut out = Vec::new();
        votes_text(&mut out, Votes::from_units(units), noise);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn votes_are_written_shortest_and_noise_reads_back_the_same() {
        assert_eq!(text(0, false), "0");
        assert_eq!(text(1_100_000, false), "110");
        assert_eq!(text(125_000, false), "12.5");
        assert_eq!(text(140_800, false), "14.08");
        assert_eq!(text(1, false), "0.0001");
        assert_eq!(text(520_100, true), "52.01000000000001");
        assert_eq!(text(580_000, true), "57.99999999999999");
        for units in [1, 5_000, 140_800, 580_000, 123_456_700] {
            for noise in [false, true] {
                assert_eq!(
                    Votes::parse(&text(units, noise)),
                    Ok(Votes::from_units(units)),
                    "{units} {noise}"
                );
            }
        }
    }

    #[test]
    fn text_is_quoted_only_when_it_must_be() {
        let mut out = Vec::new();
        let mut line = Line::new(&mut out, &["a", "b"]).unwrap();
        line.text("");
        line.text("EHPAD \"LA CHESNAYE\"");
        line.text("DUPONT, MOREL ET ASSOCIES");
        line.text("L'ATELIER");
        line.int(-3i64);
        line.end().unwrap();
        line.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a,b\n,\"EHPAD \"\"LA CHESNAYE\"\"\",\"DUPONT, MOREL ET ASSOCIES\",L'ATELIER,-3\n"
        );
    }

    #[test]
    fn dates_in_both_layouts() {
        let d = NaiveDate::from_ymd_opt(2023, 3, 7).unwrap();
        assert_eq!(&ymd(d), b"20230307");
        assert_eq!(&dmy(d), b"07/03/2023");
    }
}
