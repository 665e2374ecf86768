//! Reading one cell into a domain value, with the message a rejected row shows.

use chrono::NaiveDate;
use relais_platform::imports::{Cell, Issues, Row};

use crate::domain::{Siret, Votes, VotesError};

const DATE_EXPECTED: &str = "not a date (expected YYYYMMDD, YYYY-MM-DD or DD/MM/YYYY)";

/// The trimmed text of a column; `None` when empty.
pub(crate) fn text(row: &Row<'_>, column: usize) -> Option<String> {
    row.text(column).map(|t| t.into_owned())
}

/// A SIRET, check digit verified; a spreadsheet number of fewer than 14 digits gets its
/// leading zeros back (with a warning). Errors are recorded; `None` when there is none.
pub(crate) fn siret(row: &Row<'_>, column: usize, issues: &mut Issues) -> Option<Siret> {
    let cell = row.cell(column);
    let Some(text) = cell.text() else {
        issues.error(column, "required");
        return None;
    };
    let numeric = matches!(cell, Cell::Int(_) | Cell::Float(_));
    let text = if numeric && text.len() < 14 && text.bytes().all(|b| b.is_ascii_digit()) {
        issues.warning(
            column,
            "SIRET written as a number: its leading zeros are restored",
        );
        format!("{text:0>14}")
    } else {
        text.into_owned()
    };
    match Siret::parse(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            issues.error(column, e.to_string());
            None
        }
    }
}

/// A date: `YYYYMMDD`, `YYYY-MM-DD`, `DD/MM/YYYY` (and `DD-MM-YYYY`, `DD.MM.YYYY`), a date cell
/// or a spreadsheet serial number. `Ok(None)` when empty.
pub(crate) fn date(cell: Cell<'_>) -> Result<Option<NaiveDate>, String> {
    let Some(text) = cell.text() else {
        return Ok(None);
    };
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(&text, "%Y%m%d")
            .map(Some)
            .map_err(|_| DATE_EXPECTED.to_owned());
    }
    cell.date().map_err(|_| DATE_EXPECTED.to_owned())
}

/// A whole count (voters, seats) from 0 to `max`. `Ok(None)` when empty.
pub(crate) fn count(cell: Cell<'_>, max: i64) -> Result<Option<i64>, String> {
    let Some(n) = cell.number()? else {
        return Ok(None);
    };
    if n < 0.0 {
        return Err(format!("negative: {n}"));
    }
    if n.fract() != 0.0 {
        return Err("not a whole number".into());
    }
    if n > max as f64 {
        return Err(format!("too large (at most {max})"));
    }
    Ok(Some(n as i64))
}

/// A vote count, exact to four decimals (`12,5`, `110.0`, a number cell). `Ok(None)` when
/// empty; with it, a warning when more decimals were rounded away (binary-float noise such as
/// `52.01000000000001`).
pub(crate) fn votes(cell: Cell<'_>) -> Result<Option<(Votes, Option<String>)>, String> {
    if matches!(cell, Cell::Bool(_) | Cell::Date(_) | Cell::Error(_)) {
        return Err("not a number".into());
    }
    let Some(text) = cell.text() else {
        return Ok(None);
    };
    let v = Votes::parse(&text).map_err(|e| match e {
        VotesError::Format(_) => "not a number".to_owned(),
        VotesError::Negative(_) => "negative".to_owned(),
        VotesError::TooLarge(_) => "too large".to_owned(),
    })?;
    let decimals = text
        .split(['.', ','])
        .nth(1)
        .map_or(0, |f| f.bytes().take_while(u8::is_ascii_digit).count());
    let noise = (decimals > 4)
        .then(|| format!("more than 4 decimals (binary-float noise?): rounded to {v}"));
    Ok(Some((v, noise)))
}

/// A yes/no cell: `oui`/`non`, `o`/`n`, `true`/`false`, `vrai`/`faux`, `yes`/`no`, `1`/`0`, a
/// boolean cell. `Ok(None)` when empty.
pub(crate) fn yes_no(cell: Cell<'_>) -> Result<Option<bool>, String> {
    if let Cell::Bool(b) = cell {
        return Ok(Some(b));
    }
    let Some(text) = cell.text() else {
        return Ok(None);
    };
    match text.to_lowercase().as_str() {
        "oui" | "o" | "true" | "vrai" | "yes" | "y" | "1" => Ok(Some(true)),
        "non" | "n" | "false" | "faux" | "no" | "0" => Ok(Some(false)),
        _ => Err("not yes or no (expected oui/non, true/false or 1/0)".into()),
    }
}

/// A postal code: four digits (a number that lost its leading zero) get it back.
pub(crate) fn postal_code(text: String) -> String {
    if text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("0{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_votes_and_counts_read_the_spellings_of_real_files() {
        let d = NaiveDate::from_ymd_opt(2021, 1, 21);
        for cell in [
            Cell::Text("20210121"),
            Cell::Int(20_210_121),
            Cell::Text("2021-01-21"),
            Cell::Text("21/01/2021"),
            Cell::Float(44_217.0),
        ] {
            assert_eq!(date(cell), Ok(d), "{cell:?}");
        }
        assert_eq!(date(Cell::Empty), Ok(None));
        assert!(date(Cell::Text("20211321")).is_err());
        assert!(date(Cell::Text("AGRI")).is_err());

        let (v, noise) = votes(Cell::Text("52.01000000000001")).unwrap().unwrap();
        assert_eq!((v.units(), noise.is_some()), (520_100, true));
        let (v, noise) = votes(Cell::Float(110.0)).unwrap().unwrap();
        assert_eq!((v, noise), (Votes::whole(110), None));
        assert_eq!(votes(Cell::Text("-3")), Err("negative".into()));
        assert_eq!(votes(Cell::Text("null")), Err("not a number".into()));
        assert_eq!(votes(Cell::Empty), Ok(None));

        assert_eq!(count(Cell::Text("139"), 1_000), Ok(Some(139)));
        assert_eq!(count(Cell::Float(139.0), 1_000), Ok(Some(139)));
        assert!(count(Cell::Text("13.5"), 1_000).is_err());
        assert!(count(Cell::Text("-1"), 1_000).is_err());
        assert!(count(Cell::Text("1001"), 1_000).is_err());
        assert_eq!(yes_no(Cell::Text("Oui")), Ok(Some(true)));
        assert!(yes_no(Cell::Text("peut-être")).is_err());
        assert_eq!(postal_code("8000".into()), "08000");
    }
}
