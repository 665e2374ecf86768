//! The elections domain as plain data and pure functions: identifiers parsed at the boundary
//! ([`Siret`], [`Cycle`]), exact vote counts ([`Votes`]), the PV row ([`PvRow`]), seat
//! allocation ([`allocate`], [`estimate_seats`]), the PAP status ([`PapStatus`]) and the
//! per-SIRET summary ([`Summariser`]). No storage, no HTTP.

mod cycle;
mod pap;
mod pv;
mod seats;
mod siret;
mod summary;
mod votes;

pub use cycle::{Cycle, CycleError, CyclePeriod, CycleTable};
pub use pap::{PapStatus, PapSummary};
pub use pv::{ByUnion, College, PvKind, PvRow, UNIONS, Union, UnionVotes, departement_code};
pub use seats::{
    Allocation, SEATS_BY_HEADCOUNT_R2314_1, UnresolvedTie, allocate, allocate_into, estimate_seats,
    estimate_seats_into, seats_for_headcount,
};
pub use siret::{Siret, SiretError};
pub use summary::{
    CycleSummary, ElectionSummary, Invitation, SeatTotals, SiretSummary, Summariser, SummaryConfig,
    SummaryError, search_text, shares_of,
};
pub use votes::{Votes, VotesError};
