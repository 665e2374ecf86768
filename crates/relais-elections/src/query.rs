//! The summary filters and sort as the API takes them (text parameters), parsed into the
//! storage's [`SummaryFilter`], [`SortKey`] and [`Order`]. Every refusal names its parameter.
//! No HTTP here: the export task parses the same parameters again when it runs.

use serde::{Deserialize, Serialize};

use crate::domain::{CycleTable, PapStatus, departement_code};
use crate::store::{Order, Search, SortKey, SummaryFilter};

/// Longest text search.
const MAX_Q: usize = 200;
/// Most values in one list parameter.
const MAX_VALUES: usize = 100;

/// The filter parameters, as given (comma-separated lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FilterParams {
    /// Text search on the name or SIRET prefix.
    pub q: Option<String>,
    /// PAP statuses.
    pub statut_pap: Option<String>,
    /// `true` or `false`.
    pub cgt_implantee: Option<String>,
    /// `true` or `false`.
    pub cgt_representative: Option<String>,
    /// Départements.
    pub departement: Option<String>,
    /// IDCC codes.
    pub idcc: Option<String>,
    /// The reference cycle.
    pub cycle: Option<String>,
}

/// The sort parameters, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortParams {
    /// A [`SortKey`] name.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
}

/// A parameter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{param}`: {message}")]
pub struct ParamError {
    /// The parameter.
    pub param: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn refuse(param: &'static str, message: impl Into<String>) -> ParamError {
    ParamError {
        param,
        message: message.into(),
    }
}

/// The non-empty, trimmed value of a parameter.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The items of a comma-separated list (empty items skipped), at most [`MAX_VALUES`].
fn list<'a>(param: &'static str, value: &'a Option<String>) -> Result<Vec<&'a str>, ParamError> {
    let Some(value) = given(value) else {
        return Ok(Vec::new());
    };
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if items.len() > MAX_VALUES {
        return Err(refuse(
            param,
            format!("at most {MAX_VALUES} values, separated by commas"),
        ));
    }
    Ok(items)
}

/// `true`/`false` (also `1`/`0`).
pub fn parse_bool(param: &'static str, value: &Option<String>) -> Result<Option<bool>, ParamError> {
    match given(value) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(refuse(
            param,
            format!("expected `true` or `false`, got {other:?}"),
        )),
    }
}

/// A département code as stored: `8` → `08`, `2a` → `2A`; metropolitan `01`–`95`, Corsica `2A`
/// and `2B`, overseas three digits `971`–`989`.
fn departement(text: &str) -> Option<String> {
    let t = departement_code(text);
    let digits = t.bytes().all(|b| b.is_ascii_digit());
    match t.len() {
        2 if t == "2A" || t == "2B" => Some(t),
        2 if digits && ("01".."96").contains(&t.as_str()) && t != "20" => Some(t),
        3 if digits && ("971".."990").contains(&t.as_str()) => Some(t),
        _ => None,
    }
}

impl FilterParams {
    /// The storage filter; `cycles` are the configured cycles (the reference cycle must be one).
    pub fn parse(&self, cycles: &CycleTable) -> Result<SummaryFilter, ParamError> {
        let search = match given(&self.q) {
            None => None,
            Some(q) if q.chars().count() > MAX_Q => {
                return Err(refuse("q", format!("at most {MAX_Q} characters")));
            }
            Some(q) => Some(
                Search::new(q).ok_or_else(|| refuse("q", "give at least one letter or digit"))?,
            ),
        };
        let statut_pap = list("statut_pap", &self.statut_pap)?
            .into_iter()
            .map(|s| {
                PapStatus::parse(s).ok_or_else(|| {
                    let known: Vec<&str> = PapStatus::ALL.iter().map(|s| s.as_str()).collect();
                    refuse(
                        "statut_pap",
                        format!("unknown status {s:?}; one of {}", known.join(", ")),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let departements = list("departement", &self.departement)?
            .into_iter()
            .map(|d| {
                departement(d).ok_or_else(|| {
                    refuse(
                        "departement",
                        format!("{d:?} is not a département code (01–95, 2A, 2B, 971–989)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let idcc = list("idcc", &self.idcc)?
            .into_iter()
            .map(|c| {
                if (1..=4).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(format!("{c:0>4}"))
                } else {
                    Err(refuse(
                        "idcc",
                        format!("{c:?} is not an IDCC code (up to 4 digits)"),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cycle = match given(&self.cycle) {
            None => None,
            Some(name) => Some(
                cycles
                    .get(name)
                    .map_err(|e| refuse("cycle", e.to_string()))?
                    .cycle
                    .clone(),
            ),
        };
        Ok(SummaryFilter {
            search,
            statut_pap,
            cgt_implantee: parse_bool("cgt_implantee", &self.cgt_implantee)?,
            cgt_representative: parse_bool("cgt_representative", &self.cgt_representative)?,
            departements,
            idcc,
            cycle,
        })
    }
}

impl SortParams {
    /// The sort key and direction (default: SIRET, ascending).
    pub fn parse(&self) -> Result<(SortKey, Order), ParamError> {
        let sort = match given(&self.sort) {
            None => SortKey::default(),
            Some(s) => SortKey::parse(s).ok_or_else(|| {
                let known: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
                refuse(
                    "sort",
                    format!("unknown sort {s:?}; one of {}", known.join(", ")),
                )
            })?,
        };
        let order = match given(&self.order) {
            None | Some("asc") => Order::Asc,
            Some("desc") => Order::Desc,
            Some(o) => {
                return Err(refuse(
                    "order",
                    format!("expected `asc` or `desc`, got {o:?}"),
                ));
            }
        };
        Ok((sort, order))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(f: impl FnOnce(&mut FilterParams)) -> Result<SummaryFilter, ParamError> {
        let mut p = FilterParams::default();
        f(&mut p);
        p.parse(&CycleTable::standard())
    }

    #[test]
    fn filters_parse_into_stored_forms() {
        let f = params(|p| {
            p.departement = Some(" 8, 2a,971 ,".into());
            p.idcc = Some("16,1486".into());
            p.statut_pap = Some("invitation_sans_pv".into());
            p.cgt_implantee = Some("1".into());
            p.cycle = Some("c4".into());
        })
        .unwrap();
        assert_eq!(f.departements, ["08", "2A", "971"]);
        assert_eq!(f.idcc, ["0016", "1486"]);
        assert_eq!(f.statut_pap, [PapStatus::InvitationSansPv]);
        assert_eq!(f.cgt_implantee, Some(true));
        assert_eq!(f.cycle.unwrap().as_str(), "C4");
        assert_eq!(params(|_| {}).unwrap(), SummaryFilter::default());
    }

    #[test]
    fn refusals_name_their_parameter() {
        type Set = fn(&mut FilterParams);
        let cases: [(&str, Set); 8] = [
            ("departement", |p| p.departement = Some("20".into())),
            ("departement", |p| p.departement = Some("123".into())),
            ("idcc", |p| p.idcc = Some("12345".into())),
            ("statut_pap", |p| p.statut_pap = Some("en_attente".into())),
            ("cgt_implantee", |p| p.cgt_implantee = Some("yes".into())),
            ("cycle", |p| p.cycle = Some("C9".into())),
            ("cycle", |p| p.cycle = Some("CGT".into())),
            ("q", |p| p.q = Some("--".into())),
        ];
        for (param, set) in cases {
            assert_eq!(params(set).unwrap_err().param, param);
        }
        let bad = SortParams {
            sort: Some("votes".into()),
            order: None,
        };
        assert_eq!(bad.parse().unwrap_err().param, "sort");
        let bad = SortParams {
            sort: None,
            order: Some("down".into()),
        };
        assert_eq!(bad.parse().unwrap_err().param, "order");
    }
}
