//! Query parameters of the read routes: one struct per route (unknown and repeated parameters
//! are refused by name), the shared filters declared once by [`with_filters!`], and the opaque
//! page cursor.

use relais_http::error::FieldError;
use relais_http::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::query::{FilterParams, ParamError, SortParams};
use crate::store::{Order, PageKey, SortKey};

/// A query struct with the summary filters and the route's own fields.
macro_rules! with_filters {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// Text search: every word is the prefix of a word of the name (accents and case
            /// ignored: `soc gen` finds "Société Générale"); digits also match a SIRET prefix.
            #[param(example = "societe gen")]
            pub q: Option<String>,
            /// PAP statuses, comma-separated: `aucune_invitation`, `invitation_en_attente`,
            /// `invitation_sans_pv`, `pv_apres_invitation`, `carence_apres_invitation`,
            /// `pv_sans_invitation`.
            #[param(example = "invitation_en_attente,invitation_sans_pv")]
            pub statut_pap: Option<String>,
            /// `true`: CGT votes > 0 at the latest election of the latest cycle with a
            /// non-carence PV; `false`: not ("no CGT list" and "0 CGT votes" look the same).
            pub cgt_implantee: Option<String>,
            /// `true`/`false`: the CGT has at least 10 % of SVE at the election of the
            /// reference cycle (`cycle`, else each SIRET's latest cycle). SIRETs without an
            /// election in that cycle match neither.
            pub cgt_representative: Option<String>,
            /// Départements, comma-separated (`08`, `2A`, `971`).
            #[param(example = "08,12")]
            pub departement: Option<String>,
            /// IDCC codes, comma-separated (zero-padded to four digits).
            #[param(example = "1486")]
            pub idcc: Option<String>,
            /// Reference cycle (`C4`): only SIRETs with a PV in it; the per-cycle filters and
            /// sort keys read its election. Default: each SIRET's latest cycle with a PV.
            #[param(example = "C4")]
            pub cycle: Option<String>,
            $($(#[$fm])* pub $field: Option<String>,)*
        }

        impl $name {
            /// The filter parameters.
            pub fn filters(&self) -> FilterParams {
                FilterParams {
                    q: self.q.clone(),
                    statut_pap: self.statut_pap.clone(),
                    cgt_implantee: self.cgt_implantee.clone(),
                    cgt_representative: self.cgt_representative.clone(),
                    departement: self.departement.clone(),
                    idcc: self.idcc.clone(),
                    cycle: self.cycle.clone(),
                }
            }
        }
    };
}

with_filters!(
    /// Filters, sort and page of the summary list.
    ListParams {
        /// Sort key: `siret` (default), `raison_sociale`, `date_pv_max`, `prochaine_election`,
        /// `date_invitation_max`, `inscrits`, `cgt_voix`, `cgt_share` (the last three at the
        /// reference cycle's election). Ties are ordered by SIRET; missing values come first
        /// in ascending order.
        sort,
        /// `asc` (default) or `desc`.
        order,
        /// Page size, 1–500 (default 50).
        limit,
        /// The `next` of the previous page.
        after,
    }
);

with_filters!(
    /// Filters, sort and format of an export.
    ExportParams {
        /// `csv` (default) or `xlsx`.
        format,
        /// Sort key, as for the list.
        sort,
        /// `asc` (default) or `desc`.
        order,
    }
);

with_filters!(
    /// Filters of the statistics.
    StatsParams {}
);

with_filters!(
    /// Filters and periods of the time series.
    SeriesParams {
        /// `month` (default), `quarter` or `year`.
        by,
        /// First election date counted (`YYYY-MM-DD`).
        from,
        /// Last election date counted (`YYYY-MM-DD`).
        to,
    }
);

impl ListParams {
    /// The sort parameters.
    pub fn sort(&self) -> SortParams {
        SortParams {
            sort: self.sort.clone(),
            order: self.order.clone(),
        }
    }
}

impl ExportParams {
    /// The sort parameters.
    pub fn sort(&self) -> SortParams {
        SortParams {
            sort: self.sort.clone(),
            order: self.order.clone(),
        }
    }
}

/// Search of the upstream pages (`/api/siret`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeedSearchParams {
    /// Name words (prefixes, accents and case ignored) or SIRET prefix.
    #[param(example = "societe gen")]
    pub q: Option<String>,
    /// At most this many, 1–500 (default 50).
    pub limit: Option<String>,
}

/// A refused parameter as a 422 problem naming it.
pub fn invalid(e: ParamError) -> ApiError {
    ApiError::new(ErrorCode::Validation, e.to_string()).with_errors(vec![FieldError {
        pointer: e.param.to_owned(),
        message: e.message,
    }])
}

/// A page size: 1–500, default 50.
pub fn limit(value: &Option<String>) -> Result<u32, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(50),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=500).contains(&n) => Ok(n),
            _ => Err(invalid(ParamError {
                param: "limit",
                message: format!("a number from 1 to 500, got {v:?}"),
            })),
        },
    }
}

/// What a cursor carries: the sort it was made for and the last row's position.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    sort: String,
    desc: bool,
    key: PageKey,
}

/// The opaque cursor of a page position (hex of its JSON: URL-safe as it is).
pub fn encode_cursor(sort: SortKey, order: Order, key: &PageKey) -> String {
    let cursor = Cursor {
        sort: sort.as_str().to_owned(),
        desc: order == Order::Desc,
        key: key.clone(),
    };
    let json = serde_json::to_vec(&cursor).unwrap_or_default();
    json.iter().map(|b| format!("{b:02x}")).collect()
}

/// The page position of a cursor made for the same sort; 400 otherwise.
pub fn decode_cursor(
    text: &Option<String>,
    sort: SortKey,
    order: Order,
) -> Result<Option<PageKey>, ApiError> {
    let Some(text) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let refuse = |message: &str| {
        ApiError::new(ErrorCode::InvalidQuery, format!("`after`: {message}")).with_errors(vec![
            FieldError {
                pointer: "after".into(),
                message: message.to_owned(),
            },
        ])
    };
    let bytes = (text.len() % 2 == 0 && text.len() <= 4096)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()
        })
        .flatten()
        .ok_or_else(|| refuse("not a cursor of this list: pass the `next` of a page"))?;
    let cursor: Cursor = serde_json::from_slice(&bytes)
        .map_err(|_| refuse("not a cursor of this list: pass the `next` of a page"))?;
    if cursor.sort != sort.as_str() || cursor.desc != (order == Order::Desc) {
        return Err(refuse(
            "this cursor was made for another sort: keep `sort` and `order` across pages",
        ));
    }
    Ok(Some(cursor.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SortValue;

    #[test]
    fn cursors_round_trip_and_belong_to_their_sort() {
        let key = PageKey {
            value: SortValue::Date(chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()),
            siret: "34329419500239".into(),
        };
        let text = encode_cursor(SortKey::DatePvMax, Order::Desc, &key);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        let back = decode_cursor(&Some(text.clone()), SortKey::DatePvMax, Order::Desc).unwrap();
        assert_eq!(back, Some(key));
        assert!(decode_cursor(&Some(text), SortKey::DatePvMax, Order::Asc).is_err());
        assert!(decode_cursor(&Some("zz".into()), SortKey::Siret, Order::Asc).is_err());
        assert!(decode_cursor(&Some("é".into()), SortKey::Siret, Order::Asc).is_err());
        assert_eq!(
            decode_cursor(&None, SortKey::Siret, Order::Asc).unwrap(),
            None
        );
    }
}
