//! `elections.invitations`: invitations to negotiate the pre-election protocol (PAP), one per
//! SIRET and invitation date, in the upstream template's layout or with the same aliases.

use chrono::NaiveDate;
use relais_platform::imports::{
    Column, ImportContext, ImportType, Issues, Row, TypeLimits, Written,
};
use relais_platform::store::{DbTx, StoreError};

use super::cells;
use super::{FORMATS, MAX_ROWS, MAX_SIZE};
use crate::domain::Siret;

/// One PAP invitation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    /// The establishment invited to negotiate.
    pub siret: Siret,
    /// The invitation date.
    pub date: NaiveDate,
    /// Company name.
    pub raison_sociale: Option<String>,
    /// Trading name.
    pub enseigne: Option<String>,
    /// Street address.
    pub adresse: Option<String>,
    /// Town.
    pub ville: Option<String>,
    /// Postal code.
    pub code_postal: Option<String>,
    /// Where the invitation was found.
    pub source: Option<String>,
    /// Main activity (NAF code).
    pub naf: Option<String>,
    /// Its label.
    pub naf_label: Option<String>,
    /// Headcount (as the file gives it: a number or a band).
    pub effectifs: Option<String>,
    /// Whether the establishment is active.
    pub actif: Option<bool>,
    /// Whether it is the company's head office.
    pub siege: Option<bool>,
}

/// The `elections.invitations` import type.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvitationImport;

const SIRET: usize = 0;
const DATE: usize = 1;
const RAISON_SOCIALE: usize = 2;
const ENSEIGNE: usize = 3;
const ADRESSE: usize = 4;
const VILLE: usize = 5;
const CODE_POSTAL: usize = 6;
const SOURCE: usize = 7;
const NAF: usize = 8;
const NAF_LABEL: usize = 9;
const EFFECTIFS: usize = 10;
const ACTIF: usize = 11;
const SIEGE: usize = 12;

const COLUMNS: &[Column] = &[
    Column::required("siret", &["SIRET"], "14 digits, check digit verified"),
    Column::required(
        "date_invitation",
        &["Date invitation", "Date de l'invitation", "date"],
        "invitation date: YYYYMMDD, YYYY-MM-DD, DD/MM/YYYY or a date cell",
    ),
    Column::optional(
        "raison_sociale",
        &["Raison sociale", "denomination"],
        "company name",
    ),
    Column::optional("enseigne", &[], "trading name"),
    Column::optional("adresse", &[], "street address"),
    Column::optional("ville", &["commune"], "town"),
    Column::optional("code_postal", &["Code Postal", "CP"], "postal code"),
    Column::optional("source", &[], "where the invitation was found"),
    Column::optional(
        "activite_principale",
        &["Activité principale", "code NAF", "NAF", "APE", "code APE"],
        "main activity (NAF code)",
    ),
    Column::optional(
        "libelle_activite",
        &["Libellé activité", "libellé NAF"],
        "label of the main activity",
    ),
    Column::optional("effectifs", &["tranche effectifs"], "headcount, as written"),
    Column::optional(
        "actif",
        &[],
        "active establishment: oui/non, true/false, 1/0",
    ),
    Column::optional(
        "siege",
        &["Siège", "siege social"],
        "head office: oui/non, true/false, 1/0",
    ),
];

impl ImportType for InvitationImport {
    const NAME: &'static str = "elections.invitations";
    type Record = Invitation;

    fn description(&self) -> &'static str {
        "invitations to negotiate the pre-election protocol (PAP), one per SIRET and date"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn limits(&self) -> TypeLimits {
        TypeLimits {
            max_size: Some(MAX_SIZE),
            max_rows: Some(MAX_ROWS),
            formats: Some(FORMATS),
        }
    }

    fn parse(
        &self,
        row: &Row<'_>,
        _ctx: &ImportContext,
        issues: &mut Issues,
    ) -> Option<Invitation> {
        let siret = cells::siret(row, SIRET, issues);
        let date = match cells::date(row.cell(DATE)) {
            Ok(Some(d)) => Some(d),
            Ok(None) => {
                issues.error(DATE, "required");
                None
            }
            Err(e) => {
                issues.error(DATE, e);
                None
            }
        };
        let yes_no = |column: usize, issues: &mut Issues| {
            cells::yes_no(row.cell(column)).unwrap_or_else(|e| {
                issues.warning(column, format!("{e}: left empty"));
                None
            })
        };
        let actif = yes_no(ACTIF, issues);
        let siege = yes_no(SIEGE, issues);
        Some(Invitation {
            siret: siret?,
            date: date?,
            raison_sociale: cells::text(row, RAISON_SOCIALE),
            enseigne: cells::text(row, ENSEIGNE),
            adresse: cells::text(row, ADRESSE),
            ville: cells::text(row, VILLE),
            code_postal: cells::text(row, CODE_POSTAL).map(cells::postal_code),
            source: cells::text(row, SOURCE),
            naf: cells::text(row, NAF).map(|n| n.to_uppercase()),
            naf_label: cells::text(row, NAF_LABEL),
            effectifs: cells::text(row, EFFECTIFS),
            actif,
            siege,
        })
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<Invitation>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        crate::store::upsert_invitations(tx, records, ctx.import_id).await
    }
}
